"""The benchmarks' HTTP load generator: N keep-alive HTTP/1.1 clients, one request in flight each.

Why not aiohttp's client (the first generator here): on this 2-CPU machine it cost 0.2-0.25 ms of CPU per
request (its ceiling against a trivial endpoint was 4,100-4,900 requests/s on one CPU), taken from the same
two CPUs as the server it measures. This one is an asyncio ``Protocol`` per connection that writes each
request as one prepared ``bytes`` and parses the answer with httptools (llhttp, the parser uvicorn uses), so
the measurement is of the server rather than of the client. Every server measured in a run gets the same
generator.

:func:`send_all` keeps the former interface: deliveries ``i`` go to ``urls[i % len(urls)]``; with
``retry``, a delivery without an answer in ``expected`` is sent again (same headers, so the same
Idempotency-Key) to the next URL after 50 ms, as GitLab retrying would, until the deadline.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Callable, Mapping
from urllib.parse import urlsplit

import httptools

RETRY_PAUSE = 0.05  # seconds before a delivery is sent again (retry mode)


class _Answer(Exception):
    """An answer that cannot be read (bad HTTP from the server): the waiting request fails with it."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection to one server; :meth:`request` sends prepared bytes and returns
    ``(status, body)``. Raises ConnectionError when the server closes or resets the connection first."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future | None = None
        self._body: list[bytes] = []
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(_Answer(f"bad HTTP answer: {exc}"))
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._fail(ConnectionResetError("the server closed the connection") if exc is None else exc)

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status, body = self._parser.get_status_code(), b"".join(self._body)
        self._body = []
        if not self._parser.should_keep_alive():
            self.closed = True
            self.transport.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body))

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self._waiter


def request_bytes(url: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """A whole ``POST`` request for ``url`` (Host, Content-Length and ``headers``) as one bytes."""
    parts = urlsplit(url)
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def _send_all(urls: list[str], bodies: list[bytes], headers: Callable[[int], Mapping[str, str]],
                    clients: int, expected: set[int], deadline: float, retry: bool = False,
                    acked: dict | None = None, timeout: float = 30.0) -> dict:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: Counter = Counter()
    acked = {} if acked is None else acked  # {i: event_id}; the caller's dict shows progress while it runs
    retries = 0
    cursor = iter(range(len(bodies)))
    addresses = [(parts.hostname, parts.port) for parts in map(urlsplit, urls)]

    async def client():
        nonlocal retries
        connections: dict[int, _Connection] = {}

        async def connection(target: int) -> _Connection:
            conn = connections.get(target)
            if conn is None or conn.closed:
                _transport, conn = await loop.create_connection(_Connection, *addresses[target])
                connections[target] = conn
            return conn

        try:
            for i in cursor:
                target = i % len(urls)
                while True:
                    if time.monotonic() > deadline:
                        errors["not sent (time bound)"] += 1
                        break
                    data = request_bytes(urls[target], bodies[i], headers(i))
                    began = time.perf_counter()
                    try:
                        async with asyncio.timeout(timeout):
                            status, text = await (await connection(target)).request(data)
                    except (OSError, _Answer, asyncio.TimeoutError) as exc:
                        status, text = None, b""
                        errors[type(exc).__name__] += 1
                        stale = connections.pop(target, None)
                        if stale is not None and stale.transport is not None:
                            stale.transport.abort()
                    if status in expected:
                        latencies.append(time.perf_counter() - began)
                        try:
                            acked[i] = json.loads(text).get("event_id")
                        except (ValueError, AttributeError):
                            acked[i] = None
                        break
                    if status is not None:
                        errors[f"HTTP {status}"] += 1
                    if not retry:
                        break
                    retries += 1
                    target = (target + 1) % len(urls)
                    await asyncio.sleep(RETRY_PAUSE)
        finally:
            for conn in connections.values():
                if conn.transport is not None:
                    conn.transport.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "latencies": latencies, "errors": errors, "sent": len(bodies), "acked_ids": acked,
            "retries": retries}


def send_all(url: str | list[str], bodies: list[bytes], headers: Callable[[int], Mapping[str, str]], clients: int,
             expected: int | set[int], time_bound: float, retry: bool = False, acked: dict | None = None,
             timeout: float = 30.0) -> dict:
    """Posts every body once from ``clients`` concurrent keep-alive connections (per URL).

    Returns ``seconds`` (wall time of the whole load), ``latencies`` (s, of the answers whose status is in
    ``expected``), ``errors`` (Counter of error kinds: an exception's name or ``HTTP <status>``), ``sent``,
    ``acked_ids`` ({i: the answer's event_id}) and ``retries``. Requests not sent within ``time_bound`` seconds
    count as errors; one request may take ``timeout`` seconds."""
    urls = [url] if isinstance(url, str) else list(url)
    codes = {expected} if isinstance(expected, int) else set(expected)
    return asyncio.run(_send_all(urls, bodies, headers, clients, codes, time.monotonic() + time_bound, retry,
                                 acked, timeout))
