"""One DynamoDB answer, one request: no denylist check is ever judged on another check's answer.

The authorizer's DynamoDB client keeps its connection alive between requests, so an answer read
wrongly (an interim answer taken for the final one, bytes past its Content-Length, a framing two
readers disagree on) could be read as the answer to the *next* request: token B judged on token
A's denylist items, and a revoked token let through.

A scripted server on 127.0.0.1 (tests/unit/scripted_http.py) answers each real request with its
own genuine answer, wrapped in a misbehaviour: token A's items are "nothing revoked", token B's
jti is revoked. Through one client, A is checked and then B: B must come out revoked, or refused
because the denylist could not be read (fail closed), never allowed. At the client level, every
malformed answer is refused with the client's own error, and every answer it does return is the
genuine answer to the request that was sent. A hypothesis test throws random streams of such
fragments at the same property.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.aws.client import AwsRequestError, ClientSettings
from authorizer.aws.credentials import Credentials, StaticCredentials
from authorizer.aws.dynamodb import DynamoDB
from authorizer.errors import RevocationUnavailableError, TokenRevokedError
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.revocation import RevocationList
from tests.unit.scripted_http import Reply, Request, ScriptedServer, Serve, answer, chunked

TABLE = "test-denylist"
KEYS = StaticCredentials(Credentials("AKIDEXAMPLE", "testing"))
NOW = int(time.time())
TOKEN_A = TokenClaims(sub="user-a", jti="jti-a", iat=NOW, exp=NOW + 600, sid="sid-a")
TOKEN_B = TokenClaims(sub="user-b", jti="jti-b", iat=NOW, exp=NOW + 600, sid="sid-b")
REVOKED = {"jti#jti-b": {"pk": {"S": "jti#jti-b"}, "reason": {"S": "logout"}}}
JSON = "Content-Type: application/x-amz-json-1.0"
# The authorizer's timeouts, without the backoff: a client waiting for bytes that never come gives
# up within a second, and a loaded machine does not make a genuine answer miss its deadline.
FAST = ClientSettings(connect_timeout=0.5, read_timeout=1.0, attempts=2, transient_backoff=0.0)


def asked(request: Request) -> list[str]:
    document = json.loads(request.body)
    return [key["pk"]["S"] for key in document["RequestItems"][TABLE]["Keys"]]


def genuine_document(keys: list[str]) -> dict[str, Any]:
    return {"Responses": {TABLE: [REVOKED[k] for k in keys if k in REVOKED]}, "UnprocessedKeys": {}}


def genuine_body(request: Request) -> bytes:
    return json.dumps(genuine_document(asked(request))).encode()


def framed(body: bytes) -> bytes:
    """An answer as DynamoDB frames it: Content-Length and the body's CRC32."""
    return answer(body, headers=(JSON, f"x-amz-crc32: {zlib.crc32(body)}"))


# An answer no request of these tests gets from the server: "nothing revoked", with a decoy table
# so that it can be told from any genuine answer. Read as B's answer, it would let B through.
DECOY = json.dumps({"Responses": {TABLE: [], "decoy": []}, "UnprocessedKeys": {}}).encode()
DECOY_ANSWER = framed(DECOY)


def is_token_a(request: Request) -> bool:
    return "jti#jti-a" in asked(request)


def outcome(revocations: RevocationList, claims: TokenClaims) -> str:
    try:
        revocations.check(claims)
    except TokenRevokedError:
        return "revoked"
    except RevocationUnavailableError:
        return "unavailable"
    return "allowed"


def client_at(server: ScriptedServer, settings: ClientSettings = FAST) -> DynamoDB:
    dynamodb = DynamoDB.connect_to("us-east-1", server.url, KEYS, settings=settings)
    dynamodb.http._sleep = lambda _: None  # no backoff between attempts
    return dynamodb


def get_item_of(dynamodb: DynamoDB, claims: TokenClaims) -> dict[str, Any]:
    keys = [f"jti#{claims.jti}", f"user#{claims.sub}", f"sid#{claims.sid}"]
    return dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": k}} for k in keys]}})


# --------------------------------------------------------------------------- what A's request gets


def _with_decoy_after(request: Request) -> Reply:
    return Reply(framed(genuine_body(request)) + DECOY_ANSWER)


def _interim(status: str) -> Callable[[Request], Reply]:
    return lambda request: Reply(f"HTTP/1.1 {status}\r\n\r\n".encode() + framed(genuine_body(request)))


def _raw(fields: list[str], payload: bytes, *, then: bytes = DECOY_ANSWER, close: bool = False) -> Reply:
    """A 200 with these header lines and `payload`, then (by default) the decoy: any bytes a
    reader leaves unread are what the next request would get."""
    head = "\r\n".join(["HTTP/1.1 200 OK", JSON, *fields]) + "\r\n\r\n"
    return Reply(head.encode("latin-1") + payload + then, close=close)


def _two_lengths(request: Request) -> Reply:
    # The first Content-Length covers the answer and the decoy after it, the second only the
    # answer: whoever reads the second leaves the decoy for the next request.
    body = genuine_body(request)
    return _raw([f"Content-Length: {len(body) + len(DECOY_ANSWER)}", f"Content-Length: {len(body)}"], body)


def _length_and_chunked(request: Request) -> Reply:
    # Chunked by Transfer-Encoding; the Content-Length covers the decoy too.
    encoded = chunked(genuine_body(request))
    return _raw(
        ["Transfer-Encoding: chunked", f"Content-Length: {len(encoded) + len(DECOY_ANSWER)}"], encoded
    )


def _length_short_of_the_body(request: Request) -> Reply:
    body = genuine_body(request)
    return _raw([f"Content-Length: {len(body) - 2}"], body)


def _length_past_the_body(request: Request) -> Reply:
    body = genuine_body(request)
    return _raw([f"Content-Length: {len(body) + 10}"], body, then=b"", close=True)


def _chunk_sizes(size_format: str) -> Callable[[Request], Reply]:
    return lambda request: _raw(
        ["Transfer-Encoding: chunked"], chunked(genuine_body(request), size_format=size_format)
    )


def _status(status: str) -> Callable[[Request], Reply]:
    return lambda request: Reply(answer(genuine_body(request), status=status, headers=(JSON,)))


def _length_text(text: str) -> Callable[[Request], Reply]:
    return lambda request: _raw([f"Content-Length: {text}"], genuine_body(request))


def _truncated(request: Request) -> Reply:
    return Reply(framed(genuine_body(request))[:-5], close=True)


def _close_mid_head(request: Request) -> Reply:
    return Reply(b"HTTP/1.1 200 OK\r\nContent-Le", close=True)


def _trickle(request: Request) -> Reply:
    return Reply(framed(genuine_body(request)), trickle=0.02)  # ~3 s in all: past the deadline


def _silent(request: Request) -> Reply:
    return Reply(b"")


def _folded_header(request: Request) -> Reply:
    # An obsolete line folding hides "Transfer-Encoding: chunked" inside X-Note for a lenient
    # reader; a strict one refuses the line.
    encoded = chunked(genuine_body(request))
    return _raw(["X-Note: a", " Transfer-Encoding: chunked", f"Content-Length: {len(encoded)}"], encoded)


def _bad_chunk_end(request: Request) -> Reply:
    body = genuine_body(request)
    return _raw(["Transfer-Encoding: chunked"], f"{len(body):x}\r\n".encode() + body + b"XX0\r\n\r\n")


def _chunk_size_in_arabic_indic_digits(request: Request) -> Reply:
    body = genuine_body(request)
    size = f"{len(body):x}".translate(
        str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    )
    return _raw(["Transfer-Encoding: chunked"], f"{size}\r\n".encode() + body + b"\r\n0\r\n\r\n")


# name: (what A's requests get, whether a correct client returns A's own answer)
MISBEHAVIOURS: dict[str, tuple[Callable[[Request], Reply], bool]] = {
    "100 Continue, then the answer": (_interim("100 Continue"), True),
    "103 Early Hints, then the answer": (_interim("103 Early Hints"), False),
    "102 Processing, then the answer": (_interim("102 Processing"), False),
    "a second answer right after the first": (_with_decoy_after, False),
    "two Content-Length headers that disagree": (_two_lengths, False),
    "Content-Length with Transfer-Encoding": (_length_and_chunked, False),
    "Content-Length short of the body": (_length_short_of_the_body, False),
    "Content-Length past the body, then a close": (_length_past_the_body, False),
    "chunk sizes as 0x1f": (_chunk_sizes("0x{:x}"), False),
    "chunk sizes as +1f": (_chunk_sizes("+{:x}"), False),
    "chunk sizes as 0_1f": (_chunk_sizes("0_{:x}"), False),
    "chunk sizes padded with a space": (_chunk_sizes(" {:x}"), False),
    "a chunk not ended by CRLF": (_bad_chunk_end, False),
    "a chunk size in Arabic-Indic digits": (_chunk_size_in_arabic_indic_digits, False),
    "status 2000": (_status("2000 OK"), False),
    "status +200": (_status("+200 OK"), False),
    "status 2_00": (_status("2_00 OK"), False),
    "Content-Length +99": (_length_text("+99"), False),
    "Content-Length in superscript digits": (_length_text("\u00b2\u00b3"), False),
    "Content-Length in Arabic-Indic digits": (_length_text("\u0661\u0662".encode().decode("latin-1")), False),
    "Content-Length negative": (_length_text("-1"), False),
    "a folded header line": (_folded_header, False),
    "a body cut short, then a close": (_truncated, False),
    "a close in the middle of the head": (_close_mid_head, False),
    "an answer that trickles": (_trickle, False),
    "no answer at all": (_silent, False),
}


def _script(misbehave: Callable[[Request], Reply]) -> Callable[[int, Request], Reply]:
    def script(index: int, request: Request) -> Reply:
        return misbehave(request) if is_token_a(request) else Reply(framed(genuine_body(request)))

    return script


@pytest.mark.parametrize("name", MISBEHAVIOURS, ids=list(MISBEHAVIOURS))
def test_the_next_token_is_judged_on_its_own_answer(name: str, serve: Serve) -> None:
    misbehave, _ = MISBEHAVIOURS[name]
    server = serve(_script(misbehave))
    revocations = RevocationList(client_at(server), TABLE, cache_seconds=0)
    first = outcome(revocations, TOKEN_A)
    assert first in ("allowed", "unavailable")  # A is not revoked: never "revoked" on B's items
    assert outcome(revocations, TOKEN_B) == "revoked"  # B's own answer, read on a clean connection


@pytest.mark.parametrize("name", MISBEHAVIOURS, ids=list(MISBEHAVIOURS))
def test_a_malformed_answer_is_refused_with_the_clients_own_error(name: str, serve: Serve) -> None:
    misbehave, acceptable = MISBEHAVIOURS[name]
    server = serve(_script(misbehave))
    dynamodb = client_at(server)
    if acceptable:
        assert get_item_of(dynamodb, TOKEN_A) == genuine_document(asked(server.requests[-1]))
    else:
        with pytest.raises(AwsRequestError):
            get_item_of(dynamodb, TOKEN_A)
    assert get_item_of(dynamodb, TOKEN_B)["Responses"][TABLE] == [REVOKED["jti#jti-b"]]


def test_bytes_that_arrive_while_idle_are_never_read_as_the_next_answer(
    serve: Serve,
) -> None:
    # The decoy comes in a later packet, while the connection waits for the next request.
    def script(index: int, request: Request) -> Reply:
        if is_token_a(request):
            return Reply(framed(genuine_body(request)) + DECOY_ANSWER, trickle=0.0005)
        return Reply(framed(genuine_body(request)))

    server = serve(script)
    revocations = RevocationList(client_at(server), TABLE, cache_seconds=0)
    assert outcome(revocations, TOKEN_A) in ("allowed", "unavailable")
    time.sleep(0.5)  # the decoy has arrived by now
    assert outcome(revocations, TOKEN_B) == "revoked"


def test_a_kept_alive_connection_serves_the_next_request_after_an_exact_answer(
    serve: Serve,
) -> None:
    server = serve(lambda index, request: Reply(framed(genuine_body(request))))
    revocations = RevocationList(client_at(server), TABLE, cache_seconds=0)
    assert outcome(revocations, TOKEN_A) == "allowed"
    assert outcome(revocations, TOKEN_B) == "revoked"
    assert outcome(revocations, TOKEN_A) == "allowed"
    assert server.connections == 1


# --------------------------------------------------------------------------- random streams

INTERIM = st.sampled_from(
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        b"HTTP/1.1 101 X\r\n\r\n",
    ]
)
JUNK = st.one_of(
    st.binary(max_size=12),
    st.sampled_from(
        [b"\r\n", b"\r\n\r\n", b"\n", b"0\r\n\r\n", b"HTTP/1.1 200 OK\r\n", b"Content-Length: 5\r\n"]
    ),
)
SIZE_FORMATS = ["{:x}", "{:X}", "0x{:x}", "+{:x}", " {:x}", "{:x} ", "{:x};ext=1", "-{:x}", "0_{:x}"]
FRAMINGS = ["length", "chunked", "chunked-odd", "both", "two-lengths", "close"]


@dataclass(frozen=True)
class Framing:
    """How one answer's body is framed: well, or in one of the ways that must be refused."""

    kind: str
    size_format: str
    chunk: int
    extra: int
    swap: bool

    def frame(self, body: bytes) -> bytes:
        crc = f"x-amz-crc32: {zlib.crc32(body)}"
        if self.kind == "length":
            return answer(body, headers=(JSON, crc))
        if self.kind in ("chunked", "chunked-odd"):
            size_format = self.size_format if self.kind == "chunked-odd" else "{:x}"
            encoded = chunked(body, size=self.chunk, size_format=size_format)
            return answer(encoded, headers=(JSON, crc, "Transfer-Encoding: chunked"), length=False)
        if self.kind == "both":
            encoded = chunked(body, size=self.chunk)
            length = f"Content-Length: {len(encoded) + self.extra}"
            return answer(encoded, headers=(JSON, "Transfer-Encoding: chunked", length), length=False)
        if self.kind == "two-lengths":
            lengths = [len(body), len(body) + 1 + abs(self.extra)]
            first, second = lengths[::-1] if self.swap else lengths
            headers = (JSON, f"Content-Length: {first}", f"Content-Length: {second}")
            return answer(body, headers=headers, length=False)
        return answer(body, headers=(JSON, crc, "Connection: close"), length=False)


framing = st.builds(
    Framing,
    st.sampled_from(FRAMINGS),
    st.sampled_from(SIZE_FORMATS),
    st.integers(1, 40),
    st.integers(-3, 60),
    st.booleans(),
)


@dataclass(frozen=True)
class Recipe:
    """What the server makes of one request's genuine answer: interim answers or junk before
    it, its framing, junk or decoy answers after it, and maybe a cut and a close."""

    before: list[bytes]
    framing: Framing
    after: list[bytes | Framing]
    cut: float | None
    close: bool

    def reply(self, request: Request) -> Reply:
        after = b"".join(part.frame(DECOY) if isinstance(part, Framing) else part for part in self.after)
        data = b"".join(self.before) + self.framing.frame(genuine_body(request)) + after
        if self.cut is not None:
            return Reply(data[: int(len(data) * self.cut)], close=True)
        return Reply(data, close=self.close)


recipes = st.builds(
    Recipe,
    st.lists(st.one_of(INTERIM, JUNK), max_size=2),
    framing,
    st.lists(st.one_of(JUNK, framing, st.just(DECOY_ANSWER)), max_size=2),
    st.one_of(st.none(), st.none(), st.floats(0, 1)),
    st.booleans(),
)


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(recipes, min_size=1, max_size=16))
def test_random_answer_streams_never_cross_requests(plan: list[Recipe]) -> None:
    server = ScriptedServer(lambda index, request: plan[index % len(plan)].reply(request))
    try:
        # Faster still: every answer here is sent at once, so a client that waits is stuck for good.
        dynamodb = client_at(server, FAST._replace(read_timeout=0.08))
        revocations = RevocationList(dynamodb, TABLE, cache_seconds=0)
        for claims in (TOKEN_A, TOKEN_B, TOKEN_A, TOKEN_B):
            sent = len(server.requests)
            try:
                returned = get_item_of(dynamodb, claims)
            except AwsRequestError:
                pass  # refused with the client's own error; any other exception fails the test
            else:
                # Returned only if it is the genuine answer to the request this call sent last.
                assert len(server.requests) > sent
                assert returned == genuine_document(asked(server.requests[-1]))
            assert outcome(revocations, TOKEN_B) in ("revoked", "unavailable")
    finally:
        server.stop()
