"""inspect-token: decode a token, and judge it exactly as the authorizer would.

Usage:
    inspect-token TOKEN [--issuer URL [--jwks URL|FILE | --jwks-uri URL]] [--audience AUD]...
                  [--type access|refresh|cognito-access|cognito-id] [--leeway SECONDS]
                  [--denylist-table NAME [--dynamodb-endpoint URL] [--region REGION]] [--json]

TOKEN may be ``-`` to read it from stdin; a leading ``Bearer `` is accepted.

The verdict is the authorizer's own verifier's (`authorizer.tokens.verifier.TokenVerifier`, or the
Cognito verifier for user pools), with its key rules and the service's leeway: one set of rules.
This module only gathers the inputs and explains the answer to a human.

Exit codes: 0 = valid: signature and claims, and the denylist says not revoked;
3 = valid signature and claims, revocation NOT checked (no --denylist-table);
1 = invalid (refused, or revoked), or unverified (no keys given); 2 = usage error, or a source
that could not be read (JWKS, discovery document, denylist), or input that is not a JWT at all.

What is printed is limited to the token's own decoded parts and values the operator passed in:
key material, JWKS contents and server responses are never echoed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from auth_service.cli.inspect_keys import (
    Keys,
    KeySourceError,
    keys_from_file,
    keys_from_issuer,
    keys_from_url,
)
from authorizer.env import EnvReader
from authorizer.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    AuthError,
    InsufficientScopeError,
    InvalidClaimError,
    InvalidSignatureError,
    IssuerMismatchError,
    KidNotFoundError,
    MalformedTokenError,
    RevocationUnavailableError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenTypeError,
)
from authorizer.gateway.config import (
    DEFAULT_LEEWAY_SECONDS,
    MAX_LEEWAY_SECONDS,
    read_leeway,
    read_max_token_bytes,
)
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.cognito import cognito_verifier
from authorizer.tokens.jws import decode_part
from authorizer.tokens.revocation import RevocationList
from authorizer.tokens.verifier import ACCESS, REFRESH, TokenVerifier

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_REVOCATION_NOT_CHECKED = 3

VALID = "VALID"
VALID_REVOCATION_NOT_CHECKED = "VALID_REVOCATION_NOT_CHECKED"
INVALID = "INVALID"
UNVERIFIED = "UNVERIFIED"
EXIT_CODES = {
    VALID: EXIT_VALID,
    VALID_REVOCATION_NOT_CHECKED: EXIT_REVOCATION_NOT_CHECKED,
    INVALID: EXIT_INVALID,
    UNVERIFIED: EXIT_INVALID,
}

# --type: what the token is presented as, described for the report.
TOKEN_TYPES = {
    "access": "our access token (typ at+jwt)",
    "refresh": "our refresh token (typ rt+jwt, token_use refresh)",
    "cognito-access": "a Cognito user pool access token (token_use access, client_id)",
    "cognito-id": "a Cognito user pool ID token (token_use id, aud)",
}
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

# The check that refused the token, by the verifier's exception (first match wins).
_FAILED_CHECK: tuple[tuple[type[AuthError], str], ...] = (
    (InvalidSignatureError, "signature"),
    (AlgorithmNotAllowedError, "alg"),
    (KidNotFoundError, "kid"),
    (TokenTypeError, "type"),
    (IssuerMismatchError, "iss"),
    (AudienceMismatchError, "aud"),
    (TokenExpiredError, "exp"),
    (TokenNotYetValidError, "iat/nbf"),
    (InvalidClaimError, "claims"),
    (InsufficientScopeError, "scope"),
    (MalformedTokenError, "format"),
)

# (text when the instant is in the future, text when it is now or in the past)
RELATIVE_PHRASES = {
    "exp": ("expires in {d}", "expired {d} ago"),
    "iat": ("issued in {d} (in the future)", "issued {d} ago"),
    "nbf": ("becomes valid in {d}", "valid since {d} ago"),
    "auth_time": ("authenticated in {d} (in the future)", "authenticated {d} ago"),
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
class Failure:
    check: str  # which check refused the token (see _FAILED_CHECK)
    reason: str  # the verifier's reason
    detail: str = ""  # what a human wants beside it (how long ago it expired...)


@dataclass(frozen=True)
class Judgement:
    """What inspect-token was asked to judge the token as: the authorizer's settings."""

    issuer: str
    audiences: tuple[str, ...]
    token_type: str
    leeway: int
    max_token_bytes: int  # AUTH_MAX_TOKEN_BYTES, as the service reads it
    keys: Keys
    denylist_table: str | None
    region: str
    dynamodb_endpoint: str | None


# --------------------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspect-token",
        description=(
            "Decode a token, show its header, claims and times, and judge it with the authorizer's "
            "own verifier. Without --issuer nothing is verified and the result is UNVERIFIED."
        ),
        epilog=(
            "Exit codes: 0 valid (revocation checked), 3 valid but revocation NOT checked, "
            "1 invalid or unverified, 2 usage error or unreadable source."
        ),
    )
    parser.add_argument("token", metavar="TOKEN", help="the JWT, or '-' to read it from stdin")
    parser.add_argument(
        "--issuer",
        metavar="URL",
        help=(
            "the exact issuer (iss). Without --jwks, its keys are found by discovery: "
            "URL/.well-known/openid-configuration must name exactly URL as issuer, and a "
            "jwks_uri on the issuer's host (or the one named with --jwks-uri)"
        ),
    )
    parser.add_argument(
        "--jwks",
        metavar="URL|FILE",
        help="verify with this JWKS instead (an https URL or a JSON file): not the issuer's own keys",
    )
    parser.add_argument(
        "--jwks-uri",
        metavar="URL",
        help="the jwks_uri the issuer's discovery document must name, when it is on another host",
    )
    parser.add_argument(
        "--audience",
        metavar="AUD",
        action="append",
        help="an accepted audience (for Cognito types: an app client id); repeat for several. "
        "Default for --type refresh: the issuer",
    )
    parser.add_argument(
        "--type",
        choices=list(TOKEN_TYPES),
        help="what the token is presented as (default: access, what the authorizer accepts)",
    )
    parser.add_argument(
        "--leeway",
        metavar="SECONDS",
        type=_leeway,
        help=f"clock skew allowed for exp, iat and nbf (default: AUTH_LEEWAY_SECONDS, else "
        f"{DEFAULT_LEEWAY_SECONDS}, as the service)",
    )
    parser.add_argument(
        "--denylist-table",
        metavar="NAME",
        help="check revocation in this DynamoDB denylist table (strongly consistent), as the authorizer",
    )
    parser.add_argument(
        "--dynamodb-endpoint",
        metavar="URL",
        help="with --denylist-table: the DynamoDB endpoint (default: AUTH_DYNAMODB_ENDPOINT, else AWS)",
    )
    parser.add_argument(
        "--region",
        help="with --denylist-table: the AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _leeway(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_LEEWAY_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_LEEWAY_SECONDS}")
    return value


def judgement(args: argparse.Namespace) -> Judgement | None:
    """The settings to judge with, or None to only decode (no --issuer, no --jwks)."""
    judging = {
        "--audience": args.audience,
        "--type": args.type,
        "--leeway": args.leeway,
        "--jwks-uri": args.jwks_uri,
        "--denylist-table": args.denylist_table,
    }
    if args.issuer is None:
        if args.jwks is not None:
            raise UsageError("--jwks needs --issuer: the authorizer checks iss exactly")
        given = [name for name, value in judging.items() if value is not None]
        if given:
            raise UsageError(f"{', '.join(given)} judge(s) a token: pass --issuer too")
        _only_with_denylist(args)
        return None
    if args.jwks is not None and args.jwks_uri is not None:
        raise UsageError("give --jwks or --jwks-uri, not both")
    _only_with_denylist(args)
    token_type = args.type or ACCESS.name
    # Our refresh tokens are addressed to the issuer itself.
    audiences = tuple(args.audience or ([args.issuer] if token_type == REFRESH.name else []))
    if not audiences:
        raise UsageError("--audience is required: the authorizer accepts only its configured audiences")
    env = EnvReader(os.environ)
    leeway = read_leeway(env) if args.leeway is None else args.leeway
    max_token_bytes = read_max_token_bytes(env)
    if env.problems:
        raise UsageError("; ".join(env.problems))
    return Judgement(
        issuer=args.issuer,
        audiences=audiences,
        token_type=token_type,
        leeway=leeway,
        max_token_bytes=max_token_bytes,
        keys=load_keys(args),
        denylist_table=args.denylist_table,
        region=args.region or env.text("AWS_REGION") or env.text("AWS_DEFAULT_REGION") or "us-east-1",
        dynamodb_endpoint=args.dynamodb_endpoint or env.text("AUTH_DYNAMODB_ENDPOINT"),
    )


def _only_with_denylist(args: argparse.Namespace) -> None:
    if args.denylist_table is None:
        options = {"--dynamodb-endpoint": args.dynamodb_endpoint, "--region": args.region}
        given = [name for name, value in options.items() if value]
        if given:
            raise UsageError(f"{', '.join(given)} only applies with --denylist-table")


def load_keys(args: argparse.Namespace) -> Keys:
    try:
        if args.jwks is None:
            return keys_from_issuer(args.issuer, args.jwks_uri)
        if args.jwks.startswith(("https://", "http://")):
            return keys_from_url(args.jwks)
        return keys_from_file(args.jwks)
    except KeySourceError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------- token input


def read_token(argument: str) -> str:
    text = sys.stdin.read() if argument == "-" else argument
    # Operators often paste a whole Authorization header value.
    text = _BEARER_PREFIX.sub("", text.strip()).strip()
    if not text:
        raise UsageError("no token given" + (" on stdin" if argument == "-" else ""))
    return text


def parse_token(raw: str) -> Token:
    """Decode a compact JWS for display only: the verifier judges it, more strictly."""
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


# --------------------------------------------------------------------------- judging


def build_verifier(judged: Judgement) -> TokenVerifier:
    """The verifier the authorizer builds for this issuer, audience and token type."""
    keys = judged.keys.key_set
    if judged.token_type.startswith("cognito-"):
        return cognito_verifier(
            keys,
            issuer=judged.issuer,
            token_use=judged.token_type.removeprefix("cognito-"),
            client_ids=judged.audiences,
            leeway=judged.leeway,
            max_token_bytes=judged.max_token_bytes,
        )
    return TokenVerifier(
        keys,
        issuer=judged.issuer,
        audience=judged.audiences,
        token_type=REFRESH if judged.token_type == REFRESH.name else ACCESS,
        leeway=judged.leeway,
        max_token_bytes=judged.max_token_bytes,
    )


def verify(token: Token, judged: Judgement, now: float) -> TokenClaims | Failure:
    try:
        return build_verifier(judged).verify(token.raw)
    except AuthError as exc:
        return describe_failure(exc, token, judged.leeway, now)


def describe_failure(exc: AuthError, token: Token, leeway: int, now: float) -> Failure:
    check = next((name for kind, name in _FAILED_CHECK if isinstance(exc, kind)), "format")
    reason = str(exc)
    detail = ""
    if isinstance(exc, MalformedTokenError):
        part = _undecodable_part(token.raw)
        if part == "signature":
            check = "signature"
            reason = (
                "the signature part is empty"
                if token.raw.endswith(".")
                else "the signature is not valid base64url"
            )
        elif part is not None:
            reason = f"the {part}: {reason}"
    elif isinstance(exc, TokenTypeError):
        detail = f"typ {token.header.get('typ')!r}, token_use {token.claims.get('token_use')!r}"
    elif isinstance(exc, TokenExpiredError | TokenNotYetValidError):
        names = ("exp",) if isinstance(exc, TokenExpiredError) else ("iat", "nbf")
        times = [_relative(name, token.claims[name], now) for name in names if name in token.claims]
        detail = "; ".join([*times, f"leeway {leeway} s"])
    return Failure(check, reason, detail)


def _undecodable_part(raw: str) -> str | None:
    """Which part of a three-part token is not canonical base64url, if one is."""
    for name, part in zip(("header", "payload", "signature"), raw.split("."), strict=True):
        try:
            if not part:
                raise MalformedTokenError("empty")
            decode_part(part.encode("ascii"))
        except (MalformedTokenError, UnicodeEncodeError):
            return name
    return None


def check_revocation(claims: TokenClaims, judged: Judgement) -> str | None:
    """Why the denylist says the token is revoked, or None: the authorizer's rules, read fresh."""
    assert judged.denylist_table is not None
    from auth_service.aws import dynamodb_client  # boto3: only when the denylist is asked

    endpoint = judged.dynamodb_endpoint
    if endpoint and urlsplit(endpoint).hostname in _LOOPBACK_HOSTS:
        from auth_service.local.dynamodb import use_dummy_credentials_if_unset

        # A local endpoint (`auth-service serve`) takes any signature; a new shell has no credentials.
        use_dummy_credentials_if_unset()
    client = dynamodb_client(judged.region, endpoint)
    revocations = RevocationList(client, judged.denylist_table, cache_seconds=0)
    try:
        return revocations.lookup(claims)
    except RevocationUnavailableError:
        where = f"table {judged.denylist_table} in {judged.region}" + (f" at {endpoint}" if endpoint else "")
        raise UsageError(f"cannot check revocation: the denylist ({where}) could not be read") from None


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
    try:
        delta = float(value) - now
    except OverflowError:
        delta = math.inf
    if not math.isfinite(delta):
        return f"{name} is not a finite number"
    future, past = RELATIVE_PHRASES[name]
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


# --------------------------------------------------------------------------- report


def build_report(token: Token, judged: Judgement | None, now: float) -> dict[str, Any]:
    report: dict[str, Any] = {
        "status": UNVERIFIED,
        "valid": False,
        "failure": None,
        "revocation": {"checked": False, "revoked": None, "reason": None},
        "judged_as": None,
        "header": token.header,
        "claims": token.claims,
        "times": describe_times(token.claims, now),
    }
    if judged is None:
        return report
    report["judged_as"] = {
        "issuer": judged.issuer,
        "audiences": list(judged.audiences),
        "type": judged.token_type,
        "leeway": judged.leeway,
        "keys": judged.keys.label,
        "keys_from_issuer": judged.keys.from_issuer,
        "skipped_keys": list(judged.keys.skipped),
    }
    verified = verify(token, judged, now)
    if isinstance(verified, Failure):
        report["status"] = INVALID
        report["failure"] = {"check": verified.check, "reason": verified.reason, "detail": verified.detail}
        return report
    report["valid"] = True
    if judged.denylist_table is None:
        report["status"] = VALID_REVOCATION_NOT_CHECKED
        return report
    reason = check_revocation(verified, judged)
    report["revocation"] = {"checked": True, "revoked": reason is not None, "reason": reason}
    if reason is None:
        report["status"] = VALID
    else:
        report["status"] = INVALID
        report["failure"] = {"check": "revocation", "reason": reason, "detail": ""}
    return report


def result_line(report: dict[str, Any]) -> str:
    status = report["status"]
    judged = report["judged_as"]
    if status == UNVERIFIED:
        return "Result: UNVERIFIED (nothing checked: pass --issuer and --audience, and --type, to judge it)"
    if status == VALID:
        text = "VALID (signature, claims and revocation)"
    elif status == VALID_REVOCATION_NOT_CHECKED:
        text = "VALID (signature and claims; revocation NOT checked)"
    else:
        failure = report["failure"]
        text = f"INVALID ({failure['check']}: {failure['reason']})"
    if not judged["keys_from_issuer"]:
        text += f"; {judged['keys']}"
    return "Result: " + text


def render_text(report: dict[str, Any]) -> str:
    lines = [result_line(report), ""]
    judged = report["judged_as"]
    if judged is not None:
        lines += _judgement_lines(report, judged)
    lines += ["Header", _pretty(report["header"]), "", "Claims", _pretty(report["claims"])]
    if report["times"]:
        lines += ["", "Times (UTC)"]
        for name, info in report["times"].items():
            utc = info["utc"] or repr(info["value"])
            lines.append(f"  {name:<10} {utc:<21} {info['relative']}")
    return _printable("\n".join(lines))


def _judgement_lines(report: dict[str, Any], judged: dict[str, Any]) -> list[str]:
    failure = report["failure"]
    revocation = report["revocation"]
    if report["valid"]:
        verdict = "PASS: signature and claims, as the authorizer checks them"
    else:
        verdict = f"FAIL at {failure['check']}: {failure['reason']}"
        if failure["detail"]:
            verdict += f" ({failure['detail']})"
    if revocation["checked"]:
        checked = "REVOKED: " + revocation["reason"] if revocation["revoked"] else "not revoked"
    elif report["valid"]:
        checked = "NOT checked: pass --denylist-table (and --dynamodb-endpoint, --region)"
    else:
        checked = "not checked: the token is refused before"
    lines = [
        "Judged as the authorizer does",
        f"  issuer     {judged['issuer']}",
        f"  audience   {', '.join(judged['audiences'])}",
        f"  type       {judged['type']}: {TOKEN_TYPES[judged['type']]}",
        f"  keys       {judged['keys'].removeprefix('keys from ')}",
        *(f"             (skipped: {reason})" for reason in judged["skipped_keys"]),
        f"  leeway     {judged['leeway']} s",
        f"  verifier   {verdict}",
        f"  revocation {checked}",
        "",
    ]
    return lines


def _pretty(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _printable(text: str) -> str:
    """Escape control characters so token contents cannot drive the operator's terminal."""
    return "".join(char if char == "\n" or char.isprintable() else f"\\u{ord(char):04x}" for char in text)


def _emit(text: str) -> None:
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader is gone (`| head -1`): nothing more to say. Point stdout at /dev/null so the
        # flush at exit does not fail again with a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits itself; hand its code back as our return value
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    now = time.time()
    try:
        token = parse_token(read_token(args.token))
        judged = judgement(args)
        report = build_report(token, judged, now)
    except UsageError as exc:
        print(f"inspect-token: error: {_printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    # ensure_ascii keeps any control or non-ASCII characters from the token escaped.
    _emit(json.dumps(report, indent=2, default=str) if args.json else render_text(report))
    return EXIT_CODES[report["status"]]


if __name__ == "__main__":
    raise SystemExit(main())
