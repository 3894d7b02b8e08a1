"""Where webhooks may go: the guard against server-side request forgery through a webhook URL.

An app registers the URL its events are POSTed to; without a guard the gateway would POST to whatever it
names: its own database port, the cloud's metadata service, an internal admin page. So by default a
webhook goes only over https, to a host name (not a literal address, not `localhost`), without a user name
or password, and only to public addresses (`ipaddress`'s `is_global`; never multicast): loopback,
link-local, private, unspecified, reserved and shared ranges are refused. The address check runs twice:
when the URL is registered (`cashier apps set-webhook`), and on every connection after resolving the name
(DNS may answer differently later: rebinding), and the sender then connects to the very address it checked
(gateway/webhook_http.py). A name that resolves to a mix of public and refused addresses is refused.

The operator widens this with `[webhooks] allow_hosts` (host names, addresses or CIDR networks, e.g.
`["127.0.0.1"]` for tests, `["hooks.internal", "10.20.0.0/16"]` for an app inside the platform's network)
and `[webhooks] allow_http = true`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port → the addresses a connection may go to (socket.getaddrinfo by default; tests inject their own).
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048


class RefusedTarget(Exception):
    """A webhook target the policy refuses; the message says why (for the operator, never secret)."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_allow_entry(entry: str) -> Network | str:
    """An allow_hosts entry: an address or CIDR network, else a host name (lower case)."""
    text = entry.strip()
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    if not name or len(name) > 253 or any(not (c.isalnum() or c in "-.") for c in name):
        raise ValueError(f"allow_hosts entry {entry!r} is neither an address, a CIDR network nor a host name")
    return name


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is link-local
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def _kind(address: Address) -> str:
    for attribute, kind in (("is_loopback", "loopback"), ("is_link_local", "link-local"),
                            ("is_unspecified", "unspecified"), ("is_multicast", "multicast"),
                            ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(address, attribute):
            return kind
    return "not public"


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allow_hosts: tuple[str, ...] = ()
    resolver: Resolver = system_resolver
    _networks: tuple[Network, ...] = field(init=False, repr=False, default=())
    _names: frozenset[str] = field(init=False, repr=False, default=frozenset())

    def __post_init__(self) -> None:
        entries = [parse_allow_entry(e) for e in self.allow_hosts]
        object.__setattr__(self, "_networks", tuple(e for e in entries if not isinstance(e, str)))
        object.__setattr__(self, "_names", frozenset(e for e in entries if isinstance(e, str)))

    @classmethod
    def from_settings(cls, config: object, resolver: Resolver = system_resolver) -> TargetPolicy:
        return cls(allow_http=bool(getattr(config, "allow_http", False)),
                   allow_hosts=tuple(getattr(config, "allow_hosts", ())), resolver=resolver)

    # --- the URL, as registered ------------------------------------------------------------------------

    def check_url(self, url: str, *, resolve: bool = True) -> tuple[str, int]:
        """(host, port) of an acceptable webhook URL, or RefusedTarget saying why. With `resolve`, a host
        name must resolve to acceptable addresses only (a name that does not resolve yet is accepted: every
        connection is checked again)."""
        if len(url) > MAX_URL_LENGTH:
            raise RefusedTarget(f"a URL of at most {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise RefusedTarget(f"not a valid URL ({exc})") from None
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes:
            raise RefusedTarget("an https:// URL" if not self.allow_http else "an http:// or https:// URL")
        if "@" in parts.netloc:
            raise RefusedTarget("a URL without a user name or password (user:pass@ is refused)")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise RefusedTarget("a URL with a host name")
        port = port or (443 if parts.scheme == "https" else 80)
        if host in self._names:
            return host, port
        literal = _address(host)
        if literal is not None:
            if not self._allowed_network(literal):
                raise RefusedTarget(f"a host name, not the literal address {host} "
                                    "(addresses are refused unless in [webhooks] allow_hosts)")
            return host, port
        if host == "localhost" or host.endswith(".localhost"):
            raise RefusedTarget(f"a public host ({host} is loopback; see [webhooks] allow_hosts)")
        if resolve:
            try:
                addresses = self.resolver(host, port)
            except OSError:
                return host, port  # not resolvable (yet): the connection is checked when it is made
            self.check_addresses(host, addresses)
        return host, port

    # --- the addresses a connection would go to -------------------------------------------------------

    def check_addresses(self, host: str, addresses: Iterable[str]) -> list[str]:
        """The addresses, if every one is acceptable for `host`; else RefusedTarget (a mix is refused)."""
        found = list(addresses)
        if not found:
            raise RefusedTarget(f"{host} resolves to no address")
        if host.lower().rstrip(".") in self._names:
            return found
        for text in found:
            address = _address(text)
            if address is None:
                raise RefusedTarget(f"{host} resolves to {text!r}, not an IP address")
            if self._allowed_network(address):
                continue
            if not address.is_global or address.is_multicast:
                raise RefusedTarget(f"{host} resolves to {text}, a {_kind(address)} address "
                                    "(refused unless in [webhooks] allow_hosts)")
        return found

    def _allowed_network(self, address: Address) -> bool:
        return any(address in network for network in self._networks)

    def resolve_checked(self, host: str, port: int) -> list[str]:
        """Resolve `host` once and check every address: the addresses a connection may use."""
        try:
            addresses = self.resolver(host, port)
        except OSError as exc:
            raise RefusedTarget(f"{host} does not resolve ({exc})") from None
        return self.check_addresses(host, addresses)
