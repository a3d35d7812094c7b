"""API Gateway HTTP API in front of the Lambda functions' containers: request in, response out.

For each request: refuse bodies over the 10 MB HTTP API limit (413), pick the route (404 when
none matches), run the route's Lambda authorizer if it has one (401 when an identity source is
missing, without invoking it; 403 when it denies; 500 when it fails or answers nonsense), then
invoke the integration with a payload format 2.0 event and turn its output into the response
(500 when it raises or returns something malformed). Every response carries the
`apigw-requestid` header, as HTTP APIs do. Failures are printed to stderr with their traceback,
where CloudWatch Logs would have them; the client only sees API Gateway's generic message.
Each function runs in its own pool of containers (lambda_runtime.py); `close()` stops them all.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from auth_service.local.authorization import (
    AuthorizerCache,
    MalformedAuthorizerResponseError,
    interpret,
)
from auth_service.local.container import InvocationError
from auth_service.local.container_limits import ContainerLimits
from auth_service.local.container_template import ContainerTemplate
from auth_service.local.events import ApiIdentity, HttpApiRequest, new_request_id
from auth_service.local.lambda_runtime import FunctionPool, close_pools
from auth_service.local.responses import (
    FORBIDDEN,
    INTERNAL_SERVER_ERROR,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    UNAUTHORIZED,
    GatewayResponse,
    MalformedIntegrationResponseError,
    from_integration_output,
)
from auth_service.local.routing import RouteMatch, RouteTable
from auth_service.local.service_definition import ServiceDefinition

__all__ = ["MAX_BODY_BYTES", "FunctionInvoker", "GatewayResponse", "HttpApiGateway"]

MAX_BODY_BYTES = 10 * 1024 * 1024  # the HTTP API payload quota


class FunctionInvoker(Protocol):
    def invoke(self, event: Mapping[str, Any]) -> Any: ...


class _Denied(Exception):
    """Authorization ended the request with `response`."""

    def __init__(self, response: GatewayResponse) -> None:
        super().__init__(response.status)
        self.response = response


class HttpApiGateway:
    def __init__(
        self,
        definition: ServiceDefinition,
        functions: Mapping[str, FunctionInvoker] | None = None,
        *,
        api: ApiIdentity | None = None,
        clock: Callable[[], float] = time.time,
        containers: ContainerLimits | None = None,
        template: ContainerTemplate | None = None,
    ) -> None:
        """`functions` replaces the functions' container pools (by name), e.g. in tests.

        `template` forks the containers (default: this process's shared one).
        """
        self.definition = definition
        self.api = api or ApiIdentity()
        self._clock = clock
        self._routes = RouteTable(definition.routes)
        self._cache = AuthorizerCache(clock)
        limits = containers or ContainerLimits()
        limits.check(definition.functions)
        self.pools: dict[str, FunctionPool] = {}
        # One template forks the containers of every function (started with the first one).
        template = template or ContainerTemplate.shared()
        if functions is None:
            # Nothing starts here: a function's first container starts with its first invocation.
            code_root = definition.source.resolve().parent
            for name, function in definition.functions.items():
                self.pools[name] = FunctionPool(
                    function,
                    service=definition.service,
                    code_root=code_root,
                    max_containers=limits.for_function(name),
                    region=self.api.region,
                    account_id=self.api.account_id,
                    template=template,
                )
        self.functions: Mapping[str, FunctionInvoker] = functions if functions is not None else self.pools

    def close(self) -> None:
        """Stop every container of every function; safe to call more than once."""
        close_pools(self.pools.values())

    def __enter__(self) -> HttpApiGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def handle(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> GatewayResponse:
        request_id = new_request_id()
        response = self._respond(method, raw_path, raw_query, headers, body, source_ip, request_id)
        return GatewayResponse(
            response.status, [*response.headers, ("apigw-requestid", request_id)], response.body
        )

    def _respond(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
        request_id: str,
    ) -> GatewayResponse:
        if len(body) > MAX_BODY_BYTES:
            return PAYLOAD_TOO_LARGE
        match = self._routes.match(method, raw_path)
        if match is None:
            return NOT_FOUND
        request = HttpApiRequest(
            self.api,
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=headers,
            body=body,
            source_ip=source_ip,
            request_id=request_id,
            now=self._clock(),
        )
        try:
            authorizer_context = self._authorize(request, match)
        except _Denied as denied:
            return denied.response

        function = match.route.function
        try:
            output = self.functions[function].invoke(request.integration_event(match, authorizer_context))
        except Exception as exc:
            _log_failure(request_id, f"function {function!r} failed", exc)
            return INTERNAL_SERVER_ERROR
        try:
            return from_integration_output(output)
        except MalformedIntegrationResponseError as exc:
            problem = f"function {function!r} returned a malformed response: {exc}"
            _log_failure(request_id, problem)
            return INTERNAL_SERVER_ERROR

    def _authorize(self, request: HttpApiRequest, match: RouteMatch) -> Mapping[str, Any] | None:
        """The authorizer's context for the integration; raises _Denied to end the request."""
        name = match.route.authorizer
        if name is None:
            return None
        authorizer = self.definition.authorizers[name]
        identity: list[str] = []
        for source in authorizer.identity_sources:
            value = request.identity_value(source, match.route.route_key)
            if value is None:
                raise _Denied(UNAUTHORIZED)
            identity.append(value)

        # AWS caches only when a TTL is set and there is an identity to key the cache on.
        cacheable = authorizer.result_ttl_seconds > 0 and bool(identity)
        answer = self._cache.get(name, tuple(identity)) if cacheable else None
        from_cache = answer is not None
        if answer is None:
            try:
                answer = self.functions[authorizer.function].invoke(request.authorizer_event(match, identity))
            except Exception as exc:
                _log_failure(request.request_id, f"authorizer {name!r} failed", exc)
                raise _Denied(INTERNAL_SERVER_ERROR) from None
        try:
            verdict = interpret(
                answer,
                simple_responses=authorizer.enable_simple_responses,
                route_arn=request.route_arn(),
            )
        except MalformedAuthorizerResponseError as exc:
            problem = f"authorizer {name!r} answered badly: {exc}"
            _log_failure(request.request_id, problem)
            raise _Denied(INTERNAL_SERVER_ERROR) from None
        if cacheable and not from_cache:
            self._cache.put(name, tuple(identity), answer, authorizer.result_ttl_seconds)
        if not verdict.allowed:
            raise _Denied(FORBIDDEN)
        return verdict.context


def _log_failure(request_id: str, what: str, error: Exception | None = None) -> None:
    # sys.stderr is looked up at call time so redirected or captured stderr is honoured.
    if isinstance(error, InvocationError):
        # The container has logged the handler's traceback already; Lambda reports the error.
        print(f"[{request_id}] {what}: {error}", file=sys.stderr)
        return
    print(f"[{request_id}] {what}", file=sys.stderr)
    if error is not None:
        traceback.print_exception(error, file=sys.stderr)
