"""Tests for the inspect-token CLI (auth_service.inspect_token and scripts/inspect_token.py).

Keys are generated at run time; URL cases talk to a throwaway http.server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from auth_service.inspect_token import format_duration, main

REPO_ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
ALGS = ("RS256", "ES256", "EdDSA")
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


# --------------------------------------------------------------------------- key and token helpers


@dataclass(frozen=True)
class SigningKey:
    alg: str
    private: Any
    jwk: dict[str, Any]  # public JWK with kid and alg

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint, the kid the issuer uses."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def make_key(alg: str) -> SigningKey:
    private: Any
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk = {**jwk, "kid": thumbprint(jwk), "alg": alg, "use": "sig"}
    return SigningKey(alg=alg, private=private, jwk=jwk)


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {alg: make_key(alg) for alg in ALGS}


def access_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-123",
        "aud": AUDIENCE,
        "exp": now + 900,
        "iat": now,
        "jti": "jti-1",
        "scope": "orders:read",
        "sid": "session-1",
        "client_id": "web",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(key: SigningKey, claims: dict[str, Any], **header: Any) -> str:
    headers = {"typ": "at+jwt", "kid": key.kid, **header}
    return jwt.encode(claims, key.private, algorithm=key.alg, headers=headers)


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes) -> str:
    """Assemble a token by hand, for headers PyJWT refuses to produce."""
    parts = (json.dumps(header).encode(), json.dumps(claims).encode(), signature)
    return ".".join(b64url(part) for part in parts)


def write_jwks(path: Path, *signing_keys: SigningKey) -> str:
    path.write_text(json.dumps({"keys": [key.jwk for key in signing_keys]}))
    return str(path)


@pytest.fixture
def jwks_file(tmp_path: Path, keys: dict[str, SigningKey]) -> str:
    return write_jwks(tmp_path / "jwks.json", *keys.values())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, *argv, "--json")
    return code, json.loads(out)


# --------------------------------------------------------------------------- tiny issuer server


class FakeIssuer:
    """Serves a JWKS and a discovery document; tests change `routes` as they need."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = routes.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        return Handler

    def publish(self, keys: list[SigningKey], issuer: str | None = None) -> None:
        self.routes.clear()
        jwks = json.dumps({"keys": [key.jwk for key in keys]}).encode()
        discovery = {
            "issuer": self.base if issuer is None else issuer,
            "jwks_uri": f"{self.base}/.well-known/jwks.json",
        }
        self.routes["/.well-known/jwks.json"] = (200, jwks)
        self.routes["/.well-known/openid-configuration"] = (200, json.dumps(discovery).encode())


@pytest.fixture(scope="module")
def issuer_server() -> Iterator[FakeIssuer]:
    fake = FakeIssuer()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(issuer_server: FakeIssuer, keys: dict[str, SigningKey]) -> FakeIssuer:
    issuer_server.publish(list(keys.values()))
    return issuer_server


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- valid tokens


@pytest.mark.parametrize("alg", ALGS)
def test_valid_token_text(
    alg: str, keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys[alg], access_claims())
    code, out, err = run(
        capsys, token, "--jwks", jwks_file, "--issuer", ISSUER, "--audience", AUDIENCE,
        "--type", "access",
    )  # fmt: skip
    assert code == 0, out + err
    assert "Result: VALID" in out
    assert "UNVERIFIED" not in out
    for name in ("signature", "exp", "iss", "aud", "typ"):
        assert any(line.split()[:2] == [name, "PASS"] for line in out.splitlines()), name
    assert f'"alg": "{alg}"' in out  # header shown as pretty JSON
    assert '"sub": "user-123"' in out
    assert "expires in 15 min" in out or "expires in 14 min" in out


@pytest.mark.parametrize("alg", ALGS)
def test_valid_token_json(
    alg: str, keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys[alg], access_claims(nbf=int(time.time()) - 60))
    code, report = run_json(
        capsys, token, "--jwks", jwks_file, "--issuer", ISSUER, "--audience", AUDIENCE,
        "--type", "access",
    )  # fmt: skip
    assert code == 0
    assert report["valid"] is True
    assert report["verified"] is True
    assert report["status"] == "VALID"
    assert report["header"]["kid"] == keys[alg].kid
    assert report["claims"]["client_id"] == "web"
    assert set(report["checks"]) == {"signature", "exp", "nbf", "iss", "aud", "typ"}
    assert all(check["ok"] is True for check in report["checks"].values()), report["checks"]
    assert report["times"]["exp"]["utc"].endswith("Z")
    assert report["times"]["nbf"]["relative"] == "valid since 1 min ago"


def test_refresh_token_valid_with_type_refresh(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = access_claims(aud=ISSUER, token_use="refresh", scope=None, client_id=None)
    token = sign(keys["ES256"], claims, typ="rt+jwt")
    code, report = run_json(
        capsys, token, "--jwks", jwks_file, "--issuer", ISSUER, "--audience", ISSUER,
        "--type", "refresh",
    )  # fmt: skip
    assert code == 0, report["checks"]
    assert report["checks"]["typ"]["ok"] is True


def test_optional_checks_are_reported_as_not_checked(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], access_claims())
    code, report = run_json(capsys, token, "--jwks", jwks_file)
    assert code == 0  # skipped checks do not fail a verified token
    checks = report["checks"]
    assert checks["aud"] == {"ok": None, "detail": "not checked: pass --audience"}
    assert checks["iss"]["ok"] is None
    assert checks["typ"]["ok"] is None
    assert "at+jwt" in checks["typ"]["detail"]


# --------------------------------------------------------------------------- unverified


def test_no_keys_is_unverified_text(keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sign(keys["ES256"], access_claims()))
    assert code == 1
    assert out.startswith("UNVERIFIED")
    assert "Result: UNVERIFIED" in out
    assert '"scope": "orders:read"' in out  # still decoded and shown


def test_no_keys_is_unverified_json(keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, sign(keys["ES256"], access_claims()))
    assert code == 1
    assert report["status"] == "UNVERIFIED"
    assert report["verified"] is False
    assert report["valid"] is False
    assert report["checks"]["signature"]["ok"] is None
    assert report["checks"]["exp"]["ok"] is True


# --------------------------------------------------------------------------- claim failures


def test_expired_token(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    token = sign(keys["EdDSA"], access_claims(exp=now - 3 * 3600 - 30, iat=now - 4 * 3600))
    code, out, _ = run(capsys, token, "--jwks", jwks_file)
    assert code == 1
    assert "expired 3 h ago" in out
    assert "Result: INVALID (failed: exp)" in out


def test_leeway_accepts_recently_expired_token(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(exp=int(time.time()) - 20))
    assert run_json(capsys, token, "--jwks", jwks_file)[0] == 1
    code, report = run_json(capsys, token, "--jwks", jwks_file, "--leeway", "60")
    assert code == 0, report["checks"]


def test_missing_exp_fails(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(exp=None))
    code, report = run_json(capsys, token, "--jwks", jwks_file)
    assert code == 1
    assert report["checks"]["exp"]["ok"] is False


def test_not_yet_valid_token(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], access_claims(nbf=int(time.time()) + 600 + 30))
    code, report = run_json(capsys, token, "--jwks", jwks_file)
    assert code == 1
    assert report["checks"]["nbf"] == {"ok": False, "detail": "becomes valid in 10 min"}


def test_wrong_issuer(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(iss="https://evil.example.test"))
    code, report = run_json(capsys, token, "--jwks", jwks_file, "--issuer", ISSUER)
    assert code == 1
    assert report["checks"]["iss"]["ok"] is False
    assert ISSUER in report["checks"]["iss"]["detail"]


def test_wrong_audience(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims())
    code, report = run_json(capsys, token, "--jwks", jwks_file, "--audience", "billing-api")
    assert code == 1
    assert report["checks"]["aud"]["ok"] is False
    assert report["verified"] is True


def test_wrong_type(keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    access = sign(keys["ES256"], access_claims())
    code, report = run_json(capsys, access, "--jwks", jwks_file, "--type", "refresh")
    assert code == 1
    assert report["checks"]["typ"]["ok"] is False
    assert "rt+jwt" in report["checks"]["typ"]["detail"]


def test_refresh_typ_without_token_use_fails(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(aud=ISSUER), typ="rt+jwt")
    code, report = run_json(capsys, token, "--jwks", jwks_file, "--type", "refresh")
    assert code == 1
    assert "token_use" in report["checks"]["typ"]["detail"]


# --------------------------------------------------------------------------- signature failures


def test_tampered_payload(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    header, _, signature = sign(keys["ES256"], access_claims()).split(".")
    payload = b64url(json.dumps(access_claims(sub="admin")).encode())
    code, report = run_json(capsys, f"{header}.{payload}.{signature}", "--jwks", jwks_file)
    assert code == 1
    assert report["verified"] is False
    assert report["status"] == "INVALID"
    assert report["checks"]["signature"]["ok"] is False
    assert report["claims"]["sub"] == "admin"  # still shown, but flagged


def test_hs256_signed_with_public_key_is_refused(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The classic key-confusion attack: HMAC "keyed" with the issuer's public key.
    rsa_key = keys["RS256"]
    public_pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": rsa_key.kid}
    unsigned = forge(header, access_claims(), b"").rstrip(".")
    signature = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    code, report = run_json(capsys, f"{unsigned}.{b64url(signature)}", "--jwks", jwks_file)
    assert code == 1
    assert report["checks"]["signature"]["ok"] is False
    assert "HMAC" in report["checks"]["signature"]["detail"]


def test_alg_none_is_refused(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": keys["ES256"].kid}
    code, report = run_json(capsys, forge(header, access_claims(), b""), "--jwks", jwks_file)
    assert code == 1
    assert report["checks"]["signature"]["ok"] is False
    assert "none" in report["checks"]["signature"]["detail"]


def test_header_alg_must_match_the_keys_alg(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Signed with the RSA key but pointing at the EC key: the key decides, not the header.
    token = sign(keys["RS256"], access_claims(), kid=keys["ES256"].kid)
    code, report = run_json(capsys, token, "--jwks", jwks_file)
    assert code == 1
    detail = report["checks"]["signature"]["detail"]
    assert report["checks"]["signature"]["ok"] is False
    assert "RS256" in detail and "ES256" in detail


def test_jwk_whose_alg_contradicts_its_type_is_refused(
    tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    ec_key = keys["ES256"]
    lying = SigningKey("ES256", ec_key.private, {**ec_key.jwk, "alg": "RS256"})
    jwks = write_jwks(tmp_path / "lying.json", lying)
    code, report = run_json(capsys, sign(ec_key, access_claims()), "--jwks", jwks)
    assert code == 1
    assert report["checks"]["signature"]["ok"] is False


def test_unknown_kid(keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = sign(keys["ES256"], access_claims(), kid="not-in-jwks")
    code, report = run_json(capsys, token, "--jwks", jwks_file)
    assert code == 1
    assert "not-in-jwks" in report["checks"]["signature"]["detail"]


def test_wrong_key_with_same_kid(
    tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    other = make_key("ES256")
    impostor = SigningKey("ES256", other.private, {**other.jwk, "kid": keys["ES256"].kid})
    jwks = write_jwks(tmp_path / "other.json", impostor)
    code, report = run_json(capsys, sign(keys["ES256"], access_claims()), "--jwks", jwks)
    assert code == 1
    assert "does not match" in report["checks"]["signature"]["detail"]


def test_no_kid_uses_the_only_key(
    tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    key = keys["EdDSA"]
    token = jwt.encode(access_claims(), key.private, algorithm="EdDSA", headers={"typ": "at+jwt"})
    code, _ = run_json(capsys, token, "--jwks", write_jwks(tmp_path / "one.json", key))
    assert code == 0
    code, report = run_json(capsys, token, "--jwks", write_jwks(tmp_path / "all.json", *keys.values()))
    assert code == 1
    assert "no kid" in report["checks"]["signature"]["detail"]


def test_keys_are_never_printed(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], access_claims(), kid=keys["ES256"].kid)
    for extra in ([], ["--json"]):
        _, out, err = run(capsys, token, "--jwks", jwks_file, *extra)
        for key in keys.values():
            for member in ("n", "x", "y"):
                if member in key.jwk:
                    assert key.jwk[member] not in out + err


def test_control_characters_are_escaped_in_text(
    keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(sub="evil\x1b[2J\x9b"))
    _, out, _ = run(capsys, token)
    assert "\x1b" not in out and "\x9b" not in out
    assert "\\u001b[2J" in out


# --------------------------------------------------------------------------- input handling


def test_token_from_stdin_with_bearer_prefix(
    keys: dict[str, SigningKey],
    jwks_file: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = sign(keys["ES256"], access_claims())
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"  Bearer {token}\n\n"))
    code, report = run_json(capsys, "-", "--jwks", jwks_file)
    assert code == 0
    assert report["claims"]["sub"] == "user-123"


@pytest.mark.parametrize("stdin", ["\n", "Bearer \n"])
def test_empty_stdin_is_a_usage_error(
    stdin: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = run(capsys, "-")
    assert code == 2
    assert "no token" in err
    assert out == ""


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("hello", "3 dot-separated parts"),
        ("a.b", "3 dot-separated parts"),
        ("a.b.c.d.e", "JWE"),
        ("!!!.e30.", "header is not base64url"),
        (f"{b64url(b'not json')}.e30.", "header is not base64url-encoded JSON"),
        (f"{b64url(b'[1]')}.e30.", "header is not a JSON object"),
        (f"{b64url(b'{}')}.{b64url(b'42')}.", "payload is not a JSON object"),
    ],
)
def test_not_a_jwt_is_a_usage_error(token: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, token)
    assert code == 2
    assert message in err
    assert out == ""


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--type", "id"],
        ["--leeway", "-5"],
        ["--leeway", "soon"],
        ["--frobnicate"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    token = forge({"alg": "ES256"}, {"sub": "x"}, b"sig")
    code, _, err = run(capsys, *([token] if argv else []), *argv)
    assert code == 2
    assert "usage:" in err


def test_missing_jwks_file(
    tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.json")
    code, _, err = run(capsys, sign(keys["ES256"], access_claims()), "--jwks", missing)
    assert code == 2
    assert "cannot read JWKS file" in err


@pytest.mark.parametrize("content", ["not json", '{"keys": "nope"}', '{"keys": []}', "[]"])
def test_unusable_jwks_file(
    content: str, tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run(capsys, sign(keys["ES256"], access_claims()), "--jwks", str(path))
    assert code == 2
    assert "JWKS" in err
    assert out == ""


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "--jwks" in out


# --------------------------------------------------------------------------- JWKS over HTTP


def test_jwks_url(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], access_claims())
    code, report = run_json(capsys, token, "--jwks", f"{server.base}/.well-known/jwks.json")
    assert code == 0, report["checks"]


@pytest.mark.parametrize("alg", ALGS)
def test_discovery(
    alg: str, server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys[alg], access_claims(iss=server.base))
    code, out, err = run(capsys, token, "--issuer", server.base, "--audience", AUDIENCE)
    assert code == 0, out + err
    assert "Result: VALID" in out


def test_discovery_checks_the_issuer_claim(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims())  # iss is ISSUER, not the server
    code, report = run_json(capsys, token, "--issuer", server.base)
    assert code == 1
    assert report["checks"]["signature"]["ok"] is True
    assert report["checks"]["iss"]["ok"] is False


def test_discovery_with_mismatched_issuer(
    issuer_server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    issuer_server.publish(list(keys.values()), issuer="https://someone-else.example.test")
    token = sign(keys["ES256"], access_claims(iss=issuer_server.base))
    code, out, err = run(capsys, token, "--issuer", issuer_server.base)
    assert code == 2
    assert "discovery failed" in err
    assert "someone-else" not in err  # server-supplied values are not echoed
    assert out == ""


def test_discovery_issuer_must_match_exactly(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(iss=server.base))
    code, _, err = run(capsys, token, "--issuer", server.base + "/")
    assert code == 2
    assert "discovery failed" in err


def test_jwks_url_http_error(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims())
    code, _, err = run(capsys, token, "--jwks", f"{server.base}/missing.json")
    assert code == 2
    assert "HTTP 404" in err


def test_unreachable_jwks_url(keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{unused_port()}/.well-known/jwks.json"
    code, out, err = run(capsys, sign(keys["ES256"], access_claims()), "--jwks", url)
    assert code == 2
    assert "cannot fetch the JWKS URL" in err
    assert out == ""


# --------------------------------------------------------------------------- helpers and script


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1 min"), (749, "12 min"), (3 * 3600, "3 h"),
     (3 * 3600 + 300, "3 h 5 min"), (2 * 86400 + 4 * 3600 + 59, "2 d 4 h")],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def _script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "inspect_token.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_script_runs_from_a_checkout(tmp_path: Path, keys: dict[str, SigningKey], jwks_file: str) -> None:
    token = sign(keys["EdDSA"], access_claims())
    result = _script(token, "--jwks", jwks_file, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["valid"] is True

    unverified = _script(token, cwd=tmp_path)
    assert unverified.returncode == 1
    assert "UNVERIFIED" in unverified.stdout

    assert _script("not-a-token", cwd=tmp_path).returncode == 2
