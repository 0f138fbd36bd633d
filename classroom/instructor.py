"""The instructor's page: every learner's lab at a glance, and a reset for one.

A JupyterHub service (the hub starts it: `jupyterhub_config.py`), served at
/services/classroom/ behind the hub's own login (OAuth). Only members of the instructors' Unix
group get in. It runs as root beside the hub, and reads each lab by running
`labkit status --json` as that learner, so it shows what the learner would see.

  GET  /services/classroom/                        the page (a table, refreshed every 10 s)
  GET  /services/classroom/api/labs                the same rows as JSON
  POST /services/classroom/api/labs/<learner>/reset  that learner's lab down, purged, up again
                                                   (their lesson progress is kept)
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
from typing import Any

import classlab
import httpx
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import ioloop, web
from tornado.log import app_log

PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/classroom/")


def hub_servers() -> dict[str, str]:
    """learner → their notebook server's state as the hub knows it (running, pending, stopped)."""
    url = os.environ.get("JUPYTERHUB_API_URL", "")
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    try:
        users = httpx.get(f"{url}/users", headers={"Authorization": f"token {token}"},
                          timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return {u["name"]: (u.get("pending") or ("running" if u.get("server") else "stopped"))
            for u in users if isinstance(u, dict)}


async def rows() -> list[dict[str, Any]]:
    learners = classlab.members(classlab.LEARNERS)
    servers, labs = await asyncio.gather(asyncio.to_thread(hub_servers),
                                         classlab.summaries(learners))
    return [lab | {"server": servers.get(lab["learner"], "never started")} for lab in labs]


class InstructorHandler(HubOAuthenticated, web.RequestHandler):
    """Any page of the service: a hub user who is an instructor, else 403."""

    def instructor(self) -> str:
        user = self.current_user
        if not user or user.get("kind", "user") != "user" or not classlab.is_instructor(
                user["name"]):
            raise web.HTTPError(403, "the classroom page is for instructors")
        return user["name"]


class PageHandler(InstructorHandler):
    @web.authenticated
    async def get(self) -> None:
        self.instructor()
        self.write(page(await rows(), self.xsrf_token.decode()))


class LabsHandler(InstructorHandler):
    @web.authenticated
    async def get(self) -> None:
        self.instructor()
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"learners": await rows()}, default=str))


class ResetHandler(InstructorHandler):
    @web.authenticated
    async def post(self, learner: str) -> None:
        who = self.instructor()
        if learner not in classlab.members(classlab.LEARNERS):
            raise web.HTTPError(404, f"{learner} is not a learner of this class")
        said = await asyncio.to_thread(classlab.reset_lab, learner)
        app_log.info("%s reset the lab of %s: %s", who, learner, said)
        if self.get_argument("page", None):  # the page's button: back to the table
            self.redirect(PREFIX)
            return
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"learner": learner, "reset": True, "down": said}))


def page(labs: list[dict[str, Any]], xsrf: str) -> str:
    """The table: learner, server, lab, VIP and its owner, nodes, limits, progress, reset."""
    colour = {"up": "#2a2", "down": "#a22", "none": "#888", "error": "#a22"}
    body = []
    for r in labs:
        nodes = " ".join(f"{n}:{s}" for n, s in r["nodes"].items())
        limits = (r["limits"] or {}).get("message", "no limits")
        warn = ' style="color:#a22;font-weight:bold"' if (r["limits"] or {}).get(
            "oom_kills") else ""
        done = sum(r["progress"].values())
        body.append(
            f"<tr><td>{html.escape(r['learner'])}</td><td>{html.escape(r['server'])}</td>"
            f"<td style=\"color:{colour.get(r['lab'], '#000')}\">{r['lab']}</td>"
            f"<td>{html.escape(str(r['vip']))}</td><td>{html.escape(str(r['vip_owner']))}</td>"
            f"<td>{html.escape(nodes)}</td><td{warn}>{html.escape(limits)}</td>"
            f"<td>{done} checks passed</td><td><form method=\"post\" action=\"{PREFIX}api/labs/"
            f"{html.escape(r['learner'])}/reset?page=1\"><input type=\"hidden\" name=\"_xsrf\" "
            f"value=\"{html.escape(xsrf)}\"><button>reset lab</button></form></td></tr>")
    return ("<!doctype html><meta http-equiv=\"refresh\" content=\"10\"><title>classroom</title>"
            "<h1>The class's labs</h1><table border=\"1\" cellpadding=\"4\"><tr><th>learner</th>"
            "<th>server</th><th>lab</th><th>VIP</th><th>VIP owner</th><th>nodes</th>"
            "<th>limits</th><th>progress</th><th></th></tr>" + "".join(body) + "</table>")


def main() -> None:
    app = web.Application([
        (PREFIX, PageHandler),
        (url_path_join(PREFIX, "api/labs"), LabsHandler),
        (url_path_join(PREFIX, r"api/labs/([^/]+)/reset"), ResetHandler),
        (url_path_join(PREFIX, "oauth_callback"), HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32))
    url = httpx.URL(os.environ["JUPYTERHUB_SERVICE_URL"])
    app.listen(url.port, url.host)
    with contextlib.suppress(KeyboardInterrupt):  # the hub ends its services with SIGINT
        ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
