"""Exceptions raised by the Alipay rail.

Messages name the field or the configuration source that is wrong, never a key, a full signature or a
whole response body: these messages end up in logs and operator screens.

Channel answers (a refused refund, a timeout) are *not* exceptions: client methods return them as an
``AlipayOutcome`` so the caller cannot forget the "unknown, query later" case. Exceptions are for
programming and configuration errors, and for notifications that must be rejected.
"""

from __future__ import annotations


class AlipayError(Exception):
    """Base class of every error the rail raises."""


class AlipayConfigError(AlipayError):
    """The rail was configured wrongly (gateway URL, app id, options)."""


class CertificateError(AlipayConfigError, ValueError):
    """A certificate file or a downloaded certificate cannot be used; the message names which and why."""


class UnknownAlipayCertificateError(AlipayError):
    """A response names (``alipay_cert_sn``) an Alipay certificate not held yet: download it, check it, retry.

    Raised by certificate-mode credentials while verifying; the transport answers it with one
    ``alipay.open.app.alipaycert.download``. ``sn`` is the serial the response named (32 hex digits).
    """

    def __init__(self, sn: str) -> None:
        super().__init__(f"response signed by Alipay certificate {sn[:32]}, which is not held yet")
        self.sn = sn


class KeyLoadError(AlipayConfigError):
    """A key could not be read or is not a usable RSA key; the message names the source only."""


class AmountError(AlipayError, ValueError):
    """An amount is not an exact, in-range yuan/fen value. ``field`` names the offending parameter."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class ParameterError(AlipayError, ValueError):
    """A request parameter is missing or malformed. ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class ResponseError(AlipayError):
    """A gateway response could not be trusted or read (used inside the client, mapped to UNKNOWN)."""


class MalformedResponseError(ResponseError):
    """The response body is not the JSON shape Alipay sends (no node, duplicate nodes, bad JSON...)."""


class ResponseSignatureError(ResponseError):
    """The response node's signature does not verify with Alipay's public key."""


class BillFormatError(AlipayError, ValueError):
    """A downloaded bill archive is not the trade bill layout we know."""


class NotificationError(AlipayError):
    """An asynchronous notification must be rejected (answer anything but ``success``)."""


class NotificationFormatError(NotificationError):
    """The notification body cannot be decoded or lacks a required field."""


class NotificationSignatureError(NotificationError):
    """Forged or corrupted notification: the signature does not verify with Alipay's public key."""


class NotificationAppMismatchError(NotificationError):
    """Validly signed by Alipay, but for another app_id (e.g. a sandbox app's notification replayed)."""


class NotificationOrderMismatchError(NotificationError):
    """Validly signed and for our app, but it disagrees with the stored order: flag for an operator."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class OutTradeNoMismatchError(NotificationOrderMismatchError):
    """The notification's out_trade_no is not the stored order's."""


class AmountMismatchError(NotificationOrderMismatchError):
    """The notification's total_amount differs from the stored order amount."""


class SellerMismatchError(NotificationOrderMismatchError):
    """The notification's seller_id is not the payee we expect."""


class BillDownloadError(AlipayError):
    """The bill file could not be fetched (expired URL, network error). The URL lives only 30 s."""
