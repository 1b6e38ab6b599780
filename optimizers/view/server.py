"""``tracegraph view``: a local web app over one run directory or a folder of runs.

Starlette routes, served by uvicorn on 127.0.0.1 by default. The page is one HTML file
with the package's CSS and scripts inlined (``static/``: vanilla JS drawing inline SVG, nothing
from a CDN); the data comes
from ``/api/...`` (see :mod:`optimizers.view.data`), and ``/api/events`` is a server-sent
event stream that says which run changed, found by polling three ``stat`` calls per run.
The server only reads the run directory: it never locks, writes or slows the run.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from optimizers.view.data import RunReader, find_runs
from optimizers.view.lineage import lineage
from optimizers.view.page import page_html

__all__ = ["Runs", "make_app", "serve"]

POLL = 0.5  # seconds between looks at the run directories
HEARTBEAT = 15.0
RESCAN = 10  # polls between looks for new runs under the root


class Runs:
    """The runs under ``root``; new runs appearing under it are picked up."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.readers: dict[str, RunReader] = {}
        self.rescan()

    def rescan(self) -> None:
        for run_id, path in find_runs(self.root).items():
            if run_id not in self.readers:
                self.readers[run_id] = RunReader(path, run_id)

    def get(self, run_id: str | None) -> RunReader | None:
        if run_id is None and len(self.readers) == 1:
            return next(iter(self.readers.values()))
        if run_id not in self.readers:
            self.rescan()
        return self.readers.get(run_id or "")

    def listing(self) -> list[dict[str, Any]]:
        self.rescan()
        out = []
        for reader in self.readers.values():
            view = reader.overview()
            rows = view.pop("rows")
            out.append({**view, "steps": len(rows)})
        return out


def _missing(what: str) -> JSONResponse:
    return JSONResponse({"error": what}, status_code=404)


def make_app(root: Path) -> Starlette:
    """The viewer's ASGI app for the run (or the folder of runs) at ``root``."""
    runs = Runs(root)

    async def index(request: Request) -> Response:
        return Response(page_html(), media_type="text/html")

    async def run_list(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(runs.listing))

    async def overview(request: Request) -> Response:
        reader = runs.get(request.query_params.get("run"))
        if reader is None:
            return _missing("no such run")
        return JSONResponse(await asyncio.to_thread(reader.overview))

    async def step(request: Request) -> Response:
        reader = runs.get(request.query_params.get("run"))
        try:
            number = int(request.query_params.get("n", ""))
        except ValueError:
            return _missing("n must be a step number")
        data = None if reader is None else await asyncio.to_thread(reader.step, number)
        return _missing(f"step {number} is not committed") if data is None else JSONResponse(data)

    async def blame(request: Request) -> Response:
        reader = runs.get(request.query_params.get("run"))
        if reader is None:
            return _missing("no such run")
        return JSONResponse(await asyncio.to_thread(lineage, reader))

    async def events(request: Request) -> Response:
        return StreamingResponse(
            _changes(request, runs),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    routes = [
        Route("/", index),
        Route("/api/runs", run_list),
        Route("/api/overview", overview),
        Route("/api/step", step),
        Route("/api/lineage", blame),
        Route("/api/events", events),
    ]
    return Starlette(routes=routes)


async def _changes(request: Request, runs: Runs) -> AsyncIterator[str]:
    """One event per run whose files changed; a comment now and then keeps the line open."""
    seen: dict[str, Any] = {}
    at_start = set(runs.readers)  # the page already shows these as they are now
    idle = 0.0
    yield "retry: 1000\n\n"
    ticks = 0
    while not await request.is_disconnected():
        if ticks % RESCAN == 0:  # new runs under the root: a directory walk, so less often
            runs.rescan()
        ticks += 1
        for run_id, reader in list(runs.readers.items()):
            sig = reader.signature()
            if seen.get(run_id) != sig:
                # news: changed since the page loaded it, or a run new under the root
                news = run_id in seen or run_id not in at_start
                seen[run_id] = sig
                if news:
                    idle = 0.0
                    yield f"data: {json.dumps({'run': run_id})}\n\n"
        await asyncio.sleep(POLL)
        idle += POLL
        if idle >= HEARTBEAT:
            idle = 0.0
            yield ": alive\n\n"


def serve(
    root: Path, *, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True
) -> None:
    """Serve the viewer until interrupted (Ctrl-C)."""
    import uvicorn

    url = f"http://{host}:{port}/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {host}: anyone who can reach this port can read the runs "
            "(prompts, replies, parameter values); there is no login. Use --host 127.0.0.1 "
            "and an SSH tunnel to watch from another machine.",
            file=sys.stderr,
        )
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    print(f"tracegraph view: {url}  (Ctrl-C stops)", flush=True)
    uvicorn.run(
        make_app(root), host=host, port=port, log_level="warning", timeout_graceful_shutdown=1
    )
