"""The bill download (AlipayClient.download_bill) over real HTTP: bounded in size and in time before anything is
held, and never naming the URL (its token grants the download) in an error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from channels.alipay.rail import AlipayClient, BillDownloadError, ParameterError, PublicKeyCredentials

ARCHIVE = b"PK" + bytes(range(256)) * 40  # what is served is not read here, only counted


class BillServer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        if path == "/ok":
            self._answer(200, ARCHIVE)
        elif path == "/announced-big":
            self.send_response(200)
            self.send_header("content-length", str(10**9))
            self.end_headers()
            self.wfile.write(ARCHIVE)
        elif path == "/chunked-big":
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(f"{len(ARCHIVE):x}\r\n".encode() + ARCHIVE + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client gave up, as it should
        elif path == "/drip":
            self.send_response(200)
            self.send_header("content-length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.01)
            except OSError:
                pass  # the client gave up, as it should
        else:
            self._answer(404, "账单链接无效或已过期".encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BillServer)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def alipay(credentials: PublicKeyCredentials) -> Iterator[AlipayClient]:
    with AlipayClient("https://alipay.test/gateway.do", credentials, read_timeout=5.0) as client:
        yield client


def test_a_bill_is_fetched_whole(server: str, alipay: AlipayClient) -> None:
    assert alipay.download_bill(f"{server}/ok?token=secret-token") == ARCHIVE


@pytest.mark.parametrize("path", ["/announced-big", "/chunked-big"])
def test_more_than_the_cap_is_refused(server: str, alipay: AlipayClient, path: str) -> None:
    with pytest.raises(BillDownloadError, match="over the limit of 100000") as refused:
        alipay.download_bill(f"{server}{path}?token=secret-token", max_bytes=100_000)
    assert "secret-token" not in str(refused.value)


def test_a_download_slower_than_its_time_is_cut_off(server: str, alipay: AlipayClient) -> None:
    started = time.monotonic()
    with pytest.raises(BillDownloadError, match="took longer than 0.5 s"):
        alipay.download_bill(f"{server}/drip?token=secret-token", timeout=0.5)
    assert time.monotonic() - started < 3


def test_an_expired_link_and_a_bad_url_say_so_without_the_url(server: str, alipay: AlipayClient) -> None:
    with pytest.raises(BillDownloadError, match="HTTP 404") as expired:
        alipay.download_bill(f"{server}/gone?token=secret-token")
    assert "secret-token" not in str(expired.value)
    with pytest.raises(ParameterError, match="bill_download_url"):
        alipay.download_bill("file:///etc/passwd")
    with pytest.raises(BillDownloadError, match="ConnectError"):
        alipay.download_bill("http://127.0.0.1:9/?token=secret-token")
