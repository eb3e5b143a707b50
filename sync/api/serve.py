"""Serving the API: what ``partnersync api`` hands uvicorn (the application built from
the settings in each server process, so ``--workers`` processes each have their own store
pool), and :func:`serving`, the API in a thread for the demo and the tests."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from sync.api.app import create_app

__all__ = ["app", "serving"]


def app() -> FastAPI:
    from sync.cli.common import load

    built = create_app(load(default_level="info"))
    # What the process holds by now (modules, settings, the app) lives as long as it does:
    # kept out of the collector's full passes, which otherwise walk it all and stopped
    # the server for 60-135 ms at a time (15-20 ms after this).
    gc.collect()
    gc.freeze()
    return built


@contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """``app`` served by uvicorn in a thread (``port`` 0: a free one) until the block
    ends: its base URL. The demo and the tests use it; ``partnersync api`` runs uvicorn
    itself."""
    import threading
    import time

    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="partnersync-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
