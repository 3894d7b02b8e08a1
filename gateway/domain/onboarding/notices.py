"""Onboarding's outbox events: what trading apps are told, by webhook, about the merchants they act for.

Each event is addressed to one app (as payment events are): merchant events to every app the merchant has
authorised when the change happens (none yet, usually, at approval: a merchant authorises apps afterwards, and
`app.authorized` then tells the app), `app.authorized` and `app.revoked` to the app concerned. The payload
follows payment events' rule (Event.create): id, type, created_at, merchant_id, app_id, data. No personal data
of the applicant (contact, holder name, documents) is ever in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.domain.events import (
    APP_AUTHORIZED,
    APP_REVOKED,
    MERCHANT_APPROVED,
    MERCHANT_COLLECTION_ENABLED,
    MERCHANT_REJECTED,
    Event,
    _iso,
)
from gateway.domain.merchants import Merchant
from gateway.domain.onboarding.application import Application


def merchant_data(merchant: Merchant) -> dict[str, Any]:
    return {"name": f"merchants/{merchant.id}", "merchant_id": merchant.id, "display_name": merchant.display_name,
            "state": merchant.state.value, "business_category": merchant.business_category,
            "collection_enabled": merchant.collection_enabled, "created_at": _iso(merchant.created_at)}


def merchant_event(type: str, merchant: Merchant, app_id: str, now: datetime) -> Event:  # noqa: A002
    """merchant.approved or merchant.collection_enabled, for one app acting for `merchant`."""
    assert type in (MERCHANT_APPROVED, MERCHANT_COLLECTION_ENABLED)
    return Event.create(type=type, merchant_id=merchant.id, app_id=app_id, now=now,
                        data={"merchant": merchant_data(merchant)})


def rejected_event(application: Application, app_id: str, now: datetime) -> Event:
    return Event.create(type=MERCHANT_REJECTED, merchant_id=application.merchant_id, app_id=app_id, now=now, data={
        "application": {"name": f"applications/{application.id}", "merchant_id": application.merchant_id,
                        "state": application.state.value, "decision_reason": application.decision_reason,
                        "decided_at": _iso(application.decided_at)}})


def authorization_event(authorized: bool, merchant: Merchant, app_id: str, now: datetime) -> Event:
    return Event.create(type=APP_AUTHORIZED if authorized else APP_REVOKED, merchant_id=merchant.id, app_id=app_id,
                        now=now, data={
        "authorization": {"name": f"merchants/{merchant.id}/appAuthorizations/{app_id}", "app": f"apps/{app_id}",
                          "at": _iso(now)},
        "merchant": merchant_data(merchant)})
