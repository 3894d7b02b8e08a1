"""Asynchronous notifications (delivery, retries, signatures) and the fault switches."""

from __future__ import annotations

import json
import time

import httpx
import pytest

QUERY = "alipay.trade.query"
REFUND = "alipay.trade.refund"


def create_and_pay(client, admin, out_trade_no, notify_url, amount="9.90"):
    client.call("alipay.trade.precreate", {"out_trade_no": out_trade_no, "total_amount": amount,
                                           "subject": "通知测试", "body": "a/b", "passback_params": "k%3Dv"},
                notify_url=notify_url)
    answer = admin.post(f"/sandbox/trades/{out_trade_no}/pay", json={"buyer_logon_id": "buyer@example.com"})
    assert answer.status_code == 200
    return answer.json()


def wait_notes(admin, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        notes = admin.get("/sandbox/notifications").json()["notifications"]
        if predicate(notes) or time.monotonic() > deadline:
            return notes
        time.sleep(0.05)


def test_notification_fields_and_signature(client, admin, receiver, out_trade_no):
    paid = create_and_pay(client, admin, out_trade_no, receiver.url)
    (note,) = receiver.wait_for(1)
    assert client.verify_v1(note)
    assert note["notify_type"] == "trade_status_sync" and note["notify_id"] == paid["notify_id"]
    assert (note["app_id"], note["auth_app_id"]) == (client.app_id, client.app_id)
    assert (note["charset"], note["version"], note["sign_type"]) == ("utf-8", "1.0", "RSA2")
    assert note["out_trade_no"] == out_trade_no and note["trade_no"] == paid["trade"]["trade_no"]
    assert note["trade_status"] == "TRADE_SUCCESS"
    for field in ("total_amount", "receipt_amount", "buyer_pay_amount", "invoice_amount"):
        assert note[field] == "9.90"
    assert note["buyer_logon_id"] == "buy***@example.com" and note["buyer_id"].startswith("2088")
    assert note["seller_id"] == paid["trade"]["seller_id"]
    assert (note["subject"], note["body"], note["passback_params"]) == ("通知测试", "a/b", "k%3Dv")
    assert note["gmt_create"] and note["gmt_payment"] and note["notify_time"]
    assert json.loads(note["fund_bill_list"]) == [{"amount": "9.90", "fundChannel": "ALIPAYACCOUNT"}]
    headers, _ = receiver.raw[0]
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    notes = wait_notes(admin, lambda ns: ns and ns[0]["delivered"])
    assert notes[0]["state"] == "delivered" and len(notes[0]["attempts"]) == 1
    assert notes[0]["attempts"][0]["outcome"] == "success"


def test_retried_until_exactly_success(client, admin, receiver, out_trade_no):
    receiver.script = [(500, b"error"), (200, b"SUCCESS"), (200, b"success\n"), (200, b"success")]
    create_and_pay(client, admin, out_trade_no, receiver.url)
    started = time.monotonic()
    notes = receiver.wait_for(4)
    elapsed = time.monotonic() - started
    assert len(notes) == 4
    # 4m, 10m, 10m at time-scale 0.001: 0.24 s + 0.6 s + 0.6 s
    assert elapsed >= 1.3
    assert len({n["notify_id"] for n in notes}) == 1
    assert all(client.verify_v1(n) for n in notes)
    record = wait_notes(admin, lambda ns: ns[0]["delivered"])[0]
    assert [a["outcome"] for a in record["attempts"]] == ["failed", "failed", "failed", "success"]
    assert [a["http_status"] for a in record["attempts"]] == [500, 200, 200, 200]
    time.sleep(0.3)
    assert len(receiver.received) == 4  # nothing after success


def test_gives_up_after_eight_attempts(spawn, receiver):
    handle, c = spawn(time_scale=0.00001)  # the whole 24h24m schedule in under a second
    receiver.script = [(200, b"fail")]
    with httpx.Client(base_url=handle.url) as admin:
        create_and_pay(c, admin, "G1", receiver.url)
        notes = wait_notes(admin, lambda ns: ns[0]["state"] == "given_up")
    assert notes[0]["state"] == "given_up" and len(notes[0]["attempts"]) == 8
    assert len(receiver.received) == 8


def test_unreachable_notify_url_is_recorded(client, admin, out_trade_no):
    create_and_pay(client, admin, out_trade_no, "http://127.0.0.1:9/notify")
    notes = wait_notes(admin, lambda ns: ns and ns[0]["attempts"])
    assert notes[0]["attempts"][0]["outcome"] == "error" and notes[0]["state"] == "pending"


def test_refund_notifications_when_enabled(spawn, receiver):
    handle, c = spawn(notify_refunds=True)
    with httpx.Client(base_url=handle.url) as admin:
        create_and_pay(c, admin, "N1", receiver.url, amount="10.00")
        c.call(REFUND, {"out_trade_no": "N1", "refund_amount": "4.00", "out_request_no": "R1"})
        c.call(REFUND, {"out_trade_no": "N1", "refund_amount": "4.00", "out_request_no": "R1"})  # no money moved
        c.call(REFUND, {"out_trade_no": "N1", "refund_amount": "6.00", "out_request_no": "R2"})
    notes = receiver.wait_for(3)
    time.sleep(0.2)
    assert len(receiver.received) == 3
    partial, full = notes[1], notes[2]
    assert (partial["trade_status"], partial["refund_fee"], partial["out_biz_no"]) == ("TRADE_SUCCESS", "4.00", "R1")
    assert (full["trade_status"], full["refund_fee"], full["out_biz_no"]) == ("TRADE_CLOSED", "10.00", "R2")
    assert full["gmt_refund"] and full["gmt_close"]
    assert all(c.verify_v1(n) for n in notes)


# ---------------------------------------------------------------- faults

def test_fault_drop_notifications(client, admin, receiver, out_trade_no):
    assert admin.post("/sandbox/faults", json={"drop_notifications": 1}).json()["drop_notifications"] == 1
    create_and_pay(client, admin, out_trade_no, receiver.url)
    receiver.wait_for(1)
    record = wait_notes(admin, lambda ns: ns[0]["delivered"])[0]
    assert [a["outcome"] for a in record["attempts"]] == ["dropped", "success"]
    assert admin.get("/sandbox/faults").json()["drop_notifications"] == 0


def test_fault_duplicate_notifications(client, admin, receiver, out_trade_no):
    admin.post("/sandbox/faults", json={"duplicate_notifications": True})
    create_and_pay(client, admin, out_trade_no, receiver.url)
    notes = receiver.wait_for(2)
    assert len(notes) == 2 and notes[0]["notify_id"] == notes[1]["notify_id"]
    record = wait_notes(admin, lambda ns: ns[0]["delivered"])[0]
    assert [a["duplicate"] for a in record["attempts"]] == [False, True]


def test_fault_delay_notifications(client, admin, receiver, out_trade_no):
    admin.post("/sandbox/faults", json={"delay_notifications": 0.6})
    create_and_pay(client, admin, out_trade_no, receiver.url)
    assert receiver.wait_for(1, timeout=0.3) == []
    assert len(receiver.wait_for(1, timeout=5)) == 1


def test_fault_wrong_key_notifications(client, admin, receiver, out_trade_no):
    admin.post("/sandbox/faults", json={"wrong_key_notifications": 1})
    create_and_pay(client, admin, out_trade_no, receiver.url)
    (note,) = receiver.wait_for(1)
    assert not client.verify_v1(note)


def test_fault_wrong_key_responses(client, admin, out_trade_no):
    admin.post("/sandbox/faults", json={"wrong_key_responses": 1})
    bad = client.call(QUERY, {"out_trade_no": out_trade_no}, verify=False)
    assert bad.sign
    with pytest.raises(AssertionError, match="does not verify"):
        client.answer(bad.response, QUERY)
    client.call(QUERY, {"out_trade_no": out_trade_no})  # the next one is good again


@pytest.mark.parametrize(("code", "sub_code"), [("40004", "ACQ.SYSTEM_ERROR"), ("20000", "isp.unknow-error")])
def test_fault_system_error_for_next_calls(client, admin, out_trade_no, code, sub_code):
    fault = {"system_error": {"method": REFUND, "count": 2, "code": code}}
    admin.post("/sandbox/faults", json=fault)
    create_and_pay(client, admin, out_trade_no, "")
    for _ in range(2):
        answer = client.call(REFUND, {"out_trade_no": out_trade_no, "refund_amount": "1.00", "out_request_no": "R"})
        assert (answer["code"], answer["sub_code"]) == (code, sub_code)
    assert admin.get(f"/sandbox/trades/{out_trade_no}").json()["refunds"] == []  # not processed
    assert client.call(QUERY, {"out_trade_no": out_trade_no})["code"] == "10000"  # other methods unaffected
    ok = client.call(REFUND, {"out_trade_no": out_trade_no, "refund_amount": "1.00", "out_request_no": "R"})
    assert ok["fund_change"] == "Y"


def test_fault_timeout_processes_then_answers_late(client, admin, out_trade_no):
    create_and_pay(client, admin, out_trade_no, "")
    admin.post("/sandbox/faults", json={"timeout": {"method": REFUND, "count": 1, "seconds": 5}})
    params = client.sign(client.params(REFUND, {"out_trade_no": out_trade_no, "refund_amount": "2.00",
                                                "out_request_no": "T1"}))
    with pytest.raises(httpx.ReadTimeout):
        client.send(params, timeout=0.5)
    retry = client.call(REFUND, {"out_trade_no": out_trade_no, "refund_amount": "2.00", "out_request_no": "T1"})
    assert (retry["fund_change"], retry["refund_fee"]) == ("N", "2.00")  # the first call did go through


def test_per_request_fault_header(client, out_trade_no):
    answer = client.call(QUERY, {"out_trade_no": out_trade_no}, headers={"X-Sandbox-Fault": "system_error"})
    assert answer["sub_code"] == "ACQ.SYSTEM_ERROR"
    answer = client.call(QUERY, {"out_trade_no": out_trade_no}, verify=False,
                         headers={"X-Sandbox-Fault": "wrong_sign"})
    with pytest.raises(AssertionError):
        client.answer(answer.response, QUERY)
    params = client.sign(client.params(QUERY, {"out_trade_no": out_trade_no}))
    with pytest.raises(httpx.ReadTimeout):
        client.send(params, headers={"X-Sandbox-Fault": "timeout=3"}, timeout=0.3)


def test_faults_reset_and_validation(admin):
    state = admin.post("/sandbox/faults", json={"duplicate_notifications": -1, "delay_notifications": 2,
                                                "system_error": [{"method": "*", "count": 1}]}).json()
    assert state["duplicate_notifications"] == -1 and state["system_error"][0]["method"] == "*"
    assert admin.post("/sandbox/faults", json={"explode": True}).status_code == 400
    assert admin.post("/sandbox/faults", json={"drop_notifications": "many"}).status_code == 400
    assert admin.post("/sandbox/faults", content=b"{oops").status_code == 400
    reset = admin.delete("/sandbox/faults").json()
    assert reset == {"drop_notifications": 0, "duplicate_notifications": 0, "wrong_key_notifications": 0,
                     "wrong_key_responses": 0, "delay_notifications": 0.0, "system_error": [], "timeout": [],
                     "transfer_refusal": []}
