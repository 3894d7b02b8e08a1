"""Every event type the gateway writes has a webhook body. A type without a renderer is refused at delivery,
retried and parked, so a trading app never learns of it: merchant.collection_enabled, app.authorized and the
settlement plan change went out that way until this test existed."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.api.webhook_bodies import RENDERERS, ProtobufWebhookBodies
from gateway.domain import events
from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan
from gateway.domain.onboarding.notices import authorization_event, merchant_event

NOW = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


def test_every_event_type_the_gateway_writes_has_a_renderer() -> None:
    written = {value for name, value in vars(events).items()
               if name.isupper() and isinstance(value, str) and "." in value and not name.startswith("_")}
    assert written, "no event types found in gateway.domain.events"
    assert sorted(written - set(RENDERERS)) == []


def test_an_onboarding_event_is_sent_with_the_data_it_stored() -> None:
    merchant = Merchant("tea-house", "Lin's Tea House", MerchantState.APPROVED, True, "food", SettlementPlan.T15, NOW)
    bodies = ProtobufWebhookBodies()
    for event in (merchant_event(events.MERCHANT_COLLECTION_ENABLED, merchant, "shop-app", NOW),
                  authorization_event(True, merchant, "shop-app", NOW)):
        version, data = bodies.render(event)
        assert version == "v1" and data == event.payload["data"]
        assert data["merchant"]["merchant_id"] == "tea-house"
