"""Built-in plugin: Alipay as the payout rail (channels.contract.PayoutRail), for onboarding's payout-account
verification and settlement's payouts, through alipay.fund.trans.uni.transfer in certificate mode.

Registered through the `cashier.plugins` entry point `alipay_payouts`, exactly like a third-party plugin; it adds
no payment channel and implements `cashier_register_payout_rails`. It pays from the platform's app of the shared
`[channels.alipay]` table (channels/alipay/toolkit/settings.py), which must be in certificate mode, the only
mode in which Alipay accepts transfers. `[channels.alipay_payouts]` is optional; giving it says payouts are
wanted, so a key-mode app then stops start-up with a message saying why instead of registering nothing:

    [channels.alipay_payouts]
    verification_title = "账户验证"     # shown on the payee's statement for an account-verification transfer
    payout_title = "结算款"             # ... and for a settlement payout
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from channels.alipay.rail import AlipayConfigError
from channels.alipay.toolkit import AlipaySettings
from channels.alipay_payouts.rail import AlipayPayoutRail
from channels.contract import PayoutRail, TransferPurpose, hookimpl

log = logging.getLogger(__name__)

TABLE = "alipay_payouts"
_TITLES = {"verification_title": TransferPurpose.ACCOUNT_VERIFICATION, "payout_title": TransferPurpose.PAYOUT}


def titles_from_table(table: Mapping[str, Any]) -> dict[TransferPurpose, str]:
    unknown = sorted(set(table) - set(_TITLES))
    if unknown:
        raise AlipayConfigError(f"[channels.{TABLE}] has unknown keys: {', '.join(unknown)}")
    titles = {}
    for key, purpose in _TITLES.items():
        if key in table:
            value = table[key]
            if not isinstance(value, str) or not value.strip() or len(value) > 128:
                raise AlipayConfigError(f"[channels.{TABLE}] {key}: 1-128 characters of text")
            titles[purpose] = value.strip()
    return titles


@hookimpl
def cashier_register_payout_rails(config: Mapping[str, Mapping[str, Any]]) -> list[PayoutRail]:
    wanted = TABLE in config
    titles = titles_from_table(config.get(TABLE, {}))  # a wrong table is reported either way
    if "alipay" not in config:
        if wanted:
            raise AlipayConfigError(f"[channels.{TABLE}] pays from the app of [channels.alipay], which is missing")
        log.info("payout rail alipay not registered: the configuration has no [channels.alipay] table")
        return []
    settings = AlipaySettings.from_table(config["alipay"])
    if not settings.certificate_mode:
        if wanted:
            settings.require_transfers()  # raises, saying why and what to configure
        log.info("payout rail alipay not registered: [channels.alipay] is in key mode, and Alipay accepts "
                 "transfers only in certificate mode (app_cert_file, alipay_cert_file, alipay_root_cert_file)")
        return []
    return [AlipayPayoutRail(settings.client(), titles, account=settings.credentials.app_id)]
