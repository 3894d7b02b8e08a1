"""Issue 12 item 1, for the checkout form (POST /pay/{token}/go, a real shared-link token): a declared
256 MiB body gets 413 before a byte is sent; a streamed one (declared or chunked) is stopped early."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from gateway.runtime import RunningGateway
from tests.e2e.checkout_support import shared_link
from tests.e2e.test_http_face_limits import MIB, _answer, _closed_within, _connect
from tests.e2e.test_shared_link_channel import alipay, app, gateway, world  # noqa: F401 - fixtures
from tests.support import CashierClient


def test_the_checkout_form_is_bounded_like_a_notification(app: CashierClient, gateway: RunningGateway) -> None:  # noqa: F811
    go = urlsplit(shared_link(app).action.hosted_checkout.url).path + "/go"
    with _connect(gateway.http_url) as sock:
        sock.sendall(f"POST {go} HTTP/1.1\r\nHost: x\r\nContent-Length: {256 * MIB}\r\n\r\n".encode())
        assert _answer(sock).startswith(b"HTTP/1.1 413") and _closed_within(sock, 5)
    for headers in ({"content-length": str(256 * MIB)}, {}):
        sent = [0]

        def body(sent: list[int] = sent):  # type: ignore[no-untyped-def]
            while sent[0] < 256 * MIB:
                sent[0] += 65536
                yield b"method=pc&" + b"x" * 65526
        try:
            assert httpx.post(f"{gateway.http_url}{go}", content=body(), headers=headers, timeout=30).status_code >= 400
        except httpx.TransportError:
            pass  # dropped instead of read: as it should be
        assert sent[0] < 32 * MIB, (headers, sent[0])
