"""Real HTTP servers on 127.0.0.1 in threads of the test: ``start_receiver`` records every
request and answers with the statuses it is given in turn (the last one repeated);
``start_stalling_receiver`` takes the request and then answers a byte at a time, or never."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


@dataclass
class Receiver:
    statuses: list[int]
    delay: float = 0.0  # seconds to wait before answering (a slow receiver)
    headers: dict[str, str] = field(default_factory=dict)  # extra answer headers (Location)
    requests: list[Received] = field(default_factory=list)
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/beyond?source=test"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.requests)


def start_receiver(statuses: list[int], delay: float = 0.0, headers: dict[str, str] | None = None) -> Receiver:
    receiver = Receiver(list(statuses), delay, dict(headers or {}))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                              time.monotonic()))
            index = min(len(receiver.requests) - 1, len(receiver.statuses) - 1)
            if receiver.delay:
                time.sleep(receiver.delay)
            try:
                self.send_response(receiver.statuses[index])
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.server.daemon_threads = True
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


@dataclass
class StallingReceiver:
    """A raw TCP server that reads each request and then stalls: it trickles the answer one
    byte every ``trickle`` seconds (a status line that never ends), or with trickle=None
    never answers. Connections after the first ``stall_first`` are answered 200 at once."""

    trickle: float | None
    stall_first: int
    connections: list[float] = field(default_factory=list)  # time.monotonic() of each
    closed: list[float] = field(default_factory=list)  # when the client hung up on a stalled answer
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/slow"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(self.connections) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.connections)


def start_stalling_receiver(trickle: float | None = 1.0, stall_first: int = 10**9,
                            stall_seconds: float = 60.0) -> StallingReceiver:
    receiver = StallingReceiver(trickle, stall_first)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    receiver.port = server.getsockname()[1]

    def serve(conn: socket.socket) -> None:
        receiver.connections.append(time.monotonic())
        stalled = len(receiver.connections) <= stall_first
        with conn:
            try:
                conn.settimeout(stall_seconds + 5)
                conn.recv(65536)
                if not stalled:
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    return
                ends = time.monotonic() + stall_seconds  # a bound, so a test that fails still ends
                answer = b"HTTP/1.1 200 OK\r\nx-slow: " + b"a" * 100000
                for byte in answer:
                    if time.monotonic() > ends:
                        return
                    if trickle is None:
                        if conn.recv(1) == b"":  # silent: wait for the client to hang up
                            break
                        continue
                    conn.sendall(bytes([byte]))
                    time.sleep(trickle)
            except OSError:
                pass
            receiver.closed.append(time.monotonic())

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return receiver
