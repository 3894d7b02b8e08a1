"""Huabei instalments in an order (extend_params.hb_fq_num / hb_fq_seller_percent): the sandbox checks them as
Alipay does and keeps them on the trade's record, where a test, or a channel author, reads what was asked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

PRECREATE = "alipay.trade.precreate"


def order(out_trade_no: str, extend: Any) -> dict[str, Any]:
    return {"out_trade_no": out_trade_no, "total_amount": "600.00", "subject": "Teapot", "extend_params": extend}


def test_the_instalment_terms_are_kept_on_the_trade(client: Any, admin: httpx.Client) -> None:
    answer = client.call(PRECREATE, order("HB1", {"hb_fq_num": "6", "hb_fq_seller_percent": "100"}))
    assert answer["code"] == "10000"
    recorded = admin.get("/sandbox/trades/HB1").json()
    assert recorded["instalments"] == {"hb_fq_num": "6", "hb_fq_seller_percent": "100"}
    plain = client.call(PRECREATE, order("HB2", {"sys_service_provider_id": "2088"}))
    assert plain["code"] == "10000" and admin.get("/sandbox/trades/HB2").json()["instalments"] == {}


@pytest.mark.parametrize("extend", [{"hb_fq_num": "5"}, {"hb_fq_num": "3", "hb_fq_seller_percent": "50"},
                                    {"hb_fq_seller_percent": "100"}, "hb_fq_num=3"])
def test_terms_alipay_does_not_offer_are_refused_and_no_trade_is_made(client: Any, admin: httpx.Client,
                                                                       extend: Any) -> None:
    answer = client.call(PRECREATE, order("HB3", extend))
    assert answer["code"] == "40004" and answer["sub_code"].endswith("INVALID_PARAMETER")
    assert admin.get("/sandbox/trades", params={"out_trade_no": "HB3"}).json()["trades"] == []
