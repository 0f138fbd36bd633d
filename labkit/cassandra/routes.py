"""Device image files on the NBI, kept in the Cassandra ring (labkit.cassandra.store).

    PUT    /api/files/{name}   body = the file's bytes, streamed in; 256 KiB blobs go to
                               Cassandra as they arrive (at most 4 in flight per upload)
    GET    /api/files/{name}   the bytes, streamed out; every blob checked against its SHA-256
    GET    /api/files/{name}/info, GET /api/files, DELETE /api/files/{name}

`?consistency=ONE|QUORUM|ALL` picks Cassandra's consistency level. A level the ring cannot meet
right now is a 503 that names the missing replica, with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from labkit.cassandra import config
from labkit.cassandra import store as files
from labkit.cassandra import upload as uploads
from labkit.errors import LabError

router = APIRouter(prefix="/api/files", tags=["files"])
IN_FLIGHT = 4
NameParam = Path(..., pattern=files.NAME.pattern, max_length=128,
                 description="letters, digits, '.', '_' or '-'")
Level = Literal["ONE", "QUORUM", "ALL"]
LevelParam = Query(None, description="Cassandra consistency level (default ONE)")
UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


def install(app: FastAPI) -> None:
    app.include_router(router)

    @app.exception_handler(files.FileStoreError)
    async def _store_error(request: Request, exc: files.FileStoreError) -> JSONResponse:
        headers = {"X-Labkit-Node": request.app.state.node}
        if exc.status == 503:
            headers["Retry-After"] = "2"
        return JSONResponse({"detail": exc.message, "hint": exc.hint}, status_code=exc.status,
                            headers=headers)


async def _store(request: Request) -> files.FileStore:
    """The node's store, opened on first use (the ring may come up after the app server)."""
    st = getattr(request.app.state, "file_store", None)
    if st is None:
        try:
            st = await run_in_threadpool(files.FileStore, request.app.state.layout)
        except LabError as exc:
            raise files.NotEnoughReplicas(exc.message, exc.hint) from None
        request.app.state.file_store = st
    return st


def _node(request: Request) -> dict[str, str]:
    return {"X-Labkit-Node": request.app.state.node}


@router.get("")
async def list_files(request: Request, consistency: Level | None = LevelParam) -> JSONResponse:
    st = await _store(request)
    found = await run_in_threadpool(st.list, consistency)
    return JSONResponse({"files": [f.to_dict() for f in found], "total": len(found)},
                        headers=_node(request))


@router.put("/{name}", status_code=201, openapi_extra=UPLOAD_BODY)
async def upload(request: Request, name: str = NameParam,
                 consistency: Level | None = LevelParam) -> JSONResponse:
    st = await _store(request)
    up = uploads.start(st, name, consistency, via=request.app.state.node)
    window: list[concurrent.futures.Future] = []
    try:
        async for piece in request.stream():
            window += up.feed(piece)
            while len(window) > IN_FLIGHT:
                await asyncio.wrap_future(window.pop(0))
        info = await run_in_threadpool(up.finish)
    except BaseException:
        await run_in_threadpool(up.abort)
        raise
    layout = request.app.state.layout
    said = files.durability(info.consistency, layout.topology.cassandra.commitlog_sync,
                            config.replication_factor(layout))
    return JSONResponse(info.to_dict() | {"durability": said}, status_code=201,
                        headers=_node(request))


@router.get("/{name}/info")
async def info(request: Request, name: str = NameParam,
               consistency: Level | None = LevelParam) -> JSONResponse:
    st = await _store(request)
    found = await run_in_threadpool(st.stat, name, consistency)
    return JSONResponse(found.to_dict(), headers=_node(request))


@router.get("/{name}", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
async def download(request: Request, name: str = NameParam,
                   consistency: Level | None = LevelParam) -> StreamingResponse:
    st = await _store(request)
    meta, chunks = await run_in_threadpool(st.read, name, consistency)
    first = await run_in_threadpool(next, chunks, b"")  # a failing level fails before the 200

    async def body() -> AsyncIterator[bytes]:
        yield first
        while True:
            piece = await run_in_threadpool(next, chunks, None)
            if piece is None:
                return
            yield piece

    headers = {**_node(request), "Content-Length": str(meta.size),
               "X-File-SHA256": meta.sha256, "ETag": f'"{meta.sha256}"',
               "Content-Disposition": f'attachment; filename="{meta.name}"'}
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


@router.delete("/{name}")
async def delete(request: Request, name: str = NameParam,
                 consistency: Level | None = LevelParam) -> dict[str, Any]:
    st = await _store(request)
    gone = await run_in_threadpool(st.delete, name, consistency)
    return {"deleted": gone.name, "size": gone.size, "node": request.app.state.node}
