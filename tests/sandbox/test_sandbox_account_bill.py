"""Bills as reconciliation reads them, from the sandbox over real HTTP with real RSA signatures: Alipay's service
fee in the trade bill, the signcustomer account bill in the layout of protocol notes §9 (payments, fees,
refunds, transfers, a running balance, the summary member), differences planted through the faults, and a
day's bills served only once the day is over (strict_bill_date)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from .conftest import CERT_APP_ID, AlipayClient, CertAlipayClient

BILL = "alipay.data.dataservice.bill.downloadurl.query"
TRANSFER = "alipay.fund.trans.uni.transfer"
BEIJING = timezone(timedelta(hours=8))
ACCOUNT_COLUMNS = [
    "账务流水号", "业务流水号", "商户订单号", "商品名称", "发生时间", "对方账号", "收入金额（+元）",
    "支出金额（-元）", "账户余额（元）", "交易渠道", "业务类型", "备注",
]  # fmt: skip


def today() -> str:
    return datetime.now(BEIJING).strftime("%Y-%m-%d")


def members(client: AlipayClient, bill_type: str, day: str) -> dict[str, list[str]]:
    """The bill's members by (GBK) name, as lines of text; the answer must be a signed success."""
    answer = client.call(BILL, {"bill_type": bill_type, "bill_date": day})
    assert answer["code"] == "10000", answer.node
    assert f"bizType={bill_type}" in answer["bill_download_url"]
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(answer["bill_download_url"]).content))
    return {info.filename.encode("cp437").decode("gbk"): archive.read(info).decode("gbk").splitlines()
            for info in archive.infolist()}


def detail(lines: list[str]) -> list[list[str]]:
    """Data rows (after the column header), cells trimmed."""
    rows = [line for line in lines if not line.startswith("#")]
    return [[cell.strip() for cell in row.split(",")] for row in rows[1:]]


def trade_rows(client: AlipayClient, day: str | None = None) -> dict[tuple[str, str], list[str]]:
    found = members(client, "trade", day or today())
    lines = next(v for k, v in found.items() if k.endswith("_业务明细.csv"))
    return {(row[1], row[21] or row[2]): row for row in detail(lines)}


def paid(client: AlipayClient, admin: httpx.Client, out_trade_no: str, amount: str) -> None:
    answer = client.call("alipay.trade.precreate", {"out_trade_no": out_trade_no, "total_amount": amount,
                                                    "subject": "账单商品"})
    assert answer["code"] == "10000"
    admin.post(f"/sandbox/trades/{out_trade_no}/pay", params={"app_id": client.app_id},
               json={"buyer_logon_id": "13800138000"}).raise_for_status()


def refunded(client: AlipayClient, out_trade_no: str, amount: str, request_no: str) -> None:
    answer = client.call("alipay.trade.refund", {"out_trade_no": out_trade_no, "refund_amount": amount,
                                                 "out_request_no": request_no})
    assert answer["fund_change"] == "Y"


def test_the_trade_bill_charges_the_service_fee_and_gives_it_back_pro_rata(client, admin) -> None:
    paid(client, admin, "F1", "100.00")
    paid(client, admin, "F2", "0.84")  # 0.504 fen rounds half up to 1
    paid(client, admin, "F3", "0.83")  # 0.498 fen: no fee
    refunded(client, "F1", "30.00", "F1R1")
    refunded(client, "F1", "70.00", "F1R2")
    rows = trade_rows(client)
    fee = {key: row[22] for key, row in rows.items()}
    # Charged negative on the payment, given back positive: 0.18 after 30 %, the remaining 0.42 after all of it.
    assert fee == {("F1", "交易"): "-0.60", ("F1", "F1R1"): "0.18", ("F1", "F1R2"): "0.42",
                   ("F2", "交易"): "-0.01", ("F3", "交易"): "0.00"}
    summary = next(v for k, v in members(client, "trade", today()).items() if k.endswith("(汇总).csv"))
    header, total = summary[4].split(","), next(line for line in summary if line.startswith("合计")).split(",")
    assert total[header.index("服务费（元）")] == "-0.01"  # 0.60 charged and given back, 0.01 kept
    assert total[header.index("实收净额（元）")] == "1.67"


def test_the_fee_rate_is_the_sandboxs_setting(spawn) -> None:
    handle, c = spawn(service_fee_bps=50)
    with httpx.Client(base_url=handle.url) as admin:
        paid(c, admin, "H1", "1.00")  # exactly half a fen: rounds up
        paid(c, admin, "H2", "0.99")
    assert {k[0]: row[22] for k, row in trade_rows(c).items()} == {"H1": "-0.01", "H2": "0.00"}


def test_the_account_bill_has_every_movement_with_a_running_balance(cert_client: CertAlipayClient, admin) -> None:
    admin.post("/sandbox/accounts", json={"logon_id": "finance@tea.example", "name": "Tea House"}).raise_for_status()
    paid(cert_client, admin, "A1", "200.00")
    paid(cert_client, admin, "A2", "50.00")
    refunded(cert_client, "A1", "100.00", "A1R1")
    payout = cert_client.call(TRANSFER, {
        "out_biz_no": "po_1", "trans_amount": "120.00", "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER", "order_title": "结算款",
        "payee_info": {"identity": "finance@tea.example", "identity_type": "ALIPAY_LOGON_ID", "name": "Tea House"}})
    assert payout["status"] == "SUCCESS"
    refused = cert_client.call(TRANSFER, {
        "out_biz_no": "po_2", "trans_amount": "1.00", "product_code": "TRANS_ACCOUNT_NO_PWD",
        "payee_info": {"identity": "fail@tea.example", "identity_type": "ALIPAY_LOGON_ID", "name": "X"}})
    assert refused["sub_code"] == "PAYEE_NOT_EXIST"  # moved nothing, so not in the bill

    found = members(cert_client, "signcustomer", today())
    seller = admin.get("/sandbox/trades/A1", params={"app_id": CERT_APP_ID}).json()["seller_id"]
    stem = f"{seller}0156_{today().replace('-', '')}"
    assert set(found) == {f"{stem}_账务明细.csv", f"{stem}_账务明细(汇总).csv"}
    lines = found[f"{stem}_账务明细.csv"]
    assert lines[:2] == ["#支付宝账务明细查询", f"#账号：[{seller}0156]"]
    assert lines[2].startswith("#起始日期：[") and "终止日期：[" in lines[2]
    assert lines[3].startswith("#---") and "账务明细列表" in lines[3]
    assert lines[4].split(",") == ACCOUNT_COLUMNS
    raw = [line for line in lines[5:] if not line.startswith("#")]
    assert all(line.split(",")[0].endswith("\t") for line in raw)  # a TAB before the comma
    rows = detail(lines)
    column = {name: i for i, name in enumerate(ACCOUNT_COLUMNS)}
    moved = [(r[column["业务类型"]], r[column["商户订单号"]], r[column["收入金额（+元）"]],
              r[column["支出金额（-元）"]], r[column["账户余额（元）"]]) for r in rows]
    assert moved == [
        ("在线支付", "A1", "200.00", "", "200.00"),
        ("收费", "A1", "", "-1.20", "198.80"),
        ("在线支付", "A2", "50.00", "", "248.80"),
        ("收费", "A2", "", "-0.30", "248.50"),
        ("交易退款", "A1", "", "-100.00", "148.50"),
        ("收费", "A1", "0.60", "", "149.10"),
        ("转账", "po_1", "", "-120.00", "29.10"),
    ]
    transfer = rows[-1]
    recorded = admin.get("/sandbox/transfers").json()["transfers"]
    order_id = next(t["order_id"] for t in recorded if t["out_biz_no"] == "po_1")
    assert (transfer[column["业务流水号"]], transfer[column["对方账号"]]) == (order_id, "finance@tea.example")
    assert len({r[column["账务流水号"]] for r in rows}) == len(rows)
    footer = [line for line in lines if line.startswith("#")][-3:]
    assert footer[0] == "#收入合计：3笔，共250.60元"
    assert footer[1] == "#支出合计：4笔，共-221.50元"
    assert footer[2].startswith("#导出时间：[")

    summary = found[f"{stem}_账务明细(汇总).csv"]
    assert summary[4].split(",") == ["类型", "收入笔数", "收入金额（+元）", "支出笔数", "支出金额（-元）", "总金额（元）"]
    by_kind = {cells[0]: cells[1:] for cells in detail(summary)}
    assert by_kind["收费"] == ["1", "0.60", "2", "-1.50", "-0.90"]
    assert by_kind["转账"] == ["0", "0.00", "1", "-120.00", "-120.00"]
    assert by_kind["合计"] == ["3", "250.60", "4", "-221.50", "29.10"]
    # The same bill downloaded again names the same flows.
    again = members(cert_client, "signcustomer", today())[f"{stem}_账务明细.csv"]
    assert [r[0] for r in detail(again)] == [r[0] for r in rows]


def test_planted_differences_show_in_both_bills_until_cleared(client, admin) -> None:
    for out_trade_no in ("D1", "D2", "D3", "D4"):
        paid(client, admin, out_trade_no, "10.00")
    faults = admin.post("/sandbox/faults", json={"bill_differences": {
        "drop": ["D1"], "amount": {"D2": "9.99"}, "fee": {"D3": "0.50"},
        "extra": [{"out_trade_no": "GHOST", "total_amount": "8.00", "app_id": client.app_id}]}})
    assert faults.status_code == 200, faults.text
    planted = faults.json()["bill_differences"]
    assert planted["drop"] == ["D1"] and planted["extra"][0]["out_trade_no"] == "GHOST"

    rows = trade_rows(client)
    assert sorted(k[0] for k in rows) == ["D2", "D3", "D4", "GHOST"]
    assert (rows["D2", "交易"][11], rows["D2", "交易"][12], rows["D2", "交易"][22]) == ("9.99", "9.99", "-0.06")
    assert rows["D3", "交易"][22] == "-0.50" and rows["D4", "交易"][22] == "-0.06"
    ghost = rows["GHOST", "交易"]
    assert (ghost[11], ghost[22]) == ("8.00", "-0.05") and ghost[0].startswith(today().replace("-", ""))
    assert ghost[0] == planted["extra"][0]["trade_no"]

    account = next(v for k, v in members(client, "signcustomer", today()).items() if k.endswith("_账务明细.csv"))
    moved = [(r[10], r[2], r[6] or r[7]) for r in detail(account)]
    assert ("在线支付", "D1", "10.00") not in moved and ("在线支付", "D2", "9.99") in moved
    assert ("收费", "D3", "-0.50") in moved and ("在线支付", "GHOST", "8.00") in moved

    cleared = admin.post("/sandbox/faults", json={"bill_differences": {}}).json()
    assert "bill_differences" not in cleared
    assert sorted(k[0] for k in trade_rows(client)) == ["D1", "D2", "D3", "D4"]


@pytest.mark.parametrize(("doc", "message"), [
    ({"drop": "D1"}, "drop is a list"),
    ({"amount": {"D1": 9.99}}, "bill_differences.amount.D1: a yuan amount"),
    ({"fee": {"D1": "-1"}}, "bill_differences.fee.D1: a yuan amount"),
    ({"extra": [{"out_trade_no": "X", "total_amount": "1.00", "gmt_payment": "yesterday"}]},
     r"bill_differences.extra\[0\].gmt_payment"),
    ({"extra": [{"total_amount": "1.00"}]}, r"bill_differences.extra\[0\].out_trade_no"),
    ({"surprise": []}, "unknown keys"),
])
def test_a_bad_planting_is_refused_by_name_and_changes_nothing(admin, doc: dict[str, Any], message: str) -> None:
    answer = admin.post("/sandbox/faults", json={"bill_differences": doc})
    assert answer.status_code == 400
    assert re.search(message, answer.json()["error"]), answer.json()
    assert "bill_differences" not in admin.get("/sandbox/faults").json()  # shown only while planted


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_days_bills_are_served_once_the_day_is_over(spawn) -> None:
    clock = Clock(datetime(2024, 3, 1, 23, 59, 59, tzinfo=BEIJING))
    handle, c = spawn(strict_bill_date=True, clock=clock)
    with httpx.Client(base_url=handle.url) as admin:
        paid(c, admin, "S1", "5.00")
    for bill_type in ("trade", "signcustomer"):
        assert c.call(BILL, {"bill_type": bill_type, "bill_date": "2024-03-01"})["sub_code"] == "isp.bill_not_exist"
    clock.now = datetime(2024, 3, 2, 0, 0, 1, tzinfo=BEIJING)
    assert sorted(trade_rows(c, "2024-03-01")) == [("S1", "交易")]
    account = next(v for k, v in members(c, "signcustomer", "2024-03-01").items() if k.endswith("_账务明细.csv"))
    assert [r[4] for r in detail(account)] == ["2024-03-01 23:59:59"] * 2
    # The new day has nothing yet, and a quiet day has no bill at all, as at Alipay.
    for day in ("2024-03-02", "2024-02-29"):
        assert c.call(BILL, {"bill_type": "signcustomer", "bill_date": day})["sub_code"] == "isp.bill_not_exist"
