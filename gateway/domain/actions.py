"""What a channel hands the buyer's client, and how each kind is stored.

The kinds themselves are the plugin contract's (channels/contract/actions.py: channels produce them); the
domain re-uses those classes rather than keeping a copy to convert to and from.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from channels.contract.actions import ACTION_KINDS, AppPay, BuyerAction, HostedCheckout, QrCode, Redirect

__all__ = ["ACTION_KINDS", "AppPay", "BuyerAction", "HostedCheckout", "QrCode", "Redirect", "action_from_dict",
           "action_to_dict"]


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
