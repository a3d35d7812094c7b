"""Tests for the inspect-token CLI (auth_service.cli.inspect_token and scripts/inspect_token.py).

Keys are generated at run time; URL cases talk to throwaway http.servers on 127.0.0.1 (a second
one, reached as `localhost`, plays another host). The denylist is moto's (`mock_aws`, or its
server on 127.0.0.1 for a subprocess).
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
import uuid
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

from auth_service.cli.inspect_token import format_duration, main
from auth_service.denylist import Denylist
from tests.conftest import DENYLIST

REPO_ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"
POOL = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Inspect1"
POOL_CLIENT = "inspect-client"
ALGS = ("RS256", "ES256", "EdDSA")
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
INSPECT_TOKEN = [sys.executable, "-m", "auth_service.cli.inspect_token"]


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
    """Claims of a valid access token of ours; an override of None drops that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-123",
        "aud": AUDIENCE,
        "exp": now + 900,
        "iat": now,
        "auth_time": now,
        "jti": "jti-1",
        "scope": "orders:read",
        "sid": "session-1",
        "client_id": "web",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def pool_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": POOL,
        "sub": "pool-user-1",
        "client_id": POOL_CLIENT,
        "token_use": "access",
        "scope": "profile",
        "auth_time": now,
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "origin_jti": str(uuid.uuid4()),
        "username": "pool-user",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(key: SigningKey, claims: dict[str, Any], **header: Any) -> str:
    headers = {"typ": "at+jwt", "kid": key.kid, **header}
    headers = {name: value for name, value in headers.items() if value is not None}
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


def ours(jwks: str, *extra: str) -> list[str]:
    """The arguments that judge a token as our authorizer does, with the keys in `jwks`."""
    return ["--jwks", jwks, "--issuer", ISSUER, "--audience", AUDIENCE, "--type", "access", *extra]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run(capsys, *argv, "--json")
    assert out, err
    return code, json.loads(out)


def result_line(out: str) -> str:
    results = [line for line in out.splitlines() if line.startswith("Result: ")]
    assert len(results) == 1, out
    return results[0]


# --------------------------------------------------------------------------- tiny issuer servers


class FakeIssuer:
    """Serves a JWKS and a discovery document; tests change `routes` as they need."""

    def __init__(self, host_name: str = "127.0.0.1") -> None:
        # path -> (status, body, extra headers)
        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://{host_name}:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        routes, seen = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                status, body, headers = routes.get(self.path, (404, b"{}", {}))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        return Handler

    def publish(self, keys: list[SigningKey], issuer: str | None = None, jwks_uri: str | None = None) -> None:
        self.routes.clear()
        self.requests.clear()
        jwks = json.dumps({"keys": [key.jwk for key in keys]}).encode()
        discovery = {
            "issuer": self.base if issuer is None else issuer,
            "jwks_uri": f"{self.base}/.well-known/jwks.json" if jwks_uri is None else jwks_uri,
        }
        self.routes["/.well-known/jwks.json"] = (200, jwks, {})
        self.routes["/.well-known/openid-configuration"] = (200, json.dumps(discovery).encode(), {})

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = (status, b"", {"Location": location})


def serving(fake: FakeIssuer) -> Iterator[FakeIssuer]:
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def issuer_server() -> Iterator[FakeIssuer]:
    yield from serving(FakeIssuer())


@pytest.fixture
def server(issuer_server: FakeIssuer, keys: dict[str, SigningKey]) -> FakeIssuer:
    issuer_server.publish(list(keys.values()))
    return issuer_server


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def discovered(server: FakeIssuer, *extra: str) -> list[str]:
    """Arguments that judge a token of `server` with the keys its discovery document names."""
    return ["--issuer", server.base, "--audience", AUDIENCE, *extra]


# --------------------------------------------------------------------------- valid tokens


@pytest.mark.parametrize("alg", ALGS)
def test_valid_token_text(
    alg: str, keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys[alg], access_claims())
    code, out, err = run(capsys, token, *ours(jwks_file))
    assert code == 3, out + err  # valid, revocation not checked
    assert result_line(out) == (
        "Result: VALID (signature and claims; revocation NOT checked); "
        f"keys from FILE {jwks_file}, not from the issuer"
    )
    assert "UNVERIFIED" not in out
    assert "verifier   PASS" in out
    assert "revocation NOT checked" in out
    assert f'"alg": "{alg}"' in out  # header shown as pretty JSON
    assert '"sub": "user-123"' in out
    assert "expires in 15 min" in out or "expires in 14 min" in out


@pytest.mark.parametrize("alg", ALGS)
def test_valid_token_json(
    alg: str, keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys[alg], access_claims(nbf=int(time.time()) - 60))
    code, report = run_json(capsys, token, *ours(jwks_file))
    assert code == 3
    assert report["valid"] is True
    assert report["status"] == "VALID_REVOCATION_NOT_CHECKED"
    assert report["failure"] is None
    assert report["revocation"] == {"checked": False, "revoked": None, "reason": None}
    assert report["judged_as"]["issuer"] == ISSUER
    assert report["judged_as"]["audiences"] == [AUDIENCE]
    assert report["judged_as"]["type"] == "access"
    assert report["judged_as"]["keys_from_issuer"] is False
    assert report["header"]["kid"] == keys[alg].kid
    assert report["claims"]["client_id"] == "web"
    assert report["times"]["exp"]["utc"].endswith("Z")
    assert report["times"]["nbf"]["relative"] == "valid since 1 min ago"


def test_refresh_token_valid_with_type_refresh(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = access_claims(aud=ISSUER, token_use="refresh", scope=None, client_id=None)
    token = sign(keys["ES256"], claims, typ="rt+jwt")
    # A refresh token's audience is the issuer itself: the default for --type refresh.
    code, report = run_json(capsys, token, "--jwks", jwks_file, "--issuer", ISSUER, "--type", "refresh")
    assert code == 3, report["failure"]
    assert report["judged_as"]["audiences"] == [ISSUER]


def test_several_audiences_are_accepted_as_the_authorizer_does(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(aud="billing-api"))
    assert run(capsys, token, *ours(jwks_file))[0] == 1
    code, _, _ = run(capsys, token, *ours(jwks_file, "--audience", "billing-api"))
    assert code == 3


# --------------------------------------------------------------------------- unverified


def test_no_keys_is_unverified_text(keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sign(keys["ES256"], access_claims()))
    assert code == 1
    assert result_line(out).startswith("Result: UNVERIFIED")
    assert '"scope": "orders:read"' in out  # still decoded and shown


def test_no_keys_is_unverified_json(keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, sign(keys["ES256"], access_claims()))
    assert code == 1
    assert report["status"] == "UNVERIFIED"
    assert report["valid"] is False
    assert report["judged_as"] is None
    assert report["times"]["exp"]["relative"].startswith("expires in")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jwks", "jwks.json"], "--jwks needs --issuer"),
        (["--audience", AUDIENCE], "pass --issuer"),
        (["--type", "refresh"], "pass --issuer"),
        (["--leeway", "5"], "pass --issuer"),
        (["--denylist-table", "t"], "pass --issuer"),
        (["--issuer", ISSUER, "--jwks", "jwks.json"], "--audience is required"),
        (["--issuer", ISSUER, "--jwks", "a.json", "--jwks-uri", "https://x.test/k"], "not both"),
        (["--issuer", ISSUER, "--jwks", "a.json", "--audience", "a", "--region", "eu-west-1"], "--denylist"),
        (["--dynamodb-endpoint", "http://127.0.0.1:1"], "only applies with --denylist-table"),
    ],
)
def test_every_option_has_an_effect_or_is_refused(
    argv: list[str], message: str, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, sign(keys["ES256"], access_claims()), *argv)
    assert code == 2
    assert message in err
    assert out == ""


# --------------------------------------------------------------------------- claim failures


def test_expired_token(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    token = sign(keys["EdDSA"], access_claims(exp=now - 3 * 3600 - 30, iat=now - 4 * 3600))
    code, out, _ = run(capsys, token, *ours(jwks_file))
    assert code == 1
    assert result_line(out).startswith("Result: INVALID (exp: token has expired)")
    assert "expired 3 h ago; leeway 30 s" in out


def test_missing_exp_fails(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(exp=None))
    code, report = run_json(capsys, token, *ours(jwks_file))
    assert code == 1
    assert report["failure"]["check"] == "claims"
    assert "exp" in report["failure"]["reason"]


def test_not_yet_valid_token(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], access_claims(nbf=int(time.time()) + 600 + 30))
    code, report = run_json(capsys, token, *ours(jwks_file))
    assert code == 1
    assert report["failure"] == {
        "check": "iat/nbf",
        "reason": "token is not valid yet",
        "detail": "issued 0 s ago; becomes valid in 10 min; leeway 30 s",
    }


def test_wrong_issuer(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(iss="https://evil.example.test"))
    code, report = run_json(capsys, token, *ours(jwks_file))
    assert code == 1
    assert report["failure"]["check"] == "iss"


def test_wrong_audience(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims())
    code, report = run_json(
        capsys, token, "--jwks", jwks_file, "--issuer", ISSUER, "--audience", "billing-api"
    )
    assert code == 1
    assert report["failure"]["check"] == "aud"


def test_wrong_type(keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    access = sign(keys["ES256"], access_claims(aud=ISSUER))
    code, report = run_json(capsys, access, "--jwks", jwks_file, "--issuer", ISSUER, "--type", "refresh")
    assert code == 1
    assert report["failure"]["check"] == "type"
    assert "rt+jwt" in report["failure"]["reason"]


def test_a_refresh_token_is_not_an_access_token_by_default(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = access_claims(aud=AUDIENCE, token_use="refresh")
    token = sign(keys["ES256"], claims, typ="rt+jwt")
    code, report = run_json(capsys, token, "--jwks", jwks_file, "--issuer", ISSUER, "--audience", AUDIENCE)
    assert code == 1
    assert report["failure"]["check"] == "type"


def test_refresh_typ_without_token_use_fails(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(aud=ISSUER), typ="rt+jwt")
    code, report = run_json(capsys, token, "--jwks", jwks_file, "--issuer", ISSUER, "--type", "refresh")
    assert code == 1
    assert "token_use" in report["failure"]["reason"]


# --------------------------------------------------------------------------- signature failures


def test_tampered_payload(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    header, _, signature = sign(keys["ES256"], access_claims()).split(".")
    payload = b64url(json.dumps(access_claims(sub="admin")).encode())
    code, report = run_json(capsys, f"{header}.{payload}.{signature}", *ours(jwks_file))
    assert code == 1
    assert report["status"] == "INVALID"
    assert report["failure"]["check"] == "signature"
    assert report["claims"]["sub"] == "admin"  # still shown, but refused


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
    code, report = run_json(capsys, f"{unsigned}.{b64url(signature)}", *ours(jwks_file))
    assert code == 1
    assert report["failure"]["check"] == "alg"
    assert "RS256" in report["failure"]["reason"]


def test_alg_none_is_refused(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": keys["ES256"].kid}
    code, report = run_json(capsys, forge(header, access_claims(), b"x"), *ours(jwks_file))
    assert code == 1
    assert report["failure"]["check"] == "alg"


def test_header_alg_must_match_the_keys_alg(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Signed with the RSA key but pointing at the EC key: the key decides, not the header.
    token = sign(keys["RS256"], access_claims(), kid=keys["ES256"].kid)
    code, report = run_json(capsys, token, *ours(jwks_file))
    assert code == 1
    assert report["failure"] == {
        "check": "alg",
        "reason": "algorithm must be ES256 for this key",
        "detail": "",
    }


def test_jwks_file_with_a_key_whose_alg_contradicts_its_type_is_unusable(
    tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    # A JWKS file is configuration, read as strictly as AUTH_JWKS_FILE: one bad key spoils it.
    ec_key = keys["ES256"]
    lying = SigningKey("ES256", ec_key.private, {**ec_key.jwk, "alg": "RS256"})
    jwks = write_jwks(tmp_path / "lying.json", lying)
    code, out, err = run(capsys, sign(ec_key, access_claims()), *ours(jwks))
    assert code == 2
    assert "does not fit" in err
    assert out == ""


def test_unknown_kid(keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = sign(keys["ES256"], access_claims(), kid="not-in-jwks")
    code, report = run_json(capsys, token, *ours(jwks_file))
    assert code == 1
    assert report["failure"]["check"] == "kid"


def test_wrong_key_with_same_kid(
    tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    other = make_key("ES256")
    impostor = SigningKey("ES256", other.private, {**other.jwk, "kid": keys["ES256"].kid})
    jwks = write_jwks(tmp_path / "other.json", impostor)
    code, report = run_json(capsys, sign(keys["ES256"], access_claims()), *ours(jwks))
    assert code == 1
    assert report["failure"]["check"] == "signature"


def test_keys_are_never_printed(
    keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], access_claims(), kid=keys["ES256"].kid)
    for extra in ([], ["--json"]):
        _, out, err = run(capsys, token, *ours(jwks_file), *extra)
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
    code, report = run_json(capsys, "-", *ours(jwks_file))
    assert code == 3
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
        ["--leeway", "301"],
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
    code, _, err = run(capsys, sign(keys["ES256"], access_claims()), *ours(missing))
    assert code == 2
    assert "cannot read JWKS file" in err


@pytest.mark.parametrize("content", ["not json", '{"keys": "nope"}', '{"keys": []}', "[]"])
def test_unusable_jwks_file(
    content: str, tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run(capsys, sign(keys["ES256"], access_claims()), *ours(str(path)))
    assert code == 2
    assert "JWKS" in err
    assert out == ""


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "--jwks" in out and "--denylist-table" in out


# --------------------------------------------------------------------------- keys over HTTP


def test_jwks_url_is_labelled_as_not_the_issuers(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], access_claims())
    url = f"{server.base}/.well-known/jwks.json"
    code, out, _ = run(capsys, token, *ours(url))
    assert code == 3
    assert result_line(out).endswith(f"; keys from URL {url}, not from the issuer")


@pytest.mark.parametrize("alg", ALGS)
def test_discovery(
    alg: str, server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys[alg], access_claims(iss=server.base))
    code, out, err = run(capsys, token, *discovered(server))
    assert code == 3, out + err
    assert result_line(out) == "Result: VALID (signature and claims; revocation NOT checked)"
    assert f"keys       the issuer (jwks_uri {server.base}/.well-known/jwks.json)" in out


def test_discovery_checks_the_issuer_claim(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims())  # iss is ISSUER, not the server
    code, report = run_json(capsys, token, *discovered(server))
    assert code == 1
    assert report["failure"]["check"] == "iss"
    assert report["judged_as"]["keys_from_issuer"] is True


def test_discovery_with_mismatched_issuer(
    issuer_server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    issuer_server.publish(list(keys.values()), issuer="https://someone-else.example.test")
    token = sign(keys["ES256"], access_claims(iss=issuer_server.base))
    code, out, err = run(capsys, token, *discovered(issuer_server))
    assert code == 2
    assert "discovery failed" in err
    assert "someone-else" not in err  # server-supplied values are not echoed
    assert out == ""


def test_discovery_issuer_must_match_exactly(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(iss=server.base))
    code, _, err = run(capsys, token, "--issuer", server.base + "/", "--audience", AUDIENCE)
    assert code == 2
    assert "discovery failed" in err


def test_jwks_url_http_error(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims())
    code, _, err = run(capsys, token, *ours(f"{server.base}/missing.json"))
    assert code == 2
    assert "HTTP 404" in err


def test_unreachable_jwks_url(keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{unused_port()}/.well-known/jwks.json"
    code, out, err = run(capsys, sign(keys["ES256"], access_claims()), *ours(url))
    assert code == 2
    assert "cannot fetch the JWKS" in err
    assert out == ""


# --------------------------------------------------------------------------- Cognito user pools


@pytest.fixture
def pool_jwks(tmp_path: Path, keys: dict[str, SigningKey]) -> str:
    return write_jwks(tmp_path / "pool.json", keys["RS256"])


def pool_args(jwks: str, token_type: str = "cognito-access") -> list[str]:  # noqa: S107 - no password
    return ["--jwks", jwks, "--issuer", POOL, "--audience", POOL_CLIENT, "--type", token_type]


def test_cognito_access_token(
    keys: dict[str, SigningKey], pool_jwks: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], pool_claims(), typ=None)  # Cognito sets no typ
    code, report = run_json(capsys, token, *pool_args(pool_jwks))
    assert code == 3, report["failure"]
    # The same token is no access token of ours, and no Cognito ID token.
    code, report = run_json(capsys, token, "--jwks", pool_jwks, "--issuer", POOL, "--audience", POOL_CLIENT)
    assert (code, report["failure"]["check"]) == (1, "type")
    code, report = run_json(capsys, token, *pool_args(pool_jwks, "cognito-id"))
    # Named as the type it is not, not as the `aud` it lacks too (issue 17).
    assert (code, report["failure"]["reason"]) == (1, "not a Cognito ID token (token_use must be id)")


def test_cognito_id_token_names_its_client_in_aud(
    keys: dict[str, SigningKey], pool_jwks: str, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = pool_claims(token_use="id", aud=POOL_CLIENT, client_id=None, scope=None)
    token = sign(keys["RS256"], claims, typ=None)
    assert run_json(capsys, token, *pool_args(pool_jwks, "cognito-id"))[0] == 3
    code, report = run_json(capsys, token, *pool_args(pool_jwks))
    assert (code, report["failure"]["reason"]) == (1, "not a Cognito access token (token_use must be access)")
    claims["client_id"] = POOL_CLIENT
    code, report = run_json(capsys, sign(keys["RS256"], claims, typ=None), *pool_args(pool_jwks))
    assert (code, report["failure"]["check"]) == (1, "type")


def test_cognito_token_of_another_app_client(
    keys: dict[str, SigningKey], pool_jwks: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["RS256"], pool_claims(client_id="another-client"), typ=None)
    code, report = run_json(capsys, token, *pool_args(pool_jwks))
    assert (code, report["failure"]["check"]) == (1, "aud")


# --------------------------------------------------------------------------- revocation


def test_revocation_checked_in_the_denylist(
    dynamodb: Any, keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims(sid="session-live", jti="jti-live"))
    code, out, _ = run(capsys, token, *ours(jwks_file, "--denylist-table", DENYLIST))
    assert code == 0
    assert result_line(out).startswith("Result: VALID (signature, claims and revocation)")
    assert "revocation not revoked" in out


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("jti", "token revoked"),
        ("session", "session revoked"),
        ("user", "user signed out everywhere"),
        ("rotated", "refresh token already used"),
    ],
)
def test_a_revoked_token_is_invalid_with_the_denylist_and_not_checked_without(
    how: str,
    reason: str,
    dynamodb: Any,
    keys: dict[str, SigningKey],
    jwks_file: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    claims = access_claims(sub=f"user-{uuid.uuid4()}", sid=str(uuid.uuid4()), jti=str(uuid.uuid4()))
    denylist = Denylist(dynamodb, DENYLIST, max_token_lifetime=3600, leeway=30)
    if how == "jti":
        denylist.revoke_token(claims["jti"], claims["exp"], "test")
    elif how == "session":
        denylist.revoke_session(claims["sid"], "test")
    elif how == "user":
        denylist.revoke_user(claims["sub"], "test")
    else:
        assert denylist.claim_refresh_token(claims["jti"], claims["exp"])
    token = sign(keys["ES256"], claims)

    code, report = run_json(capsys, token, *ours(jwks_file, "--denylist-table", DENYLIST))
    assert code == 1
    assert report["status"] == "INVALID"
    assert report["valid"] is True  # signature and claims are fine; the denylist refuses it
    assert report["failure"] == {"check": "revocation", "reason": reason, "detail": ""}
    assert report["revocation"] == {"checked": True, "revoked": True, "reason": reason}

    # Without the denylist the verdict says plainly that it was not asked, and so does the exit code.
    code, out, _ = run(capsys, token, *ours(jwks_file))
    assert code == 3
    assert result_line(out).startswith("Result: VALID (signature and claims; revocation NOT checked)")


def test_a_revoked_cognito_login_is_invalid(
    dynamodb: Any, keys: dict[str, SigningKey], pool_jwks: str, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = pool_claims()
    Denylist(dynamodb, DENYLIST, max_token_lifetime=3600, leeway=30).revoke_origin(claims["origin_jti"], "t")
    token = sign(keys["RS256"], claims, typ=None)
    code, report = run_json(capsys, token, *pool_args(pool_jwks), "--denylist-table", DENYLIST)
    assert code == 1
    assert report["failure"]["check"] == "revocation"


def test_an_unreadable_denylist_is_an_error_not_a_verdict(
    dynamodb: Any, keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(keys["ES256"], access_claims())
    code, out, err = run(capsys, token, *ours(jwks_file, "--denylist-table", "no-such-table"))
    assert code == 2
    assert "cannot check revocation" in err and "no-such-table" in err
    assert out == ""


def test_revocation_through_a_dynamodb_endpoint(
    dynamodb: Any, moto_endpoint: str, keys: dict[str, SigningKey], jwks_file: str
) -> None:
    # A subprocess, as an operator runs it against `auth-service serve`'s DynamoDB endpoint.
    claims = access_claims(sid=str(uuid.uuid4()))
    Denylist(dynamodb, DENYLIST, max_token_lifetime=3600, leeway=30).revoke_session(claims["sid"], "logout")
    revoked, live = sign(keys["EdDSA"], claims), sign(keys["EdDSA"], access_claims(sid=str(uuid.uuid4())))
    args = ours(jwks_file, "--denylist-table", DENYLIST, "--dynamodb-endpoint", moto_endpoint)
    for token, code, verdict in ((revoked, 1, "INVALID (revocation: session revoked)"), (live, 0, "VALID")):
        result = subprocess.run(
            [*INSPECT_TOKEN, token, *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == code, result.stdout + result.stderr
        assert result.stdout.startswith(f"Result: {verdict}")


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
    result = _script(token, *ours(jwks_file), "--json", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert json.loads(result.stdout)["valid"] is True

    unverified = _script(token, cwd=tmp_path)
    assert unverified.returncode == 1
    assert "UNVERIFIED" in unverified.stdout

    assert _script("not-a-token", cwd=tmp_path).returncode == 2
