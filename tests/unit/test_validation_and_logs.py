"""Validation names fields; logs are JSON with the request id and never carry secrets."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest

from gateway.domain.errors import InvalidArgument
from gateway.domain.payments import ClientInfo, LineItem, NewPayment, Platform, Scenario
from gateway.domain.validation import validate_new_payment
from gateway.logs import JsonFormatter, configure_logging, request_id_var, scrub
from gateway.service import paging


def new_payment(**overrides: object) -> NewPayment:
    values: dict = dict(merchant_id="shop-1", out_trade_no="o-1", amount=100, currency="CNY", subject="Tea",
                        client=ClientInfo(Platform.IOS_APP, "", "9.0"), scenario=Scenario.OTHER)
    values.update(overrides)
    return NewPayment(**values)


def violations(**overrides: object) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as err:
        validate_new_payment(new_payment(**overrides))
    return {v.field: v.description for v in err.value.violations}


def test_a_valid_payment_passes() -> None:
    validate_new_payment(new_payment(line_items=(LineItem("s", "Tea", 2, 50),)))


@pytest.mark.parametrize(("overrides", "field"), [
    ({"amount": 10_000_000_001}, "amount"),
    ({"amount": 0}, "amount"),
    ({"currency": "usd"}, "currency_code"),
    ({"out_trade_no": "x" * 65}, "out_trade_no"),
    ({"subject": "a\x00b"}, "subject"),
    ({"expire_after": timedelta(days=16)}, "expire_after"),
    ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
    ({"return_url": "ftp://x"}, "return_url"),
])
def test_each_rule_names_its_field(overrides: dict, field: str) -> None:
    assert list(violations(**overrides)) == [field]


def test_scrub_removes_keys_tokens_pems_and_long_numbers() -> None:
    text = ("Bearer abc.def-123 ck_app_Zx9yW8vU7tS6 api_key=hunter2 card 6222021234567890123 "
            "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY----- order 12345")
    clean = scrub(text)
    for secret in ("abc.def-123", "Zx9yW8vU7tS6", "hunter2", "622202123456789", "MIIEv"):
        assert secret not in clean
    assert "****0123" in clean and "order 12345" in clean


def test_json_logs_carry_the_request_id_and_are_scrubbed() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    token = request_id_var.set("req-42")
    try:
        logging.getLogger("t").info("calling with Bearer sekrit-token", extra={"method": "CreatePayment"})
    finally:
        request_id_var.reset(token)
        configure_logging("WARNING", "json")
    entry = json.loads(stream.getvalue().strip())
    assert entry["request_id"] == "req-42" and entry["method"] == "CreatePayment"
    assert "sekrit-token" not in stream.getvalue()
    assert isinstance(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})), str)


def test_page_tokens_are_bound_to_their_filters() -> None:
    token = paging.encode_token("pay_9", ("shop-1", None))
    assert paging.decode_token(token, ("shop-1", None)) == "pay_9"
    with pytest.raises(InvalidArgument):
        paging.decode_token(token, ("shop-2", None))
    with pytest.raises(InvalidArgument):
        paging.decode_token("garbage!", ("shop-1", None))
    assert paging.page_size(0) == 20 and paging.page_size(1000) == 100
