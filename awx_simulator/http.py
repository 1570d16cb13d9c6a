"""HTTP plumbing: a stdlib ``ThreadingHTTPServer`` that can stop listening and listen again.

HTTP/1.1 with keep-alive and ``Content-Length`` on every answer; one daemon
thread per connection. :class:`SimulatorServer` tracks its open connections so
that the *refuse* fault can close the listening socket and drop them (clients
see ``ECONNREFUSED``/``ECONNRESET``), then bind the same port again. The
*lose answer* fault closes a connection without writing anything.
"""
from __future__ import annotations

import select
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .simulator import Response


class SimulatorServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose serve loop survives its listening socket being closed and re-bound."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, simulator):
        self.simulator = simulator
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listening = True
        self._refuse_until = 0.0
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        super().__init__(address, handler)

    # -- connection tracking ---------------------------------------------------------------
    def process_request(self, request, client_address):
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # clients that go away, dropped connections: nothing to report

    # -- refusing --------------------------------------------------------------------------
    def refuse_for(self, seconds: float) -> None:
        """Closes the listening socket and every open connection; listens again after ``seconds``."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds
            if self._listening:
                self._listening = False
                self.socket.close()
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def resume_listening(self) -> None:
        """Ends a refusal early (the serve loop binds again at once)."""
        with self._lock:
            self._refuse_until = 0.0

    def refusing_for(self) -> float:
        with self._lock:
            return 0.0 if self._listening else max(0.0, round(self._refuse_until - time.monotonic(), 3))

    def _listen_again(self) -> None:
        sock = socket.socket(self.address_family, self.socket_type)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(self.server_address)
        sock.listen(self.request_queue_size)
        with self._lock:
            self.socket = sock
            self._listening = True

    # -- serving ---------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.05) -> None:
        self._stop.clear()
        self._stopped.clear()
        try:
            while not self._stop.is_set():
                with self._lock:
                    sock = self.socket if self._listening else None
                    remaining = self._refuse_until - time.monotonic()
                if sock is None:
                    if remaining <= 0:
                        try:
                            self._listen_again()
                        except OSError:
                            time.sleep(poll_interval)  # port briefly unavailable: try again
                    else:
                        self._stop.wait(min(poll_interval, remaining))
                    continue
                try:
                    ready, _, _ = select.select([sock], [], [], poll_interval)
                except (OSError, ValueError):
                    continue  # closed by refuse_for() meanwhile
                if ready:
                    self._handle_request_noblock()
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stops serve_forever() and waits for it (open connections are dropped)."""
        self._stop.set()
        self._stopped.wait()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the simulator, writes the answer (or drops the connection)."""

    protocol_version = "HTTP/1.1"
    server_version = "awx-sim"
    sys_version = ""
    # Headers and body go out in two writes: without this, Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = self.headers.get("Host") or "%s:%s" % self.server.server_address[:2]
        try:
            response = self.server.simulator.handle(self.command, self.path, headers, body, f"http://{host}")
        except Exception:  # a simulator bug: answer 500 (never a silent drop, which a test could take for a fault)
            traceback.print_exc()
            response = Response(500, b'{"detail": "A server error has occurred."}', {"Content-Type": "application/json"})
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()
        if response.after:
            response.after()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass  # the simulator keeps its own request log


def serve(simulator, host: str = "127.0.0.1", port: int = 8052) -> SimulatorServer:
    """A server for ``simulator`` bound to ``host:port`` (not yet serving: call serve_forever())."""
    server = SimulatorServer((host, port), Handler, simulator)
    simulator.faults.server = server
    simulator.url = f"http://{host}:{server.server_address[1]}"
    return server
