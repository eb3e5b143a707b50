"""A tiny webhook receiver for the sandbox's deliveries: stdlib ``http.server`` in a thread.

It keeps every request it gets and answers each with the next scripted answer (then with
the default one), so a test can refuse a delivery and accept its retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["ACK", "NACK", "Answer", "Delivery", "Receiver"]

ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
NACK = ACK.replace(b"<Ack>true</Ack>", b"<Ack>false</Ack>")


@dataclass(frozen=True)
class Answer:
    """What the receiver answers one request with (``delay``: seconds before it does)."""

    status: int = 200
    body: bytes = b""
    delay: float = 0.0


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """Serves on a free loopback port; :attr:`url` is ``http://127.0.0.1:port``."""

    def __init__(self, default: Answer = Answer(), script: list[Answer] | None = None) -> None:
        self.default = default
        self.script = list(script or [])
        self.deliveries: list[Delivery] = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:  # noted on arrival: the list is in arrival order
                    answer = receiver.script.pop(0) if receiver.script else receiver.default
                    receiver.deliveries.append(
                        Delivery(
                            "POST", self.path, dict(self.headers.items()), body, time.monotonic()
                        )
                    )
                    receiver._lock.notify_all()
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/xml" if answer.body else "text/plain")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def wait_for(self, test: Callable[[list[Delivery]], bool], timeout: float = 10.0) -> bool:
        """Wait until ``test(deliveries)`` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not test(self.deliveries):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
