"""The one TLS context of every https connection the authorizer makes: DynamoDB, SSM, the container
credential endpoint and the JWKS fetches. Built on first use, once per CA setting.

Which CAs it trusts, first that applies:

1. `AWS_CA_BUNDLE`: that file's CAs only, as the AWS SDKs read it.
2. `SSL_CERT_FILE` / `SSL_CERT_DIR`, OpenSSL's own variables: what the standard library's default
   context loads (ssl.create_default_context).
3. The system's CAs as a hashed directory (OpenSSL's default one, e.g. Debian's /etc/ssl/certs,
   or Fedora's /etc/pki/ca-trust/extracted/pem/directory-hash): the same CAs as the system
   bundle, but OpenSSL reads only the issuer a handshake asks for. Loading the whole bundle
   costs a cold start tens of milliseconds (python -m bench: "TLS context").
4. Otherwise the system bundle, as the standard library's default context loads it.

Every case keeps the standard library's defaults: certificates and host names verified, TLS 1.2
at least.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache

from authorizer.aws.endpoints import ca_bundle_path

# Where update-ca-trust (Fedora, RHEL, Amazon Linux) writes the system CAs hashed for OpenSSL.
_SYSTEM_HASHED_DIRS = ("/etc/pki/ca-trust/extracted/pem/directory-hash",)


def client_context() -> ssl.SSLContext:
    return _context(ca_bundle_path(os.environ), _openssl_variables_set())


def trust_source() -> str:
    """What client_context() trusts, in words (for logs and the benchmark)."""
    bundle = ca_bundle_path(os.environ)
    if bundle:
        return f"AWS_CA_BUNDLE {bundle}"
    if _openssl_variables_set():
        return "SSL_CERT_FILE / SSL_CERT_DIR"
    hashed = _hashed_system_dir()
    return f"hashed directory {hashed}" if hashed else "system CA bundle"


@lru_cache(maxsize=4)
def _context(ca_bundle: str | None, openssl_variables: bool) -> ssl.SSLContext:
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    if not openssl_variables:
        hashed = _hashed_system_dir()
        if hashed:
            return ssl.create_default_context(capath=hashed)
    return ssl.create_default_context()


def _openssl_variables_set() -> bool:
    paths = ssl.get_default_verify_paths()
    return bool(os.environ.get(paths.openssl_cafile_env) or os.environ.get(paths.openssl_capath_env))


def _hashed_system_dir() -> str | None:
    for directory in (ssl.get_default_verify_paths().openssl_capath, *_SYSTEM_HASHED_DIRS):
        if _holds_hashed_certificates(directory):
            return directory
    return None


def _holds_hashed_certificates(directory: str) -> bool:
    """True if `directory` has OpenSSL's subject-hash names (c_rehash, update-ca-trust): 8 hex
    digits, a dot and a number, e.g. 5ad8a5d6.0."""
    try:
        with os.scandir(directory) as entries:
            return any(_is_hash_name(entry.name) for entry in entries)
    except OSError:
        return False


def _is_hash_name(name: str) -> bool:
    stem, dot, number = name.partition(".")
    return (
        len(stem) == 8
        and dot == "."
        and number.isascii()
        and number.isdigit()
        and all(c in "0123456789abcdef" for c in stem)
    )
