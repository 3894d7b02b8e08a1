"""Trade bill archives: GBK CSV with # notes and TAB-padded cells become typed rows in fen."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import httpx
import pytest
from alipay_testkit import APP_ID

from channels.alipay.rail import AlipayClient, BillFormatError, PrivateKey, PublicKey, PublicKeyCredentials
from channels.alipay.rail.bills import DETAIL_COLUMNS, parse_trade_bill_zip
from channels.alipay.rail.clock import BEIJING

HEADER = ",".join(DETAIL_COLUMNS)
PAY = (
    "2024010222001446880500012345\t,T20240102001\t,交易\t,测试商品\t,2024-01-02 03:04:05,2024-01-02 03:04:06,"
    ",,,,159****5620\t,88.88,88.38,0.00,0.00,0.50,0.00,0.00,,0.00,0.00,,-0.53,0.00,"
)
REFUND = (
    "2024010222001446880500012345\t,T20240102001\t,退款\t,测试商品\t,2024-01-02 03:04:05,2024-01-03 10:00:00,"
    ",,,,159****5620\t,-10.50,-10.50,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R1\t,0.06,0.00,部分退款"
)
DETAIL_LINES = (
    "#支付宝业务明细查询",
    "#账号：[20881021770000010156]",
    "#起始日期：[2024年01月02日 00:00:00]   终止日期：[2024年01月03日 00:00:00]",
    "#-----------------------------------------业务明细列表----------------------------------------",
    HEADER,
    PAY,
    REFUND,
    "#-----------------------------------------业务明细列表结束------------------------------------",
    "#交易合计：1笔，商家实收共88.38元，商家优惠共0.00元",
    "#退款合计：1笔",
    "#导出时间：[2024年01月03日 09:00:00]",
)
DETAIL = "\r\n".join(DETAIL_LINES) + "\r\n"
SUMMARY = "#支付宝业务明细查询\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,实收净额（元）\r\n合计,,1,1,77.88\r\n"


def make_zip(detail: str = DETAIL) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # Summary first, so the parser must recognise the detail file by content, not by order.
        archive.writestr("20881021770000010156_20240102_业务明细(汇总).csv", SUMMARY.encode("gbk"))
        archive.writestr("20881021770000010156_20240102_业务明细.csv", detail.encode("gbk"))
    return buffer.getvalue()


def test_rows_are_typed_in_fen() -> None:
    bill = parse_trade_bill_zip(make_zip())
    pay, refund = bill.rows
    assert pay.trade_no == "2024010222001446880500012345" and pay.out_trade_no == "T20240102001"
    assert (pay.business_type, pay.subject, pay.counterparty_account) == ("交易", "测试商品", "159****5620")
    assert (pay.order_amount_fen, pay.merchant_received_fen, pay.alipay_discount_fen) == (8888, 8838, 50)
    assert pay.service_fee_fen == -53 and pay.refund_request_no == "" and not pay.is_refund
    assert pay.finished_at == datetime(2024, 1, 2, 3, 4, 6, tzinfo=BEIJING)
    assert refund.is_refund and refund.order_amount_fen == -1050 and refund.refund_request_no == "R1"
    assert refund.remark == "部分退款"
    assert any("交易合计" in note for note in bill.notes)


def test_shifted_columns_fail_loudly() -> None:
    bad = DETAIL.replace("商家实收（元）,", "").replace("88.88,88.38,", "88.88,")
    with pytest.raises(BillFormatError, match="column"):
        parse_trade_bill_zip(make_zip(bad))


def test_bad_amount_names_the_column() -> None:
    with pytest.raises(BillFormatError, match="订单金额"):
        parse_trade_bill_zip(make_zip(DETAIL.replace(",88.88,88.38,", ",88.888,88.38,")))


def test_not_a_bill() -> None:
    with pytest.raises(BillFormatError):
        parse_trade_bill_zip(b"PK-not really")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.csv", SUMMARY.encode("gbk"))
    with pytest.raises(BillFormatError, match="no trade detail"):
        parse_trade_bill_zip(buffer.getvalue())


def test_download_and_parse_through_the_client(
    app_private_key: PrivateKey, alipay_public_key: PublicKey
) -> None:
    archive = make_zip()
    url = "http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&fileType=csv.zip"

    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == url and request.method == "GET"
        return httpx.Response(200, content=archive)

    creds = PublicKeyCredentials(APP_ID, app_private_key, alipay_public_key)
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        bill = AlipayClient("https://alipay.test/gateway.do", creds, http=http).download_trade_bill(url)
    assert len(bill.rows) == 2
