"""Serving the sandbox from the command line: the socket is bound before anything else."""

from __future__ import annotations

import socket

import pytest

from sandbox import PortInUse, bind


def test_the_bound_socket_sends_small_writes_at_once() -> None:
    """Connections inherit TCP_NODELAY from the listening socket: a response written in
    two pieces does not wait out the client's delayed ACK between them."""
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def test_a_busy_port_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(PortInUse, match=f"cannot serve on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)
