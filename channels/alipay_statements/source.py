"""Alipay's daily bills as :class:`channels.contract.StatementSource` lines.

``lines(day, kind)`` asks alipay.data.dataservice.bill.downloadurl.query for the day's bill (``trade`` for
TRADES, ``signcustomer`` for ACCOUNT), downloads it at once (the link lives about 30 s) within a size and time
bound, and streams the rows of the zip as lines; ``read_file`` does the same from an archive downloaded by
hand. ``isp.bill_not_exist`` (the bill is not made yet, usually before ~9:00 the next day) is
:class:`StatementNotReady`.

The trade bill, by 业务类型:

* 交易: PAYMENT. ``reference`` 商户订单号 (our payment id, sent as out_trade_no), ``channel_reference``
  支付宝交易号, ``amount`` 订单金额, ``fee`` 服务费 as a cost.
* 退款: REFUND. ``reference`` 退款批次号/请求号 (our refund id, sent as out_request_no; 商户订单号 when Alipay
  names none, as it does for a refund sent without one), ``payment_reference`` 商户订单号, ``amount`` minus
  the refunded 商家实收 (订单金额 on a refund row is the trade's), ``fee`` minus the 服务费 given back.
* anything else: OTHER.

The sign Alipay writes in 服务费 is unconfirmed (protocol notes §7), so the column's magnitude is read and the
row's kind gives the sign: charged on a payment, given back on a refund.

The account bill, by 业务类型: 在线支付 / 交易付款 PAYMENT, 交易退款 REFUND (``payment_reference`` 商户订单号;
the account bill names no refund number), 收费 FEE (``reference`` 商户订单号, the payment it was charged on),
转账 TRANSFER (``reference`` 商户订单号, our out_biz_no), anything else (提现, 充值, ...) OTHER; ``amount`` is
income minus expense, ``channel_reference`` 账务流水号, ``fee`` 0 (fees are lines of their own).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime

from channels.alipay.rail import AlipayClient, AlipayError, BillFormatError
from channels.alipay.rail.account_bills import AccountBillRow, iter_account_bill_rows
from channels.alipay.rail.bills import TradeBillRow, iter_trade_bill_rows
from channels.alipay.rail.client import BILL_DOWNLOAD_SECONDS, MAX_BILL_DOWNLOAD_BYTES
from channels.contract.statements import LineKind, StatementKind, StatementLine, StatementNotReady

log = logging.getLogger(__name__)

BILL_TYPES = {StatementKind.TRADES: "trade", StatementKind.ACCOUNT: "signcustomer"}
BILL_NOT_EXIST = "isp.bill_not_exist"
ACCOUNT_KINDS = {
    "在线支付": LineKind.PAYMENT,
    "交易付款": LineKind.PAYMENT,
    "交易退款": LineKind.REFUND,
    "收费": LineKind.FEE,
    "转账": LineKind.TRANSFER,
}


class AlipayStatementError(AlipayError):
    """Alipay could not be asked for a bill, or refused (not "not ready"); the message names the answer's code
    only, never a key, a URL with its token, or the whole answer."""


class AlipayStatementSource:
    """The platform's Alipay app's bills. Keeps no state between calls but the client's connection pool."""

    name = "alipay"

    def __init__(self, client: AlipayClient, *, max_bytes: int = MAX_BILL_DOWNLOAD_BYTES,
                 download_timeout: float = BILL_DOWNLOAD_SECONDS) -> None:
        self.client = client
        self.max_bytes = max_bytes
        self.download_timeout = download_timeout

    def lines(self, day: date, kind: StatementKind) -> Iterator[StatementLine]:
        """Fetches now (so not-ready and download failures raise here), then streams the lines."""
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"day must be a date, not {type(day).__name__}")
        bill_type = _bill_type(kind)
        answer = self.client.bill_download_url(bill_date=day.isoformat(), bill_type=bill_type)
        outcome = answer.outcome
        if outcome.sub_code == BILL_NOT_EXIST:
            raise StatementNotReady(f"Alipay has no {bill_type} bill for {day.isoformat()} yet ({BILL_NOT_EXIST})")
        if not outcome.succeeded or not answer.bill_download_url:
            raise AlipayStatementError(
                f"Alipay's {bill_type} bill for {day.isoformat()} could not be had: {outcome.outcome.value} "
                f"({outcome.reason}, code {outcome.code or '-'}, sub_code {outcome.sub_code or '-'})")
        data = self.client.download_bill(answer.bill_download_url, max_bytes=self.max_bytes,
                                         timeout=self.download_timeout)
        log.info("alipay %s bill of %s: %d bytes", bill_type, day.isoformat(), len(data))
        return self.read_file(data, kind)

    def read_file(self, data: bytes, kind: StatementKind) -> Iterator[StatementLine]:
        if not isinstance(data, bytes):
            raise TypeError(f"data must be the bill archive's bytes, not {type(data).__name__}")
        if _bill_type(kind) == "trade":
            return (trade_line(row) for row in iter_trade_bill_rows(data))
        return (account_line(row) for row in iter_account_bill_rows(data))

    def close(self) -> None:
        self.client.close()


def _bill_type(kind: StatementKind) -> str:
    try:
        return BILL_TYPES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"kind must be a StatementKind, not {kind!r}") from None


def trade_line(row: TradeBillRow) -> StatementLine:
    occurred_at = row.finished_at or row.created_at
    if occurred_at is None:
        raise BillFormatError(f"bill line {row.line_no}: neither 完成时间 nor 创建时间 is given")
    fee = abs(row.service_fee_fen)
    if row.business_type == "交易":
        if row.order_amount_fen <= 0:
            raise BillFormatError(f"bill line {row.line_no}: 订单金额（元） of a 交易 row is not positive")
        return StatementLine(LineKind.PAYMENT, row.out_trade_no, row.trade_no, row.order_amount_fen, fee,
                             occurred_at)
    if row.is_refund:
        refunded = abs(row.merchant_received_fen or row.order_amount_fen)
        return StatementLine(LineKind.REFUND, row.refund_request_no or row.out_trade_no, row.trade_no, -refunded,
                             -fee, occurred_at, payment_reference=row.out_trade_no)
    return StatementLine(LineKind.OTHER, row.out_trade_no, row.trade_no, row.merchant_received_fen, fee,
                         occurred_at)


def account_line(row: AccountBillRow) -> StatementLine:
    kind = ACCOUNT_KINDS.get(row.business_type, LineKind.OTHER)
    if kind is LineKind.REFUND:
        return StatementLine(kind, "", row.flow_no, row.amount_fen, 0, row.occurred_at,
                             payment_reference=row.merchant_order_no)
    return StatementLine(kind, row.merchant_order_no, row.flow_no, row.amount_fen, 0, row.occurred_at)
