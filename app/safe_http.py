"""Callback delivery that connects to the very address it vetted (no DNS rebinding).

Checking a callback host's addresses and then letting requests resolve the name again lets a
resolver answer a public address to the check and 127.0.0.1 to the connection. PinnedAdapter
resolves the host once, refuses it when any address is not global unicast (an allow-list:
`public`; unless private addresses are allowed: development, tests), and has urllib3 connect to
that address; the Host header, TLS SNI and the certificate check keep the name. A name that
does not resolve is a transient failure (a requests.ConnectionError), a refused one is
`Forbidden`. No proxy is used (a proxy would resolve the name itself) and no redirect is followed.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter


class Forbidden(requests.RequestException):
    """The URL may not be called: not http(s), a bad port, or an address that is not public."""


class Unresolvable(requests.ConnectionError):
    """The host name does not resolve now: transient."""


def target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; Forbidden otherwise."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise Forbidden("not an http(s) URL")
    try:
        port = parsed.port
    except ValueError:
        raise Forbidden("the port is not a number from 1 to 65535") from None
    port = (443 if parsed.scheme == "https" else 80) if port is None else port
    if not 0 < port < 65536:
        raise Forbidden("the port is not a number from 1 to 65535")
    return parsed.scheme, parsed.hostname, port


# An allow-list: IPv6 only in global unicast (2000::/3), IPv4 only outside these; both must also be
# `is_global` and none of Python's special kinds. Python's is_global passes 6to4 (2002::/16, which
# embeds any IPv4 address, loopback's too), fec0::/10 and 192.0.0.8, so they are named here.
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NOT_PUBLIC_V6 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: the address of a relay's IPv4 host, any of them
        "3fff::/20",  # documentation
    )
)
_NOT_PUBLIC_V4 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
    )
)


def public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    special = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )
    if special:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return address in _GLOBAL_UNICAST_V6 and not any(address in net for net in _NOT_PUBLIC_V6)
    return not any(address in net for net in _NOT_PUBLIC_V4)


def vet(url: str, allow_private: bool = False, resolver=None) -> str:
    """The one address a delivery to `url` may connect to; Forbidden or Unresolvable otherwise."""
    _, host, port = target(url)
    try:
        infos = (resolver or socket.getaddrinfo)(host, port)
    except (socket.gaierror, UnicodeError, OSError):
        raise Unresolvable(f"{host} does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise Unresolvable(f"{host} does not resolve")
    if not allow_private and not all(public(address) for address in addresses):
        raise Forbidden(f"{host} resolves to a non-public address")
    return str(addresses[0])


class PinnedAdapter(HTTPAdapter):
    def __init__(self, allow_private: bool = False, resolver=None, **kwargs):
        self.allow_private = allow_private
        self.resolver = resolver
        super().__init__(max_retries=0, **kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        request.pinned_address = vet(request.url, self.allow_private, self.resolver)
        if "Host" not in request.headers:
            request.headers["Host"] = urlparse(request.url).netloc.rpartition("@")[2]
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies={})

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host_params, typed_pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs: dict[str, Any] = dict(typed_pool_kwargs)  # and urllib3's TLS keys below
        name = host_params["host"]
        host_params["host"] = request.pinned_address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)


def pinned_session(allow_private: bool = False, resolver=None) -> requests.Session:
    """A session whose every request goes through PinnedAdapter; no proxies, netrc or redirects."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    adapter = PinnedAdapter(allow_private, resolver)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
