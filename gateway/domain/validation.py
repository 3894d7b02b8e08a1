"""Validation of what trading apps send. Every offending field is named, all at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit

from gateway.domain.errors import Violations
from gateway.domain.money import MAX_AMOUNT_MINOR, MIN_AMOUNT_MINOR, SUPPORTED_CURRENCIES
from gateway.domain.payments import ClientInfo, NewPayment
from gateway.domain.refunds import NewRefund

OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MERCHANT_ID = re.compile(r"[a-z0-9][a-z0-9\-]{2,39}")
APP_VERSION = re.compile(r"\d{1,6}(\.\d{1,6}){0,3}")
MIN_EXPIRY = timedelta(minutes=1)
MAX_EXPIRY = timedelta(days=15)
MAX_LINE_ITEMS = 100
MAX_METADATA_KEYS = 20
# The rule for every string that comes in, whatever its field: no control characters (C0, DEL, C1: they
# corrupt logs, headers and PostgreSQL text, which refuses NUL) and a length bound. Fields with a meaning
# of their own are held to tighter rules below.
MAX_INCOMING_TEXT = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_incoming_text(v: Violations, path: str, value: str, *, limit: int = MAX_INCOMING_TEXT) -> bool:
    """The rule for every incoming string; False (and a violation naming `path`) when it is broken."""
    if len(value) > limit:
        v.add(path, f"at most {limit} characters")
        return False
    if _CONTROL.search(value):
        v.add(path, "must not contain control characters")
        return False
    return True


def validate_new_payment(p: NewPayment, v: Violations | None = None) -> None:
    """Raise InvalidArgument naming every field that is wrong. `v` may carry violations found earlier
    (e.g. while decoding the wire format) so that the caller gets a single, complete answer."""
    v = v if v is not None else Violations()
    if not OUT_TRADE_NO.fullmatch(p.out_trade_no):
        v.add("out_trade_no", "required: 1-64 letters, digits, '_' or '-'")
    check_amount(v, "amount", p.amount)
    check_currency(v, "currency_code", p.currency)
    check_text(v, "subject", p.subject, required=True, limit=256)
    if len(p.line_items) > MAX_LINE_ITEMS:
        v.add("line_items", f"at most {MAX_LINE_ITEMS} items")
    for i, item in enumerate(p.line_items):
        path = f"line_items[{i}]"
        check_text(v, f"{path}.sku", item.sku, required=False, limit=64)
        check_text(v, f"{path}.name", item.name, required=True, limit=256)
        if not 1 <= item.quantity <= 1_000_000:
            v.add(f"{path}.quantity", "must be between 1 and 1000000")
        if not 0 <= item.unit_price <= MAX_AMOUNT_MINOR:
            v.add(f"{path}.unit_price", f"must be between 0 and {MAX_AMOUNT_MINOR} (minor units)")
    if p.line_items:
        total = sum(item.total for item in p.line_items)
        if total != p.amount:
            v.add("line_items", f"quantity × unit_price sums to {total}, but amount is {p.amount}")
    check_client(v, "client", p.client)
    if p.return_url:
        check_url(v, "return_url", p.return_url)
    if not MIN_EXPIRY <= p.expire_after <= MAX_EXPIRY:
        v.add("expire_after", "must be between 1 minute and 15 days")
    check_metadata(v, "metadata", p.metadata)
    v.raise_if_any()


def validate_route_request(amount: int, currency: str, client: ClientInfo, v: Violations | None = None) -> None:
    """PreviewRoute's fields, held to the rules CreatePayment holds the same fields to, in the same order, so
    that a preview refuses exactly what creation would (`v` as in validate_new_payment)."""
    v = v if v is not None else Violations()
    check_amount(v, "amount", amount)
    check_currency(v, "currency_code", currency)
    check_client(v, "client", client)
    v.raise_if_any()


def check_client(v: Violations, path: str, client: ClientInfo) -> None:
    """The buyer's client, as CreatePayment and PreviewRoute both describe it."""
    if client.app_version and not APP_VERSION.fullmatch(client.app_version):
        v.add(f"{path}.app_version", "must be a dotted number such as 8.2.0")
    check_text(v, f"{path}.app_name", client.app_name, required=False, limit=64)
    check_text(v, f"{path}.user_agent", client.user_agent, required=False, limit=1024)


def validate_new_refund(r: NewRefund, v: Violations | None = None) -> None:
    """Raise InvalidArgument naming every field of a refund request that is wrong."""
    v = v if v is not None else Violations()
    if not OUT_TRADE_NO.fullmatch(r.out_refund_no):
        v.add("out_refund_no", "required: 1-64 letters, digits, '_' or '-'")
    check_amount(v, "amount", r.amount)
    check_text(v, "reason", r.reason, required=False, limit=256)
    v.raise_if_any()


def check_amount(v: Violations, path: str, amount: int) -> None:
    if not MIN_AMOUNT_MINOR <= amount <= MAX_AMOUNT_MINOR:
        v.add(path, f"must be between {MIN_AMOUNT_MINOR} and {MAX_AMOUNT_MINOR} minor units (fen)")


def check_currency(v: Violations, path: str, currency: str) -> None:
    if currency not in SUPPORTED_CURRENCIES:
        shown = repr(currency) if currency else "missing"
        v.add(path, f"{shown} is not accepted; use one of {', '.join(sorted(SUPPORTED_CURRENCIES))}")


def check_text(v: Violations, path: str, value: str, *, required: bool, limit: int) -> None:
    if required and not value.strip():
        v.add(path, "required")
    else:
        check_incoming_text(v, path, value, limit=limit)


def check_url(v: Violations, path: str, url: str) -> None:
    if not check_incoming_text(v, path, url, limit=1024):
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        v.add(path, "must be an absolute http(s) URL of at most 1024 characters")


def check_metadata(v: Violations, path: str, metadata: Mapping[str, str]) -> None:
    items = dict(metadata)
    if len(items) > MAX_METADATA_KEYS:
        v.add(path, f"at most {MAX_METADATA_KEYS} keys")
    for key, value in items.items():
        if not 1 <= len(key) <= 40:
            v.add(f"{path}[{key!r}]", "keys must be 1-40 characters")
        elif not check_incoming_text(v, f"{path}[{key!r}]", key):
            continue
        if len(value) > 500:
            v.add(f"{path}[{key!r}]", "values must be at most 500 characters")
        else:
            check_incoming_text(v, f"{path}[{key!r}]", value)


MERCHANT_ID_RULE = "3-40 lower-case letters, digits or '-', starting with a letter or digit"


def validate_merchant_id(v: Violations, path: str, merchant_id: str) -> bool:
    if not MERCHANT_ID.fullmatch(merchant_id):
        v.add(path, MERCHANT_ID_RULE)
        return False
    return True
