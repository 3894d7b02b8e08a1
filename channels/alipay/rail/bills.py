"""Parsing Alipay's daily trade bill (``<PID>0156_<YYYYMMDD>.csv.zip``) into typed rows in fen.

The archive holds GBK CSV files: the detail (业务明细) and a summary (业务明细(汇总)), sometimes more.
We recognise the detail file by its column header, not its name: zip entry names are GBK bytes without
the UTF-8 flag, which Python reads as cp437 mojibake. Lines starting with ``#`` are header and footer
notes; text cells carry a trailing TAB (so spreadsheets keep long numbers as text) and are trimmed.
The 25 columns are checked by name, so a layout change fails loudly instead of shifting amounts.

:func:`iter_trade_bill_rows` streams: it inflates and decodes the member a line at a time, so a bill of a
million lines never sits in memory as rows or as text; :func:`iter_bill_member` is that reader, shared with
the account bill (:mod:`channels.alipay.rail.account_bills`).
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime

from channels.alipay.rail.clock import BEIJING
from channels.alipay.rail.errors import AmountError, BillFormatError
from channels.alipay.rail.money import signed_yuan_to_fen

DETAIL_COLUMNS: tuple[str, ...] = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
)

#: Refuse absurd archives before inflating them (a daily bill of a busy merchant is a few MB; a million lines
#: of the account bill about 250 MB). The size a member declares bounds what zipfile inflates from it.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
#: No line of Alipay's bills comes near this; a longer one is refused before it is held.
MAX_LINE_CHARS = 64 * 1024
#: GB18030 is a superset of GBK, so rare characters in subjects still decode. UTF-8 is a fallback for
#: re-exported files; the header check, not decoding success, decides which reading is right.
ENCODINGS = ("gb18030", "utf-8-sig")


@dataclass(frozen=True)
class TradeBillRow:
    """One detail line. Amount fields are fen; refund rows carry negative amounts."""

    trade_no: str
    out_trade_no: str
    business_type: str  # 交易 or 退款
    subject: str
    created_at: datetime | None
    finished_at: datetime | None
    store_id: str
    store_name: str
    operator: str
    terminal_id: str
    counterparty_account: str
    order_amount_fen: int
    merchant_received_fen: int
    alipay_red_packet_fen: int
    jifenbao_fen: int
    alipay_discount_fen: int
    merchant_discount_fen: int
    voucher_amount_fen: int
    voucher_name: str
    merchant_red_packet_fen: int
    card_amount_fen: int
    refund_request_no: str  # the refund's out_request_no
    service_fee_fen: int  # sign as in the file (unconfirmed by public sources)
    profit_share_fen: int
    remark: str
    #: The row's line in the detail CSV (1-based), for messages about it.
    line_no: int = 0

    @property
    def is_refund(self) -> bool:
        return self.business_type == "退款"


@dataclass(frozen=True)
class TradeBill:
    rows: tuple[TradeBillRow, ...]
    #: The ``#`` lines (account, period, totals, export time) without the leading ``#``.
    notes: tuple[str, ...]


def parse_trade_bill_zip(data: bytes, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> TradeBill:
    """Find the detail CSV in the archive and parse it, every row and note at once (see
    :func:`iter_trade_bill_rows` for a day too big to hold)."""
    notes: list[str] = []
    rows = tuple(_trade_rows(data, max_member_bytes, notes))
    return TradeBill(rows=rows, notes=tuple(notes))


def iter_trade_bill_rows(data: bytes, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> Iterator[TradeBillRow]:
    """The detail rows of a trade bill archive, one at a time, read from the zip member as a stream.

    Raises :class:`BillFormatError` (a ``ValueError``) naming the line and column of what cannot be read;
    rows before it have been yielded already.
    """
    return _trade_rows(data, max_member_bytes, None)


def _trade_rows(data: bytes, max_member_bytes: int, notes: list[str] | None) -> Iterator[TradeBillRow]:
    lines = iter_bill_member(
        data, lambda cells: cells[:1] == [DETAIL_COLUMNS[0]],
        "bill archive has no trade detail CSV (header starting with 支付宝交易号)",
        max_member_bytes=max_member_bytes, notes=notes,
    )
    _line_no, header = next(lines)  # iter_bill_member yields the header first, or raises
    _check_header(header)
    for line_no, cells in lines:
        yield _row(cells, line_no)


def iter_bill_member(
    data: bytes,
    is_header: Callable[[list[str]], bool],
    missing: str,
    *,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    notes: list[str] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """``(line number, trimmed cells)`` of the archive member whose column header passes ``is_header``: the
    header first, then every data row; ``#`` notes and blank lines are skipped (appended to ``notes`` when
    given). The member is inflated and decoded as it is read, a line at a time.

    Raises :class:`BillFormatError` with ``missing`` when no member has such a header, and when the archive is
    not a zip, a member declares more than ``max_member_bytes``, or a line cannot be decoded or is too long.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BillFormatError("bill archive is not a zip file") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if info.file_size > max_member_bytes:
                raise BillFormatError(f"bill archive member of {info.file_size} bytes is over the limit of "
                                      f"{max_member_bytes} bytes")
            for encoding in ENCODINGS:
                found = yield from _member_rows(archive, info, encoding, is_header, notes)
                if found:
                    return
    raise BillFormatError(missing)


def _member_rows(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    encoding: str,
    is_header: Callable[[list[str]], bool],
    notes: list[str] | None,
) -> Generator[tuple[int, list[str]], None, bool]:
    """Rows of one member read as ``encoding`` if its header passes; returns (as the generator's value)
    whether it did."""
    seen_notes: list[str] = []
    line_no = 0
    try:
        with archive.open(info) as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
            reader = csv.reader(_bounded_lines(text, lambda: reader.line_num))
            header = None
            try:
                for cells in reader:
                    if _blank(cells) or _note(cells, seen_notes):
                        continue
                    header = [cell.strip() for cell in cells]
                    break
            except UnicodeDecodeError:
                return False  # not this encoding (or not text at all)
            if header is None or not is_header(header):
                return False
            if notes is not None:
                notes.extend(seen_notes)
            yield reader.line_num, header
            try:
                for cells in reader:
                    line_no = reader.line_num
                    stripped = [cell.strip() for cell in cells]
                    if not any(stripped) or (stripped[0][:1] == "#" and _note(cells, notes)):
                        continue
                    yield line_no, stripped
            except UnicodeDecodeError:
                raise BillFormatError(f"bill line {reader.line_num + 1} is not {encoding} text") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # A corrupt, truncated, encrypted or oddly compressed member: name what broke, never guess.
        raise BillFormatError(f"bill archive cannot be read after line {line_no}: {type(exc).__name__}") from None
    except csv.Error as exc:
        raise BillFormatError(f"bill line {line_no + 1}: {exc}") from None
    return True


def _bounded_lines(text: io.TextIOWrapper, line_num: Callable[[], int]) -> Iterator[str]:
    while line := text.readline(MAX_LINE_CHARS + 1):
        if len(line) > MAX_LINE_CHARS:
            raise BillFormatError(f"bill line {line_num() + 1} is longer than {MAX_LINE_CHARS} characters")
        yield line


def _blank(cells: list[str]) -> bool:
    return not cells or all(not cell.strip() for cell in cells)


def _note(cells: list[str], notes: list[str] | None) -> bool:
    if not cells[0].lstrip().startswith("#"):
        return False
    if notes is not None:
        notes.append(",".join(cells).strip().lstrip("#"))
    return True


def parse_trade_bill_csv(text: str) -> TradeBill:
    """Parse the detail CSV text (already decoded from GBK)."""
    notes: list[str] = []
    rows: list[TradeBillRow] = []
    header_seen = False
    for line_no, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not cells or all(not cell.strip() for cell in cells):
            continue
        if cells[0].lstrip().startswith("#"):
            notes.append(",".join(cells).strip().lstrip("#"))
            continue
        cells = [cell.strip() for cell in cells]
        if not header_seen:
            _check_header(cells)
            header_seen = True
            continue
        rows.append(_row(cells, line_no))
    if not header_seen:
        raise BillFormatError("bill CSV has no column header")
    return TradeBill(rows=tuple(rows), notes=tuple(notes))


def _check_header(cells: list[str]) -> None:
    names = _without_trailing_empty(cells)
    if len(names) != len(DETAIL_COLUMNS):
        raise BillFormatError(f"bill header has {len(names)} columns, expected {len(DETAIL_COLUMNS)}")
    for index, (got, expected) in enumerate(zip(names, DETAIL_COLUMNS, strict=True), start=1):
        if got != expected:
            raise BillFormatError(f"bill column {index} is {got!r}, expected {expected!r}")


def _without_trailing_empty(cells: list[str]) -> list[str]:
    # A trailing comma yields an empty last cell; it is not a column.
    end = len(cells)
    while end > 0 and cells[end - 1] == "":
        end -= 1
    return cells[:end]


def _row(cells: list[str], line_no: int) -> TradeBillRow:
    if len(cells) < len(DETAIL_COLUMNS):
        cells = cells + [""] * (len(DETAIL_COLUMNS) - len(cells))
    elif len(_without_trailing_empty(cells)) > len(DETAIL_COLUMNS):
        raise BillFormatError(f"bill line {line_no} has more than {len(DETAIL_COLUMNS)} columns")

    def amount(index: int) -> int:
        value = cells[index]
        if value == "":
            return 0  # blank amount cells mean "none" in Alipay's bills
        try:
            return signed_yuan_to_fen(value, field=DETAIL_COLUMNS[index])
        except AmountError as exc:
            raise BillFormatError(f"bill line {line_no}: {exc}") from None

    def moment(index: int) -> datetime | None:
        value = cells[index]
        if value == "":
            return None
        try:
            return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        except ValueError:
            raise BillFormatError(f"bill line {line_no}: {DETAIL_COLUMNS[index]} is not a time") from None

    return TradeBillRow(
        line_no=line_no,
        trade_no=cells[0],
        out_trade_no=cells[1],
        business_type=cells[2],
        subject=cells[3],
        created_at=moment(4),
        finished_at=moment(5),
        store_id=cells[6],
        store_name=cells[7],
        operator=cells[8],
        terminal_id=cells[9],
        counterparty_account=cells[10],
        order_amount_fen=amount(11),
        merchant_received_fen=amount(12),
        alipay_red_packet_fen=amount(13),
        jifenbao_fen=amount(14),
        alipay_discount_fen=amount(15),
        merchant_discount_fen=amount(16),
        voucher_amount_fen=amount(17),
        voucher_name=cells[18],
        merchant_red_packet_fen=amount(19),
        card_amount_fen=amount(20),
        refund_request_no=cells[21],
        service_fee_fen=amount(22),
        profit_share_fen=amount(23),
        remark=cells[24],
    )
