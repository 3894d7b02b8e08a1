"""Parsing Alipay's daily trade bill (``<PID>0156_<YYYYMMDD>.csv.zip``) into typed rows in fen.

The archive holds GBK CSV files: the detail (业务明细) and a summary (业务明细(汇总)), sometimes more.
We recognise the detail file by its column header, not its name: zip entry names are GBK bytes without
the UTF-8 flag, which Python reads as cp437 mojibake. Lines starting with ``#`` are header and footer
notes; text cells carry a trailing TAB (so spreadsheets keep long numbers as text) and are trimmed.
The 25 columns are checked by name, so a layout change fails loudly instead of shifting amounts.
"""

from __future__ import annotations

import csv
import io
import zipfile
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

#: Refuse absurd archives before inflating them (a daily bill of a busy merchant is a few MB).
MAX_MEMBER_BYTES = 512 * 1024 * 1024


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

    @property
    def is_refund(self) -> bool:
        return self.business_type == "退款"


@dataclass(frozen=True)
class TradeBill:
    rows: tuple[TradeBillRow, ...]
    #: The ``#`` lines (account, period, totals, export time) without the leading ``#``.
    notes: tuple[str, ...]


def parse_trade_bill_zip(data: bytes) -> TradeBill:
    """Find the detail CSV in the archive and parse it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BillFormatError("bill archive is not a zip file") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir() or info.file_size > MAX_MEMBER_BYTES:
                continue
            raw = archive.read(info)
            for text in _decodings(raw):
                if _header_row(text) is not None:
                    return parse_trade_bill_csv(text)
    raise BillFormatError("bill archive has no trade detail CSV (header starting with 支付宝交易号)")


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


def _decodings(raw: bytes) -> list[str]:
    # GB18030 is a superset of GBK, so rare characters in subjects still decode. UTF-8 is a fallback
    # for re-exported files; the header check, not decoding success, decides which reading is right.
    texts = []
    for encoding in ("gb18030", "utf-8-sig"):
        try:
            texts.append(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
    return texts


def _header_row(text: str) -> list[str] | None:
    for cells in csv.reader(io.StringIO(text)):
        if not cells or cells[0].lstrip().startswith("#"):
            continue
        stripped = [cell.strip() for cell in cells]
        return stripped if stripped and stripped[0] == DETAIL_COLUMNS[0] else None
    return None


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
