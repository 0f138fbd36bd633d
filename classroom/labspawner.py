"""The classroom's spawner: JupyterLab on the lessons, and the learner's own lab beside it.

JupyterHub's LocalProcessSpawner already runs each learner's server as that local user. This
one adds what a lab needs: the lessons copied into the learner's home, labkit's environment
(their own LABKIT_HOME, so their own run directory, secrets and /24), the learner's control
group with the class's memory and CPU limits (joined before the server starts, so the lab it
starts is born inside it), and `binder/start` in front of the server, the same start Binder
uses: the lab comes up in the background while JupyterLab opens. Stopping the server takes the
lab down and ends whatever is left in the group.
"""

from __future__ import annotations

import asyncio
from typing import Any

import classlab
from jupyterhub.spawner import LocalProcessSpawner

from labkit import cgroups


class LabSpawner(LocalProcessSpawner):
    """A learner's JupyterLab and lab, as that learner, inside their share of the machine."""

    def _group(self) -> list:
        return classlab.share(self.user.name)

    def make_preexec_fn(self, name: str) -> Any:
        # join the group while still root; LocalProcessSpawner's own fn then becomes the learner
        dirs, become = self._group(), super().make_preexec_fn(name)

        def preexec() -> None:
            cgroups.join(dirs)
            become()

        return preexec

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(classlab.environment(self.user.name))
        return env

    async def start(self) -> Any:
        await asyncio.to_thread(classlab.copy_lessons, self.user.name)
        self.cmd = [str(classlab.REPO / "binder" / "start"),
                    str(classlab.VENV_BIN / "jupyterhub-singleuser")]
        return await super().start()

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        name = self.user.name
        said = await asyncio.to_thread(classlab.stop_lab, name)
        self.log.info("lab of %s: %s", name, said.splitlines()[-1:] or "")
        dirs = cgroups.group_dirs(name)
        left = cgroups.kill_all(dirs)  # nothing of a learner outlives their server
        if left:
            self.log.warning("killed %d leftover processes of %s", left, name)
        if not await asyncio.to_thread(cgroups.remove, dirs):
            self.log.warning("the control group of %s is still busy; left in place", name)
