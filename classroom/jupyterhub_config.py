"""JupyterHub for a class on one server: `make classroom` (as root) runs it with this file.

Learners and instructors are local users (PAM checks their passwords): `classroom/learners add
NAME` makes one and sets the password the instructor gives them. Each learner who logs in gets
JupyterLab on the lessons and their own lab (`labspawner.LabSpawner`); instructors also get the
class's page at /services/classroom/ (`instructor.py`). The hub listens on 127.0.0.1 only.

Settings, from the environment (docs/instructor-classroom.md):
  LABKIT_CLASS_PORT   the hub's public port on 127.0.0.1 (8800); the proxy's API, the hub and the
                      instructor's page take the next three
  LABKIT_CLASS_STATE  the hub's database, cookie secret and log (/var/lib/labkit-classroom)
  and those of classlab.py: the learners' and instructors' groups, each lab's topology and limits
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import classlab  # noqa: E402  (beside this file)

c = get_config()  # noqa: F821  (JupyterHub's loader provides it)

port = int(os.environ.get("LABKIT_CLASS_PORT", "8800"))
state = Path(os.environ.get("LABKIT_CLASS_STATE", "/var/lib/labkit-classroom"))
state.mkdir(mode=0o700, parents=True, exist_ok=True)

# -- where it listens: loopback only ---------------------------------------------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 1}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{port + 2}"
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")

# -- who gets in: local users in the class's groups ------------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {classlab.LEARNERS, classlab.INSTRUCTORS}
c.PAMAuthenticator.admin_groups = {classlab.INSTRUCTORS}
c.PAMAuthenticator.open_sessions = False  # no systemd-logind here; the spawner sets limits

# -- what each learner gets: JupyterLab on the lessons, their lab, their share ---------------
c.JupyterHub.spawner_class = "labspawner.LabSpawner"
c.Spawner.notebook_dir = f"~/{classlab.LESSONS}"
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.cleanup_servers = True  # the hub's end is the class's end: every lab goes down

# -- the instructor's page --------------------------------------------------------------------
c.JupyterHub.services = [{
    "name": "classroom",
    "url": f"http://127.0.0.1:{port + 3}",
    "command": [str(classlab.VENV_BIN / "python"), str(HERE / "instructor.py")],
    "environment": {k: v for k, v in os.environ.items() if k.startswith("LABKIT_")},
    "oauth_no_confirm": True,
    "display": True,
}]
c.JupyterHub.load_roles = [{
    "name": "classroom-page",
    "description": "the instructor's page reads which learners' servers run",
    "scopes": ["list:users", "read:users", "read:servers"],
    "services": ["classroom"],
}]
