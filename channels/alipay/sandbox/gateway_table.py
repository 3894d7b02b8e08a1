"""The `[channels.alipay]` table that points a gateway at this sandbox, as TOML text.

Written here without importing the gateway or the rail (the sandbox shares no code path with what it checks):
the keys are those `channels.alipay.toolkit.settings` reads, and tests load this text with the gateway's own loader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# First line of every file `cashier sandbox --write-config` writes: such a file may be overwritten, no other.
MARKER = "# Written by `cashier sandbox`: the gateway's Alipay channel, pointed at this sandbox."


@dataclass(frozen=True)
class GatewayTable:
    gateway_url: str
    app_id: str
    alipay_public_key_file: Path
    seller_id: str
    app_private_key_file: Path | None = None  # unknown when the app was registered by its public key only
    app_public_key_file: Path | None = None
    #: Certificate mode: (app_cert_file, alipay_cert_file, alipay_root_cert_file) instead of the public key.
    certificate_files: tuple[Path, Path, Path] | None = None

    def toml(self) -> str:
        lines = [
            "[channels.alipay]",
            f"gateway_url = {_quote(self.gateway_url)}",
            f"app_id = {_quote(self.app_id)}",
        ]
        if self.app_private_key_file is not None:
            lines.append(f"app_private_key_file = {_quote(str(self.app_private_key_file))}")
        else:
            lines.append(f"# app_private_key_file = \"...\"  # the private key of {self.app_public_key_file}: "
                         "give that key to --app instead to have it filled in")
        if self.certificate_files is None:
            lines.append(f"alipay_public_key_file = {_quote(str(self.alipay_public_key_file))}")
        else:
            names = ("app_cert_file", "alipay_cert_file", "alipay_root_cert_file")
            lines += [f"{name} = {_quote(str(path))}" for name, path in zip(names, self.certificate_files, strict=True)]
        lines.append(f"seller_id = {_quote(self.seller_id)}  # the sandbox's PID for this app")
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A TOML basic string: JSON's escapes are all valid TOML escapes (and JSON leaves "/" alone)."""
    return json.dumps(text, ensure_ascii=False)


def ensure_ours(path: Path) -> None:
    """Raise FileExistsError when ``path`` exists and was not written by ``write_config``."""
    if path.exists():
        first = path.read_text(encoding="utf-8", errors="replace").partition("\n")[0]
        if first != MARKER:
            raise FileExistsError(f"{path} exists and was not written by `cashier sandbox`; not overwriting it")


def write_config(path: Path, table: GatewayTable) -> None:
    """Write the table to ``path``; refuse to overwrite a file this command did not write."""
    ensure_ours(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{MARKER}\n{table.toml()}", encoding="utf-8")
