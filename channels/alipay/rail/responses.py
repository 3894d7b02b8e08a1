"""Reading gateway.do responses: find the signed node exactly as sent, verify it, parse only it.

Alipay signs the *transmitted text* of the ``<method>_response`` value, from its ``{`` to the matching
``}``. Re-serialising parsed JSON would change spacing, escapes and key order, so we slice the body
with a small escape-aware scanner of the top-level object (strings may contain braces and quotes).

Only the verified slice is parsed and returned. Values elsewhere in the body (a second node after
``sign``, a stray ``trade_status`` beside it) are never read, and a duplicated node or ``sign`` is
refused outright (FZ #69: verifying one thing and returning another let duplicates forge values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.alipay.rail.errors import MalformedResponseError, ResponseSignatureError
from channels.alipay.rail.signing import AlipayCredentials

ERROR_NODE = "error_response"
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_WHITESPACE = " \t\r\n"


def node_name(method: str) -> str:
    """``alipay.trade.query`` -> ``alipay_trade_query_response``."""
    return method.replace(".", "_") + "_response"


def charset_from_content_type(content_type: str | None, default: str = "utf-8") -> str:
    """The ``charset=`` parameter wherever it appears (Alipay's headers are not always well formed)."""
    if content_type:
        match = _CHARSET.search(content_type)
        if match:
            return match.group(1).lower()
    return default


@dataclass(frozen=True)
class RawNode:
    """The node's key, its exact text, and the top-level ``sign``/``alipay_cert_sn`` if present."""

    name: str
    text: str
    sign: str | None
    cert_sn: str | None


@dataclass(frozen=True)
class VerifiedResponse:
    """A node whose signature verified (``signed``) or an unsigned gateway error (``signed`` False)."""

    name: str
    fields: Mapping[str, Any]
    signed: bool

    @property
    def is_error_node(self) -> bool:
        return self.name == ERROR_NODE


def decode_body(body: bytes, content_type: str | None) -> str:
    charset = charset_from_content_type(content_type)
    try:
        return body.decode(charset)
    except LookupError:
        raise MalformedResponseError(f"response charset {charset!r} is unknown") from None
    except UnicodeDecodeError:
        raise MalformedResponseError(f"response body is not valid {charset}") from None


def extract_node(text: str, method: str) -> RawNode:
    """Slice the method's node (or ``error_response``) out of the top-level object, byte-exact."""
    members = _top_level_members(text)
    wanted = node_name(method)
    spans: dict[str, tuple[int, int]] = {}
    for key, start, end in members:
        if key in spans:
            if key in (wanted, ERROR_NODE, "sign", "alipay_cert_sn"):
                raise MalformedResponseError(f"response repeats the top-level key {key!r}")
            continue
        spans[key] = (start, end)
    present = [name for name in (wanted, ERROR_NODE) if name in spans]
    if not present:
        raise MalformedResponseError(f"response has no {wanted} or {ERROR_NODE} node")
    if len(present) > 1:
        raise MalformedResponseError(f"response has both {wanted} and {ERROR_NODE}")
    name = present[0]
    start, end = spans[name]
    node_text = text[start:end]
    if not node_text.startswith("{"):
        raise MalformedResponseError(f"{name} is not a JSON object")
    return RawNode(
        name=name,
        text=node_text,
        sign=_string_member(text, spans.get("sign"), "sign"),
        cert_sn=_string_member(text, spans.get("alipay_cert_sn"), "alipay_cert_sn"),
    )


def verify_response(
    body: bytes, content_type: str | None, method: str, credentials: AlipayCredentials
) -> VerifiedResponse:
    """Decode, extract, verify and parse. Raises ``ResponseSignatureError``/``MalformedResponseError``.

    Verification runs over the node bytes in the response charset. If it fails and the node contains
    ``\\/``, it is retried once with ``\\/`` turned into ``/``, as the Java SDK's checkResponseSign does
    (some Alipay front ends sign the unescaped text). Answers without ``sign`` are returned with
    ``signed=False``; deciding what an unsigned answer may mean is the outcome table's job.
    """
    charset = charset_from_content_type(content_type)
    text = decode_body(body, content_type)
    raw = extract_node(text, method)
    fields = parse_node(raw)
    if not raw.sign:
        return VerifiedResponse(raw.name, fields, signed=False)
    candidates = [raw.text]
    if "\\/" in raw.text:
        candidates.append(raw.text.replace("\\/", "/"))
    for candidate in candidates:
        if credentials.verify_response(candidate.encode(charset), raw.sign, raw.cert_sn):
            return VerifiedResponse(raw.name, fields, signed=True)
    raise ResponseSignatureError(f"signature of {raw.name} does not verify with Alipay's public key")


def parse_node(raw: RawNode) -> dict[str, Any]:
    """Parse the exact node text; duplicate keys inside it are refused too."""
    try:
        value = json.loads(raw.text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise MalformedResponseError(f"{raw.name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedResponseError(f"{raw.name} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _string_member(text: str, span: tuple[int, int] | None, key: str) -> str | None:
    if span is None:
        return None
    raw = text[span[0] : span[1]]
    try:
        value = json.loads(raw)
    except ValueError:
        raise MalformedResponseError(f"top-level {key} is not valid JSON") from None
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedResponseError(f"top-level {key} is not a string")
    return value


# --- a minimal scanner of one JSON object's top level -------------------------------------------------


def _top_level_members(text: str) -> list[tuple[str, int, int]]:
    """(key, value_start, value_end) for each member of the top-level object, in order."""
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "{":
        raise MalformedResponseError("response is not a JSON object")
    i = _skip_ws(text, i + 1)
    members: list[tuple[str, int, int]] = []
    if i < len(text) and text[i] == "}":
        _expect_end(text, i + 1)
        return members
    while True:
        if i >= len(text) or text[i] != '"':
            raise MalformedResponseError("response object has a malformed key")
        key_end = _string_end(text, i)
        try:
            key = json.loads(text[i:key_end])
        except ValueError:
            raise MalformedResponseError("response object has a malformed key") from None
        i = _skip_ws(text, key_end)
        if i >= len(text) or text[i] != ":":
            raise MalformedResponseError("response object lacks ':' after a key")
        start = _skip_ws(text, i + 1)
        end = _value_end(text, start)
        members.append((key, start, end))
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
            continue
        if i < len(text) and text[i] == "}":
            _expect_end(text, i + 1)
            return members
        raise MalformedResponseError("response object is not terminated")


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _expect_end(text: str, i: int) -> None:
    if _skip_ws(text, i) != len(text):
        raise MalformedResponseError("response has trailing data after the JSON object")


def _string_end(text: str, i: int) -> int:
    """Index just past the string starting at ``text[i] == '"'``; backslash escapes skip one char."""
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if ch == '"':
            return j + 1
        j += 1
    raise MalformedResponseError("response has an unterminated string")


def _value_end(text: str, i: int) -> int:
    if i >= len(text):
        raise MalformedResponseError("response ends where a value was expected")
    ch = text[i]
    if ch == '"':
        return _string_end(text, i)
    if ch in "{[":
        depth = 0
        j = i
        while j < len(text):
            ch = text[j]
            if ch == '"':
                j = _string_end(text, j)
                continue
            if ch in "{[":
                depth += 1
            elif ch in "}]":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise MalformedResponseError("response has an unbalanced object")
    j = i
    while j < len(text) and text[j] not in ",}" + _WHITESPACE:
        j += 1
    if j == i:
        raise MalformedResponseError("response has an empty value")
    return j
