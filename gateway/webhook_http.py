"""The HTTP adapter the webhook dispatcher sends through: httpx over a guarded connection layer.

- Every connection resolves the URL's host once, checks every address against the target policy
  (gateway/webhook_targets.py) and connects to the checked address itself, never to the name resolved
  again; the Host header, TLS SNI and certificate verification stay on the name (httpcore passes the URL's
  host to `start_tls`, whatever address the socket went to).
- One attempt lasts at most `timeout` seconds in all (connect, send, answer), not per read: a server that
  drips its answer a byte at a time is cut off at the deadline.
- The answer's body is never stored or logged (at most 64 KiB of it is read and dropped, to keep the
  connection): a 2xx is a delivery; anything else is "HTTP <status>".
- Redirects are not followed; proxies from the environment are not used.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import httpcore
import httpx

from gateway.service.webhooks import DeliveryResult
from gateway.webhook_targets import RefusedTarget, TargetPolicy

# (ip, port, timeout, local_address, socket_options) → an open stream; tests wrap it to record connects.
Connect = Callable[..., httpcore.NetworkStream]

_deadline = threading.local()  # the current attempt's time.monotonic() deadline, per sending thread


def _remaining(timeout: float | None) -> float | None:
    """`timeout` clamped to what is left of the current attempt; raises once nothing is left."""
    deadline: float | None = getattr(_deadline, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the webhook attempt's time is up")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, resolving and checking before it connects to the checked address."""

    def __init__(self, policy: TargetPolicy, connect: Connect | None = None):
        self.policy = policy
        self.connect = connect or httpcore.SyncBackend().connect_tcp

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = self.policy.resolve_checked(host, port)
        except RefusedTarget as exc:
            raise httpcore.ConnectError(f"refused: {exc}") from None
        last: Exception | None = None
        for address in addresses:  # every one checked above; the socket goes to exactly this one
            try:
                stream = self.connect(address, port, _remaining(timeout), local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream)
        assert last is not None
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks never go to a unix socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]):
        self.stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self.stream

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool whose connections go through GuardedBackend."""

    def __init__(self, backend: GuardedBackend, ssl_context: ssl.SSLContext | None = None):
        self.pool = httpcore.ConnectionPool(ssl_context=ssl_context or httpx.create_ssl_context(),
                                            network_backend=backend, max_connections=64, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                             target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        try:
            answer = self.pool.handle_request(core)
        except httpcore.TimeoutException as exc:
            raise httpx.TimeoutException(str(exc), request=request) from exc
        except httpcore.ConnectError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise httpx.TransportError(f"{type(exc).__name__}: {exc}", request=request) from exc
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(status_code=answer.status, headers=answer.headers, stream=_Body(answer.stream),
                              extensions=answer.extensions)

    def close(self) -> None:
        self.pool.close()


class HttpWebhookSender:
    def __init__(self, timeout: float = 5.0, policy: TargetPolicy | None = None, *,
                 connect: Connect | None = None, ssl_context: ssl.SSLContext | None = None):
        self.timeout = timeout
        self.policy = policy or TargetPolicy()
        self.client = httpx.Client(
            transport=GuardedTransport(GuardedBackend(self.policy, connect), ssl_context),
            timeout=timeout, follow_redirects=False, trust_env=False,
            headers={"User-Agent": "unified-cashier-webhooks/1"})

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        try:
            self.policy.check_url(url, resolve=False)  # the scheme, userinfo and literal address, as today
        except RefusedTarget as exc:
            return DeliveryResult(False, f"refused: {exc}")
        _deadline.at = time.monotonic() + self.timeout
        try:
            # The answer's body is never kept or logged: up to 64 KiB of it is read and dropped so that the
            # connection can serve the next event; a longer one closes it.
            with self.client.stream("POST", url, content=body, headers=dict(headers)) as answer:
                status = answer.status_code
                drained = 0
                for chunk in answer.iter_raw():
                    drained += len(chunk)
                    if drained > 65536:
                        break
        except httpx.HTTPError as exc:
            return DeliveryResult(False, f"{type(exc).__name__}: {exc}"[:500])
        finally:
            _deadline.at = None
        return DeliveryResult(200 <= status < 300, f"HTTP {status}")

    def close(self) -> None:
        self.client.close()
