"""A local HTTP endpoint for the tests: a trading app's webhook URL, a fan-service inbox. It records every
request and answers `status` (after `delay` seconds)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A trading app's webhook endpoint: records every request; answers `status`."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.answer = b"ok"  # the body of every answer
        self.started: list[tuple[str, float]] = []  # (Cashier-Event-Id, time.monotonic()) as requests arrive
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.started.append((self.headers.get("Cashier-Event-Id", ""), time.monotonic()))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.status
                with receiver.lock:
                    receiver.requests.append((dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/cashier"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(h, b) for h, b, status in self.requests if 200 <= status < 300]

    def accepted_ids(self) -> list[str]:
        return [h["Cashier-Event-Id"] for h, _ in self.accepted()]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
