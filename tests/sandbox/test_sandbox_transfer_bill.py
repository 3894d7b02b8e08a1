"""Payouts (alipay.fund.trans.uni.transfer) and the trade bill download."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone

import httpx

TRANSFER = "alipay.fund.trans.uni.transfer"
BILL = "alipay.data.dataservice.bill.downloadurl.query"
DETAIL_COLUMNS = [
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称",
    "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）",
    "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
    "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
]  # fmt: skip


def transfer_biz(out_biz_no, amount="12.50", identity="2088123412341234", identity_type="ALIPAY_USER_ID", **extra):
    return {
        "out_biz_no": out_biz_no,
        "trans_amount": amount,
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "佣金",
        "payee_info": {"identity": identity, "identity_type": identity_type, **extra},
    }


def test_transfer_success_and_idempotency(cert_client, admin):
    client = cert_client  # Alipay accepts transfers in certificate mode only
    answer = client.call(TRANSFER, transfer_biz("P1"))
    assert answer["code"] == "10000"
    assert (answer["out_biz_no"], answer["status"]) == ("P1", "SUCCESS")
    assert answer["order_id"] and answer["pay_fund_order_id"] and answer["trans_date"]
    again = client.call(TRANSFER, transfer_biz("P1"))
    assert again["order_id"] == answer["order_id"]
    other = client.call(TRANSFER, transfer_biz("P1", amount="13.00"))
    assert other["sub_code"] == "PAYMENT_INFO_INCONSISTENCY"
    recorded = admin.get("/sandbox/transfers").json()["transfers"]
    assert [(t["out_biz_no"], t["status"], t["trans_amount"]) for t in recorded] == [("P1", "SUCCESS", "12.50")]


def test_transfer_fail(cert_client, admin):
    client = cert_client
    answer = client.call(TRANSFER, transfer_biz("P2", identity="fail@example.com", identity_type="ALIPAY_LOGON_ID",
                                                name="张三"))
    assert (answer["code"], answer["sub_code"]) == ("40004", "PAYEE_NOT_EXIST")
    assert answer.sign  # business failures are signed
    recorded = admin.get("/sandbox/transfers").json()["transfers"]
    assert recorded[0]["status"] == "FAIL" and recorded[0]["fail_code"] == "PAYEE_NOT_EXIST"


def test_transfer_checks(cert_client):
    client = cert_client
    assert client.call(TRANSFER, transfer_biz("P3", amount="0.09"))["sub_code"] == "INVALID_PARAMETER"
    no_name = client.call(TRANSFER, transfer_biz("P4", identity="a@b.c", identity_type="ALIPAY_LOGON_ID"))
    assert no_name["sub_code"] == "INVALID_PARAMETER"
    bad_product = dict(transfer_biz("P5"), product_code="STD_RED_PACKET")
    assert client.call(TRANSFER, bad_product)["sub_code"] == "INVALID_PARAMETER"
    assert client.call(TRANSFER, transfer_biz("P6", amount="0.10"))["status"] == "SUCCESS"


def _today() -> str:
    return datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d")


def _gbk_name(info: zipfile.ZipInfo) -> str:
    # Like Alipay's archives, member names are GBK without the UTF-8 flag
    assert not info.flag_bits & 0x800
    return info.filename.encode("cp437").decode("gbk")


def test_bill_zip_layout(client, admin, out_trade_no):
    client.call("alipay.trade.precreate",
                {"out_trade_no": out_trade_no, "total_amount": "20.00", "subject": "账单商品"})
    admin.post(f"/sandbox/trades/{out_trade_no}/pay", json={"buyer_logon_id": "13800138000"})
    client.call("alipay.trade.refund", {"out_trade_no": out_trade_no, "refund_amount": "5.00",
                                        "out_request_no": "RF1"})
    answer = client.call(BILL, {"bill_type": "trade", "bill_date": _today()})
    assert answer["code"] == "10000"
    url = answer["bill_download_url"]
    assert "/downloadBillFile.resource?" in url and "bizType=trade" in url
    with httpx.Client() as http:
        data = http.get(url).content
    archive = zipfile.ZipFile(io.BytesIO(data))
    day = _today().replace("-", "")
    seller = admin.get(f"/sandbox/trades/{out_trade_no}").json()["seller_id"]
    names = {_gbk_name(i): i for i in archive.infolist()}
    detail_name = f"{seller}0156_{day}_业务明细.csv"
    summary_name = f"{seller}0156_{day}_业务明细(汇总).csv"
    assert set(names) == {detail_name, summary_name}
    assert f"{seller}0156_{day}.csv.zip" in url

    lines = archive.read(names[detail_name]).decode("gbk").splitlines()
    assert lines[0] == "#支付宝业务明细查询"
    assert lines[1] == f"#账号：[{seller}0156]"
    assert lines[2].startswith("#起始日期：[")
    assert lines[3].startswith("#---") and "业务明细列表" in lines[3]
    assert lines[4].split(",") == DETAIL_COLUMNS
    rows = [line.split(",") for line in lines[5:] if not line.startswith("#")]
    assert len(rows) == 2 and all(len(r) == 25 for r in rows)
    assert all(r[0].endswith("\t") and r[2].endswith("\t") for r in rows)  # a TAB before the comma
    payment, refund = ([c.strip() for c in r] for r in rows)
    assert payment[1:4] == [out_trade_no, "交易", "账单商品"]
    assert (payment[10], payment[11], payment[12]) == ("138****8000", "20.00", "20.00")
    assert (refund[2], refund[12], refund[21]) == ("退款", "-5.00", "RF1")
    footer = [line for line in lines if line.startswith("#")][-4:]
    assert footer[0].startswith("#---") and "结束" in footer[0]
    assert footer[1].startswith("#交易合计：1笔，商家实收共20.00元")
    assert footer[2].startswith("#退款合计：1笔，商家实收退款共-5.00元")
    assert footer[3].startswith("#导出时间：[")

    summary = archive.read(names[summary_name]).decode("gbk").splitlines()
    header = summary[4].split(",")
    assert header[:4] == ["门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数"]
    assert header[-1] == "实收净额（元）"
    total = [c.strip() for c in next(line for line in summary if line.startswith("合计")).split(",")]
    assert total[2:4] == ["1", "1"] and total[-1] == "15.00"


def test_bill_not_exist_and_checks(client, other_client, admin, out_trade_no):
    assert client.call(BILL, {"bill_type": "trade", "bill_date": _today()})["sub_code"] == "isp.bill_not_exist"
    client.call("alipay.trade.precreate", {"out_trade_no": out_trade_no, "total_amount": "1.00", "subject": "x"})
    admin.post(f"/sandbox/trades/{out_trade_no}/pay")
    month = client.call(BILL, {"bill_type": "trade", "bill_date": _today()[:7]})
    assert month["code"] == "10000" and f"{_today()[:7].replace('-', '')}.csv.zip" in month["bill_download_url"]
    # another merchant's bill does not include it
    other = other_client.call(BILL, {"bill_type": "trade", "bill_date": _today()})
    assert other["sub_code"] == "isp.bill_not_exist"
    tomorrow = (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert client.call(BILL, {"bill_type": "trade", "bill_date": tomorrow})["sub_code"] == "isp.bill_not_exist"
    assert client.call(BILL, {"bill_type": "trade", "bill_date": "2024/01/01"})["sub_code"] == "isv.invalid-arguments"
    assert client.call(BILL, {"bill_type": "fund", "bill_date": _today()})["sub_code"] == "isv.invalid-arguments"
    assert admin.get("/downloadBillFile.resource", params={"token": "nope"}).status_code == 404


def test_strict_bill_date_serves_t_plus_one_only(spawn):
    handle, c = spawn(strict_bill_date=True)
    c.call("alipay.trade.precreate", {"out_trade_no": "B1", "total_amount": "1.00", "subject": "x"})
    httpx.post(f"{handle.url}/sandbox/trades/B1/pay").raise_for_status()
    assert c.call(BILL, {"bill_type": "trade", "bill_date": _today()})["sub_code"] == "isp.bill_not_exist"
