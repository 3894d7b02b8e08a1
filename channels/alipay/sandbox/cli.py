"""``cashier sandbox``: run the Alipay-compatible sandbox gateway."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from . import crypto
from .config import SandboxConfig
from .core import Sandbox
from .gateway_table import GatewayTable, ensure_ours
from .gateway_table import write_config as write_gateway_config
from .server import serve_forever


@dataclass(frozen=True)
class AppOption:
    """One ``--app APP_ID=PATH``: PATH holds the app's public key, or its private key (then the public key is
    derived from it, and the printed gateway configuration can name the private key file)."""

    app_id: str
    public_key: str
    path: Path
    is_private: bool


def _parse_app(value: str) -> AppOption:
    app_id, sep, path = value.partition("=")
    if not sep or not app_id or not path:
        raise click.BadParameter(f"expected APP_ID=PATH_TO_APP_KEY_PEM, got {value!r}", param_hint="--app")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--app") from exc
    try:
        crypto.load_public_key(text)
        return AppOption(app_id, text, Path(path), is_private=False)
    except crypto.KeyFormatError as exc:
        public_error = exc
    try:
        private = crypto.load_private_key(text)
    except crypto.KeyFormatError:
        # name the public-key problem: that is what most people pass
        raise click.BadParameter(f"{path}: {public_error}", param_hint="--app") from None
    return AppOption(app_id, crypto.public_key_pem(private.public_key()), Path(path), is_private=True)


def _public_key_path(write_config: Path | None, key_file: Path | None) -> Path:
    """Where the sandbox's public key is written for the gateway: beside the config file, else beside the
    sandbox's key file, else in a new temporary directory (the key then lives for this run only anyway)."""
    if write_config is not None:
        folder = write_config.parent
    elif key_file is not None:
        folder = key_file.parent
    else:
        folder = Path(tempfile.mkdtemp(prefix="cashier-sandbox-"))
    return (folder / "alipay_public_key.pem").resolve()


def _parse_account(value: str) -> tuple[str, str]:
    logon_id, sep, name = value.partition("=")
    if not sep or not logon_id.strip() or not name.strip():
        raise click.BadParameter(f"expected LOGON_ID=HOLDER_NAME, got {value!r}", param_hint="--account")
    return logon_id.strip(), name.strip()


def _write_certificates(sandbox: Sandbox, app_id: str, folder: Path) -> tuple[Path, Path, Path]:
    """The three files of certificate mode, named as Alipay's open platform names them."""
    issued = sandbox.ca.app_certificate(app_id)
    assert issued is not None  # certificate_apps were certified at start
    files = (
        (folder / f"appCertPublicKey_{app_id}.crt", issued.pem),
        (folder / "alipayCertPublicKey_RSA2.crt", sandbox.ca.alipay_certificate.pem),
        (folder / "alipayRootCert.crt", sandbox.ca.root_pem),
    )
    for path, pem in files:
        path.write_bytes(pem)
    return files[0][0].resolve(), files[1][0].resolve(), files[2][0].resolve()


_KEY_ORIGIN = {
    "created": "new key, written to {path}; it is kept across starts (same --key-file)",
    "loaded": "loaded from {path} (the same key as at its last start)",
    "fresh": "new key for this run only: pass --key-file FILE to keep it across starts",
    "given": "as configured",
}


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8090, show_default=True, type=int, help="Port; 0 picks a free one.")
@click.option("--app", "apps", multiple=True, metavar="APP_ID=PEM_PATH",
              help="Register an Alipay app id with its key (repeatable): the app's public key, or its private "
                   "key (the public key is derived; the printed gateway configuration then names the file).")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The sandbox's own RSA private key (PEM); created when missing, kept across starts. "
                   "Default: a new key at every start.")
@click.option("--time-scale", default=1.0, show_default=True, type=float,
              help="Multiply the notification retry schedule (4m, 10m, ...), e.g. 0.001.")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep apps, trades and transfers in this JSON file across restarts.")
@click.option("--public-url", help="Base URL for qr_code, checkout and bill links (default: as requested).")
@click.option("--notify-refunds/--no-notify-refunds", default=False, show_default=True,
              help="Also notify after refunds (trade_status_sync with refund_fee).")
@click.option("--strict-bill-date", is_flag=True, help="Serve bills T+1 only, as Alipay does.")
@click.option("--service-fee-bps", default=60, show_default=True, type=click.IntRange(0, 10_000),
              help="Alipay's service fee (服务费) in the bills, in basis points of each paid trade (60 = 0.6 %).")
@click.option("--write-config", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the gateway's [channels.alipay] table (for the first --app) to this TOML file; "
                   "the sandbox's public key goes beside it as alipay_public_key.pem.")
@click.option("--cert-mode", is_flag=True,
              help="Put every --app in certificate mode (which transfers need): the sandbox issues each an app "
                   "certificate; the three certificate files are written beside the public key and the "
                   "[channels.alipay] table names them instead of alipay_public_key_file.")
@click.option("--account", "accounts", multiple=True, metavar="LOGON_ID=HOLDER_NAME",
              help="An Alipay account transfers can pay to (repeatable); a transfer naming another holder is "
                   "refused with PAYEE_USER_INFO_ERROR, as Alipay does.")
def sandbox_command(host: str, port: int, apps: tuple[str, ...], key_file: Path | None, time_scale: float,
                    state_file: Path | None, public_url: str | None, notify_refunds: bool,
                    strict_bill_date: bool, service_fee_bps: int, write_config: Path | None, cert_mode: bool,
                    accounts: tuple[str, ...]) -> None:
    """Run a local stand-in for Alipay's gateway (https://openapi.alipay.com/gateway.do).

    Prints each app's seller PID, the sandbox's public key and a ready [channels.alipay] table for the gateway.
    """
    if time_scale <= 0:
        raise click.BadParameter("must be > 0", param_hint="--time-scale")
    app_options = [_parse_app(a) for a in apps]
    if write_config is not None:
        if not app_options:
            raise click.BadParameter("needs an --app to write the configuration for", param_hint="--write-config")
        try:  # before listening, so a refusal costs nothing
            ensure_ours(write_config)
        except FileExistsError as exc:
            raise click.BadParameter(str(exc), param_hint="--write-config") from None
    config = SandboxConfig(
        host=host,
        port=port,
        apps={a.app_id: a.public_key for a in app_options},
        key_file=key_file,
        time_scale=time_scale,
        state_file=state_file,
        public_url=public_url,
        notify_refunds=notify_refunds,
        strict_bill_date=strict_bill_date,
        service_fee_bps=service_fee_bps,
        certificate_apps=tuple(a.app_id for a in app_options) if cert_mode else (),
        accounts=dict(_parse_account(a) for a in accounts),
    )

    def announce(sandbox: Sandbox, url: str) -> None:
        click.echo(f"Alipay sandbox listening on {url}")
        click.echo(f"Gateway: {url}/gateway.do")
        with sandbox.store.lock:
            sellers = {app_id: app.seller_id for app_id, app in sandbox.store.apps.items()}
        for app_id in config.apps:
            click.echo(f"App {app_id}: seller_id (PID) {sellers[app_id]}")
        if not config.apps:
            click.echo(f"Apps: none yet; POST {url}/sandbox/apps")
        click.echo(f"Sandbox key: {_KEY_ORIGIN[sandbox.key_origin].format(path=key_file)}")
        public_path = _public_key_path(write_config, key_file)
        public_path.parent.mkdir(parents=True, exist_ok=True)
        public_path.write_text(sandbox.public_key_pem)
        click.echo(f"Sandbox (\"Alipay\") public key, written to {public_path}, also at GET /sandbox/public-key:")
        click.echo(sandbox.public_key_pem.rstrip())
        click.echo(f"Bare Base64: {sandbox.public_key_bare}")
        if not app_options:
            return
        first = app_options[0]
        certificate_files = _write_certificates(sandbox, first.app_id, public_path.parent) if cert_mode else None
        if certificate_files is not None:
            click.echo(f"Certificate mode: app, Alipay and root certificates written to {public_path.parent}; "
                       f"rotate with POST {url}/sandbox/certificates/rotate")
        table = GatewayTable(
            gateway_url=f"{url}/gateway.do",
            app_id=first.app_id,
            alipay_public_key_file=public_path,
            seller_id=sellers[first.app_id],
            app_private_key_file=first.path.resolve() if first.is_private else None,
            app_public_key_file=first.path.resolve(),
            certificate_files=certificate_files,
        )
        if write_config is not None:
            try:
                write_gateway_config(write_config, table)
            except FileExistsError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"Gateway configuration written to {write_config}:")
        else:
            click.echo("Gateway configuration (add it to the gateway's TOML file):")
        click.echo("")
        click.echo(table.toml())

    serve_forever(config, announce)
