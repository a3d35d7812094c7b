"""`auth-service` users, keys and revoke subcommands, on moto's DynamoDB."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from moto import mock_aws

from auth_service.cli.main import clock_offset, main
from auth_service.keys import generate_private_key_pem, load_key_ring
from auth_service.tables import create_tables
from auth_service.users import UserTable
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.revocation import RevocationList

# Built from parts so that secret scanners do not take this test for a committed key.
BEGIN_PRIVATE = "-----BEGIN " + "PRIVATE KEY-----"

DENYLIST = "test-denylist"
USERS = "test-users"
TABLES = ["--users-table", USERS, "--denylist-table", DENYLIST]
PASSWORD = "operator-chosen-pw"
ALGS = ("RS256", "ES256", "EdDSA")


@pytest.fixture(scope="module")
def _moto_tables() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, denylist=DENYLIST, users=USERS)
        yield client


@pytest.fixture
def dynamodb(_moto_tables: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """conftest's `dynamodb` at module scope (creating clients and tables per test is slow), emptied."""
    for name in (
        "AUTH_DYNAMODB_ENDPOINT",
        "AUTH_USERS_TABLE",
        "AUTH_DENYLIST_TABLE",
        "AUTH_REFRESH_TOKEN_TTL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AUTH_LEEWAY_SECONDS", raising=False)
    for table, key in ((DENYLIST, "pk"), (USERS, "username")):
        for found in _moto_tables.scan(TableName=table, ProjectionExpression=key)["Items"]:
            _moto_tables.delete_item(TableName=table, Key={key: found[key]})
    return _moto_tables


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def denylist_item(client: Any, pk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(TableName=DENYLIST, Key={"pk": {"S": pk}}).get("Item")
    return found


# --------------------------------------------------------------------------- users add


def test_users_add_reads_the_password_from_stdin(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    assert main(["users", "add", "alice", "--scope", " profile   orders:read", *TABLES]) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["username"] == "alice"
    assert printed["scope"] == "profile orders:read"
    assert uuid.UUID(printed["sub"])
    assert PASSWORD not in out + err

    stored = dynamodb.get_item(TableName=USERS, Key={"username": {"S": "alice"}})["Item"]
    assert stored["sub"]["S"] == printed["sub"]
    user = UserTable(dynamodb, USERS).authenticate("alice", PASSWORD)  # the newline is not part of it
    assert user is not None
    assert (user.sub, user.scope) == (printed["sub"], "profile orders:read")


def test_users_add_defaults_and_tables_from_the_environment(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_USERS_TABLE", USERS)
    stdin(monkeypatch, PASSWORD + "\r\n")
    assert main(["users", "add", "Bob"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["scope"] == "profile"
    user = UserTable(dynamodb, USERS).authenticate("bob", PASSWORD)
    assert user is not None and user.sub == printed["sub"]


def test_users_add_duplicate_is_exit_2(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    assert main(["users", "add", "alice", *TABLES]) == 0
    first = json.loads(capsys.readouterr().out)["sub"]
    stdin(monkeypatch, "another-password\n")
    assert main(["users", "add", "ALICE", *TABLES]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("auth-service: ") and "exists already" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    user = UserTable(dynamodb, USERS).authenticate("alice", PASSWORD)
    assert user is not None and user.sub == first


@pytest.mark.parametrize("text", ["short\n", "\n", ""])
def test_users_add_refuses_a_short_password(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    stdin(monkeypatch, text)
    assert main(["users", "add", "carol", *TABLES]) == 2
    assert "password must be" in capsys.readouterr().err
    assert "Item" not in dynamodb.get_item(TableName=USERS, Key={"username": {"S": "carol"}})


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("alg", ALGS)
def test_keys_generate_prints_a_loadable_pem(capsys: pytest.CaptureFixture[str], alg: str) -> None:
    assert main(["keys", "generate", "--alg", alg]) == 0
    out, err = capsys.readouterr()
    ring = load_key_ring(out)
    assert ring.current.alg == alg
    assert out.startswith(BEGIN_PRIVATE)
    assert f"kid {ring.current.kid}" in err
    assert "PRIVATE" not in err


def test_keys_generate_default_is_rs256(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate"]) == 0
    assert load_key_ring(capsys.readouterr().out).current.alg == "RS256"


def test_keys_generate_refuses_other_algorithms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["keys", "generate", "--alg", "HS256"])
    assert info.value.code == 2


@pytest.mark.parametrize("alg", ALGS)
def test_keys_generate_out_writes_mode_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alg: str
) -> None:
    path = tmp_path / "signing.pem"
    old_umask = os.umask(0o022)
    try:
        assert main(["keys", "generate", "--alg", alg, "--out", str(path)]) == 0
    finally:
        os.umask(old_umask)
    out, err = capsys.readouterr()
    assert out == ""  # the key goes only to the file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = load_key_ring(path.read_text())
    assert ring.current.alg == alg
    assert ring.current.kid in err


def test_keys_generate_out_does_not_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_text("precious")
    path.chmod(0o640)
    # Today it refuses with a traceback (see the xfail below); not overwriting is what matters here.
    with contextlib.suppress(FileExistsError):
        main(["keys", "generate", "--out", str(path)])
    assert path.read_text() == "precious"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_keys_generate_out_existing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "signing.pem"
    path.write_text("precious")
    assert main(["keys", "generate", "--out", str(path)]) == 2
    assert capsys.readouterr().err.startswith("auth-service: ")


def test_keys_jwks_prints_public_keys_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current, retired = generate_private_key_pem("ES256"), generate_private_key_pem("RS256")
    retired_public = (
        serialization.load_pem_private_key(retired.encode(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(current + generate_private_key_pem("EdDSA") + retired_public)

    assert main(["keys", "jwks", str(bundle)]) == 0
    document = json.loads(capsys.readouterr().out)
    keys = document["keys"]
    assert [key["alg"] for key in keys] == ["ES256", "EdDSA", "RS256"]
    assert keys[0]["kid"] == load_key_ring(current).current.kid
    assert keys[2]["kid"] == load_key_ring(retired).current.kid
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["use"] == "sig"


@pytest.mark.parametrize("content", [None, "not a pem", "public-first"])
def test_keys_jwks_unusable_input_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    path = tmp_path / "bundle.pem"
    if content == "public-first":
        pem = generate_private_key_pem("ES256")
        public = (
            serialization.load_pem_private_key(pem.encode(), password=None)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        path.write_text(public + pem)
    elif content is not None:
        path.write_text(content)
    assert main(["keys", "jwks", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"auth-service: cannot load {path}")


# --------------------------------------------------------------------------- revoke


def test_revoke_jti(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    jti = str(uuid.uuid4())
    before = int(time.time())
    assert main(["revoke", "--jti", jti.upper(), *TABLES]) == 0  # UUIDs are case-insensitive
    printed = json.loads(capsys.readouterr().out)
    found = denylist_item(dynamodb, f"jti#{jti}")
    assert found is not None
    assert printed == {
        "revoked": "token",
        "jti": jti,
        "item": f"jti#{jti}",
        "expires_at": int(found["expires_at"]["N"]),
    }
    assert found["reason"]["S"] == "operator"
    # Kept for the longest refresh token lifetime (default 30 days), the leeway and a request's
    # time in flight.
    assert before + 2_592_090 <= printed["expires_at"] <= int(time.time()) + 2_592_090
    claims = TokenClaims(sub="u", jti=jti, iat=before, exp=before + 60)
    assert RevocationList(dynamodb, DENYLIST, cache_seconds=0).lookup(claims) == "token revoked"


def test_revoke_sid_revokes_the_session(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sid = str(uuid.uuid4())
    assert main(["revoke", "--sid", sid, *TABLES]) == 0
    printed = json.loads(capsys.readouterr().out)
    found = denylist_item(dynamodb, f"sid#{sid}")
    assert found is not None
    assert printed == {
        "revoked": "session",
        "sid": sid,
        "item": f"sid#{sid}",
        "expires_at": int(found["expires_at"]["N"]),
    }
    now = int(time.time())
    claims = TokenClaims(sub="u", jti="j", iat=now, exp=now + 60, sid=sid)
    assert RevocationList(dynamodb, DENYLIST, cache_seconds=0).lookup(claims) == "session revoked"


def test_revoke_lifetime_and_leeway_from_the_environment(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_REFRESH_TOKEN_TTL", "600")
    monkeypatch.setenv("AUTH_ACCESS_TOKEN_TTL", "300")  # the longer of the two lifetimes counts
    monkeypatch.setenv("AUTH_LEEWAY_SECONDS", "10")
    monkeypatch.setenv("AUTH_DENYLIST_TABLE", DENYLIST)
    sid = str(uuid.uuid4())
    before = int(time.time())
    assert main(["revoke", "--sid", sid]) == 0
    found = denylist_item(dynamodb, f"sid#{sid}")
    assert found is not None
    assert before + 670 <= int(found["expires_at"]["N"]) <= int(time.time()) + 670


def test_revoke_sub_signs_the_user_out_everywhere(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sub = str(uuid.uuid4())
    before = time.time()
    assert main(["revoke", "--sub", sub, *TABLES]) == 0
    printed = json.loads(capsys.readouterr().out)
    found = denylist_item(dynamodb, f"user#{sub}")
    assert found is not None
    # The output is what was written.
    assert printed == {
        "revoked": "user",
        "sub": sub,
        "item": f"user#{sub}",
        "not_before": int(found["not_before"]["N"]),
        "signed_out_at": float(found["signed_out_at"]["N"]),
        "expires_at": int(found["expires_at"]["N"]),
    }
    assert before < printed["signed_out_at"] <= printed["not_before"] <= int(time.time()) + 1
    revocations = RevocationList(dynamodb, DENYLIST, cache_seconds=0)
    began_before = TokenClaims(sub=sub, jti="a", iat=int(before) - 5, exp=int(before) + 600)
    began_after = TokenClaims(sub=sub, jti="b", iat=printed["not_before"], exp=int(before) + 600)
    assert revocations.lookup(began_before) == "user signed out everywhere"
    assert revocations.lookup(began_after) is None


def test_revoke_sub_is_written_exactly_as_given(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Another trusted issuer's `sub` (case-sensitive, not a UUID) is a sub all the same.
    assert main(["revoke", "--sub", "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", *TABLES]) == 0
    assert json.loads(capsys.readouterr().out)["sub"] == "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"
    assert denylist_item(dynamodb, "user#AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ") is not None


@pytest.mark.parametrize("spelling", ["alice", "ALICE", " Alice "])
def test_revoke_user_by_username(dynamodb: Any, capsys: pytest.CaptureFixture[str], spelling: str) -> None:
    sub = UserTable(dynamodb, USERS).add("Alice", PASSWORD)
    assert main(["revoke", "--user", spelling, *TABLES]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["username"], printed["sub"], printed["item"]) == ("alice", sub, f"user#{sub}")
    assert denylist_item(dynamodb, f"user#{sub}") is not None
    assert denylist_item(dynamodb, f"user#{spelling}") is None


def test_a_uuid_shaped_username_is_a_username(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    name = str(uuid.uuid4())
    sub = UserTable(dynamodb, USERS).add(name, PASSWORD)
    assert main(["revoke", "--user", name, *TABLES]) == 0
    assert json.loads(capsys.readouterr().out)["sub"] == sub
    assert denylist_item(dynamodb, f"user#{sub}") is not None
    assert denylist_item(dynamodb, f"user#{name}") is None


# A fixed UUID: test ids must be the same in every pytest-xdist worker.
@pytest.mark.parametrize("name", ["nobody", "5d9c0e1a-7b3f-4c2e-9a61-2f0b8d4e6c17"])
def test_revoke_unknown_username_is_exit_1_and_revokes_nobody(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["revoke", "--user", name, *TABLES]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"no user {name!r} in table {USERS}; nothing was revoked" in err
    assert "--sub" in err
    assert dynamodb.scan(TableName=DENYLIST)["Count"] == 0


JWT_LIKE = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jti", "jti-123"], "--jti must be a UUID (8-4-4-4-12 hex digits), not 'jti-123'"),
        (["--sid", "sid-9"], "--sid must be a UUID (8-4-4-4-12 hex digits), not 'sid-9'"),
        (["--jti", ""], "--jti must be a UUID"),
        (["--sid", str(uuid.uuid4()) + "0"], "--sid must be a UUID"),
        (["--jti", "{" + str(uuid.uuid4()) + "}"], "--jti must be a UUID"),
        (["--jti", JWT_LIKE], "not a token: this looks like a JWT; pass its 'jti' claim"),
        (["--sid", JWT_LIKE], "not a token: this looks like a JWT; pass its 'sid' claim"),
        (["--sub", JWT_LIKE], "not a token: this looks like a JWT; pass its 'sub' claim"),
        (["--jti", "x" * 300], "not the 300-character value given"),
        (["--sub", ""], "--sub must be 1 to 255 printable characters"),
        (["--sub", " padded "], "--sub must be 1 to 255 printable characters"),
        (["--sub", "a\nb"], "--sub must be 1 to 255 printable characters"),
        (["--user", "  "], "--user needs a username"),
    ],
)
def test_malformed_targets_are_usage_errors_and_write_nothing(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["revoke", *argv, *TABLES]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("auth-service: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert JWT_LIKE not in err and "x" * 300 not in err  # a pasted token is never echoed
    assert dynamodb.scan(TableName=DENYLIST)["Count"] == 0


def test_revoke_when_dynamodb_is_down_is_exit_1(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = ["--dynamodb-endpoint", f"http://127.0.0.1:{port}"]
    code = main(["revoke", "--jti", str(uuid.uuid4()), *endpoint, *TABLES])
    assert code == 1
    assert "denylist is unavailable; retry later; nothing was revoked" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sent", "answered", "date", "offset"),
    [
        # DynamoDB's Date has whole seconds: the server's clock read [Date, Date + 1).
        (1_800_000_000.2, 1_800_000_000.3, "Fri, 15 Jan 2027 08:00:00 GMT", None),
        (1_800_000_001.9, 1_800_000_002.0, "Fri, 15 Jan 2027 08:00:00 GMT", None),  # 0.9 to 2.0 s ahead
        (1_800_000_002.1, 1_800_000_002.2, "Fri, 15 Jan 2027 08:00:00 GMT", 1.65),  # 1.1 to 2.2 s ahead
        (1_799_999_998.8, 1_799_999_998.9, "Fri, 15 Jan 2027 08:00:00 GMT", -1.65),  # 1.1 to 2.2 s behind
        (1_800_000_000.2, 1_800_000_000.3, "not a date", None),
    ],
)
def test_clock_offset_from_the_date_header(
    sent: float, answered: float, date: str, offset: float | None
) -> None:
    assert clock_offset(sent, answered, date) == (None if offset is None else pytest.approx(offset))


def test_revoke_with_a_malformed_lifetime_is_a_usage_error(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_REFRESH_TOKEN_TTL", "thirty days")
    sid = str(uuid.uuid4())
    assert main(["revoke", "--sid", sid, *TABLES]) == 2
    assert "AUTH_REFRESH_TOKEN_TTL must be a whole number" in capsys.readouterr().err
    assert denylist_item(dynamodb, f"sid#{sid}") is None


@pytest.mark.parametrize(
    "argv",
    [["revoke"], ["revoke", "--jti", "a", "--sid", "b"], ["users", "add"], ["keys"], []],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


# --------------------------------------------------------------------------- the installed console script


def test_console_script_generates_a_key(tmp_path: Path) -> None:
    script = shutil.which("auth-service") or str(Path(sys.executable).with_name("auth-service"))
    command = [script] if Path(script).exists() else [sys.executable, "-m", "auth_service.cli"]
    result = subprocess.run(
        [*command, "keys", "generate", "--alg", "ES256"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    ring = load_key_ring(result.stdout)
    assert ring.current.alg == "ES256"
    assert f"kid {ring.current.kid}" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [["users", "add", "alice"], ["revoke", "--user", "alice"]])
def test_dynamodb_trouble_says_where_it_went_and_what_to_do(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without credentials or a listening endpoint: which table, where, and how to reach the
    local server, in one line (no NoCredentialsError traceback, no bare exception name)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AUTH_DYNAMODB_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-enough-password\n"))
    assert main([*command, "--users-table", "stage-users"]) != 0
    err = capsys.readouterr().err
    where = "table stage-users at AWS DynamoDB in us-east-1"
    assert f"{where}: NoCredentialsError: no AWS credentials found" in err
    assert "pass --dynamodb-endpoint URL" in err and "Traceback" not in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-enough-password\n"))
    nowhere = f"http://127.0.0.1:{_free_port()}"
    assert main([*command, "--users-table", "stage-users", "--dynamodb-endpoint", nowhere]) != 0
    err = capsys.readouterr().err
    assert f"table stage-users at {nowhere}: EndpointConnectionError: nothing answers there" in err
