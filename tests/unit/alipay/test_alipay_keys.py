"""Keys load in every format merchants paste, and never leak their material."""

from __future__ import annotations

import pickle

import pytest
from alipay_testkit import FIXTURES, fixture_text

from channels.alipay.rail import KeyLoadError, PrivateKey, PublicKey
from channels.alipay.rail.signing import rsa2_sign, rsa2_verify

PRIVATE_FILES = [
    "app_private_pkcs1.pem",
    "app_private_pkcs8.pem",
    "app_private_pkcs8.b64.txt",
    "app_private_pkcs1.b64.txt",
]
PUBLIC_FILES = ["app_public.pem", "app_public.b64.txt"]


def _secret_fragments(text: str) -> list[str]:
    # Any 24-char slice of the Base64 body would be a leak.
    body = "".join(line for line in text.splitlines() if "-----" not in line)
    return [body[i : i + 24] for i in range(0, len(body) - 24, 97)]


@pytest.mark.parametrize("name", PRIVATE_FILES)
def test_private_key_from_file_and_env_signs_verifiably(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from_file = PrivateKey.from_file(FIXTURES / name)
    monkeypatch.setenv("CASHIER_TEST_APP_KEY", fixture_text(name))
    from_env = PrivateKey.from_env("CASHIER_TEST_APP_KEY")
    public = PublicKey.from_file(FIXTURES / "app_public.pem")
    for key in (from_file, from_env):
        assert key.key_size == 2048
        assert rsa2_verify(public, b"x=1", rsa2_sign(key, "x=1"))


def test_pem_pasted_with_literal_backslash_n_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_TEST_APP_KEY", fixture_text("app_private_pkcs8.pem").replace("\n", "\\n"))
    assert PrivateKey.from_env("CASHIER_TEST_APP_KEY").key_size == 2048


@pytest.mark.parametrize("name", PUBLIC_FILES)
def test_public_key_from_file_and_env(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_TEST_ALIPAY_KEY", fixture_text(name))
    for key in (PublicKey.from_file(FIXTURES / name), PublicKey.from_env("CASHIER_TEST_ALIPAY_KEY")):
        assert key.key_size == 2048


def test_bare_base64_split_over_lines_still_loads() -> None:
    text = fixture_text("app_private_pkcs8.b64.txt").strip()
    wrapped = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    assert PrivateKey.from_text(wrapped).key_size == 2048


@pytest.mark.parametrize("name", PRIVATE_FILES)
def test_repr_and_str_do_not_leak(name: str) -> None:
    key = PrivateKey.from_file(FIXTURES / name)
    shown = repr(key) + str(key) + repr(key.public_key())
    assert "RSA-2048" in shown and name in shown
    for fragment in _secret_fragments(fixture_text(name)):
        assert fragment not in shown


def test_private_key_refuses_pickling() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(PrivateKey.from_file(FIXTURES / "app_private_pkcs8.pem"))


def test_corrupted_key_error_names_source_but_not_text(monkeypatch: pytest.MonkeyPatch) -> None:
    text = fixture_text("app_private_pkcs8.b64.txt").strip()
    broken = text[:200] + "AAAA" + text[204:]
    monkeypatch.setenv("CASHIER_X", broken)
    with pytest.raises(KeyLoadError) as info:
        PrivateKey.from_env("CASHIER_X")
    assert str(info.value) == "private key in CASHIER_X is not a valid RSA key"
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize(
    "text",
    ["not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "密钥", "   "],
)
def test_garbage_private_keys_are_refused(text: str) -> None:
    with pytest.raises(KeyLoadError, match="private key in configuration"):
        PrivateKey.from_text(text)


def test_public_key_where_private_expected_and_vice_versa() -> None:
    with pytest.raises(KeyLoadError, match="private key in .* is not a valid RSA key"):
        PrivateKey.from_file(FIXTURES / "app_public.b64.txt")
    with pytest.raises(KeyLoadError, match="public key in .* is not a valid RSA key"):
        PublicKey.from_file(FIXTURES / "app_private_pkcs8.b64.txt")
    secret = fixture_text("app_private_pkcs8.pem")
    with pytest.raises(KeyLoadError) as info:
        PublicKey.from_text(secret, source="CASHIER_ALIPAY_PUBLIC_KEY")
    for fragment in _secret_fragments(secret):
        assert fragment not in str(info.value)


def test_missing_env_and_file() -> None:
    with pytest.raises(KeyLoadError, match="CASHIER_DOES_NOT_EXIST is not set"):
        PrivateKey.from_env("CASHIER_DOES_NOT_EXIST")
    with pytest.raises(KeyLoadError, match="cannot be read"):
        PublicKey.from_file(FIXTURES / "nope.pem")


def test_small_rsa_keys_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyLoadError, match="1024 bits"):
        PrivateKey.from_text(pem)
