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
        for app_id, public_key in config.apps.items():
            crypto.load_public_key(public_key)  # refuse a bad key at start, not at first request
            self.store.register_app(app_id, public_key)
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

    def sign_node(self, node_text: bytes, wrong_key: bool = False) -> str:
        return self.keys.sign_node(node_text, wrong_key)

    def sign_v1(self, fields: dict[str, str], wrong_key: bool = False) -> str:
        """Signature for notifications and return parameters (what Alipay's rsaCheckV1 verifies)."""
        return self.keys.sign_v1(fields, wrong_key)

    def _sign_notification(self, fields: dict[str, str]) -> str:
        return self.sign_v1(fields, wrong_key=self.faults.take("wrong_key_notifications"))

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.stopping.clear()
        self.notifier.start()

    def stop(self) -> None:
        self.stopping.set()
        self.notifier.stop()

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
