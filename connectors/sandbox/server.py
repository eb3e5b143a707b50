"""Running the sandbox: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from connectors.sandbox.app import create_app
from connectors.sandbox.core import Sandbox

__all__ = ["SandboxServer", "serve"]


class SandboxServer:
    """The sandbox served on ``host:port`` from a daemon thread (port 0: a free port).

    Use as a context manager; :attr:`url` is ``http://host:port``.
    """

    def __init__(self, sandbox: Sandbox | None = None, host: str = "127.0.0.1", port: int = 0):
        self.sandbox = sandbox or Sandbox()
        self.host = host
        self._config = uvicorn.Config(
            create_app(self.sandbox),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving; returns once the socket is bound (seconds to wait: ``timeout``)."""
        self._thread = threading.Thread(target=self._server.run, name="crm-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the CRM sandbox did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Serve in the foreground until interrupted (``partnersync sandbox``)."""
    uvicorn.run(create_app(sandbox), host=host, port=port, log_level="warning", access_log=False)
