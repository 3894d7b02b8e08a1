"""Test helpers for the Alipay rail: TEST-ONLY keys, a fixed clock, and a fake Alipay over MockTransport.

A uniquely named module (not conftest) so ``from alipay_testkit import ...`` cannot pick up another
directory's conftest.

The fake plays Alipay's side of gateway.do honestly: it checks our request signature with the app's
public key, reads protocol parameters from the query and biz_content from the body, and signs its
answers with the test "Alipay" private key over the exact node text it sends.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alipay"
APP_ID = "2021000000000001"
GATEWAY = "https://alipay.test/gateway.do"
# 2024-01-02 03:04:05 in Beijing.
FIXED_NOW = datetime(2024, 1, 1, 19, 4, 5, tzinfo=UTC)


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def _load_rsa_private(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((FIXTURES / name).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def alipay_sign(text: str, charset: str = "utf-8") -> str:
    """Sign as Alipay would, with the TEST-ONLY "Alipay" key (independent of the rail's signing code)."""
    key = _load_rsa_private("alipay_private_pkcs1.pem")
    return base64.b64encode(key.sign(text.encode(charset), padding.PKCS1v15(), hashes.SHA256())).decode()


def app_key_verifies(text: str, sign: str) -> bool:
    public = _load_rsa_private("app_private_pkcs1.pem").public_key()
    try:
        public.verify(base64.b64decode(sign), text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def signed_body(method: str, node: dict[str, Any] | str, *, sign: bool = True) -> str:
    """A response body as Alipay sends it: node text, then ``sign`` over exactly that text."""
    node_text = node if isinstance(node, str) else json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    name = method.replace(".", "_") + "_response"
    if not sign:
        return f'{{"{name}":{node_text}}}'
    return f'{{"{name}":{node_text},"sign":"{alipay_sign(node_text)}"}}'


@dataclass
class SeenRequest:
    method: str
    query: dict[str, str]
    body: dict[str, str]
    content_type: str
    signature_ok: bool

    @property
    def biz(self) -> dict[str, Any]:
        return json.loads(self.body["biz_content"])


Answer = Callable[[SeenRequest], httpx.Response | Exception]


@dataclass
class FakeAlipay:
    """Answers are queued per call; an Exception in the queue is raised as the transport failure."""

    answers: list[Answer | httpx.Response | Exception] = field(default_factory=list)
    seen: list[SeenRequest] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        query = dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
        body = dict(parse_qsl(request.content.decode("ascii"), keep_blank_values=True))
        merged = {**query, **body}
        content = "&".join(
            f"{k}={v}" for k, v in sorted(merged.items()) if k != "sign" and v != ""
        )  # independent canonical string, written here on purpose
        seen = SeenRequest(
            method=query.get("method", ""),
            query=query,
            body=body,
            content_type=request.headers.get("content-type", ""),
            signature_ok=app_key_verifies(content, merged.get("sign", "")),
        )
        self.seen.append(seen)
        if not self.answers:
            raise AssertionError("FakeAlipay got an unexpected request")
        answer = self.answers.pop(0)
        if callable(answer) and not isinstance(answer, httpx.Response):
            answer = answer(seen)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def reply(self, method: str, node: dict[str, Any] | str, *, sign: bool = True) -> None:
        body = signed_body(method, node, sign=sign)
        self.answers.append(
            httpx.Response(200, content=body.encode(), headers={"Content-Type": "text/html;charset=utf-8"})
        )
