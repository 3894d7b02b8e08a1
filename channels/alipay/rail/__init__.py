"""The Alipay Open Platform rail (gateway.do, RSA2 in public-key or certificate mode): a client of Alipay's protocol.

Self-contained on purpose: it depends on cryptography, httpx and the standard library only, never on the
gateway, gRPC, SQL, pluggy, the plugin contract or the sandbox (import-linter holds it to that), so channels
and tools can use it alone. Amounts cross its boundary as integer fen.

Typical use::

    creds = PublicKeyCredentials(app_id, PrivateKey.from_env("CASHIER_ALIPAY_APP_PRIVATE_KEY"),
                                 PublicKey.from_env("CASHIER_ALIPAY_PUBLIC_KEY"))
    with AlipayClient(PRODUCTION_GATEWAY, creds, notify_url=...) as alipay:
        result = alipay.query(out_trade_no="T1")
        if result.outcome.unknown: ...  # query again later, never guess

Certificate mode (which transfers need) swaps the credentials, nothing else::

    mode = load_certificate_mode(app_cert=..., alipay_cert=..., alipay_root_cert=..., now=utc_now())
    creds = CertificateCredentials(app_id, PrivateKey.from_env("CASHIER_ALIPAY_APP_PRIVATE_KEY"), mode)

Modules: ``client`` (the calls), ``params`` (request parameters, one object per trade order),
``transport`` (signing once, sending, retry policy), ``results`` (what calls return), ``outcomes`` (what an
answer means), ``signed_request`` and ``signing`` (the string to sign, RSA2), ``keys``, ``responses``
(verifying answers), ``notifications`` (verifying what Alipay posts), ``certificates`` (certificate mode:
credentials and the keyring of Alipay certificates; ``cert_serials`` and ``cert_files`` beneath it,
``rotation`` for downloading a rotated certificate),
``bills``, ``money``, ``clock``, ``errors``.

Comments cite where a rule was learned by short source tags:

* **JV**: Alipay's official Java SDK, alipay/alipay-sdk-java-all (``AbstractAlipayClient``,
  ``AlipaySignature``, the ``domain/*Model`` javadoc).
* **PY**: Alipay's official Python SDK, alipay/alipay-sdk-python-all (``DefaultAlipayClient``).
* **NODE**, **PHP**, **.NET**: Alipay's official SDKs alipay/alipay-sdk-nodejs-all, alipay-sdk-php-all and
  alipay-sdk-net-all (their certificate utilities).
* **FZ**: fzlee/alipay, the community Python SDK (python-alipay-sdk); "FZ #21" is its GitHub issue 21.
* **JEE**: jeequan/jeepay, an open-source payment platform (its Alipay channel).
"""

from channels.alipay.rail.bills import TradeBill, TradeBillRow, parse_trade_bill_csv, parse_trade_bill_zip
from channels.alipay.rail.certificates import (
    CertificateCredentials,
    CertificateError,
    CertificateMode,
    load_certificate_mode,
)
from channels.alipay.rail.client import (
    PRODUCTION_GATEWAY,
    SANDBOX_GATEWAY,
    TRANSFER_NEEDS_CERTIFICATE_MODE,
    AlipayClient,
)
from channels.alipay.rail.clock import BEIJING
from channels.alipay.rail.errors import (
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
from channels.alipay.rail.keys import PrivateKey, PublicKey, load_private_key, load_public_key
from channels.alipay.rail.money import check_amount_limits, fen_to_yuan, yuan_to_fen
from channels.alipay.rail.notifications import (
    ACK,
    TradeNotification,
    TradeStatus,
    check_against_order,
    parse_trade_notification,
)
from channels.alipay.rail.outcomes import OUTCOME_RULES, AlipayOutcome, Operation, Outcome, classify_answer
from channels.alipay.rail.params import PayOrder, TradeOrder
from channels.alipay.rail.results import (
    AppPayOrder,
    BillUrlResult,
    CloseResult,
    PagePayRedirect,
    PrecreateResult,
    RefundQueryResult,
    RefundResult,
    TradeQueryResult,
    TransferQueryResult,
    TransferResult,
)
from channels.alipay.rail.signing import AlipayCredentials, PublicKeyCredentials, rsa2_sign, string_to_sign
from channels.alipay.rail.transport import RetryPolicy

__all__ = [
    "ACK",
    "BEIJING",
    "OUTCOME_RULES",
    "PRODUCTION_GATEWAY",
    "SANDBOX_GATEWAY",
    "TRANSFER_NEEDS_CERTIFICATE_MODE",
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
    "CertificateCredentials",
    "CertificateError",
    "CertificateMode",
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
    "PayOrder",
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
    "TradeOrder",
    "TradeQueryResult",
    "TradeStatus",
    "TransferQueryResult",
    "TransferResult",
    "check_against_order",
    "check_amount_limits",
    "classify_answer",
    "fen_to_yuan",
    "load_certificate_mode",
    "load_private_key",
    "load_public_key",
    "parse_trade_bill_csv",
    "parse_trade_bill_zip",
    "parse_trade_notification",
    "rsa2_sign",
    "string_to_sign",
    "yuan_to_fen",
]
