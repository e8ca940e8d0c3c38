"""Callback delivery that connects to the very address it vetted (no DNS rebinding).

Checking a callback host's addresses and then letting requests resolve the name again lets a
resolver answer a public address to the check and 127.0.0.1 to the connection. PinnedAdapter
resolves the host once, refuses it when any address is loopback, private, link-local, reserved,
multicast or otherwise not global (unless private addresses are allowed: development, tests),
and has urllib3 connect to that address; the Host header, TLS SNI and the certificate check keep
the name. A name that does not resolve is a transient failure (a requests.ConnectionError),
a refused one is `Forbidden`. No proxy is used (a proxy would resolve the name itself) and no
redirect is followed.
"""

from __future__ import annotations

import ipaddress
import socket
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


def public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
                or address.is_multicast or address.is_unspecified) and address.is_global


def vet(url: str, allow_private: bool = False, resolver=None) -> str:
    """The one address a delivery to `url` may connect to; Forbidden or Unresolvable otherwise."""
    _, host, port = target(url)
    try:
        infos = (resolver or socket.getaddrinfo)(host, port)
    except (socket.gaierror, UnicodeError, OSError):
        raise Unresolvable(f"{host} does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
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

    def send(self, request, **kwargs):
        request.pinned_address = vet(request.url, self.allow_private, self.resolver)
        if "Host" not in request.headers:
            request.headers["Host"] = urlparse(request.url).netloc.rpartition("@")[2]
        kwargs["proxies"] = {}
        return super().send(request, **kwargs)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
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
