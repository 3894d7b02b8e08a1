"""The HTTP adapter the webhook dispatcher sends through (httpx, one pooled client per dispatcher)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from gateway.service.webhooks import DeliveryResult


class HttpWebhookSender:
    def __init__(self, timeout: float = 10.0):
        self.client = httpx.Client(timeout=timeout, follow_redirects=False,
                                   headers={"User-Agent": "unified-cashier-webhooks/1"})

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        try:
            answer = self.client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            return DeliveryResult(False, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= answer.status_code < 300:
            return DeliveryResult(True, f"HTTP {answer.status_code}")
        return DeliveryResult(False, f"HTTP {answer.status_code}: {answer.text[:200]}")

    def close(self) -> None:
        self.client.close()
