"""The device and job NBI, and the machinery behind it on every app server.

`install(app)` adds the routers and, for the app server's lifetime, its membership heartbeats
and (when the lab has devices) its mediator, job runner and coordinator.

    POST   /api/devices/discover   {"count": 100}        least-loaded placement of new devices
    POST   /api/devices/rebalance  {"nodes": [...]?}     even out (onto these nodes only)
    GET    /api/devices                                  assignments, sessions, counts
    POST   /api/devices/forget     {"all": true}         forget devices (DELETE …/{name}: one)
    POST   /api/jobs/resync        {"count": 100}        one sub-job per serving node
    GET    /api/jobs, /api/jobs/{id}                     progress and timings
    GET    /api/membership                               this node's view of the cluster
    GET    /api/mediator                                 this node's own sessions
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from labkit import devices, names
from labkit.appserver.membership import Membership
from labkit.devices import mediation
from labkit.devices.coordinator import Coordinator, announce, apply_moves
from labkit.devices.store import Store

log = logging.getLogger("labkit.devices")
router = APIRouter(tags=["devices"])


DeviceName = Annotated[str, StringConstraints(pattern=names.DEVICE_NAME_PATTERN)]
NodeName = Annotated[str, StringConstraints(pattern=names.NODE_NAME_PATTERN)]
DevicePath = Annotated[str, Path(pattern=names.DEVICE_NAME_PATTERN)]


class Strict(BaseModel):
    """Requests that change assignments take exactly their schema: no "5" for 5, no extras."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Discover(Strict):
    count: int | None = Field(None, ge=1, le=5000, description="discover dev0001..devN")
    devices: list[DeviceName] | None = Field(None, max_length=5000,
                                             description="or these devices")


class Rebalance(Strict):
    nodes: list[NodeName] | None = Field(None, max_length=16,
                                         description="balance onto these nodes only (default: "
                                                     "all live app nodes)")


class Forget(Strict):
    all: bool | None = Field(None, description="true: forget every device")
    devices: list[DeviceName] | None = Field(None, max_length=5000)


class Resync(Strict):
    count: int | None = Field(None, ge=1, le=5000, description="the first N discovered devices")
    devices: list[DeviceName] | None = Field(None, max_length=5000)


def has_devices(app: FastAPI) -> bool:
    lay = app.state.layout
    return lay.topology.devices.count > 0 and bool(lay.topology.with_role("mysql"))


def install(app: FastAPI) -> None:
    app.include_router(router)
    previous = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with previous(a) as state:
            tasks = await _start(a)
            try:
                yield state
            finally:
                await _stop(a, tasks)

    app.router.lifespan_context = lifespan


async def _start(app: FastAPI) -> list[asyncio.Task]:
    layout, node = app.state.layout, app.state.node
    app.state.membership = membership = Membership(layout, node).start()
    app.state.mediator = None
    app.state.wake_runner = lambda: None  # a lab without devices runs no sub-jobs
    if not has_devices(app):
        return []
    from labkit.devices.jobs import JobRunner
    from labkit.devices.mediator import Mediator

    mediator = Mediator(layout, node, membership)
    coordinator = Coordinator(layout, node, membership)
    loop = asyncio.get_running_loop()  # membership changes arrive on the heartbeat thread
    membership.on_change = lambda _view: (coordinator.nudge(),
                                          loop.call_soon_threadsafe(mediator.wake))
    app.state.mediator, app.state.coordinator = mediator, coordinator
    app.state.runner = runner = JobRunner(layout, node, mediator)
    app.state.wake_runner = lambda: loop.call_soon_threadsafe(runner.wake)
    membership.on_nudge = lambda what: what == "jobs" and app.state.wake_runner()

    async def boot() -> None:
        store = Store(layout)
        while True:  # MySQL may still be starting or failing over
            try:
                await asyncio.to_thread(store.ensure_schema)
                break
            except Exception as exc:  # noqa: BLE001 - retried
                log.info("device tables not ready: %s", exc)
                await asyncio.sleep(1)
        store.close()
        coordinator.start()
        await asyncio.gather(mediator.run(), runner.run())

    return [asyncio.ensure_future(boot())]


async def _stop(app: FastAPI, tasks: list[asyncio.Task]) -> None:
    app.state.membership.stop()
    if app.state.mediator is not None:
        app.state.coordinator.stop()
        await app.state.mediator.close()
    for t in tasks:
        t.cancel()


# -- helpers ----------------------------------------------------------------------------------
def _state(request: Request) -> tuple[Any, str, Membership]:
    app = request.app
    if not has_devices(app):
        raise HTTPException(404, "this lab has no devices (topology devices.count is 0)")
    return app.state.layout, app.state.node, app.state.membership


def _need_quorum(node: str, membership: Membership) -> list[str]:
    if not membership.quorum:
        raise HTTPException(503, f"{node} sees only {', '.join(membership.view)}: a minority of "
                                 "the cluster may not change device assignments; ask another "
                                 "node", headers={"Retry-After": "2"})
    return list(membership.view)


def _names(layout: Any, count: int | None, names: list[str] | None) -> list[str]:
    if (count is None) == (names is None):
        raise HTTPException(422, "give either count or devices")
    size = layout.topology.devices.count
    if count is not None:
        if count > size:
            raise HTTPException(422, f"the fleet has {size} devices; count must be 1..{size}")
        return devices.device_names(count)
    assert names is not None
    bad = [n for n in names if not names.valid_device_name(n) or devices.device_index(n) > size]
    if bad:
        raise HTTPException(422, f"no such device(s): {', '.join(bad[:5])} (the fleet has "
                                 f"dev0001..{devices.device_name(size)})")
    return sorted(set(names))


def _rows_summary(rows: list[dict[str, Any]], view: list[str]) -> dict[str, Any]:
    counts = {n: 0 for n in view}
    connected = 0
    for r in rows:
        if r["node"]:
            counts[r["node"]] = counts.get(r["node"], 0) + 1
        if r["session_node"] and r["session_node"] == r["node"]:
            connected += 1
    return {"total": len(rows), "connected": connected,
            "counts": {n: counts[n] for n in mediation.ordered(counts)}}


# -- devices ----------------------------------------------------------------------------------
@router.get("/api/devices")
def list_devices(request: Request) -> dict[str, Any]:
    layout, node, membership = _state(request)
    with Store(layout, timeout=1.0) as store:
        rows = store.devices()
    return {**_rows_summary(rows, membership.view), "devices": rows}


@router.get("/api/devices/{name}")
def get_device(request: Request, name: DevicePath) -> dict[str, Any]:
    layout, _node, _m = _state(request)
    with Store(layout, timeout=1.0) as store:
        row = next((r for r in store.devices() if r["name"] == name), None)
    if row is None:
        raise HTTPException(404, f"device {name} is not discovered")
    return row


@router.post("/api/devices/discover")
def discover(body: Discover, request: Request) -> dict[str, Any]:
    layout, node, membership = _state(request)
    names = _names(layout, body.count, body.devices)
    view = _need_quorum(node, membership)
    with Store(layout) as store, store.transaction() as cur:
        known = store.assignments(cur)
        new = [n for n in names if n not in known]
        moves = mediation.place(new, known, view)
        if moves:
            store.add(cur, moves, {d: devices.device_port(layout, d) for d in moves})
    announce(layout, node, "discovered", moves)
    placed: dict[str, int] = {}
    for _src, to in moves.values():
        placed[to] = placed.get(to, 0) + 1
    return {"discovered": sorted(moves), "already_known": len(names) - len(moves),
            "placed": placed, "by": node}


@router.post("/api/devices/rebalance")
def rebalance(request: Request, body: Rebalance | None = None) -> dict[str, Any]:
    layout, node, membership = _state(request)
    view = _need_quorum(node, membership)
    onto = view
    if body is not None and body.nodes is not None:
        dead = [n for n in body.nodes if n not in view]
        if dead or not body.nodes:
            raise HTTPException(422, f"can only balance onto live app nodes ({', '.join(view)})"
                                     + (f"; not {', '.join(dead)}" if dead else ""))
        onto = mediation.ordered(body.nodes)
    with Store(layout) as store:
        moves = apply_moves(layout, store, node, "rebalance requested",
                            lambda a: mediation.rebalance(a, onto))
        counts = mediation.loads(store.assignments(), view)
    return {"moved": len(moves), "moves": {d: {"from": s, "to": t} for d, (s, t) in
                                           sorted(moves.items())},
            "counts": counts, "by": node}


@router.post("/api/devices/forget")
def forget(body: Forget, request: Request) -> dict[str, Any]:
    """Forget every device (`{"all": true}`) or some (`{"devices": [...]}`); their sessions
    close, the fleet keeps running."""
    layout, _node, _m = _state(request)
    if (body.all is True) == (body.devices is not None) or body.all is False:
        raise HTTPException(422, 'say which devices to forget: {"all": true} or {"devices": '
                                 '[...]}')
    return _forget(request, None if body.all else _names(layout, None, body.devices))


@router.delete("/api/devices/{name}")
def forget_one(request: Request, name: DevicePath) -> dict[str, Any]:
    """Forget one device."""
    answer = _forget(request, [name])
    if not answer["forgotten"]:
        raise HTTPException(404, f"device {name} is not discovered")
    return answer


def _forget(request: Request, names: list[str] | None) -> dict[str, Any]:
    layout, node, _m = _state(request)
    with Store(layout) as store:
        gone = store.forget(names)
    from labkit import events

    events.emit(layout.events_path, "devices", by=node, forgotten=gone,
                message=f"{gone} device(s) forgotten (asked on {node})")
    return {"forgotten": gone}


# -- jobs -------------------------------------------------------------------------------------
@router.post("/api/jobs/resync", status_code=202)
def resync(body: Resync, request: Request) -> dict[str, Any]:
    layout, node, membership = _state(request)
    _need_quorum(node, membership)
    with Store(layout) as store:
        known = store.assignments()
        if body.count is None and body.devices is None:
            names = sorted(known)
        else:
            names = _names(layout, body.count, body.devices)
        missing = [n for n in names if n not in known]
        if missing:
            raise HTTPException(422, f"{len(missing)} of these devices are not discovered "
                                     f"(e.g. {', '.join(missing[:3])}): discover them first")
        if not names:
            raise HTTPException(422, "no devices are discovered yet: discover some first")
        groups = mediation.split(names, known)
        job_id = store.create_job("resync", node, groups)
        job = store.job(job_id)
    membership.nudge("jobs")  # the serving nodes start their sub-jobs now, not at their next poll
    request.app.state.wake_runner()
    from labkit import events

    events.emit(layout.events_path, "job", job=job_id, by=node, total=len(names),
                subjobs=len(groups),
                message=f"resync job {job_id}: {len(names)} devices in {len(groups)} sub-jobs "
                        f"({', '.join(f'{n} {len(d)}' for n, d in sorted(groups.items()))})")
    return job or {"id": job_id}


@router.get("/api/jobs")
def list_jobs(request: Request, limit: int = Query(20, ge=1, le=200)) -> dict[str, Any]:
    layout, _node, _m = _state(request)
    with Store(layout, timeout=1.0) as store:
        jobs = store.jobs(limit)
    return {"jobs": [{k: v for k, v in j.items() if k != "subjobs"} | {
        "subjobs": len(j["subjobs"])} for j in jobs]}


@router.get("/api/jobs/{job_id}")
def get_job(job_id: int, request: Request) -> dict[str, Any]:
    layout, _node, _m = _state(request)
    with Store(layout, timeout=1.0) as store:
        job = store.job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job


# -- this node --------------------------------------------------------------------------------
@router.get("/api/membership")
def membership_view(request: Request) -> dict[str, Any]:
    return request.app.state.membership.snapshot()


@router.get("/api/mediator")
def mediator_state(request: Request) -> dict[str, Any]:
    _state(request)
    mediator = request.app.state.mediator
    if mediator is None:
        raise HTTPException(503, "the mediator has not started yet")
    return mediator.snapshot()
