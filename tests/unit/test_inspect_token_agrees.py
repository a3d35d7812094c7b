"""inspect-token agrees with the authorizer: one test per way it used to disagree.

Each token here was once called VALID (exit 0) by inspect-token while the authorizer refused it,
or was judged with other keys, another leeway or a misleading message. Each is judged both by
inspect-token and by the authorizer's own verifier built as `authorizer.gateway.bootstrap` builds it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authorizer.errors import TokenError
from authorizer.tokens.keys import KeySet
from authorizer.tokens.verifier import ACCESS, TokenVerifier
from tests.unit import test_inspect_token as base
from tests.unit.test_inspect_token import (
    AUDIENCE,
    INSPECT_TOKEN,
    ISSUER,
    FakeIssuer,
    SigningKey,
    access_claims,
    discovered,
    make_key,
    ours,
    result_line,
    run,
    run_json,
    serving,
    sign,
    write_jwks,
)

# The fixtures of tests/unit/test_inspect_token.py, reused.
keys, jwks_file, issuer_server, server = base.keys, base.jwks_file, base.issuer_server, base.server


@pytest.fixture(scope="module")
def attacker_server() -> Iterator[FakeIssuer]:
    """Another host: `localhost` is not the issuer's `127.0.0.1`, and the port differs too."""
    yield from serving(FakeIssuer("localhost"))


DAY = 86400


def authorizer_accepts(token: str, signing_keys: list[SigningKey], leeway: int = 30) -> bool:
    """What the authorizer's verifier for our issuer decides (built as authorizer.gateway.bootstrap does)."""
    verifier = TokenVerifier(
        KeySet.from_jwks({"keys": [key.jwk for key in signing_keys]}),
        issuer=ISSUER,
        audience=AUDIENCE,
        token_type=ACCESS,
        leeway=leeway,
    )
    try:
        verifier.verify(token)
    except TokenError:
        return False
    return True


# --------------------------------------------------------------------------- claims and header


def _now() -> int:
    return int(time.time())


REFUSED_CLAIMS: dict[str, tuple[dict[str, Any], str]] = {
    "iat-a-day-ahead": ({"iat": _now() + DAY, "exp": _now() + DAY + 900}, "iat/nbf"),
    "no-jti": ({"jti": None}, "claims"),
    "no-sub": ({"sub": None}, "claims"),
    "no-iat": ({"iat": None}, "claims"),
    "empty-jti": ({"jti": ""}, "claims"),
    "numeric-sub": ({"sub": 12345}, "claims"),
    "list-scope": ({"scope": ["admin"]}, "claims"),
    "string-exp": ({"exp": str(_now() + 900)}, "claims"),
}


@pytest.mark.parametrize(("changes", "check"), REFUSED_CLAIMS.values(), ids=REFUSED_CLAIMS.keys())
def test_claims_the_authorizer_refuses_are_invalid(
    changes: dict[str, Any],
    check: str,
    keys: dict[str, SigningKey],
    jwks_file: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = sign(keys["ES256"], access_claims(**changes))
    assert not authorizer_accepts(token, list(keys.values()))
    code, report = run_json(capsys, token, *ours(jwks_file))
    assert code == 1, report
    assert report["status"] == "INVALID"
    assert report["failure"]["check"] == check


REFUSED_HEADERS: dict[str, dict[str, Any]] = {
    "jku": {"jku": "https://attacker.example/jwks.json"},
    "x5u": {"x5u": "https://attacker.example/cert.pem"},
    "no-kid": {"kid": None},
}


@pytest.mark.parametrize("header", REFUSED_HEADERS.values(), ids=REFUSED_HEADERS.keys())
def test_headers_the_authorizer_refuses_are_invalid(
    header: dict[str, Any],
    keys: dict[str, SigningKey],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One key only: without a `kid`, the old inspect-token took the only key there was.
    only = keys["EdDSA"]
    token = sign(only, access_claims(), **header)
    assert not authorizer_accepts(token, [only])
    code, report = run_json(capsys, token, *ours(write_jwks(tmp_path / "one.json", only)))
    assert code == 1, report
    assert report["failure"]["check"] == "format"


# --------------------------------------------------------------------------- where the keys come from


def test_a_discovery_redirect_to_another_host_is_not_followed(
    issuer_server: FakeIssuer,
    attacker_server: FakeIssuer,
    keys: dict[str, SigningKey],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The attacker's discovery document names the real issuer and the attacker's JWKS.
    attacker = make_key("ES256")
    attacker_server.publish([attacker], issuer=issuer_server.base)
    issuer_server.publish(list(keys.values()))
    discovery = "/.well-known/openid-configuration"
    issuer_server.redirect(discovery, attacker_server.base + discovery)
    forged = sign(attacker, access_claims(iss=issuer_server.base))
    code, out, err = run(capsys, forged, *discovered(issuer_server))
    assert attacker_server.requests == []
    assert code == 2, out
    assert "HTTP 302, a redirect: inspect-token follows none" in err


def test_a_same_host_redirect_is_not_followed_either(
    server: FakeIssuer, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    # The authorizer's JWKS fetch follows none; neither does inspect-token, for discovery or JWKS.
    server.redirect("/moved/jwks.json", f"{server.base}/.well-known/jwks.json", status=301)
    token = sign(keys["ES256"], access_claims())
    code, _, err = run(capsys, token, *ours(f"{server.base}/moved/jwks.json"))
    assert code == 2
    assert "HTTP 301, a redirect" in err
    assert server.requests == ["/moved/jwks.json"]


def test_a_jwks_uri_on_another_host_needs_naming_with_jwks_uri(
    issuer_server: FakeIssuer,
    attacker_server: FakeIssuer,
    keys: dict[str, SigningKey],
    capsys: pytest.CaptureFixture[str],
) -> None:
    attacker = make_key("RS256")
    attacker_server.publish([attacker])
    elsewhere = f"{attacker_server.base}/.well-known/jwks.json"
    issuer_server.publish(list(keys.values()), jwks_uri=elsewhere)
    forged = sign(attacker, access_claims(iss=issuer_server.base))
    code, out, err = run(capsys, forged, *discovered(issuer_server))
    assert attacker_server.requests == []
    assert code == 2, out
    assert "not on the issuer's host" in err and "--jwks-uri" in err
    # The operator may vouch for it (Google's JWKS, for one, lives on another host than its issuer).
    code, out, _ = run(capsys, forged, *discovered(issuer_server, "--jwks-uri", elsewhere))
    assert code == 3
    assert f"the issuer (jwks_uri {elsewhere})" in out
    # And a --jwks-uri the discovery document does not name is refused.
    other = f"{attacker_server.base}/other.json"
    code, _, err = run(capsys, forged, *discovered(issuer_server, "--jwks-uri", other))
    assert code == 2
    assert "is not the --jwks-uri given" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--issuer", "http://auth.invalid", "--audience", AUDIENCE],
        ["--issuer", ISSUER, "--audience", AUDIENCE, "--jwks", "http://auth.invalid/jwks.json"],
    ],
    ids=["discovery", "jwks-url"],
)
def test_plain_http_is_refused_off_localhost(
    argv: list[str], keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, sign(keys["ES256"], access_claims()), *argv)
    assert code == 2
    assert "must be https:// (http:// only on localhost)" in err


def test_keys_given_with_jwks_are_labelled_as_not_the_issuers(
    tmp_path: Path, keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    # A forgery signed with an attacker's key, "verified" with the attacker's JWKS: the verdict
    # must say whose keys those were.
    attacker = make_key("ES256")
    attacker_jwks = write_jwks(tmp_path / "attacker.json", attacker)
    forged = sign(attacker, access_claims())
    assert not authorizer_accepts(forged, list(keys.values()))
    code, out, _ = run(capsys, forged, *ours(attacker_jwks))
    assert result_line(out) == (
        "Result: VALID (signature and claims; revocation NOT checked); "
        f"keys from FILE {attacker_jwks}, not from the issuer"
    )
    assert code == 3
    code, report = run_json(capsys, forged, *ours(attacker_jwks))
    assert report["judged_as"]["keys_from_issuer"] is False


# --------------------------------------------------------------------------- leeway


def test_the_default_leeway_is_the_services(
    keys: dict[str, SigningKey],
    jwks_file: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AUTH_LEEWAY_SECONDS", raising=False)
    now = _now()
    for claims in (access_claims(exp=now - 20, iat=now - 900), access_claims(iat=now + 20)):
        token = sign(keys["ES256"], claims)
        assert authorizer_accepts(token, list(keys.values()))  # within the 30 s default
        assert run(capsys, token, *ours(jwks_file))[0] == 3
        # --leeway changes it, and so does AUTH_LEEWAY_SECONDS, with the service's semantics.
        assert not authorizer_accepts(token, list(keys.values()), leeway=5)
        code, report = run_json(capsys, token, *ours(jwks_file, "--leeway", "5"))
        assert code == 1 and report["judged_as"]["leeway"] == 5
        monkeypatch.setenv("AUTH_LEEWAY_SECONDS", "5")
        assert run(capsys, token, *ours(jwks_file))[0] == 1
        monkeypatch.delenv("AUTH_LEEWAY_SECONDS")


def test_a_bad_auth_leeway_seconds_is_a_usage_error(
    keys: dict[str, SigningKey],
    jwks_file: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_LEEWAY_SECONDS", "301")
    code, _, err = run(capsys, sign(keys["ES256"], access_claims()), *ours(jwks_file))
    assert code == 2
    assert "AUTH_LEEWAY_SECONDS must be at least 0 and at most 300" in err


def test_auth_max_token_bytes_is_read_as_the_service_reads_it(
    keys: dict[str, SigningKey],
    jwks_file: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A token over the default 8192 bytes: a service with a raised limit accepts it, and
    # inspect-token under the same setting says so; without it, both refuse it.
    token = sign(keys["ES256"], access_claims(padding="x" * 9000))
    assert len(token) > 8192
    monkeypatch.delenv("AUTH_MAX_TOKEN_BYTES", raising=False)
    code, out, _ = run(capsys, token, *ours(jwks_file))
    assert code == 1 and "longer than 8192 bytes" in out
    monkeypatch.setenv("AUTH_MAX_TOKEN_BYTES", "16384")
    assert run(capsys, token, *ours(jwks_file))[0] == 3  # valid; revocation not checked
    monkeypatch.setenv("AUTH_MAX_TOKEN_BYTES", "100")
    code, _, err = run(capsys, token, *ours(jwks_file))
    assert code == 2 and "AUTH_MAX_TOKEN_BYTES must be at least 512" in err


# --------------------------------------------------------------------------- messages and output


@pytest.mark.parametrize("signature", ["A", "AB=C", "ab+/", "x" * 85 + "!"])
def test_a_signature_that_is_not_base64url_is_a_signature_failure(
    signature: str, keys: dict[str, SigningKey], jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    head, body, _ = sign(keys["ES256"], access_claims()).split(".")
    token = f"{head}.{body}.{signature}"
    code, out, _ = run(capsys, token, *ours(jwks_file))
    assert code == 1
    assert result_line(out).startswith("Result: INVALID (signature: the signature is not valid base64url")
    assert "padding" not in out
    assert "exp" not in result_line(out)


def test_the_first_line_is_the_verdict_and_head_gets_no_traceback(
    keys: dict[str, SigningKey], jwks_file: str
) -> None:
    # inspect-token | head -1, a real pipe: head exits after the first line, the rest meets EPIPE.
    token = sign(keys["ES256"], access_claims(note="x" * 2000))
    inspect = subprocess.Popen(
        [*INSPECT_TOKEN, token, *ours(jwks_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert inspect.stdout is not None and inspect.stderr is not None
    head = subprocess.run(["head", "-1"], stdin=inspect.stdout, capture_output=True, text=True, timeout=60)
    inspect.stdout.close()
    stderr = inspect.stderr.read().decode()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert head.stdout.startswith("Result: VALID (signature and claims; revocation NOT checked)")
    assert head.stdout.count("\n") == 1
    assert inspect.wait(timeout=60) == 3


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["text", "json"])
def test_a_reader_that_has_gone_gets_no_traceback(
    output: list[str], keys: dict[str, SigningKey], jwks_file: str
) -> None:
    # The read end is closed before inspect-token writes anything: every write meets EPIPE.
    token = sign(keys["ES256"], access_claims(note="x" * 2000))
    process = subprocess.Popen(
        [*INSPECT_TOKEN, token, *ours(jwks_file), *output],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert process.wait(timeout=60) == 3  # the verdict's code, though nobody read it

