"""The one egress guard: every outbound call a tenant can aim (HTTP nodes and tools, MCP servers,
model endpoints, callbacks, the vLLM adapter loading) goes through an httpx client built here.

The guard sits in the transport, so it sees every request the client sends, redirects included:
it resolves the host, refuses private, loopback, link-local, multicast and reserved addresses (also
when embedded in IPv6: mapped, 6to4, Teredo, NAT64, IPv4-translated and -compatible), and connects
to the address it checked, so a second DNS lookup cannot be rebound. Operators open it for servers
they run: `allow_private` is True (any private address), False (none), or an `Allowlist` naming
hosts and networks (e.g. the compose file's `vllm`, or 10.0.0.0/8) that may be reached although
they are not public.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Union

import httpx

MAX_REDIRECTS = 5
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Allowlist:
    """Private hosts and networks an operator lets outbound calls reach; nothing else private."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Allowlist":
        """'vllm, 10.0.0.0/8, 192.168.1.7' -> hosts {vllm}, networks (10.0.0.0/8, 192.168.1.7/32)."""
        hosts, networks = set(), []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)

    def allows(self, host: str, address: Address) -> bool:
        inner = embedded_ipv4(address)
        return host.lower().rstrip(".") in self.hosts or any(
            address in network or (inner is not None and inner in network) for network in self.networks
        )


AllowPrivate = Union[bool, Allowlist]


class RequestRefused(ValueError):
    """The URL is not one this platform may reach."""


# IPv6 prefixes whose last 32 bits are an IPv4 address that traffic reaches: NAT64's well-known
# and local-use prefixes (RFC 6052, 8215), IPv4-translated (RFC 2765) and IPv4-compatible (RFC 4291).
EMBEDDING_PREFIXES = tuple(
    ipaddress.IPv6Network(prefix) for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")
)


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (::ffff:a.b.c.d, 2002:aabb:ccdd::, Teredo, NAT64,
    IPv4-translated and -compatible forms), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]  # (server, client): the client is where traffic goes
    if any(address in prefix for prefix in EMBEDDING_PREFIXES) and int(address) & 0xFFFFFFFF > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # not :: and ::1, which are IPv6's own
    return None


def is_public(address: Address) -> bool:
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return address.is_global and not (address.is_multicast or address.is_reserved)


def checked_address(url: httpx.URL, *, allow_private: AllowPrivate) -> str:
    """Resolve the URL's host and return the address to connect to; refuse non-public ones.

    Every resolved address is checked (an attacker's DNS may mix public and private answers)."""
    if url.scheme not in ("http", "https"):
        raise RequestRefused(f"URL scheme {url.scheme!r} is not allowed; use http or https")
    if not url.host:
        raise RequestRefused(f"URL {str(url)!r} has no host")
    try:
        infos = socket.getaddrinfo(
            url.host, url.port or (443 if url.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as error:
        raise RequestRefused(f"cannot resolve host {url.host!r}: {error}") from error
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if allow_private is not True:
        refused = [
            str(a)
            for a in addresses
            if not is_public(a) and not (isinstance(allow_private, Allowlist) and allow_private.allows(url.host, a))
        ]
        if refused:
            raise RequestRefused(
                f"host {url.host!r} resolves to non-public address {', '.join(refused)}; "
                "only public addresses are allowed"
            )
    return str(addresses[0])


def _pinned(request: httpx.Request, *, allow_private: AllowPrivate) -> None:
    """Point the request at the checked address, keeping Host and TLS (SNI, certificate) on the name."""
    url = request.url
    address = checked_address(url, allow_private=allow_private)
    request.headers["Host"] = url.netloc.decode("ascii")
    if url.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": url.host}
    request.url = url.copy_with(host=address)


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, *, allow_private: AllowPrivate, **kwargs: Any):
        super().__init__(**kwargs)
        self.allow_private = allow_private

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _pinned(request, allow_private=self.allow_private)
        return super().handle_request(request)


class GuardedAsyncTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, allow_private: AllowPrivate, **kwargs: Any):
        super().__init__(**kwargs)
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _pinned(request, allow_private=self.allow_private)
        return await super().handle_async_request(request)


def guarded_client(*, allow_private: AllowPrivate, **kwargs: Any) -> httpx.Client:
    """An httpx.Client whose every request (and redirect) passes the guard. trust_env=False: a proxy
    from the environment would make the address check meaningless."""
    return httpx.Client(
        transport=GuardedTransport(allow_private=allow_private), trust_env=False, max_redirects=MAX_REDIRECTS, **kwargs
    )


def guarded_async_client(*, allow_private: AllowPrivate, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=GuardedAsyncTransport(allow_private=allow_private),
        trust_env=False,
        max_redirects=MAX_REDIRECTS,
        **kwargs,
    )
