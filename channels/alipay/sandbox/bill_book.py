"""What a merchant's bills say happened: its trades and transfers as billed, with Alipay's service fee and any
difference a test planted (faults ``bill_differences``). Both layouts read this: the trade bill
(:mod:`.bill_file`) and the account bill (:mod:`.account_bill_file`).

Service fee (服务费): ``service_fee_bps`` of the trade's amount, rounded half up to the fen, charged when the
trade is paid. A refund gives back the fee pro rata: after each refund the fee given back *so far* is the
fee times the amount refunded so far over the trade's amount, rounded half up, and this refund gives back
that minus what earlier refunds gave. So partial refunds never give back more than was charged, and a full
refund gives back all of it. Alipay's own rules for giving the fee back, and the sign it writes in the
trade bill's 服务费 column, are unconfirmed (protocol notes §7): the sandbox writes the charge negative and
the fee given back positive, as the merchant's balance sees them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .faults import BillDifferences, ExtraTrade
from .store import TRADE_SUCCESS, Refund, Trade, Transfer


def service_fee(amount_fen: int, bps: int) -> int:
    """``bps`` basis points of ``amount_fen``, rounded half up to the fen (integers only)."""
    return (amount_fen * bps + 5_000) // 10_000


@dataclass(frozen=True)
class BilledTrade:
    trade: Trade
    #: 订单金额 as billed; a planted difference may make it differ from the trade's.
    amount_fen: int
    #: The service fee charged when the trade was paid (a cost, >= 0).
    fee_fen: int

    def refunds(self) -> list[tuple[Refund, int]]:
        """Each refund with the fee it gives back (>= 0), in the order they were made."""
        given, refunded, out = 0, 0, []
        for refund in self.trade.refunds:
            refunded += refund.amount_fen
            so_far = (self.fee_fen * refunded * 2 + self.trade.amount_fen) // (2 * self.trade.amount_fen)
            out.append((refund, so_far - given))
            given = so_far
        return out


def billed_trades(trades: Iterable[Trade], app_ids: set[str], seller_id: str, differences: BillDifferences,
                  bps: int) -> list[BilledTrade]:
    """The paid trades of one merchant (``app_ids`` are its apps) as its bills show them."""
    billed = []
    for trade in trades:
        if trade.gmt_payment is None or trade.out_trade_no in differences.drop:
            continue
        billed.append(_billed(trade, differences, bps))
    for extra in differences.extras:
        if not extra.app_id or extra.app_id in app_ids:
            billed.append(_billed(_made_up(extra, seller_id), differences, bps))
    return billed


def _billed(trade: Trade, differences: BillDifferences, bps: int) -> BilledTrade:
    # A changed amount leaves the fee as charged on the real one: one planted difference, one finding.
    fee = differences.fees.get(trade.out_trade_no, service_fee(trade.amount_fen, bps))
    return BilledTrade(trade, differences.amounts.get(trade.out_trade_no, trade.amount_fen), fee)


def _made_up(extra: ExtraTrade, seller_id: str) -> Trade:
    return Trade(
        trade_no=extra.trade_no, out_trade_no=extra.out_trade_no, app_id=extra.app_id, seller_id=seller_id,
        method="alipay.trade.precreate", product_code="FACE_TO_FACE_PAYMENT", amount_fen=extra.amount_fen,
        subject=extra.subject, status=TRADE_SUCCESS, gmt_create=extra.gmt_payment, gmt_payment=extra.gmt_payment,
    )


def successful_transfers(transfers: Iterable[Transfer], app_ids: set[str]) -> list[Transfer]:
    """Transfers that moved money out of the merchant's balance (a refused one moved nothing)."""
    return [t for t in transfers if t.app_id in app_ids and t.status == "SUCCESS"]
