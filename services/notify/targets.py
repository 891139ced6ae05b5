"""Where a webhook may go: the rules that keep notify from being a way into its own network.

A roster or provider entry names a webhook URL, and notify posts to it from inside the
deployment: a URL naming an internal address (the database, an ops port, a cloud's metadata
service at 169.254.169.254) would otherwise have notify reach it for whoever wrote the
entry (server-side request forgery). So, outside development, every address a target's
host resolves to must be public: not loopback, unspecified, link-local, multicast,
reserved, private or otherwise special-purpose (the shared 100.64/10, an IPv6 address that
carries such an IPv4 one); in production the target must also be ``https``. Development
posts anywhere over ``http`` or ``https`` (local receivers listen on 127.0.0.1).

The host is resolved at every attempt and the connection goes to the address that was
checked, the host name kept for the ``Host`` header and for TLS (SNI and the certificate
check): a name that resolves elsewhere a moment later (DNS rebinding) reaches nothing
unchecked. Redirects are never followed. A refused target is a permanent failure whose
error names the rule, and of the URL only its scheme and host (a query string may carry a
receiver's token).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], Awaitable[list[str]]]
REFUSED = "webhook target refused"
DEFAULT_PORTS = {"http": 80, "https": 443}
# IPv6 prefixes that carry an IPv4 address in their last 32 bits: mapped, and NAT64's well-known prefix.
CARRIERS = (ipaddress.IPv6Network("::ffff:0:0/96"), ipaddress.IPv6Network("64:ff9b::/96"))
# The kinds of address no webhook goes to outside development, in the order they are named.
NOT_PUBLIC: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("loopback", lambda a: a.is_loopback),
    ("unspecified", lambda a: a.is_unspecified),
    ("link-local", lambda a: a.is_link_local),
    ("multicast", lambda a: a.is_multicast),
    ("reserved", lambda a: a.is_reserved),
    ("private", lambda a: a.is_private),
    ("special-purpose", lambda a: not a.is_global),
)


class TargetRefused(ValueError):
    """The webhook target breaks a rule: retrying cannot help (the message names the rule)."""


@dataclass(frozen=True)
class TargetRules:
    """What a deployment allows: ``https`` only (production), public addresses only (all but development)."""

    https_only: bool
    public_only: bool

    @classmethod
    def for_environment(cls, environment: str) -> TargetRules:
        return cls(https_only=environment == "production", public_only=environment != "development")


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: ``url`` with the checked address in place of the host name,
    ``host`` the name for the ``Host`` header and TLS (``None``: the URL is used as given)."""

    url: httpx.URL
    host: str | None = None
    authority: str | None = None  # the Host header: the name, and the port when not the default

    def headers(self) -> dict[str, str]:
        return {"Host": self.authority} if self.authority else {}

    def extensions(self) -> dict[str, str]:
        return {"sni_hostname": self.host} if self.host and self.url.scheme == "https" else {}


def carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, NAT64, 6to4), if any."""
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in prefix for prefix in CARRIERS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """What kind of non-public address this is (``"private"``, ``"loopback"``...), or ``None``."""
    if isinstance(address, ipaddress.IPv6Address) and (inner := carried_ipv4(address)) is not None:
        return address_refusal(inner)
    return next((kind for kind, applies in NOT_PUBLIC if applies(address)), None)


def shown(address: IPAddress) -> str:
    """An address as an error names it, with the IPv4 address it carries, if any."""
    inner = carried_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    return f"{address} (IPv4 {inner})" if inner else str(address)


def url_refusal(url: httpx.URL, rules: TargetRules) -> str | None:
    """Why this URL is refused before anything is resolved (its scheme, no host), or ``None``."""
    schemes = ("https",) if rules.https_only else ("http", "https")
    if url.scheme not in schemes:
        rule = "production posts over https only" if rules.https_only else "the scheme must be http or https"
        return f"{REFUSED}: {rule} ({f'not {url.scheme}' if url.scheme else 'no scheme given'})"
    if not url.raw_host:
        return f"{REFUSED}: the URL names no host"
    return None


def checked_addresses(host: str, addresses: list[str]) -> IPAddress:
    """The address to connect to, once every one the host resolved to is public; else
    :class:`TargetRefused` naming the first that is not."""
    if not addresses:
        raise OSError(f"webhook host {host} resolved to no address")
    parsed = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
    for address in parsed:
        kind = address_refusal(address)
        if kind:
            raise TargetRefused(f"{REFUSED}: {host} resolves to {shown(address)}, a {kind} address "
                                "(webhooks go to public addresses only, outside development)")
    return parsed[0]


def parse(url: str, rules: TargetRules) -> httpx.URL:
    """The URL, if its form is allowed (else :class:`TargetRefused`)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise TargetRefused(f"{REFUSED}: not a valid URL") from None
    refusal = url_refusal(parsed, rules)
    if refusal:
        raise TargetRefused(refusal)
    return parsed


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system's resolver), in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def target(url: str, rules: TargetRules, resolve: Resolve = resolve) -> Target:
    """Where this attempt may connect: :class:`TargetRefused` if a rule forbids the URL,
    ``OSError`` if its host cannot be resolved now (that may pass)."""
    parsed = parse(url, rules)
    if not rules.public_only:
        return Target(parsed)
    host = parsed.raw_host.decode("ascii")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        checked_addresses(host, [host])  # an address literal: nothing to resolve
        return Target(parsed)
    address = checked_addresses(host, await resolve(host, parsed.port or DEFAULT_PORTS[parsed.scheme]))
    return Target(parsed.copy_with(host=str(address)), host, parsed.netloc.decode("ascii"))
