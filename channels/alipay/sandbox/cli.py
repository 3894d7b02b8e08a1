"""``cashier sandbox``: run the Alipay-compatible sandbox gateway."""

from __future__ import annotations

from pathlib import Path

import click

from . import crypto
from .config import SandboxConfig
from .core import Sandbox
from .server import serve_forever


def _parse_app(value: str) -> tuple[str, str]:
    app_id, sep, path = value.partition("=")
    if not sep or not app_id or not path:
        raise click.BadParameter(f"expected APP_ID=PATH_TO_APP_PUBLIC_KEY_PEM, got {value!r}", param_hint="--app")
    try:
        text = Path(path).read_text()
        crypto.load_public_key(text)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--app") from exc
    except crypto.KeyFormatError as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--app") from exc
    return app_id, text


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8090, show_default=True, type=int, help="Port; 0 picks a free one.")
@click.option("--app", "apps", multiple=True, metavar="APP_ID=PEM_PATH",
              help="Register an app with its public key (repeatable).")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The sandbox's own RSA private key (PEM); created when missing. Default: a fresh key.")
@click.option("--time-scale", default=1.0, show_default=True, type=float,
              help="Multiply the notification retry schedule (4m, 10m, ...), e.g. 0.001.")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep apps, trades and transfers in this JSON file across restarts.")
@click.option("--public-url", help="Base URL for qr_code, checkout and bill links (default: as requested).")
@click.option("--notify-refunds/--no-notify-refunds", default=False, show_default=True,
              help="Also notify after refunds (trade_status_sync with refund_fee).")
@click.option("--strict-bill-date", is_flag=True, help="Serve bills T+1 only, as Alipay does.")
def sandbox_command(host: str, port: int, apps: tuple[str, ...], key_file: Path | None, time_scale: float,
                    state_file: Path | None, public_url: str | None, notify_refunds: bool,
                    strict_bill_date: bool) -> None:
    """Run a local stand-in for Alipay's gateway (https://openapi.alipay.com/gateway.do)."""
    if time_scale <= 0:
        raise click.BadParameter("must be > 0", param_hint="--time-scale")
    config = SandboxConfig(
        host=host,
        port=port,
        apps=dict(_parse_app(a) for a in apps),
        key_file=key_file,
        time_scale=time_scale,
        state_file=state_file,
        public_url=public_url,
        notify_refunds=notify_refunds,
        strict_bill_date=strict_bill_date,
    )

    def announce(sandbox: Sandbox, url: str) -> None:
        click.echo(f"Alipay sandbox listening on {url}")
        click.echo(f"Gateway: {url}/gateway.do")
        click.echo(f"Apps: {', '.join(config.apps) or '(none; POST {url}/sandbox/apps)'}")
        click.echo("Sandbox (\"Alipay\") public key, also at GET /sandbox/public-key:")
        click.echo(sandbox.public_key_pem.rstrip())
        click.echo(f"Bare Base64: {sandbox.public_key_bare}", nl=True)

    serve_forever(config, announce)
