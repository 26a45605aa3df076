"""Bounded requests: body, URL and header sizes and the time a client may take to send them.

Two layers, because neither alone bounds everything:
- `bounded`, a pure ASGI middleware in front of every route, so before authentication and before
  any body is parsed: a declared `Content-Length` over the limit is refused at once (413), a
  chunked body is counted as it streams and refused as soon as it passes the limit (the app has
  then been handed at most the limit), a body whose next chunk does not come within
  `body_timeout` is answered 408, and the raw path and query (414) and the headers (431) are
  measured. Every refusal closes the connection: the client may still be sending.
- `protocol_class`, uvicorn's httptools protocol with the two bounds uvicorn lacks for it: the
  size of a request head (httptools keeps every byte of an endless header line in memory before
  the app sees anything) and the time to send it (uvicorn never closes a new connection that sends
  nothing, nor one that sends its head byte by byte).

uvicorn itself bounds idle keep-alive connections (`timeout_keep_alive`) and, optionally, the
number of concurrent connections and tasks (`limit_concurrency`: over it every request, the
health checks included, gets 503, so it is off unless set).
"""

from __future__ import annotations

import asyncio
import http
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.platform.api import error_response
from services.platform.settings import numbers_from_env

MiB = 1024 * 1024

Refusal = tuple[int, str, str]  # status, error code, message


@dataclass(frozen=True)
class RequestLimits:
    """Sizes in bytes, times in seconds (see the module docstring)."""

    max_body: int = 1 * MiB
    max_url: int = 8 * 1024
    max_headers: int = 16 * 1024
    body_timeout: float = 10.0
    header_timeout: float = 10.0
    keep_alive: int = 5
    limit_concurrency: int | None = None

    ENV: ClassVar[dict[str, str]] = {
        "max_body": "INSATS_MAX_BODY_BYTES",
        "max_url": "INSATS_MAX_URL_BYTES",
        "max_headers": "INSATS_MAX_HEADER_BYTES",
        "body_timeout": "INSATS_BODY_TIMEOUT",
        "header_timeout": "INSATS_HEADER_TIMEOUT",
        "keep_alive": "INSATS_KEEP_ALIVE_TIMEOUT",
        "limit_concurrency": "INSATS_LIMIT_CONCURRENCY",
    }
    _WHOLE: ClassVar[frozenset[str]] = frozenset(
        {"max_body", "max_url", "max_headers", "keep_alive", "limit_concurrency"}
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RequestLimits:
        return cls(**numbers_from_env(cls.ENV, env, whole=cls._WHOLE))

    @property
    def max_head(self) -> int:
        """The most a request line and headers may take on the wire: what the middleware
        accepts, plus room for the request line and the ": " and CRLF of each header."""
        return self.max_url + self.max_headers + 4096


# --- the middleware ---------------------------------------------------------------------------


class _Refused(Exception):
    """Raised into the app from `receive` when the body broke a limit; `bounded` answers."""


def _head_refusal(scope: Scope, limits: RequestLimits) -> Refusal | None:
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(
        scope.get("query_string", b"")
    )
    if target > limits.max_url:
        return 414, "uri_too_long", f"the path and query may be at most {limits.max_url} bytes"
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if sum(len(name) + len(value) for name, value in headers) > limits.max_headers:
        return (
            431,
            "headers_too_large",
            f"the request headers may be at most {limits.max_headers} bytes",
        )
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            if int(value) > limits.max_body:
                return _too_large(limits)
            break
    return None


def _too_large(limits: RequestLimits) -> Refusal:
    return 413, "payload_too_large", f"the request body may be at most {limits.max_body} bytes"


async def _answer(scope: Scope, receive: Receive, send: Send, refusal: Refusal) -> None:
    status, code, message = refusal
    response = error_response(status, code, message, headers={"Connection": "close"})
    await response(scope, receive, send)


def _timeout(seconds: float) -> AbstractAsyncContextManager[object]:
    """TimeoutError when the block takes longer than `seconds`: asyncio's own (less work per
    use than anyio's cancel scope) on asyncio, which uvicorn always runs; anyio's on another
    event loop."""
    try:
        asyncio.current_task()
    except RuntimeError:  # not asyncio
        return _anyio_timeout(seconds)
    return asyncio.timeout(seconds)


@asynccontextmanager
async def _anyio_timeout(seconds: float) -> AsyncIterator[None]:
    with anyio.fail_after(seconds):
        yield


def bounded(inner: ASGIApp, limits: RequestLimits) -> ASGIApp:
    """The ASGI middleware (see the module docstring)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        refusal = _head_refusal(scope, limits)
        if refusal is not None:
            await _answer(scope, receive, send, refusal)
            return

        received = 0
        body_complete = False
        refused: Refusal | None = None
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_complete, refused
            if body_complete:
                return await receive()  # e.g. waiting for a disconnect: no timeout
            try:
                async with _timeout(limits.body_timeout):
                    message = await receive()
            except TimeoutError:
                refused = (
                    408,
                    "request_timeout",
                    f"the request body stalled for {limits.body_timeout:g} s",
                )
                raise _Refused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limits.max_body:
                    refused = _too_large(limits)
                    raise _Refused
                body_complete = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused is not None and not started:
                return  # the app's answer to a body it never got whole: ours goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await inner(scope, limited_receive, guarded_send)
        except Exception:
            # The app may let _Refused through or wrap it (FastAPI answers 400 to any error
            # while reading a body); either way the refusal is what the client gets.
            if refused is None or started:
                raise
        if refused is not None and not started:
            await _answer(scope, receive, send, refused)

    return middleware


# --- the uvicorn protocol ---------------------------------------------------------------------


def uvicorn_options(limits: RequestLimits) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`/`uvicorn.Config` that apply `limits`."""
    options: dict[str, Any] = {
        "timeout_keep_alive": limits.keep_alive,
        "limit_concurrency": limits.limit_concurrency,
    }
    try:
        options["http"] = protocol_class(limits)
    except ImportError:  # no httptools: uvicorn's h11 protocol bounds the head itself
        options["http"] = "h11"
        options["h11_max_incomplete_event_size"] = limits.max_head
    return options


def protocol_class(limits: RequestLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol bounded by `limits` (uvicorn builds one per connection)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """Counts the bytes of each request head as they arrive and refuses it past
        `limits.max_head` (414 when the URL is what is too long, else 431), and closes a
        connection whose head is not complete within `limits.header_timeout` (408 once part of
        a head came; a connection that sent nothing is just closed)."""

        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _in_head = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._in_head and not self.transport.is_closing():
                # All of `data` arrived before the head was complete.
                self._head_bytes += len(data)
                if self._head_bytes > limits.max_head:
                    if len(self.url) > limits.max_url:
                        self._refuse(414, "uri_too_long", "the request line is too long")
                    else:
                        self._refuse(431, "headers_too_large", "the request head is too large")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._head_bytes = 0
            self._arm_head_timer()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._disarm_head_timer()
            super().on_headers_complete()

        def _arm_head_timer(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(limits.header_timeout, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                self._arm_head_timer()  # a response is under way; the next head waits for it
            elif self._in_head:
                self._refuse(408, "request_timeout", "the request head was not sent in time")
            else:
                self.transport.close()  # a connection that never sent a request

        def _refuse(self, status: int, code: str, message: str) -> None:
            self._disarm_head_timer()
            body = json.dumps({"error": code, "message": message, "field": None}).encode()
            phrase = http.HTTPStatus(status).phrase.encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\n"
                b"content-type: application/json\r\n"
                b"content-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (status, phrase, len(body), body)
            )
            self.transport.close()

    return BoundedHttpToolsProtocol
