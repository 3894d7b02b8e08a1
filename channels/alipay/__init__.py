"""The Alipay Open Platform rail (gateway.do, public-key RSA2 mode).

Self-contained on purpose: it depends on cryptography and httpx only, never on the gateway, gRPC,
SQL or pluggy, so channels and tools can use it alone. Amounts cross its boundary as integer fen.

Typical use::

    creds = PublicKeyCredentials(app_id, PrivateKey.from_env("CASHIER_ALIPAY_APP_PRIVATE_KEY"),
                                 PublicKey.from_env("CASHIER_ALIPAY_PUBLIC_KEY"))
    with AlipayClient(PRODUCTION_GATEWAY, creds, notify_url=...) as alipay:
        result = alipay.query(out_trade_no="T1")
        if result.outcome.unknown: ...  # query again later, never guess
"""

from channels.alipay.bills import TradeBill, TradeBillRow, parse_trade_bill_csv, parse_trade_bill_zip
from channels.alipay.client import (
    PRODUCTION_GATEWAY,
    SANDBOX_GATEWAY,
    AlipayClient,
    AppPayOrder,
    BillUrlResult,
    CloseResult,
    PagePayRedirect,
    PrecreateResult,
    RefundQueryResult,
    RefundResult,
    RetryPolicy,
    TradeQueryResult,
    TransferResult,
)
from channels.alipay.errors import (
    AlipayConfigError,
    AlipayError,
    AmountError,
    AmountMismatchError,
    BillDownloadError,
    BillFormatError,
    KeyLoadError,
    NotificationAppMismatchError,
    NotificationError,
    NotificationFormatError,
    NotificationOrderMismatchError,
    NotificationSignatureError,
    OutTradeNoMismatchError,
    ParameterError,
    SellerMismatchError,
)
from channels.alipay.keys import PrivateKey, PublicKey, load_private_key, load_public_key
from channels.alipay.money import check_amount_limits, fen_to_yuan, yuan_to_fen
from channels.alipay.notify import (
    ACK,
    TradeNotification,
    TradeStatus,
    check_against_order,
    parse_trade_notification,
)
from channels.alipay.outcomes import OUTCOME_RULES, AlipayOutcome, Operation, Outcome, classify_answer
from channels.alipay.signing import AlipayCredentials, PublicKeyCredentials, rsa2_sign, string_to_sign

__all__ = [
    "ACK",
    "OUTCOME_RULES",
    "PRODUCTION_GATEWAY",
    "SANDBOX_GATEWAY",
    "AlipayClient",
    "AlipayConfigError",
    "AlipayCredentials",
    "AlipayError",
    "AlipayOutcome",
    "AmountError",
    "AmountMismatchError",
    "AppPayOrder",
    "BillDownloadError",
    "BillFormatError",
    "BillUrlResult",
    "CloseResult",
    "KeyLoadError",
    "NotificationAppMismatchError",
    "NotificationError",
    "NotificationFormatError",
    "NotificationOrderMismatchError",
    "NotificationSignatureError",
    "Operation",
    "OutTradeNoMismatchError",
    "Outcome",
    "PagePayRedirect",
    "ParameterError",
    "PrecreateResult",
    "PrivateKey",
    "PublicKey",
    "PublicKeyCredentials",
    "RefundQueryResult",
    "RefundResult",
    "RetryPolicy",
    "SellerMismatchError",
    "TradeBill",
    "TradeBillRow",
    "TradeNotification",
    "TradeQueryResult",
    "TradeStatus",
    "TransferResult",
    "check_against_order",
    "check_amount_limits",
    "classify_answer",
    "fen_to_yuan",
    "load_private_key",
    "load_public_key",
    "parse_trade_bill_csv",
    "parse_trade_bill_zip",
    "parse_trade_notification",
    "rsa2_sign",
    "string_to_sign",
    "yuan_to_fen",
]
