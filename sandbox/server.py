"""Running the sandbox: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn

from sandbox.app import create_app
from sandbox.core import Sandbox, SandboxConfig
from sandbox.seed import seed_sandbox

__all__ = ["PortInUse", "SandboxServer", "bind", "run", "serve"]


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
        self.sandbox.url = self.url
        return self

    def stop(self) -> None:
        """Stop serving, and stop the sandbox's webhook deliveries."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sandbox.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PortInUse(OSError):
    """The address to serve on is taken (or not ours to take); the message names it."""


def bind(host: str = "127.0.0.1", port: int = 8787) -> socket.socket:
    """A listening socket on ``host:port``, bound before anything is announced.

    Raises :class:`PortInUse` naming the address when it cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Connections accepted from it inherit this: without it a response written in two
    # pieces waits out the client's delayed ACK (40 ms) between them.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise PortInUse(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(sandbox: Sandbox, sock: socket.socket) -> None:
    """Serve on the bound ``sock`` in the foreground until interrupted
    (``partnersync sandbox``); the sandbox's webhook deliveries stop with it."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1"
    sandbox.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    config = uvicorn.Config(
        create_app(sandbox), log_level="warning", access_log=False, lifespan="off"
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sandbox.close()


def run(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    seed: int = 0,
    random_seed: int = 1,
    announce: Callable[[str], None] = print,
) -> None:
    """``partnersync sandbox``: bind ``host:port`` (:class:`PortInUse`, before a word is
    said), seed ``seed`` records per CRM, announce what is served, serve until interrupted.
    """
    if seed < 0:
        raise ValueError("the seed must be 0 or more records")
    sock = bind(host, port)
    try:
        box = Sandbox(config)
        if seed:
            seed_sandbox(box, seed, random_seed=random_seed)
            # The seeded records live as long as the sandbox: spare them the collector's
            # full passes, whose pauses would show up as noise in every client's timing.
            gc.freeze()
        knobs = [f"faults {config.faults}"] if str(config.faults) else []
        knobs += [f"latency {config.latency_ms:g} ms"] if config.latency_ms else []
        if config.search_lag_seconds:
            knobs.append(f"search lag {config.search_lag_seconds:g} s")
        if config.hubspot_webhook_url:
            knobs.append(f"HubSpot webhooks to {config.hubspot_webhook_url}")
        if config.salesforce_outbound_url:
            knobs.append(f"Salesforce outbound messages to {config.salesforce_outbound_url}")
        announce(
            f"CRM sandbox on http://{host}:{sock.getsockname()[1]}: "
            f"{box.salesforce.count()} Salesforce opportunities, "
            f"{box.hubspot.count()} HubSpot deals" + "".join(f"; {k}" for k in knobs)
        )
        serve(box, sock)
    finally:
        sock.close()
