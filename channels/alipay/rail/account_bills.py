"""Parsing Alipay's account bill (``bill_type=signcustomer``, 账务明细) into typed rows in fen, as a stream.

Every movement of the account's balance is one row: buyers' payments, refunds, the service fees Alipay
charges (收费), transfers out (转账), withdrawals. The archive holds GBK CSV files like the trade bill's
(:mod:`channels.alipay.rail.bills`, whose streaming reader this shares): ``#`` notes above and below, text
cells with a trailing TAB, a summary member (汇总) beside the detail. Protocol notes §9.

Columns are found by their header name, not their position: newer files add columns (业务基础订单号,
业务订单号, 业务账单来源, 业务描述) and we read only the twelve every layout has. Income and expense are two
unsigned-by-meaning columns; the row's signed amount is income minus expense. Public samples write the expense
either as ``12.00`` or ``-12.00``, so its magnitude is what counts.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from channels.alipay.rail.bills import MAX_MEMBER_BYTES, iter_bill_member
from channels.alipay.rail.clock import BEIJING
from channels.alipay.rail.errors import AmountError, BillFormatError
from channels.alipay.rail.money import signed_yuan_to_fen

FLOW_NO = "账务流水号"
BUSINESS_FLOW_NO = "业务流水号"
MERCHANT_ORDER_NO = "商户订单号"
SUBJECT = "商品名称"
OCCURRED_AT = "发生时间"
COUNTERPARTY = "对方账号"
INCOME = "收入金额（+元）"
EXPENSE = "支出金额（-元）"
BALANCE = "账户余额（元）"
CHANNEL = "交易渠道"
BUSINESS_TYPE = "业务类型"
REMARK = "备注"

#: The columns every layout has, in the order of the classic layout.
ACCOUNT_COLUMNS: tuple[str, ...] = (
    FLOW_NO, BUSINESS_FLOW_NO, MERCHANT_ORDER_NO, SUBJECT, OCCURRED_AT, COUNTERPARTY, INCOME, EXPENSE, BALANCE,
    CHANNEL, BUSINESS_TYPE, REMARK,
)  # fmt: skip

#: yyyy-MM-dd HH:mm:ss, read without strptime (a third of the time of reading a row).
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@dataclass(frozen=True, slots=True)
class AccountBillRow:
    """One movement of the account's balance. Amounts are fen; ``income_fen`` and ``expense_fen`` are both
    non-negative, :attr:`amount_fen` is the signed movement."""

    flow_no: str  # 账务流水号: Alipay's number for this movement
    business_flow_no: str  # 业务流水号: e.g. the trade number of a payment, the order id of a transfer
    merchant_order_no: str  # 商户订单号: our out_trade_no (payments, refunds, fees) or out_biz_no (transfers)
    subject: str
    occurred_at: datetime
    counterparty_account: str
    income_fen: int
    expense_fen: int
    balance_fen: int  # the account's balance after this movement
    channel: str
    business_type: str  # 在线支付, 交易退款, 收费, 转账, 提现, ...
    remark: str
    line_no: int  # 1-based line of the detail CSV, for messages about the row

    @property
    def amount_fen(self) -> int:
        return self.income_fen - self.expense_fen


def iter_account_bill_rows(data: bytes, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> Iterator[AccountBillRow]:
    """The rows of a ``signcustomer`` bill archive, one at a time, read from the zip member as a stream.

    Raises :class:`BillFormatError` (a ``ValueError``) naming the line and column of what cannot be read; rows
    before it have been yielded already.
    """
    lines = iter_bill_member(
        data, _is_account_header, f"bill archive has no account detail CSV (header with {FLOW_NO} and "
        f"{BUSINESS_TYPE})", max_member_bytes=max_member_bytes,
    )
    _line_no, header = next(lines)  # the header comes first, or iter_bill_member raised
    read = _RowReader(header)
    for line_no, cells in lines:
        yield read(cells, line_no)


def _is_account_header(cells: list[str]) -> bool:
    return FLOW_NO in cells and BUSINESS_TYPE in cells


class _RowReader:
    """Reads rows of one header's layout. A million rows pass through here, so it does no more per row than
    it must: column indexes are found once, and a time repeated from the row before is not parsed again."""

    def __init__(self, header: list[str]) -> None:
        named = [name for name in header if name]
        for name in named:
            if named.count(name) > 1:
                raise BillFormatError(f"bill header names column {name!r} twice")
        missing = [name for name in ACCOUNT_COLUMNS if name not in named]
        if missing:
            raise BillFormatError(f"bill header lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        self.width = len(header)
        self.pick = operator.itemgetter(*(header.index(name) for name in ACCOUNT_COLUMNS))
        self._last_time: tuple[str, datetime] | None = None

    def __call__(self, cells: list[str], line_no: int) -> AccountBillRow:
        if len(cells) < self.width:
            cells = cells + [""] * (self.width - len(cells))
        elif len(cells) > self.width and any(cells[self.width:]):
            raise BillFormatError(f"bill line {line_no} has more than the header's {self.width} columns")
        (flow, business_flow, order, subject, occurred, counterparty, income_text, expense_text, balance_text,
         channel, business_type, remark) = self.pick(cells)
        income = _fen(income_text, INCOME, line_no)
        if income < 0:
            raise BillFormatError(f"bill line {line_no}: {INCOME} is negative")
        return AccountBillRow(
            flow_no=flow,
            business_flow_no=business_flow,
            merchant_order_no=order,
            subject=subject,
            occurred_at=self._time(occurred, line_no),
            counterparty_account=counterparty,
            income_fen=income,
            expense_fen=abs(_fen(expense_text, EXPENSE, line_no)),
            balance_fen=_fen(balance_text, BALANCE, line_no),
            channel=channel,
            business_type=business_type,
            remark=remark,
            line_no=line_no,
        )

    def _time(self, text: str, line_no: int) -> datetime:
        last = self._last_time
        if last is not None and last[0] == text:
            return last[1]
        if _TIME.fullmatch(text) is None:
            raise BillFormatError(f"bill line {line_no}: {OCCURRED_AT} {text[:32]!r} is not a time")
        try:
            moment = datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                              int(text[17:19]), tzinfo=BEIJING)
        except ValueError:  # the 31st of February and the like
            raise BillFormatError(f"bill line {line_no}: {OCCURRED_AT} {text[:32]!r} is not a time") from None
        self._last_time = (text, moment)
        return moment


def _fen(text: str, column: str, line_no: int) -> int:
    if text == "":
        return 0  # Alipay leaves the unused one of income and expense blank (or 0.00)
    try:
        return signed_yuan_to_fen(text, field=column)
    except AmountError as exc:
        raise BillFormatError(f"bill line {line_no}: {exc}") from None
