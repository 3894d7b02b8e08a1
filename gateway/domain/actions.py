"""What a channel hands the buyer's client. A closed set of kinds; each knows how to be stored."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AppPay:
    """An order string for the Alipay mobile SDK inside the platform's app."""

    order_string: str
    kind = "app_pay"


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    form_html: str = ""
    kind = "redirect"


@dataclass(frozen=True, slots=True)
class QrCode:
    code: str
    svg: str = ""
    png: bytes = b""
    kind = "qr_code"


@dataclass(frozen=True, slots=True)
class HostedCheckout:
    url: str
    expires_at: datetime | None = None
    kind = "hosted_checkout"


BuyerAction = AppPay | Redirect | QrCode | HostedCheckout
ACTION_KINDS = ("app_pay", "redirect", "qr_code", "hosted_checkout")


def action_to_dict(action: BuyerAction) -> dict[str, Any]:
    if isinstance(action, AppPay):
        return {"kind": action.kind, "order_string": action.order_string}
    if isinstance(action, Redirect):
        return {"kind": action.kind, "url": action.url, "form_html": action.form_html}
    if isinstance(action, QrCode):
        return {"kind": action.kind, "code": action.code, "svg": action.svg,
                "png": base64.b64encode(action.png).decode("ascii")}
    if isinstance(action, HostedCheckout):
        return {"kind": action.kind, "url": action.url,
                "expires_at": action.expires_at.isoformat() if action.expires_at else None}
    raise TypeError(f"not a buyer action: {action!r}")


def action_from_dict(data: dict[str, Any] | None) -> BuyerAction | None:
    if not data:
        return None
    kind = data["kind"]
    if kind == "app_pay":
        return AppPay(data["order_string"])
    if kind == "redirect":
        return Redirect(data["url"], data.get("form_html", ""))
    if kind == "qr_code":
        return QrCode(data["code"], data.get("svg", ""), base64.b64decode(data.get("png", "")))
    if kind == "hosted_checkout":
        expires = data.get("expires_at")
        return HostedCheckout(data["url"], datetime.fromisoformat(expires) if expires else None)
    raise ValueError(f"unknown buyer action kind {kind!r}")
