"""Refunds: partial, full, several per trade, idempotent by out_request_no, never over the total."""

from __future__ import annotations

import pytest

REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
QUERY = "alipay.trade.query"


@pytest.fixture
def paid(client, admin, out_trade_no):
    client.call("alipay.trade.precreate", {"out_trade_no": out_trade_no, "total_amount": "100.00", "subject": "x"})
    admin.post(f"/sandbox/trades/{out_trade_no}/pay", json={"buyer_logon_id": "buyer@example.com"})
    return out_trade_no


def refund(client, out_trade_no, amount, request_no=None, **extra):
    biz = {"out_trade_no": out_trade_no, "refund_amount": amount, **extra}
    if request_no:
        biz["out_request_no"] = request_no
    return client.call(REFUND, biz)


def test_partial_refunds_accumulate_then_close_the_trade(client, paid):
    first = refund(client, paid, "30.00", "R1", refund_reason="尺码不合适")
    assert first["code"] == "10000"
    assert (first["fund_change"], first["refund_fee"]) == ("Y", "30.00")
    assert first["buyer_logon_id"] == "buy***@example.com" and first["gmt_refund_pay"]
    second = refund(client, paid, "50.00", "R2")
    assert (second["fund_change"], second["refund_fee"]) == ("Y", "80.00")
    assert client.call(QUERY, {"out_trade_no": paid})["trade_status"] == "TRADE_SUCCESS"
    third = refund(client, paid, "20.00", "R3")
    assert (third["fund_change"], third["refund_fee"]) == ("Y", "100.00")
    assert client.call(QUERY, {"out_trade_no": paid})["trade_status"] == "TRADE_CLOSED"
    # a retry of an earlier request on the now closed trade is still answered, without moving money
    again = refund(client, paid, "30.00", "R1")
    assert (again["code"], again["fund_change"], again["refund_fee"]) == ("10000", "N", "100.00")
    assert refund(client, paid, "1.00", "R4")["sub_code"] == "ACQ.TRADE_HAS_CLOSE"


def test_full_refund_without_request_number(client, paid):
    full = refund(client, paid, "100.00")
    assert (full["fund_change"], full["refund_fee"]) == ("Y", "100.00")
    assert refund(client, paid, "100.00")["fund_change"] == "N"  # out_trade_no is the request number
    found = client.call(REFUND_QUERY, {"out_trade_no": paid, "out_request_no": paid})
    assert found["refund_amount"] == "100.00"


def test_idempotent_and_discordant_repeats(client, paid):
    assert refund(client, paid, "10.00", "R1")["fund_change"] == "Y"
    repeat = refund(client, paid, "10.00", "R1")
    assert (repeat["code"], repeat["fund_change"], repeat["refund_fee"]) == ("10000", "N", "10.00")
    discordant = refund(client, paid, "11.00", "R1")
    assert (discordant["code"], discordant["sub_code"]) == ("40004", "ACQ.DISCORDANT_REPEAT_REQUEST")


def test_refund_over_the_total_is_refused(client, paid):
    assert refund(client, paid, "100.01", "R1")["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    assert refund(client, paid, "60.00", "R1")["code"] == "10000"
    over = refund(client, paid, "40.01", "R2")
    assert over["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    assert refund(client, paid, "40.00", "R2")["refund_fee"] == "100.00"


def test_refund_refusals(client, admin, out_trade_no):
    assert refund(client, "missing", "1.00")["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    answer = client.call("alipay.trade.precreate",
                         {"out_trade_no": out_trade_no, "total_amount": "5.00", "subject": "x"})
    admin.get(answer["qr_code"])
    assert refund(client, out_trade_no, "1.00")["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    admin.post(f"/sandbox/trades/{out_trade_no}/pay")
    assert refund(client, out_trade_no, "0.00")["sub_code"] == "ACQ.INVALID_PARAMETER"
    assert refund(client, out_trade_no, "1.234")["sub_code"] == "ACQ.INVALID_PARAMETER"
    no_amount = client.call(REFUND, {"out_trade_no": out_trade_no})
    assert no_amount["sub_code"] == "ACQ.INVALID_PARAMETER"


def test_refund_by_trade_no(client, admin, paid):
    trade_no = client.call(QUERY, {"out_trade_no": paid})["trade_no"]
    answer = client.call(REFUND, {"trade_no": trade_no, "refund_amount": "1.00", "out_request_no": "R1"})
    assert answer["out_trade_no"] == paid and answer["trade_no"] == trade_no
    mismatch = client.call(REFUND, {"trade_no": trade_no, "out_trade_no": "other", "refund_amount": "1.00"})
    assert mismatch["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_refund_query(client, paid):
    refund(client, paid, "12.34", "R1", refund_reason="退货")
    found = client.call(REFUND_QUERY, {"out_trade_no": paid, "out_request_no": "R1"})
    assert found["code"] == "10000"
    assert (found["out_request_no"], found["refund_amount"], found["total_amount"]) == ("R1", "12.34", "100.00")
    assert (found["refund_status"], found["refund_reason"]) == ("REFUND_SUCCESS", "退货")
    unknown = client.call(REFUND_QUERY, {"out_trade_no": paid, "out_request_no": "R9"})
    assert unknown["code"] == "10000" and "refund_amount" not in unknown.node
    assert client.call(REFUND_QUERY, {"out_trade_no": paid})["sub_code"] == "ACQ.INVALID_PARAMETER"
    missing = client.call(REFUND_QUERY, {"out_trade_no": "nope", "out_request_no": "R1"})
    assert missing["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_amounts_are_exact_in_fen(client, admin, paid):
    for i in range(10):
        refund(client, paid, "0.10", f"D{i}")  # ten times 0.1 is exactly 1.00, no float drift
    trade = admin.get(f"/sandbox/trades/{paid}").json()
    assert trade["refund_fee"] == "1.00" and len(trade["refunds"]) == 10
