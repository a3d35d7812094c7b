"""TLS on 127.0.0.1 for benchmarks and tests: a CA made at run time and a server certificate it signs.

Nothing is kept: the keys are generated in memory and written to a scratch directory that the
caller owns. The CA is trusted the way a deployment would trust a private CA: a PEM file
(AWS_CA_BUNDLE), or a directory hashed the way OpenSSL looks CAs up in one (`hashed_directory`).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_NAME = "lambda-jwt-auth local test ca"  # lower case, single spaces: see subject_hash


class LocalCA:
    """A CA and a certificate for localhost / 127.0.0.1, as PEM files in `directory`."""

    def __init__(self, directory: Path, *, server_names: tuple[str, ...] = ("localhost",)) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        server_key = ec.generate_private_key(ec.SECP256R1())
        alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in server_names]
        alternative_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        server = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_names[0])]))
            .issuer_name(ca_name)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        self._server_file = directory / "server.pem"
        self._server_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
        self._key_file = directory / "server.key"
        self._key_file.write_bytes(
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._server_file, self._key_file)
        return context

    def hashed_directory(self, directory: Path) -> Path:
        """`directory` holding the CA under the name OpenSSL looks it up by (c_rehash's)."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{subject_hash(self.certificate)}.0").write_bytes(self.ca_file.read_bytes())
        return directory


def subject_hash(certificate: x509.Certificate) -> str:
    """OpenSSL's X509_NAME_hash of the subject (`openssl x509 -hash`): SHA-1 of the name's
    canonical DER encoding without its outer SEQUENCE header, first four bytes, little-endian.

    Canonical means each value as a lower-cased UTF8String with single spaces; CA_NAME is written
    that way already, so the certificate's own encoding of it is the canonical one.
    """
    der = certificate.subject.public_bytes()
    content = der[2 + (der[1] & 0x7F) :] if der[1] & 0x80 else der[2:]  # long-form length, or short
    return f"{int.from_bytes(hashlib.sha1(content).digest()[:4], 'little'):08x}"  # noqa: S324
