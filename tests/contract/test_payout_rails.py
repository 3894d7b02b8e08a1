"""The payout-rail part of the plugin contract: the hook, what the gateway accepts from it, the value types."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

import channels.alipay_payouts
from channels.contract import (
    PayoutRail,
    Refusal,
    RefusalReason,
    TransferAnswer,
    TransferOutcome,
    TransferPurpose,
    TransferRequest,
    hookimpl,
)
from gateway.plugins import PluginError, collect_payout_rails, list_plugins, make_plugin_manager

ROOT = Path(__file__).resolve().parents[2]


class BankRail:
    name = "bank"

    def transfer(self, request: TransferRequest) -> TransferAnswer:
        return TransferAnswer(TransferOutcome.SUCCEEDED, request.out_biz_no, reference="b-1")

    def query(self, out_biz_no: str) -> TransferAnswer:
        return TransferAnswer.unknown(out_biz_no, "not asked")


def test_hook_cashier_register_payout_rails() -> None:
    seen: list[Any] = []

    class Plugin:
        @hookimpl
        def cashier_register_payout_rails(self, config: Any) -> list[PayoutRail]:
            seen.append(config)
            return [BankRail()] if "bank" in config else []

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Plugin()])
    assert collect_payout_rails(pm, {}) == []
    rails = collect_payout_rails(pm, {"bank": {"url": "https://bank.example"}})
    assert [r.name for r in rails] == ["bank"] and isinstance(rails[0], PayoutRail)
    assert seen == [{}, {"bank": {"url": "https://bank.example"}}]
    answer = rails[0].transfer(TransferRequest("vat_1", 37, "a@b.example", "Lin Mei", TransferPurpose.PAYOUT))
    assert (answer.outcome, answer.reference) == (TransferOutcome.SUCCEEDED, "b-1")


def test_payout_rail_registration_failures_name_the_plugin() -> None:
    class Raises:
        @hookimpl
        def cashier_register_payout_rails(self) -> None:
            raise ValueError("[channels.bank] url: an https:// URL")

    class NotARail:
        @hookimpl
        def cashier_register_payout_rails(self) -> list[object]:
            return [object()]

    class Bare:
        @hookimpl
        def cashier_register_payout_rails(self) -> object:
            return BankRail()

    class Twice:
        @hookimpl
        def cashier_register_payout_rails(self) -> list[object]:
            return [BankRail(), BankRail()]

    for plugin, message in ((Raises(), r"payout plugin '.*Raises' failed to register its payout rails: \[channels.bank\] url"),
                            (NotARail(), "which is not a PayoutRail"),
                            (Bare(), "returned BankRail, not a list of payout rails"),
                            (Twice(), "registers payout rail 'bank' twice")):
        with pytest.raises(PluginError, match=message):
            collect_payout_rails(make_plugin_manager(load_entrypoints=False, plugins=[plugin]), {})


def test_the_alipay_payout_plugin_is_an_entry_point_like_the_built_in_channels() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["cashier.plugins"]["alipay_payouts"] == "channels.alipay_payouts"
    pm = make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_payouts])
    assert [i.hooks for i in list_plugins(pm)] == [("cashier_register_payout_rails",)]
    assert collect_payout_rails(pm, {}) == []  # no [channels.alipay]: nothing registered, nothing raised


def test_a_transfer_request_names_every_bad_field() -> None:
    with pytest.raises(ValueError) as caught:
        TransferRequest("no spaces allowed", 0, "", " ", TransferPurpose.ACCOUNT_VERIFICATION, title="x" * 129)
    for name in ("out_biz_no", "amount", "payee_logon_id", "payee_name", "title"):
        assert f"{name}:" in str(caught.value)
    for amount in (True, 1.5, -1, 10_000_000_001):
        with pytest.raises(ValueError, match="amount"):
            TransferRequest("vat_1", amount, "a@b.example", "Lin Mei", TransferPurpose.PAYOUT)  # type: ignore[arg-type]


def test_a_refusal_comes_with_refused_and_only_with_it() -> None:
    refusal = Refusal(RefusalReason.PAYEE_NAME_MISMATCH, "the name does not match", "PAYEE_USER_INFO_ERROR")
    assert TransferAnswer(TransferOutcome.REFUSED, "vat_1", refusal=refusal).refusal == refusal
    with pytest.raises(ValueError, match="refusal"):
        TransferAnswer(TransferOutcome.REFUSED, "vat_1")
    with pytest.raises(ValueError, match="refusal"):
        TransferAnswer(TransferOutcome.SUCCEEDED, "vat_1", refusal=refusal)
