"""Trade bills in Alipay's layout: ``<PID>0156_<YYYYMMDD>.csv.zip`` holding two GBK CSV files.

Text cells end in a TAB before the comma (as in Alipay's files); times and amounts do not. Refund rows carry
the order amount as is and a negative 商家实收. 服务费 is the service fee of :mod:`.bill_book`: negative on a
payment (charged), positive on a refund (given back). 实收净额 in the summary is 商家实收's sum, fees apart.
Zip member names are GBK bytes without the UTF-8 flag, as Alipay's archives have them.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .bill_book import BilledTrade
from .store import Trade
from .values import fen_to_yuan, fmt_time, mask_logon_id

DETAIL_COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称",
    "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）",
    "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
    "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）",
    "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）", "实收净额（元）",
)  # fmt: skip
TEXT = "\t"
ZERO = "0.00"


@dataclass
class BillRow:
    kind: str  # 交易 | 退款
    trade: Trade
    finished: datetime
    amount_fen: int  # signed: what the merchant received
    out_request_no: str = ""
    order_fen: int = 0  # 订单金额 as billed
    fee_fen: int = 0  # 服务费 as written: the charge negative, a fee given back positive


def bill_rows(trades: Iterable[BilledTrade], start: datetime, end: datetime) -> list[BillRow]:
    """Payments and refunds of ``trades`` completed in ``[start, end)``, in completion order."""
    rows = []
    for billed in trades:
        trade = billed.trade
        if trade.gmt_payment and start <= trade.gmt_payment < end:
            rows.append(BillRow("交易", trade, trade.gmt_payment, billed.amount_fen, order_fen=billed.amount_fen,
                                fee_fen=-billed.fee_fen))
        for refund, fee_back in billed.refunds():
            if start <= refund.gmt_refund < end:
                rows.append(BillRow("退款", trade, refund.gmt_refund, -refund.amount_fen, refund.out_request_no,
                                    order_fen=billed.amount_fen, fee_fen=fee_back))
    rows.sort(key=lambda r: (r.finished, r.trade.trade_no, r.kind))
    return rows


def _total(rows: list[BillRow]) -> str:
    return fen_to_yuan(sum(r.amount_fen for r in rows))


def cn_date(moment: datetime) -> str:
    return moment.strftime("%Y年%m月%d日 %H:%M:%S")


def csv_line(cells: Iterable[str]) -> str:
    return ",".join(cells)


def _detail_line(row: BillRow) -> str:
    t = row.trade
    cells = [
        t.trade_no + TEXT,
        t.out_trade_no + TEXT,
        row.kind + TEXT,
        t.subject.replace(",", "，") + TEXT,
        fmt_time(t.gmt_create),
        fmt_time(row.finished),
        TEXT,  # 门店编号
        TEXT,  # 门店名称
        TEXT,  # 操作员
        TEXT,  # 终端号
        mask_logon_id(t.buyer_logon_id) + TEXT,
        fen_to_yuan(row.order_fen),
        fen_to_yuan(row.amount_fen),
        ZERO, ZERO, ZERO, ZERO, ZERO,
        TEXT,  # 券名称
        ZERO, ZERO,
        row.out_request_no + TEXT,
        fen_to_yuan(row.fee_fen),
        ZERO,
        TEXT,  # 备注
    ]  # fmt: skip
    return csv_line(cells)


def render_detail(account: str, start: datetime, end: datetime, rows: list[BillRow], now: datetime) -> str:
    payments = [r for r in rows if r.kind == "交易"]
    refunds = [r for r in rows if r.kind == "退款"]
    lines = [
        "#支付宝业务明细查询",
        f"#账号：[{account}]",
        f"#起始日期：[{cn_date(start)}]   终止日期：[{cn_date(end)}]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        csv_line(DETAIL_COLUMNS),
        *(_detail_line(r) for r in rows),
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{len(payments)}笔，商家实收共{_total(payments)}元，商家优惠共0.00元",
        f"#退款合计：{len(refunds)}笔，商家实收退款共{_total(refunds)}元，商家优惠退款共0.00元",
        f"#导出时间：[{cn_date(now)}]",
    ]
    return "\r\n".join(lines) + "\r\n"


def render_summary(account: str, start: datetime, end: datetime, rows: list[BillRow], now: datetime) -> str:
    payments = [r for r in rows if r.kind == "交易"]
    refunds = [r for r in rows if r.kind == "退款"]
    order_fen = sum(r.order_fen for r in payments)
    net_fen = sum(r.amount_fen for r in rows)
    fee_fen = sum(r.fee_fen for r in rows)
    store_cells = [TEXT, TEXT]
    totals = [
        str(len(payments)), str(len(refunds)), fen_to_yuan(order_fen), fen_to_yuan(net_fen),
        ZERO, ZERO, ZERO, fen_to_yuan(fee_fen), ZERO, fen_to_yuan(net_fen),
    ]  # fmt: skip
    lines = [
        "#支付宝业务汇总查询",
        f"#账号：[{account}]",
        f"#起始日期：[{cn_date(start)}]   终止日期：[{cn_date(end)}]",
        "#-----------------------------------------业务汇总列表----------------------------------------",
        csv_line(SUMMARY_COLUMNS),
        csv_line(store_cells + totals),
        csv_line(["合计" + TEXT, TEXT] + totals),
        "#-----------------------------------------业务汇总列表结束------------------------------------",
        f"#导出时间：[{cn_date(now)}]",
    ]
    return "\r\n".join(lines) + "\r\n"


class _GbkName(zipfile.ZipInfo):
    """A member whose name is stored as GBK bytes with no UTF-8 flag, like Alipay's bill archives."""

    def _encodeFilenameFlags(self):  # overrides zipfile's private hook
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def build_zip(seller_id: str, label: str, rows: list[BillRow], start: datetime, end: datetime,
              now: datetime) -> tuple[str, bytes]:
    """Return ``(<PID>0156_<label>.csv.zip, bytes)``; ``label`` is ``YYYYMMDD`` or ``YYYYMM``."""
    account = f"{seller_id}0156"
    return bill_archive(account, label, "业务明细", render_detail(account, start, end, rows, now),
                        render_summary(account, start, end, rows, now), now)


def bill_archive(account: str, label: str, title: str, detail: str, summary: str, now: datetime) -> tuple[str, bytes]:
    """Alipay's archive of one bill: ``<account>_<label>.csv.zip`` holding ``…_<title>.csv`` (the detail) and
    ``…_<title>(汇总).csv`` (the summary)."""
    stem = f"{account}_{label}"
    members = {f"{stem}_{title}.csv": detail, f"{stem}_{title}(汇总).csv": summary}
    return f"{stem}.csv.zip", zip_members(members, now)


def zip_members(members: dict[str, str], now: datetime) -> bytes:
    """A zip of GBK CSV members under GBK names, as Alipay's bill archives are."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            info = _GbkName(name, date_time=now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("gbk", errors="replace"))
    return buffer.getvalue()
