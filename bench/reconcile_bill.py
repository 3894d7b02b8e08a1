"""Alipay's trade bill of the bench's day, written straight to a file: a zip holding the GBK detail CSV in the
layout channels/alipay/rail/bills.py parses (header notes, the 25 columns, a `交易` row per paid payment with our
payment id as 商户订单号, 订单金额, 服务费 charged as a negative amount) and a small summary member.

The payments are read from the database in pages and the rows streamed into zipfile's `open('w')`, so a
million-line bill is never held as text or rows (the sandbox's bill builder, channels/alipay/sandbox/bill_file.py,
renders it all in memory). A few planted differences give reconciliation real work (`Planted`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select

from gateway.storage.tables import payments
from settlement.domain.calendar import CHINA
from settlement.domain.reconciliation import expected_fee

DETAIL_HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
                 "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
                 "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")
ACCOUNT = "20889990000000000156"
PAGE = 10_000  # payments read per page
CHUNK = 2_000  # bill lines encoded and written per write


@dataclass
class Planted:
    """The differences put in the bill, by payment id: left out (MISSING_THEIRS), a fen more (AMOUNT_DIFFERENCE),
    a fen more fee (FEE_DIFFERENCE, with the contracted rate configured), and trades of nobody's (MISSING_OURS).
    Placed mid-day, far from the boundary window, where no difference can be EXPECTED instead."""

    missing_theirs: list[str] = field(default_factory=list)
    amount_off: list[str] = field(default_factory=list)
    fee_off: list[str] = field(default_factory=list)
    missing_ours: list[str] = field(default_factory=list)

    def buckets(self) -> dict[str, list[str]]:
        return {"MISSING_THEIRS": sorted(self.missing_theirs), "AMOUNT_DIFFERENCE": sorted(self.amount_off),
                "FEE_DIFFERENCE": sorted(self.fee_off), "MISSING_OURS": sorted(self.missing_ours)}


@dataclass(frozen=True)
class Written:
    path: Path
    lines: int  # 交易 rows in the detail
    payments: int  # payments of the day in the database
    planted: Planted
    bytes: int


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _line(number: int, payment_id: str, amount: int, fee: int, at: datetime) -> str:
    moment = at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    trade_no = f"{at.astimezone(CHINA):%Y%m%d}2200{number:016d}"
    return (f"{trade_no}\t,{payment_id}\t,交易\t,乌龙茶\t,{moment},{moment},\t,\t,\t,\t,138****0000\t,{_yuan(amount)},"
            f"{_yuan(amount)},0.00,0.00,0.00,0.00,0.00,\t,0.00,0.00,\t,{_yuan(-fee)},0.00,\t\r\n")


def _plant_at(count: int) -> dict[int, str]:
    """Row positions (in paid order) of the planted differences: the middle tenth of the day."""
    mid = count // 2
    return {mid - 3: "missing", mid - 2: "amount", mid - 1: "fee", mid: "extra", mid + 1: "missing",
            mid + 2: "amount", mid + 3: "extra"}


def write_bill(database_url: str, day: date, path: Path, fee_bps: int) -> Written:
    """The day's trade bill of every SUCCEEDED payment, in paid order, with the planted differences."""
    engine = create_engine(database_url)
    planted = Planted()
    lines = written_payments = 0
    total_fen = fee_fen = 0
    try:
        with engine.connect() as conn:
            count = int(conn.execute(select(func.count()).select_from(payments)
                                     .where(payments.c.state == "SUCCEEDED")).scalar_one())
            plants = _plant_at(count)
            rows = conn.execution_options(yield_per=PAGE).execute(
                select(payments.c.payment_id, payments.c.amount, payments.c.paid_at)
                .where(payments.c.state == "SUCCEEDED").order_by(payments.c.paid_at, payments.c.payment_id))

            def detail() -> Iterator[str]:
                nonlocal lines, written_payments, total_fen, fee_fen
                for n, (payment_id, amount, paid_at) in enumerate(rows):
                    written_payments += 1
                    fee = expected_fee(amount, fee_bps)
                    what = plants.get(n)
                    if what == "missing":
                        planted.missing_theirs.append(payment_id)
                        continue
                    if what == "amount":
                        planted.amount_off.append(payment_id)
                        amount += 1
                    elif what == "fee":
                        planted.fee_off.append(payment_id)
                        fee += 1
                    elif what == "extra":
                        extra = f"pay_bench_extra_{n:010d}"
                        planted.missing_ours.append(extra)
                        lines += 1
                        total_fen, fee_fen = total_fen + 1234, fee_fen + expected_fee(1234, fee_bps)
                        yield _line(count + n, extra, 1234, expected_fee(1234, fee_bps), paid_at)
                    lines += 1
                    total_fen, fee_fen = total_fen + amount, fee_fen + fee
                    yield _line(n, payment_id, amount, fee, paid_at)

            _write_zip(path, day, detail, lambda: (lines, total_fen, fee_fen))
    finally:
        engine.dispose()
    return Written(path, lines, written_payments, planted, path.stat().st_size)


def _write_zip(path: Path, day: date, detail: Callable[[], Iterator[str]],
               totals: Callable[[], tuple[int, int, int]]) -> None:
    stem = f"{ACCOUNT}_{day:%Y%m%d}"
    period = f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day:%Y年%m月%d日} 23:59:59]"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f"{stem}_detail.csv", date_time=(day.year, day.month, day.day, 9, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED  # a ZipInfo's own default is ZIP_STORED, whatever the archive's
        with archive.open(info, "w", force_zip64=True) as raw:
            raw.write("\r\n".join(["#支付宝业务明细查询", f"#账号：[{ACCOUNT}]", period,
                                   "#-----------------------------------------业务明细列表--------------------"
                                   "--------------------", DETAIL_HEADER, ""]).encode("gbk"))
            chunk: list[str] = []
            for line in detail():
                chunk.append(line)
                if len(chunk) >= CHUNK:
                    raw.write("".join(chunk).encode("gbk"))
                    chunk.clear()
            raw.write("".join(chunk).encode("gbk"))
            lines, total_fen, _fee = totals()
            raw.write("\r\n".join(["#-----------------------------------------业务明细列表结束------------------"
                                   "------------------", f"#交易合计：{lines}笔，商家实收共{_yuan(total_fen)}元，商家优惠共0.00元",
                                   "#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元",
                                   f"#导出时间：[{day:%Y年%m月%d日} 09:00:00]", ""]).encode("gbk"))
        lines, total_fen, fee_fen = totals()
        summary = ["#支付宝业务汇总查询", f"#账号：[{ACCOUNT}]", period,
                   "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,"
                   "卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）",
                   f"合计\t,\t,{lines},0,{_yuan(total_fen)},{_yuan(total_fen)},0.00,0.00,0.00,{_yuan(-fee_fen)},0.00,"
                   f"{_yuan(total_fen)}", ""]
        archive.writestr(f"{stem}_summary.csv", "\r\n".join(summary).encode("gbk"))
