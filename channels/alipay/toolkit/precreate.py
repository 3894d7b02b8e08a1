"""Scan to pay through `alipay.trade.precreate`, shared by every channel that offers a QR code.

Anything but a definite SUCCESS with a code raises :class:`PrecreateFailed`, so the gateway answers
UNAVAILABLE and stores nothing: a QR code we did not get from Alipay is never handed out. The exception's
message says what Alipay answered (:func:`describe_answer`) and for which payment; it goes to the gateway's
log, never to the caller.
"""

from __future__ import annotations

from channels.alipay.rail.client import AlipayClient
from channels.alipay.rail.clock import BEIJING
from channels.alipay.rail.outcomes import AlipayOutcome, Operation
from channels.alipay.rail.results import PrecreateResult
from channels.contract import PaymentView, QrCode
from channels.contract.qr import render


class PrecreateFailed(RuntimeError):
    """Alipay gave no QR code; the message says what it answered."""

    @classmethod
    def of(cls, result: PrecreateResult, payment_id: str) -> PrecreateFailed:
        outcome = result.outcome
        return cls(f"{Operation.PRECREATE.value} for {payment_id}: {outcome.outcome.value}, "
                   f"{describe_answer(outcome)}")


def describe_answer(outcome: AlipayOutcome) -> str:
    """What Alipay answered, for an operator: ``Alipay answered 40004 Business Failed ACQ.X 系统错误``, or
    ``no answer from Alipay (timeout)`` when nothing usable came back."""
    if outcome.code is None:
        return f"no answer from Alipay ({outcome.reason})"
    return "Alipay answered " + " ".join(filter(None, [outcome.code, outcome.msg, outcome.sub_code,
                                                        outcome.sub_msg]))


def precreate_qr_code(alipay: AlipayClient, payment: PaymentView, *, notify_url: str, qr_size: int) -> QrCode:
    """Ask Alipay for the payment's QR code (our payment id is its out_trade_no) and draw it.

    precreate takes time_expire like page pay (Alipay's documented format), though the client has no
    argument for it: it goes in ``extra_biz``, in Beijing time.
    """
    expire = payment.expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    result = alipay.precreate(
        out_trade_no=payment.id,
        total_amount_fen=payment.amount,
        subject=payment.subject,
        notify_url=notify_url,
        extra_biz={"time_expire": expire},
    )
    if not result.outcome.succeeded or not result.qr_code:
        raise PrecreateFailed.of(result, payment.id)
    svg, png = render(result.qr_code, qr_size)
    return QrCode(result.qr_code, svg, png)
