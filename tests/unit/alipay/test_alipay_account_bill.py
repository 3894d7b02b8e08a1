"""Account bills (signcustomer, 账务明细) and the streaming trade bill reader: real GBK zips built here, columns
found by name, two amount columns signed by us, errors naming line and column, bounded members, and memory
that stays flat however long the bill is."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from collections.abc import Iterable
from datetime import datetime

import pytest

from channels.alipay.rail import BillFormatError
from channels.alipay.rail.account_bills import ACCOUNT_COLUMNS, iter_account_bill_rows
from channels.alipay.rail.bills import DETAIL_COLUMNS, iter_trade_bill_rows, parse_trade_bill_zip
from channels.alipay.rail.clock import BEIJING

T = "\t"
HEAD = (
    "#支付宝账务明细查询",
    "#账号：[20881021770000010156]",
    "#起始日期：[2024年01月02日 00:00:00]   终止日期：[2024年01月03日 00:00:00]",
    "#-----------------------------------------账务明细列表----------------------------------------",
)
FOOT = (
    "#-----------------------------------------账务明细列表结束------------------------------------",
    "#收入合计：1笔，共100.00元",
    "#支出合计：3笔，共-30.60元",
    "#导出时间：[2024年01月03日 09:00:00]",
)
SUMMARY = "类型,收入笔数,收入金额（+元）,支出笔数,支出金额（-元）,总金额（元）\r\n合计\t,1,100.00,3,-30.60,69.40\r\n"


def account_line(flow: str, order: str, at: str, income: str, expense: str, balance: str, kind: str,
                 *, extra: Iterable[str] = ()) -> str:
    cells = [flow + T, "2024010222001446880500012345" + T, order + T, "茶叶" + T, at, "159****5620" + T, income,
             expense, balance, "支付宝" + T, kind + T, "备注" + T, *extra]
    return ",".join(cells)


CLASSIC = [
    ",".join(ACCOUNT_COLUMNS),
    account_line("20240102000001", "pay_1", "2024-01-02 10:00:00", "100.00", "", "100.00", "在线支付"),
    account_line("20240102000002", "pay_1", "2024-01-02 10:00:00", "", "-0.60", "99.40", "收费"),
    # Some files write the expense without its minus: the magnitude is what counts.
    account_line("20240102000003", "po_1", "2024-01-02 11:00:00", "", "20.00", "79.40", "转账"),
    account_line("20240102000004", "pay_1", "2024-01-02 12:00:00", "0.00", "-10.00", "69.40", "交易退款"),
]


def bill_zip(lines: Iterable[str], *, summary_first: bool = True, encoding: str = "gbk") -> bytes:
    detail = "\r\n".join([*HEAD, *lines, *FOOT]) + "\r\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        members = [("20881021770000010156_20240102_账务明细(汇总).csv", SUMMARY),
                   ("20881021770000010156_20240102_账务明细.csv", detail)]
        for name, text in members if summary_first else reversed(members):
            archive.writestr(name, text.encode(encoding))
    return buffer.getvalue()


def test_rows_are_typed_in_fen_and_signed_by_us() -> None:
    rows = list(iter_account_bill_rows(bill_zip(CLASSIC)))
    assert [(r.business_type, r.merchant_order_no, r.income_fen, r.expense_fen, r.amount_fen, r.balance_fen)
            for r in rows] == [
        ("在线支付", "pay_1", 10_000, 0, 10_000, 10_000),
        ("收费", "pay_1", 0, 60, -60, 9_940),
        ("转账", "po_1", 0, 2_000, -2_000, 7_940),
        ("交易退款", "pay_1", 0, 1_000, -1_000, 6_940),
    ]
    first = rows[0]
    assert (first.flow_no, first.business_flow_no, first.subject, first.counterparty_account) == (
        "20240102000001", "2024010222001446880500012345", "茶叶", "159****5620")
    assert (first.channel, first.remark) == ("支付宝", "备注")
    assert first.occurred_at == datetime(2024, 1, 2, 10, 0, tzinfo=BEIJING)
    assert [r.line_no for r in rows] == [6, 7, 8, 9]  # four # lines and the header come first


def test_columns_are_found_by_name_when_newer_files_add_some() -> None:
    # Newer layouts put columns of their own between and after the classic ones.
    names = list(ACCOUNT_COLUMNS)
    names.insert(1, "业务基础订单号")
    names += ["业务订单号", "业务账单来源", "业务描述"]

    def widened(line: str) -> str:
        cells = line.split(",")
        cells.insert(1, "B0001" + T)
        return ",".join([*cells, "O1" + T, "商户" + T, "描述" + T])

    rows = list(iter_account_bill_rows(bill_zip([",".join(names), *map(widened, CLASSIC[1:])])))
    assert [r.amount_fen for r in rows] == [10_000, -60, -2_000, -1_000]
    assert rows[2].merchant_order_no == "po_1" and rows[2].remark == "备注"


def test_a_header_without_a_needed_column_is_refused_by_name() -> None:
    header = ",".join(c for c in ACCOUNT_COLUMNS if c != "支出金额（-元）")
    with pytest.raises(BillFormatError, match="lacks column 支出金额"):
        list(iter_account_bill_rows(bill_zip([header, *CLASSIC[1:]])))
    twice = ",".join([*ACCOUNT_COLUMNS, "备注"])
    with pytest.raises(BillFormatError, match="备注.*twice"):
        list(iter_account_bill_rows(bill_zip([twice, *CLASSIC[1:]])))


@pytest.mark.parametrize(("bad", "column"), [
    (("100.001", ""), "收入金额"),
    (("1e3", ""), "收入金额"),
    (("", "--0.60"), "支出金额"),
    (("-5.00", ""), "收入金额"),
])
def test_a_bad_amount_names_the_line_and_the_column(bad: tuple[str, str], column: str) -> None:
    line = account_line("20240102000009", "pay_2", "2024-01-02 13:00:00", *bad, "1.00", "在线支付")
    rows = iter_account_bill_rows(bill_zip([*CLASSIC, line]))
    with pytest.raises(BillFormatError, match=f"bill line 10: .*{column}"):
        list(rows)


def test_a_bad_time_and_a_row_wider_than_the_header_are_refused() -> None:
    late = account_line("20240102000009", "pay_2", "2024/01/02 13:00", "1.00", "", "1.00", "在线支付")
    with pytest.raises(BillFormatError, match="bill line 10: 发生时间 '2024/01/02 13:00' is not a time"):
        list(iter_account_bill_rows(bill_zip([*CLASSIC, late])))
    wide = CLASSIC[1] + ",surprise"
    with pytest.raises(BillFormatError, match="bill line 6 has more than the header's 12 columns"):
        list(iter_account_bill_rows(bill_zip([CLASSIC[0], wide])))


def test_the_account_and_trade_readers_each_refuse_the_others_archive() -> None:
    with pytest.raises(BillFormatError, match="no trade detail CSV"):
        list(iter_trade_bill_rows(bill_zip(CLASSIC)))
    trade = io.BytesIO()
    with zipfile.ZipFile(trade, "w") as archive:
        archive.writestr("x_业务明细.csv", ",".join(DETAIL_COLUMNS).encode("gbk"))
    with pytest.raises(BillFormatError, match="no account detail CSV"):
        list(iter_account_bill_rows(trade.getvalue()))
    with pytest.raises(BillFormatError, match="not a zip"):
        list(iter_account_bill_rows(b"PK\x03\x04 and nothing else"))


def test_a_member_over_the_limit_is_refused_before_it_is_inflated() -> None:
    data = bill_zip(CLASSIC)
    with pytest.raises(BillFormatError, match=r"member of \d+ bytes is over the limit of 100 bytes"):
        list(iter_account_bill_rows(data, max_member_bytes=100))
    with pytest.raises(BillFormatError, match="over the limit"):
        list(iter_trade_bill_rows(data, max_member_bytes=100))
    with pytest.raises(BillFormatError, match="over the limit"):
        parse_trade_bill_zip(data, max_member_bytes=100)


def test_a_member_that_lies_about_its_size_is_caught_by_its_checksum() -> None:
    data = bytearray(bill_zip(CLASSIC, summary_first=False))
    # Shrink the detail's declared size in its central directory entry: zipfile then stops inflating there.
    detail = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    central = data.index(b"PK\x01\x02")  # the first entry is the detail's; its size field is at +24
    data[central + 24:central + 28] = (detail.file_size // 2).to_bytes(4, "little")
    with pytest.raises(BillFormatError, match="cannot be read"):
        list(iter_account_bill_rows(bytes(data)))


def test_an_endless_line_is_refused_before_it_is_held() -> None:
    endless = account_line("20240102000009", "pay_2", "2024-01-02 13:00:00", "1.00", "", "1.00", "在线支付")
    with pytest.raises(BillFormatError, match="bill line 10 is longer than 65536 characters"):
        list(iter_account_bill_rows(bill_zip([*CLASSIC, endless + "x" * 70_000])))


def test_utf8_reexports_still_read() -> None:
    rows = list(iter_account_bill_rows(bill_zip(CLASSIC, encoding="utf-8-sig")))
    assert [r.business_type for r in rows] == ["在线支付", "收费", "转账", "交易退款"]


def test_the_trade_iterator_gives_what_the_whole_parse_gives() -> None:
    pay = ("2024010222001446880500012345\t,T1\t,交易\t,茶\t,2024-01-02 03:04:05,2024-01-02 03:04:06,,,,,"
           "159****5620\t,88.88,88.88,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.53,0.00,")
    text = "\r\n".join(["#支付宝业务明细查询", ",".join(DETAIL_COLUMNS), pay, "#交易合计：1笔"]) + "\r\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a_业务明细.csv", text.encode("gbk"))
    rows = list(iter_trade_bill_rows(buffer.getvalue()))
    whole = parse_trade_bill_zip(buffer.getvalue())
    assert tuple(rows) == whole.rows and rows[0].line_no == 3 and rows[0].service_fee_fen == -53
    assert whole.notes == ("支付宝业务明细查询", "交易合计：1笔")
    bad = text.replace(",88.88,88.88,", ",88.88,8x.88,")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a_业务明细.csv", bad.encode("gbk"))
    with pytest.raises(BillFormatError, match="bill line 3: 商家实收"):
        list(iter_trade_bill_rows(buffer.getvalue()))


LINES = 200_000


def big_account_zip(lines: int) -> tuple[bytes, int]:
    """An account bill of ``lines`` rows, written to the zip a block of rows at a time; also its size as text."""
    block = "".join(
        account_line(f"2024010200{n:010d}", f"pay_{n:08d}", "2024-01-02 10:00:00", "1.23", "", "9.99", "在线支付")
        + "\r\n" for n in range(1_000))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("20881021770000010156_20240102_账务明细.csv", "w") as member:
            for text in (*HEAD, ",".join(ACCOUNT_COLUMNS)):
                member.write((text + "\r\n").encode("gbk"))
            data = block.encode("gbk")
            for _ in range(lines // 1_000):
                member.write(data)
    return buffer.getvalue(), len(block) * (lines // 1_000)


def test_a_long_bill_is_read_in_flat_memory() -> None:
    data, text_chars = big_account_zip(LINES)
    tracemalloc.start()
    try:
        count = total = 0
        for row in iter_account_bill_rows(data):
            count += 1
            total += row.amount_fen
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, total) == (LINES, LINES * 123)
    # Holding the rows would take far more than their text (~29 MB here); streaming keeps a few lines and
    # the inflater's window.
    assert text_chars > 25_000_000
    assert peak < 2_000_000, f"peak {peak} bytes while reading {text_chars} characters of rows"
