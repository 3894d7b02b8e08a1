"""Reading what arrives over HTTP: Alipay's query and form parameters, decoded in the request's charset."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.requests import Request

from .values import CHARSETS

#: Per-request faults (``system_error``, ``system_error_20000``, ``wrong_sign``, ``timeout[=seconds]``).
FAULT_HEADER = "x-sandbox-fault"


def _charset_of(raw_query: bytes, body: bytes, content_type: str) -> str:
    for raw in (raw_query, body):
        for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            if key == "charset":
                return CHARSETS.get(value.lower(), "utf-8")
    match = re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE)
    return CHARSETS.get(match.group(1).lower(), "utf-8") if match else "utf-8"


def parse_params(raw_query: bytes, body: bytes, content_type: str = "") -> dict[str, str]:
    """Merge the URL query and the form body (the body wins on a clash), decoded with the request's charset."""
    charset = _charset_of(raw_query, body, content_type)
    params: dict[str, str] = {}
    for raw in (raw_query, body):
        if raw:
            text = raw.decode(charset, errors="replace")
            params.update(parse_qsl(text, keep_blank_values=True, encoding=charset, errors="replace"))
    return params


async def read_params(request: Request) -> dict[str, str]:
    body = await request.body() if request.method == "POST" else b""
    return parse_params(request.scope.get("query_string", b""), body, request.headers.get("content-type", ""))


def request_faults(request: Request) -> set[str]:
    return {f.strip() for f in request.headers.get(FAULT_HEADER, "").split(",") if f.strip()}


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
