"""One sandbox: its keys, its store, its fault switches, its notifier, and the operations on them.

The behaviour lives by area, free of HTTP: :mod:`.dispatch` (the gateway's checks and the method table),
:mod:`.trades`, :mod:`.refunds`, :mod:`.transfers` and :mod:`.bills` (the gateway methods),
:mod:`.buyer` (the simulated buyer), :mod:`.signing` (keys and signatures), :mod:`.notify` (delivery).
:class:`Sandbox` holds the state they share and is what the HTTP layer (``app.py``, ``pages.py``,
``admin.py``), the CLI and tests call.
"""

from __future__ import annotations

import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from . import buyer, crypto, trades
from .bills import BillLinks
from .certificates import (
    CertificateRefusal,
    IssuedCertificate,
    SandboxAlipayCertificate,
    SandboxCertificateAuthority,
    check_without_ca,
)
from .config import SandboxConfig
from .dispatch import Reply, dispatch
from .faults import Faults
from .notify import Notification, Notifier, new_notify_id, trade_notification
from .signing import SandboxKeys
from .store import App, Refund, Store, Trade


class Sandbox:
    """One sandbox: its key, its store, its faults, its notifier."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.keys = SandboxKeys(config)
        self.store = Store(config.state_file)
        self._ca: SandboxCertificateAuthority | None = None
        self._ca_lock = threading.Lock()
        for app_id, public_key in config.apps.items():
            crypto.load_public_key(public_key)  # refuse a bad key at start, not at first request
            self.store.register_app(app_id, public_key)
        for app_id in config.certificate_apps:
            if app_id not in config.apps:
                raise ValueError(f"certificate app {app_id} is not one of the configured apps")
            self.issue_app_certificate(app_id)
        for logon_id, holder in config.accounts.items():
            self.store.register_account(logon_id, holder)
        self.faults = Faults()
        self.notifier = Notifier(
            self._sign_notification, self.faults, time_scale=config.time_scale, timeout=config.notify_timeout
        )
        self.bill_links = BillLinks()
        self.stopping = threading.Event()

    # ------------------------------------------------------------ keys
    @property
    def key(self) -> rsa.RSAPrivateKey:
        """The sandbox's ("Alipay's") private key: every answer and notification is signed with it."""
        return self.keys.key

    @property
    def key_origin(self) -> str:
        """"given" (config text), "loaded" / "created" (key_file), or "fresh" (this run only)."""
        return self.keys.origin

    @property
    def public_key_pem(self) -> str:
        return self.keys.public_key_pem

    @property
    def public_key_bare(self) -> str:
        return self.keys.public_key_bare

    def app_key(self, app: App) -> Any:
        return self.keys.app_key(app)

    def register_app(self, app_id: str, public_key: str, seller_id: str | None = None) -> App:
        crypto.load_public_key(public_key)
        return self.store.register_app(app_id, public_key, seller_id)

    def sign_node(self, node_text: bytes, wrong_key: bool = False, app_id: str = "") -> str:
        """Sign an answer: with the current Alipay certificate's key for a certificate-mode app."""
        held = self.answer_certificate(app_id)
        return self.keys.sign_node(node_text, wrong_key, key=held.private_key if held else None)

    def sign_v1(self, fields: dict[str, str], wrong_key: bool = False) -> str:
        """Signature for notifications and return parameters (what Alipay's rsaCheckV1 verifies)."""
        held = self.answer_certificate(fields.get("app_id", ""))
        return self.keys.sign_v1(fields, wrong_key, key=held.private_key if held else None)

    # ------------------------------------------------------------ certificate mode
    @property
    def ca(self) -> SandboxCertificateAuthority:
        """The sandbox's CA, made (five RSA keys) or read from the state file on first use only."""
        with self._ca_lock:
            if self._ca is None:
                state = self.store.ca_state
                self._ca = SandboxCertificateAuthority(state=state) if state else SandboxCertificateAuthority()
                if not state:
                    self._save_ca()
            return self._ca

    def _save_ca(self) -> None:
        assert self._ca is not None
        with self.store.changing():
            self.store.ca_state = self._ca.to_state()

    def has_ca(self) -> bool:
        return self._ca is not None or bool(self.store.ca_state)

    def issue_app_certificate(self, app_id: str) -> IssuedCertificate:
        """Put a registered app in certificate mode: certify its registered public key."""
        with self.store.lock:
            app = self.store.apps.get(app_id)
        if app is None:
            raise KeyError(f"app {app_id} is not registered")
        key = crypto.load_public_key(app.public_key)
        issued = self.ca.issue_app_certificate(app_id, key)
        with self._ca_lock:
            self._save_ca()
        return issued

    def rotate_alipay_certificate(self) -> SandboxAlipayCertificate:
        """A new Alipay key and certificate for every certificate-mode answer from now on."""
        rotated = self.ca.rotate_alipay_certificate()
        with self._ca_lock:
            self._save_ca()
        return rotated

    def answer_certificate(self, app_id: str) -> SandboxAlipayCertificate | None:
        """The certificate whose key signs answers to ``app_id``, None for a key-mode app."""
        if not app_id or not self.has_ca() or self.ca.app_certificate(app_id) is None:
            return None
        return self.ca.alipay_certificate

    def check_certificates(self, app_id: str, method: str, params: dict[str, str]) -> CertificateRefusal | None:
        """Alipay's checks of app_cert_sn / alipay_root_cert_sn (no CA is made for a key-mode sandbox)."""
        if not self.has_ca():
            return check_without_ca(method, params)
        return self.ca.check_request(app_id, method, params)

    def _sign_notification(self, fields: dict[str, str]) -> str:
        return self.sign_v1(fields, wrong_key=self.faults.take("wrong_key_notifications"))

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.stopping.clear()
        self.notifier.start()

    def stop(self) -> None:
        self.stopping.set()
        self.notifier.stop()

    def register_account(self, logon_id: str, holder_name: str) -> None:
        """An Alipay account transfers can pay to; ``holder_name`` is what payee_info.name must say."""
        if not logon_id or len(logon_id) > 100 or not holder_name or len(holder_name) > 128:
            raise ValueError("an account needs a logon_id (at most 100 characters) and a holder name (at most 128)")
        self.store.register_account(logon_id, holder_name)

    def reset(self) -> None:
        self.store.reset()
        self.notifier.clear()
        self.faults.reset()
        self.bill_links.clear()

    # ------------------------------------------------------------ the gateway
    def call(self, params: dict[str, str], base_url: str, request_faults: set[str] | None = None) -> Reply:
        """Answer one gateway.do request (query and form merged) as Alipay would."""
        return dispatch(self, params, base_url, request_faults)

    def checkout_url(self, base_url: str, trade: Trade) -> str:
        return trades.checkout_url(self, base_url, trade)

    def bill_file(self, token: str) -> tuple[str, bytes] | None:
        """A bill archive (file name, bytes) while its download link lives."""
        return self.bill_links.get(token)

    def notify_trade(self, trade: Trade, refund: Refund | None = None) -> Notification:
        """Queue the trade's notification (after a payment, or after ``refund``) to its notify_url."""
        return self.notifier.submit(trade.notify_url, trade_notification(trade, refund), new_notify_id())

    # ------------------------------------------------------------ the buyer
    def scan(self, trade: Trade) -> None:
        buyer.scan(self, trade)

    def pay(self, trade: Trade, buyer_logon_id: str = "", buyer_id: str = "", notify: bool = True) -> str | None:
        return buyer.pay(self, trade, buyer_logon_id, buyer_id, notify)

    def finish(self, trade: Trade) -> None:
        buyer.finish(self, trade)

    def expire(self, trade: Trade) -> None:
        buyer.expire(self, trade)

    def return_url_of(self, trade: Trade) -> str:
        return buyer.return_url_of(self, trade)

    def app_pay_result(self, trade: Trade) -> dict[str, Any]:
        return buyer.app_pay_result(self, trade)
