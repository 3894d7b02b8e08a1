"""Account bills (``bill_type=signcustomer``, 账务明细) in Alipay's layout (protocol notes §9), from the
sandbox's own records: ``<PID>0156_<YYYYMMDD>.csv.zip`` holding the detail and a summary (汇总), GBK.

Every movement of the merchant's balance is one row, in time order: a paid trade's income (在线支付), its
service fee (收费, expense), a refund (交易退款, expense) and the fee it gives back (收费, income), a successful
transfer out (转账, expense; 商户订单号 is its out_biz_no). 账户余额 runs on from every earlier movement the
sandbox knows, starting at 0. Expense cells are written negative, as the column's "（-元）" suggests (public
samples disagree; the rail reads either). Flow numbers are derived from what they record, so downloading a
bill twice gives the same numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .bill_book import BilledTrade
from .bill_file import TEXT, bill_archive, cn_date, csv_line
from .store import Transfer
from .values import fen_to_yuan, fmt_time, mask_logon_id

ACCOUNT_COLUMNS = (
    "账务流水号", "业务流水号", "商户订单号", "商品名称", "发生时间", "对方账号", "收入金额（+元）",
    "支出金额（-元）", "账户余额（元）", "交易渠道", "业务类型", "备注",
)  # fmt: skip
SUMMARY_COLUMNS = ("类型", "收入笔数", "收入金额（+元）", "支出笔数", "支出金额（-元）", "总金额（元）")
ALIPAY = "支付宝（中国）网络技术有限公司"


@dataclass(frozen=True)
class Movement:
    at: datetime
    flow_no: str
    business_flow_no: str
    merchant_order_no: str
    subject: str
    counterparty: str
    amount_fen: int  # signed: income > 0, expense < 0
    business_type: str
    remark: str
    phase: int = 0  # orders movements of one second: payments (and fees), then refunds, then transfers


def _flow_no(at: datetime, *what: str) -> str:
    digest = int.from_bytes(hashlib.sha256("|".join(what).encode()).digest()[:8], "big")
    return at.strftime("%Y%m%d") + f"{digest % 10**16:016d}"


def movements(trades: Iterable[BilledTrade], transfers: Iterable[Transfer]) -> list[Movement]:
    """Every movement of the balance the records show, in time order."""
    out: list[Movement] = []
    for billed in trades:
        t = billed.trade
        assert t.gmt_payment is not None  # billed trades are paid ones
        buyer = mask_logon_id(t.buyer_logon_id) if t.buyer_logon_id else ""
        out.append(Movement(t.gmt_payment, _flow_no(t.gmt_payment, t.trade_no, "pay"), t.trade_no, t.out_trade_no,
                            t.subject, buyer, billed.amount_fen, "在线支付", ""))
        if billed.fee_fen:
            out.append(Movement(t.gmt_payment, _flow_no(t.gmt_payment, t.trade_no, "fee"), t.trade_no,
                                t.out_trade_no, "服务费", ALIPAY, -billed.fee_fen, "收费", f"服务费[{t.trade_no}]"))
        for refund, fee_back in billed.refunds():
            at, request_no = refund.gmt_refund, refund.out_request_no
            out.append(Movement(at, _flow_no(at, t.trade_no, "refund", request_no), t.trade_no, t.out_trade_no,
                                t.subject, buyer, -refund.amount_fen, "交易退款", f"退款[{request_no}]", 1))
            if fee_back:
                out.append(Movement(at, _flow_no(at, t.trade_no, "fee back", request_no), t.trade_no,
                                    t.out_trade_no, "服务费", ALIPAY, fee_back, "收费", f"服务费退回[{t.trade_no}]", 1))
    for transfer in transfers:
        at = transfer.trans_date
        out.append(Movement(at, _flow_no(at, transfer.order_id, "transfer"), transfer.order_id, transfer.out_biz_no,
                            transfer.order_title, transfer.payee_identity, -transfer.amount_fen, "转账",
                            transfer.remark or transfer.order_title, 2))
    # Times are to the second: within one, a payment before the refunds it allows and the transfers it pays
    # for; the sort is stable, so each fee stays right after its payment or refund.
    out.sort(key=lambda m: (m.at, m.phase))
    return out


def _cells(m: Movement, balance_fen: int) -> list[str]:
    income = fen_to_yuan(m.amount_fen) if m.amount_fen > 0 else ""
    expense = fen_to_yuan(m.amount_fen) if m.amount_fen < 0 else ""
    return [
        m.flow_no + TEXT, m.business_flow_no + TEXT, m.merchant_order_no + TEXT,
        m.subject.replace(",", "，") + TEXT, fmt_time(m.at), m.counterparty + TEXT, income, expense,
        fen_to_yuan(balance_fen), "支付宝" + TEXT, m.business_type + TEXT, m.remark.replace(",", "，") + TEXT,
    ]  # fmt: skip


def render_detail(account: str, start: datetime, end: datetime, moved: list[Movement], now: datetime) -> str:
    balance = sum(m.amount_fen for m in moved if m.at < start)
    rows: list[str] = []
    day = [m for m in moved if start <= m.at < end]
    for m in day:
        balance += m.amount_fen
        rows.append(csv_line(_cells(m, balance)))
    income = [m.amount_fen for m in day if m.amount_fen > 0]
    expense = [m.amount_fen for m in day if m.amount_fen < 0]
    lines = [
        "#支付宝账务明细查询",
        f"#账号：[{account}]",
        f"#起始日期：[{cn_date(start)}]   终止日期：[{cn_date(end)}]",
        "#-----------------------------------------账务明细列表----------------------------------------",
        csv_line(ACCOUNT_COLUMNS),
        *rows,
        "#-----------------------------------------账务明细列表结束------------------------------------",
        f"#收入合计：{len(income)}笔，共{fen_to_yuan(sum(income))}元",
        f"#支出合计：{len(expense)}笔，共{fen_to_yuan(sum(expense))}元",
        f"#导出时间：[{cn_date(now)}]",
    ]
    return "\r\n".join(lines) + "\r\n"


def render_summary(account: str, start: datetime, end: datetime, moved: list[Movement], now: datetime) -> str:
    day = [m for m in moved if start <= m.at < end]
    kinds = sorted({m.business_type for m in day})

    def totals(of: list[Movement]) -> list[str]:
        income = [m.amount_fen for m in of if m.amount_fen > 0]
        expense = [m.amount_fen for m in of if m.amount_fen < 0]
        return [str(len(income)), fen_to_yuan(sum(income)), str(len(expense)), fen_to_yuan(sum(expense)),
                fen_to_yuan(sum(income) + sum(expense))]

    lines = [
        "#支付宝账务汇总查询",
        f"#账号：[{account}]",
        f"#起始日期：[{cn_date(start)}]   终止日期：[{cn_date(end)}]",
        "#-----------------------------------------账务汇总列表----------------------------------------",
        csv_line(SUMMARY_COLUMNS),
        *(csv_line([kind + TEXT, *totals([m for m in day if m.business_type == kind])]) for kind in kinds),
        csv_line(["合计" + TEXT, *totals(day)]),
        "#-----------------------------------------账务汇总列表结束------------------------------------",
        f"#导出时间：[{cn_date(now)}]",
    ]
    return "\r\n".join(lines) + "\r\n"


def has_movements(moved: list[Movement], start: datetime, end: datetime) -> bool:
    return any(start <= m.at < end for m in moved)


def build_account_zip(seller_id: str, label: str, moved: list[Movement], start: datetime, end: datetime,
                      now: datetime) -> tuple[str, bytes]:
    """Return ``(<PID>0156_<label>.csv.zip, bytes)``; ``label`` is ``YYYYMMDD`` or ``YYYYMM``."""
    account = f"{seller_id}0156"
    return bill_archive(account, label, "账务明细", render_detail(account, start, end, moved, now),
                        render_summary(account, start, end, moved, now), now)
