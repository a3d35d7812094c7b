"""The https proxy of the authorizer's outgoing connections, read as the AWS SDKs and urllib read it.

* `HTTPS_PROXY` (or `https_proxy`): `http://[user:password@]host[:port]` of a proxy that tunnels
  with CONNECT. TLS still runs end to end with the real host: its certificate and name are
  verified as without a proxy, and the proxy sees only encrypted bytes.
* `NO_PROXY` (or `no_proxy`): comma-separated host names reached directly, each also matching
  its subdomains (`example.com` covers `jwks.example.com`); `*` for every host.
* Loopback and link-local hosts (a local endpoint, the container credential endpoint) are always
  reached directly, and plain http connections (only ever local ones in production) never use
  a proxy.

Read when a connection opens (rarely: connections are kept alive), and checked once at cold start
(`read_https_proxy`), so a malformed proxy setting fails the cold start instead of every request.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from authorizer.env import EnvReader

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")


class Proxy(NamedTuple):
    host: str
    port: int
    headers: tuple[tuple[str, str], ...]  # sent with CONNECT: Proxy-Authorization, if any


class ProxyError(ValueError):
    """The proxy setting is not an http://host[:port] URL."""


def proxy_for(host: str, environ: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy an https connection to `host` goes through, or None to connect directly."""
    environ = os.environ if environ is None else environ
    url = _first(environ, PROXY_VARIABLES)
    if url is None or _direct(host, _first(environ, NO_PROXY_VARIABLES) or ""):
        return None
    return parse_proxy(url)


def parse_proxy(url: str) -> Proxy:
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        port = parts.port or 80
    except ValueError:
        raise ProxyError("not a URL with a valid port") from None
    if parts.scheme != "http" or not parts.hostname:
        raise ProxyError("must be http://host[:port] (a proxy that tunnels TLS with CONNECT)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ProxyError("must be http://host[:port], with no path, query or fragment")
    headers: tuple[tuple[str, str], ...] = ()
    if parts.username is not None:
        secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers = (("Proxy-Authorization", "Basic " + base64.b64encode(secret).decode("ascii")),)
    return Proxy(parts.hostname, port, headers)


def read_https_proxy(env: EnvReader) -> str | None:
    """The proxy setting, checked at cold start (the secret in a proxy URL is never repeated)."""
    for name in PROXY_VARIABLES:
        url = env.text(name)
        if url is None:
            continue
        try:
            parse_proxy(url)
        except ProxyError as exc:
            env.problems.append(f"{name} {exc}")
            return None
        return url
    return None


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def _direct(host: str, no_proxy: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or _local_address(host):
        return True
    for entry in (item.strip().lower().lstrip(".") for item in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def _local_address(host: str) -> bool:
    import ipaddress  # only once a proxy is set: most containers never import it

    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_link_local
