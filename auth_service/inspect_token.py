"""inspect-token: decode a lambda-jwt-auth token and report, check by check, whether it is valid.

Usage:
    inspect-token TOKEN [--jwks URL|FILE | --issuer URL] [--audience AUD]
                  [--type access|refresh] [--leeway SECONDS] [--json]

TOKEN may be ``-`` to read it from stdin; a leading ``Bearer `` is accepted.

Exit codes: 0 = valid (signature verified and every performed check passed),
1 = invalid or unverified, 2 = usage error (bad arguments, unreadable JWKS file,
unreachable JWKS URL, or input that is not a JWT at all).

What is printed is limited to the token's own decoded parts and values the operator
passed in: key material, JWKS contents and server responses are never echoed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)
from jwt.types import Options

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

# The issuer only ever signs with these; everything else (none, HS*, PS*, ES384...) is refused.
ALLOWED_ALGORITHMS = ("EdDSA", "ES256", "RS256")
EXPECTED_TYP = {"access": "at+jwt", "refresh": "rt+jwt"}
CHECK_NAMES = ("signature", "exp", "nbf", "iss", "aud", "typ")
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
HTTP_TIMEOUT_SECONDS = 5.0
DISCOVERY_PATH = "/.well-known/openid-configuration"

# (text when the instant is in the future, text when it is now or in the past)
RELATIVE_PHRASES = {
    "exp": ("expires in {d}", "expired {d} ago"),
    "iat": ("issued in {d} (in the future)", "issued {d} ago"),
    "nbf": ("becomes valid in {d}", "valid since {d} ago"),
    "auth_time": ("authenticated in {d} (in the future)", "authenticated {d} ago"),
}

# The signature check verifies the signature only; each claim is checked on its own
# so that every verdict can be reported separately.
SIGNATURE_ONLY = Options(
    verify_signature=True,
    # A short RSA key is a failure, not a warning on stderr.
    enforce_minimum_key_length=True,
    verify_exp=False,
    verify_nbf=False,
    verify_iat=False,
    verify_aud=False,
    verify_iss=False,
    verify_sub=False,
    verify_jti=False,
)
# The one algorithm each acceptable key type may be used with, by (kty, crv).
_ALG_BY_KEY_TYPE: dict[tuple[Any, Any], str] = {
    ("RSA", None): "RS256",
    ("EC", "P-256"): "ES256",
    ("OKP", "Ed25519"): "EdDSA",
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_BEARER_PREFIX = re.compile(r"^bearer(\s+|$)", re.IGNORECASE)


class UsageError(Exception):
    """Something the operator has to fix; reported on stderr with exit code 2."""


@dataclass(frozen=True)
class Token:
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]


@dataclass(frozen=True)
class Check:
    ok: bool | None  # None: the check was not performed
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


# --------------------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspect-token",
        description=(
            "Decode a lambda-jwt-auth access or refresh token, show its header, claims and "
            "times, and check it. Without --jwks or --issuer the signature is not verified "
            "and the result is UNVERIFIED."
        ),
        epilog="Exit codes: 0 valid, 1 invalid or unverified, 2 usage error.",
    )
    parser.add_argument("token", metavar="TOKEN", help="the JWT, or '-' to read it from stdin")
    parser.add_argument(
        "--jwks",
        metavar="URL|FILE",
        help="verify with this JWKS: an http(s) URL or a JSON file",
    )
    parser.add_argument(
        "--issuer",
        metavar="URL",
        help=(
            "expected issuer (iss check). Without --jwks, its keys are found by discovery: "
            f"URL{DISCOVERY_PATH} must name exactly URL as issuer, then its jwks_uri is fetched"
        ),
    )
    parser.add_argument("--audience", metavar="AUD", help="expected audience (aud check)")
    parser.add_argument(
        "--type",
        choices=sorted(EXPECTED_TYP),
        help="expected token type: access (typ at+jwt) or refresh (typ rt+jwt)",
    )
    parser.add_argument(
        "--leeway",
        metavar="SECONDS",
        type=_non_negative_int,
        default=0,
        help="clock skew allowed for exp and nbf (default 0)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


# --------------------------------------------------------------------------- token input


def read_token(argument: str) -> str:
    text = sys.stdin.read() if argument == "-" else argument
    # Operators often paste a whole Authorization header value.
    text = _BEARER_PREFIX.sub("", text.strip()).strip()
    if not text:
        raise UsageError("no token given" + (" on stdin" if argument == "-" else ""))
    return text


def parse_token(raw: str) -> Token:
    """Split and decode a compact JWS without verifying anything (that comes later)."""
    parts = raw.split(".")
    if len(parts) == 5:
        raise UsageError("the token has 5 parts: it is an encrypted JWE, not a signed JWT")
    if len(parts) != 3:
        raise UsageError(f"not a JWT: expected 3 dot-separated parts, found {len(parts)}")
    header = _decode_json_part(parts[0], "header")
    claims = _decode_json_part(parts[1], "payload")
    return Token(raw=raw, header=header, claims=claims)


def _decode_json_part(segment: str, name: str) -> dict[str, Any]:
    # b64decode silently skips foreign characters; insist on the base64url alphabet.
    if not _BASE64URL.fullmatch(segment):
        raise UsageError(f"not a JWT: the {name} is not base64url-encoded")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(data)
    except (binascii.Error, ValueError, RecursionError):
        raise UsageError(f"not a JWT: the {name} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise UsageError(f"not a JWT: the {name} is not a JSON object")
    return value


# --------------------------------------------------------------------------- key sources


def load_keys(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """Return the JWKS keys to verify with, or None when the operator gave no key source."""
    if args.jwks:
        if _is_http_url(args.jwks):
            return _jwk_list(_fetch_json(args.jwks, "JWKS URL"), "JWKS URL")
        return _jwk_list(_read_json_file(args.jwks), "JWKS file")
    if args.issuer:
        jwks_uri = discover_jwks_uri(args.issuer)
        return _jwk_list(_fetch_json(jwks_uri, "jwks_uri from discovery"), "jwks_uri")
    return None


def discover_jwks_uri(issuer: str) -> str:
    if not _is_http_url(issuer):
        raise UsageError("--issuer must be an http(s) URL")
    # OpenID Connect Discovery 1.0 §4: drop a terminating "/" before appending the path.
    url = issuer.rstrip("/") + DISCOVERY_PATH
    document = _fetch_json(url, "discovery document")
    if not isinstance(document, dict):
        raise UsageError(f"discovery failed: {url} is not a JSON object")
    # A document naming another issuer could hand us an attacker's keys (mix-up attack).
    if document.get("issuer") != issuer:
        raise UsageError(f"discovery failed: the issuer in {url} is not exactly {issuer}")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not _is_http_url(jwks_uri):
        raise UsageError(f"discovery failed: {url} has no http(s) jwks_uri")
    return jwks_uri


def _is_http_url(text: str) -> bool:
    return text.startswith(("https://", "http://"))


def _fetch_json(url: str, what: str) -> Any:
    # Imported lazily: requests is only needed for URLs, and reading a JWKS file or
    # decoding a token must keep working where only the core dependencies are installed.
    try:
        import requests
    except ImportError:
        raise UsageError(
            f"cannot fetch the {what}: the 'requests' package is not installed (pass --jwks FILE instead)"
        ) from None
    # Reasons are named by us, never copied from the response or exception text, so a
    # server-supplied URL or body is never echoed.
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS)
    except requests.Timeout:
        raise UsageError(f"cannot fetch the {what}: timed out after 5 s") from None
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise UsageError(f"cannot fetch the {what}: request failed ({reason})") from None
    if response.status_code != 200:
        raise UsageError(f"cannot fetch the {what}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise UsageError(f"cannot fetch the {what}: the response is not JSON") from None


def _read_json_file(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
        raise UsageError(f"cannot read JWKS file {path}: {reason}") from None
    try:
        return json.loads(text)
    except ValueError:
        raise UsageError(f"JWKS file {path} is not valid JSON") from None


def _jwk_list(document: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise UsageError(f"the {source} is not a JWKS (a JSON object with a 'keys' list)")
    keys = [key for key in document["keys"] if isinstance(key, dict)]
    if not keys:
        raise UsageError(f"the {source} contains no keys")
    return keys


# --------------------------------------------------------------------------- checks


def key_algorithm(jwk: dict[str, Any]) -> str | None:
    """The only algorithm this key may verify, or None if the key is not acceptable.

    Derived from kty/crv so that a key cannot be talked into another algorithm: a JWK
    whose own "alg" disagrees with its type is refused rather than trusted.
    """
    kty, crv = jwk.get("kty"), jwk.get("crv")
    derived = _ALG_BY_KEY_TYPE.get((kty, None if kty == "RSA" else crv))
    declared = jwk.get("alg")
    if derived is None or (declared is not None and declared != derived):
        return None
    return derived


def select_key(header: dict[str, Any], keys: list[dict[str, Any]]) -> dict[str, Any] | str:
    """The JWK to verify with, or the reason none could be chosen."""
    kid = header.get("kid")
    # Encryption keys must not verify signatures; keys without "use" are fine.
    signing = [key for key in keys if key.get("use", "sig") == "sig"]
    if kid is None:
        if len(signing) == 1:
            return signing[0]
        return f"the token has no kid and the JWKS has {len(signing)} signing keys"
    matches = [key for key in signing if key.get("kid") == kid]
    if not matches:
        return f"no signing key with kid {kid!r} in the JWKS"
    if len(matches) > 1:
        return f"the JWKS has {len(matches)} signing keys with kid {kid!r}"
    return matches[0]


def check_signature(token: Token, keys: list[dict[str, Any]] | None) -> Check:
    if keys is None:
        return Check(None, "NOT VERIFIED: pass --jwks or --issuer to check the signature")
    alg = token.header.get("alg")
    refusal = _refuse_algorithm(alg)
    if refusal:
        return Check(False, refusal)
    selected = select_key(token.header, keys)
    if isinstance(selected, str):
        return Check(False, selected)
    # The algorithm is pinned by the key, never by the token header (RFC 8725 §3.1).
    key_alg = key_algorithm(selected)
    if key_alg is None:
        return Check(False, "the matching JWKS key is not an RS256, ES256 or Ed25519 key")
    if alg != key_alg:
        return Check(False, f"the token says alg {alg!r} but its key is for {key_alg!r}")
    return _verify_with_key(token, selected, key_alg)


def _refuse_algorithm(alg: Any) -> str | None:
    if not isinstance(alg, str) or not alg:
        return "the token header has no alg"
    if alg.lower() == "none":
        return "alg 'none' (an unsigned token) is always refused"
    if alg.upper().startswith("HS"):
        return f"alg {alg!r} (HMAC) is always refused: the issuer signs with public keys only"
    if alg not in ALLOWED_ALGORITHMS:
        return f"alg {alg!r} is not accepted (only {', '.join(ALLOWED_ALGORITHMS)})"
    return None


def _verify_with_key(token: Token, jwk: dict[str, Any], key_alg: str) -> Check:
    kid = token.header.get("kid")
    which = f"the key with kid {kid!r}" if kid is not None else "the only key in the JWKS"
    try:
        key = jwt.PyJWK(jwk, algorithm=key_alg)
    except PyJWTError:
        # PyJWT's message would include the JWK itself: keep it out of the output.
        return Check(False, f"{which} could not be loaded from the JWKS")
    try:
        jwt.decode(token.raw, key=key, algorithms=[key_alg], options=SIGNATURE_ONLY)
    except InvalidSignatureError:
        return Check(False, f"the signature does not match {which}")
    except InvalidKeyError as exc:
        return Check(False, f"{which} was rejected: {exc}")
    except PyJWTError as exc:
        return Check(False, f"rejected: {exc}")
    return Check(True, f"{key_alg}, verified with {which}")


def check_exp(token: Token, leeway: int, now: float) -> Check:
    try:
        _claim_check(token, Options(verify_exp=True, require=["exp"]), leeway=leeway)
    except MissingRequiredClaimError:
        return Check(False, "no exp claim: the token never expires")
    except ExpiredSignatureError:
        return Check(False, _relative("exp", token.claims["exp"], now) + _leeway_note(leeway))
    except PyJWTError as exc:
        return Check(False, str(exc))
    return Check(True, _relative("exp", token.claims["exp"], now))


def check_nbf(token: Token, leeway: int, now: float) -> Check:
    if "nbf" not in token.claims:
        return Check(None, "no nbf claim")
    try:
        _claim_check(token, Options(verify_nbf=True), leeway=leeway)
    except ImmatureSignatureError:
        return Check(False, _relative("nbf", token.claims["nbf"], now) + _leeway_note(leeway))
    except PyJWTError as exc:
        return Check(False, str(exc))
    return Check(True, _relative("nbf", token.claims["nbf"], now))


def check_iss(token: Token, issuer: str | None) -> Check:
    if issuer is None:
        return Check(None, "not checked: pass --issuer")
    try:
        _claim_check(token, Options(verify_iss=True), issuer=issuer)
    except MissingRequiredClaimError:
        return Check(False, "no iss claim")
    except InvalidIssuerError:
        return Check(False, f"iss is {token.claims.get('iss')!r}, expected {issuer!r}")
    except PyJWTError as exc:
        return Check(False, str(exc))
    return Check(True, f"iss is {issuer!r}")


def check_aud(token: Token, audience: str | None) -> Check:
    if audience is None:
        return Check(None, "not checked: pass --audience")
    try:
        _claim_check(token, Options(verify_aud=True), audience=audience)
    except MissingRequiredClaimError:
        return Check(False, "no aud claim")
    except InvalidAudienceError:
        return Check(False, f"aud is {token.claims.get('aud')!r}, expected {audience!r}")
    except PyJWTError as exc:
        return Check(False, str(exc))
    return Check(True, f"aud contains {audience!r}")


def _claim_check(
    token: Token,
    options: Options,
    *,
    leeway: int = 0,
    issuer: str | None = None,
    audience: str | None = None,
) -> None:
    """Run exactly one PyJWT claim check on the claims; raises PyJWTError on failure."""
    # verify_signature=False makes every other verify_* default to off, so only the
    # check named in `options` runs (the signature has its own verdict).
    only_this_check: Options = {**options, "verify_signature": False}
    jwt.decode(
        token.raw,
        options=only_this_check,
        leeway=leeway,
        issuer=issuer,
        audience=audience,
    )


def check_typ(token: Token, expected_type: str | None) -> Check:
    found = token.header.get("typ")
    kind = _token_kind(found)
    if expected_type is None:
        if found is None:
            return Check(None, "no typ header; not checked: pass --type")
        return Check(None, f"typ is {found!r}{kind}; not checked: pass --type")
    expected = EXPECTED_TYP[expected_type]
    if _normalise_typ(found) != expected:
        return Check(False, f"typ is {found!r}, expected {expected!r} ({expected_type} token)")
    # token_use is the issuer's second marker of a refresh token; it must agree with typ.
    is_refresh_use = token.claims.get("token_use") == "refresh"
    if is_refresh_use != (expected_type == "refresh"):
        token_use = token.claims.get("token_use")
        return Check(False, f"typ is {expected!r} but token_use is {token_use!r}")
    return Check(True, f"typ is {found!r}{kind}")


def _normalise_typ(typ: Any) -> str | None:
    if not isinstance(typ, str):
        return None
    # RFC 7515 §4.1.9: "application/" may be omitted from typ, so both forms are the same.
    normalised: str = typ.lower().removeprefix("application/")
    return normalised


def _token_kind(typ: Any) -> str:
    names = {value: name for name, value in EXPECTED_TYP.items()}
    name = names.get(_normalise_typ(typ) or "")
    return f" ({name} token)" if name else ""


def run_checks(
    token: Token, keys: list[dict[str, Any]] | None, args: argparse.Namespace, now: float
) -> dict[str, Check]:
    return {
        "signature": check_signature(token, keys),
        "exp": check_exp(token, args.leeway, now),
        "nbf": check_nbf(token, args.leeway, now),
        "iss": check_iss(token, args.issuer),
        "aud": check_aud(token, args.audience),
        "typ": check_typ(token, args.type),
    }


# --------------------------------------------------------------------------- times


def describe_times(claims: dict[str, Any], now: float) -> dict[str, dict[str, Any]]:
    times: dict[str, dict[str, Any]] = {}
    for name in TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if not _is_number(value):
            times[name] = {"value": value, "utc": None, "relative": "not a number"}
            continue
        times[name] = {
            "value": value,
            "utc": _iso_utc(value),
            "relative": _relative(name, value, now),
        }
    return times


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _iso_utc(value: float) -> str | None:
    try:
        moment = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _relative(name: str, value: Any, now: float) -> str:
    if not _is_number(value):
        return f"{name} is not a number"
    future, past = RELATIVE_PHRASES[name]
    delta = float(value) - now
    phrase = future if delta > 0 else past
    return phrase.format(d=format_duration(abs(delta)))


def format_duration(seconds: float) -> str:
    """Human duration with at most two units: '45 s', '12 min', '3 h 5 min', '2 d 4 h'."""
    total = int(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min"
    if total < 86400:
        hours, minutes = divmod(total // 60, 60)
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(total // 3600, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def _leeway_note(leeway: int) -> str:
    return f" (leeway {leeway} s)" if leeway else ""


# --------------------------------------------------------------------------- report


def build_report(token: Token, checks: dict[str, Check], now: float) -> dict[str, Any]:
    verified = checks["signature"].ok is True
    # "Not performed" (None) does not fail a token; only an explicit False does.
    valid = verified and all(check.ok is not False for check in checks.values())
    status = "VALID" if valid else "INVALID"
    if checks["signature"].ok is None:
        status = "UNVERIFIED"
    return {
        "status": status,
        "verified": verified,
        "valid": valid,
        "header": token.header,
        "claims": token.claims,
        "times": describe_times(token.claims, now),
        "checks": {name: checks[name].as_dict() for name in CHECK_NAMES},
    }


def render_text(report: dict[str, Any]) -> str:
    lines: list[str] = []
    if report["status"] == "UNVERIFIED":
        lines += [
            "UNVERIFIED: the signature was not checked (no --jwks or --issuer);",
            "            nothing below can be trusted.",
            "",
        ]
    lines += ["Header", _pretty(report["header"]), "", "Claims", _pretty(report["claims"]), ""]
    if report["times"]:
        lines.append("Times (UTC)")
        for name, info in report["times"].items():
            utc = info["utc"] or repr(info["value"])
            lines.append(f"  {name:<10} {utc:<21} {info['relative']}")
        lines.append("")
    lines.append("Checks")
    for name, check in report["checks"].items():
        verdict = {True: "PASS", False: "FAIL", None: "SKIPPED"}[check["ok"]]
        lines.append(f"  {name:<10} {verdict:<8} {check['detail']}")
    lines += ["", "Result: " + _result_line(report)]
    return _printable("\n".join(lines))


def _result_line(report: dict[str, Any]) -> str:
    if report["status"] == "VALID":
        return "VALID"
    if report["status"] == "UNVERIFIED":
        return "UNVERIFIED (signature not checked)"
    failed = [name for name, check in report["checks"].items() if check["ok"] is False]
    return "INVALID (failed: " + ", ".join(failed) + ")"


def _pretty(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _printable(text: str) -> str:
    """Escape control characters so token contents cannot drive the operator's terminal."""
    return "".join(char if char == "\n" or char.isprintable() else f"\\u{ord(char):04x}" for char in text)


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits itself; hand its code back as our return value
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        token = parse_token(read_token(args.token))
        keys = load_keys(args)
    except UsageError as exc:
        print(f"inspect-token: error: {_printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    now = time.time()
    report = build_report(token, run_checks(token, keys, args, now), now)
    if args.json:
        # ensure_ascii keeps any control or non-ASCII characters from the token escaped.
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render_text(report))
    return EXIT_VALID if report["valid"] else EXIT_INVALID


if __name__ == "__main__":
    raise SystemExit(main())
