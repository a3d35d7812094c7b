"""The authorizer itself: request in, decision out, decision rendered as API Gateway expects.

Data flows one way: event -> request -> verified claims -> revocation check -> scope check ->
decision -> response.

With cookie sources on (AUTH_TOKEN_SOURCES=header,cookie), a request without an Authorization
header may present the access cookie instead; a state-changing one must then also pass the CSRF
rules of authorizer.gateway.cookies, or is refused (403).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from authorizer import metrics
from authorizer.errors import AuthError
from authorizer.gateway import responses
from authorizer.gateway.config import CookieSettings
from authorizer.gateway.cookies import CSRF_HEADER, SAFE_METHODS, CsrfError, check_csrf
from authorizer.gateway.events import HTTP_V2, AuthorizationRequest, MalformedEventError, parse_event
from authorizer.gateway.routes import RouteScopes
from authorizer.log import get_logger, log_event
from authorizer.tokens.claims import TokenClaims
from authorizer.tokens.issuers import Verifier
from authorizer.tokens.revocation import RevocationList

logger = get_logger("lambda_jwt_auth.authorizer")
_MEMO_SIZE = 1024
_tuple_new = tuple.__new__


class Decision(NamedTuple):  # a tuple: one is made per request, and cheaply
    allowed: bool
    reason: str
    claims: TokenClaims | None = None  # set once the signature verified, even if then refused
    authenticated: bool = False  # a valid, unrevoked token: a policy may name its principal
    csrf_refused: bool = False  # a valid session cookie on a request that failed the CSRF rules


class Authorizer:
    def __init__(
        self,
        verifier: Verifier,
        revocations: RevocationList,
        routes: RouteScopes,
        *,
        simple_responses: bool = True,
        cookies: CookieSettings | None = None,
        log_allowed: bool = False,
    ) -> None:
        self.verifier = verifier
        self.revocations = revocations
        self.routes = routes
        self.simple_responses = simple_responses
        self.cookies = cookies  # set when the access cookie is a token source
        # Refusals are always logged; allowed requests only when asked (AUTH_LOG_ALLOWED), since
        # API Gateway's access log records them with our context (README: "Logs").
        self.log_allowed = log_allowed
        # (API prefix, scopes held) -> the routes an IAM policy denies: kept (bounded), since
        # scope sets repeat.
        self._denied = functools.lru_cache(maxsize=_MEMO_SIZE)(self._denied_resources)
        # (method, path, route) -> the scopes it requires: requests to one route repeat.
        self._required = functools.lru_cache(maxsize=_MEMO_SIZE)(self._required_scopes)

    def decide(self, request: AuthorizationRequest) -> Decision:
        token = request.token
        from_cookie = False
        if token is None and self.cookies is not None:
            token = request.cookie(self.cookies.names.access)
            from_cookie = token is not None
        if token is None:
            return Decision(False, "no bearer token")
        try:
            claims = self.verifier.verify(token)
        except AuthError as exc:
            return Decision(False, f"{type(exc).__name__}: {exc}")
        if from_cookie and request.method not in SAFE_METHODS:
            try:
                self._check_csrf(request, claims)
            except CsrfError as exc:
                return Decision(False, f"csrf: {exc}", claims, csrf_refused=True)
        try:
            self.revocations.check(claims)
        except AuthError as exc:
            return Decision(False, f"{type(exc).__name__}: {exc}", claims)
        needed = self._required(request.method, request.path, request.route)
        if needed and not needed <= claims.scopes:
            missing = needed - claims.scopes
            return Decision(False, f"missing scope: {' '.join(sorted(missing))}", claims, True)
        return _tuple_new(Decision, (True, "ok", claims, True, False))  # Decision(True, "ok", claims, True)

    def _check_csrf(self, request: AuthorizationRequest, claims: TokenClaims) -> None:
        assert self.cookies is not None
        check_csrf(
            origin=request.header_value("origin"),
            fetch_site=request.header_value("sec-fetch-site"),
            header_token=request.header_value(CSRF_HEADER),
            cookie_token=request.cookie(self.cookies.names.csrf),
            claims=claims.raw,
            allowed_origins=self.cookies.allowed_origins,
        )

    def required_scopes(self, request: AuthorizationRequest) -> frozenset[str]:
        return self._required(request.method, request.path, request.route)

    def _required_scopes(self, method: str, path: str, route: tuple[str, str] | None) -> frozenset[str]:
        # Rules may name the route template or a concrete path behind a greedy route: both count.
        needed = self.routes.required(method, path)
        if route is not None:
            route_method, route_path = route
            needed |= self.routes.required(method if route_method == "ANY" else route_method, route_path)
        return needed

    def handle(self, event: Any) -> dict[str, Any]:
        """The Lambda contract: answer API Gateway in the format its event asked for."""
        try:
            request = parse_event(event)
        except MalformedEventError as exc:
            _log(None, Decision(False, f"malformed event: {exc}"))
            if isinstance(event, dict) and event.get("version") == "2.0":
                # HTTP APIs turn a raised error into a 500: answer "no" in the configured format.
                if self.simple_responses:
                    return responses.simple(False)
                return responses.policy("anonymous", allow=(), deny=["*"])
            raise responses.Unauthorized() from None
        decision = self.decide(request)
        if not decision.allowed:
            _log(request, decision)
        else:
            _count(metrics.ALLOWED)
            if self.log_allowed:
                _log(request, decision)
            elif request.format is HTTP_V2 and self.simple_responses:  # the usual answer, at once
                return {"isAuthorized": True, "context": decision.claims.authorizer_context.copy()}  # type: ignore[union-attr]
        return self.render(request, decision)

    def render(self, request: AuthorizationRequest, decision: Decision) -> dict[str, Any]:
        claims = decision.claims if decision.authenticated else None
        if request.format is HTTP_V2 and self.simple_responses:
            return responses.simple(decision.allowed, claims.authorizer_context if claims else None)
        if decision.csrf_refused and decision.claims is not None:
            # The caller is known, the request is refused: a deny policy (403), not a 401.
            return responses.policy(decision.claims.sub, allow=(), deny=[f"{request.arn.prefix}/*"])
        if claims is None:
            if request.format is HTTP_V2:
                return responses.policy("anonymous", allow=(), deny=[f"{request.arn.prefix}/*"])
            raise responses.Unauthorized()
        prefix = request.arn.prefix
        deny = self._denied(prefix, claims.scopes)
        return responses.policy(claims.sub, allow=[f"{prefix}/*"], deny=deny, ctx=claims.authorizer_context)

    def _denied_resources(self, prefix: str, scopes: frozenset[str]) -> tuple[str, ...]:
        # One policy for every route the token may use, so API Gateway's cached policy keeps
        # answering correctly on the next route instead of turning into 403s.
        return tuple(rule.arn_resource(prefix) for rule in self.routes.forbidden(scopes))


_count = metrics.count
# A refusal's class, by how its reason starts (Decision.reason: the error's name, or these).
_REFUSAL_CLASSES = (
    ("no bearer token", metrics.REFUSED_NO_TOKEN),
    ("malformed event", metrics.REFUSED_MALFORMED_EVENT),
    ("csrf:", metrics.REFUSED_CSRF),
    ("missing scope", metrics.REFUSED_SCOPE),
    ("TokenExpiredError", metrics.REFUSED_EXPIRED),
    ("TokenRevokedError", metrics.REFUSED_REVOKED),
    ("RevocationUnavailableError", metrics.FAIL_CLOSED),
)


def refusal_class(reason: str) -> str:
    """The metric a refusal is counted under, beside `Refused` (authorizer.metrics)."""
    for start, name in _REFUSAL_CLASSES:
        if reason.startswith(start):
            return name
    return metrics.REFUSED_INVALID


def _log(request: AuthorizationRequest | None, decision: Decision) -> None:
    # Never the token: its jti and sub identify it well enough.
    claims = decision.claims
    if not decision.allowed:
        _count(metrics.REFUSED)
        _count(refusal_class(decision.reason))
    log_event(
        logger,
        "authorize",
        outcome="allow" if decision.allowed else "deny",
        reason=decision.reason,
        route=request.route_key if request else None,
        jti=claims.jti if claims else None,
        sub=claims.sub if claims else None,
    )
