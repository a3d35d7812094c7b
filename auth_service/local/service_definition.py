"""serverless.yml read into the functions, routes and authorizers the local gateway serves.

Only what the emulation needs is read, and only what is literally in the file: Serverless
variables (`${...}`) and CloudFormation intrinsics (`!Sub`, `!Ref`, ...) cannot be resolved
without a deploy, so values that contain them count as unresolved. The exception is an
authorizer's settings, where `${self:...}` and `${param:...}` (params.default, or the `params`
given, as `--param` would) are followed, so switches like the `cookies` param apply locally too.
Mistakes that Serverless itself would reject at deploy (a route naming an authorizer that does
not exist, an authorizer naming a missing function) are reported here, with the file, before
anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

DEFAULT_ROUTE_KEY = "$default"
ANY_METHOD = "ANY"
# The methods Serverless accepts for httpApi events (`*` is its spelling of ANY).
_METHODS = frozenset({"ANY", "GET", "POST", "PUT", "PATCH", "OPTIONS", "HEAD", "DELETE"})
# Serverless defaults for settings a function may leave out.
_DEFAULT_MEMORY_MB = 1024
_DEFAULT_TIMEOUT_SECONDS = 6
_IDENTITY_SOURCE_PREFIXES = (
    "$request.header.",
    "$request.querystring.",
    "$context.",
    "$stageVariables.",
)
# `${source:address, 'default'}` or `${source:address, "default"}` or `${source:address, 5}`.
_VARIABLE_WITH_DEFAULT = re.compile(
    r"""^\$\{[^,{}]+,\s*(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<bare>[\w.-]+))\s*\}$"""
)
_SELF_REFERENCE = re.compile(r"^\$\{self:(?P<address>[\w.-]+)\}$")
# The innermost `${...}`: no `$`, `{` or `}` inside it.
_INNERMOST_VARIABLE = re.compile(r"\$\{(?P<source>self|param):(?P<address>[^${}\s,]+)\}")


class ServiceDefinitionError(ValueError):
    """serverless.yml describes something the local gateway cannot serve."""

    def __init__(self, source: Path | str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = str(source)
        self.problem = problem


@dataclass(frozen=True)
class FunctionDefinition:
    name: str
    module: str
    attribute: str
    # Only values known without a deploy; the rest come from the process environment.
    environment: Mapping[str, str]
    memory_size_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class RouteDefinition:
    method: str  # GET, POST, ... or ANY (which the $default route also uses)
    path: str  # "/me", "/items/{id}", "/{proxy+}", or "$default"
    function: str
    authorizer: str | None

    @property
    def route_key(self) -> str:
        if self.path == DEFAULT_ROUTE_KEY:
            return DEFAULT_ROUTE_KEY
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class AuthorizerDefinition:
    name: str
    function: str
    identity_sources: tuple[str, ...]
    enable_simple_responses: bool
    payload_version: str
    result_ttl_seconds: int


@dataclass(frozen=True)
class ServiceDefinition:
    service: str
    source: Path
    functions: Mapping[str, FunctionDefinition]
    routes: tuple[RouteDefinition, ...]
    authorizers: Mapping[str, AuthorizerDefinition]


class _TolerantLoader(yaml.SafeLoader):
    """A safe loader that reads CloudFormation short-form tags instead of failing on them."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    # Rebuild the long form CloudFormation itself uses, so tagged values are plain data that no
    # one mistakes for a literal string (`!GetAtt Table.Arn` is not the text "Table.Arn").
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has only the three node kinds
        value = None
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


_TolerantLoader.add_multi_constructor("!", _construct_intrinsic)


def load_service_definition(path: Path, params: Mapping[str, str] | None = None) -> ServiceDefinition:
    """Read and check serverless.yml at `path`; `params` override params.default."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServiceDefinitionError(path, f"cannot read the file ({exc.strerror})") from exc
    try:
        document = yaml.load(text, Loader=_TolerantLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ServiceDefinitionError(path, f"not valid YAML ({exc})") from exc
    if not isinstance(document, Mapping):
        raise ServiceDefinitionError(path, "the top level is not a mapping")
    return parse_service_definition(document, path, params)


def parse_service_definition(
    document: Mapping[str, Any], source: Path, params: Mapping[str, str] | None = None
) -> ServiceDefinition:
    """Build the definition from an already-loaded serverless.yml document."""
    parser = _Parser(document, source, params)
    return parser.parse()


def is_unresolved(value: object) -> bool:
    """Whether `value` still needs Serverless or CloudFormation to know what it is."""
    return isinstance(value, str) and "${" in value


class _Parser:
    def __init__(
        self, document: Mapping[str, Any], source: Path, params: Mapping[str, str] | None = None
    ) -> None:
        self._document = document
        self._source = source
        defaults = self._lookup("params.default")
        self._params = {**(defaults if isinstance(defaults, Mapping) else {}), **(params or {})}

    def _fail(self, problem: str) -> ServiceDefinitionError:
        return ServiceDefinitionError(self._source, problem)

    def _mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._fail(f"{where} must be a mapping")
        return value

    def parse(self) -> ServiceDefinition:
        service = self._document.get("service")
        if isinstance(service, Mapping):  # the older `service: {name: ...}` form
            service = service.get("name")
        if not isinstance(service, str) or not service or is_unresolved(service):
            raise self._fail("`service` must be a literal name")
        provider = self._mapping(self._document.get("provider"), "provider")
        functions = self._functions(provider)
        authorizers = self._authorizers(provider, functions)
        routes = self._routes(provider, functions, authorizers)
        return ServiceDefinition(
            service=service,
            source=self._source,
            functions=MappingProxyType(functions),
            routes=tuple(routes),
            authorizers=MappingProxyType(authorizers),
        )

    def _functions(self, provider: Mapping[str, Any]) -> dict[str, FunctionDefinition]:
        shared_environment = _literal_environment(
            self._mapping(provider.get("environment"), "provider.environment")
        )
        provider_memory = self._integer(provider.get("memorySize"), _DEFAULT_MEMORY_MB)
        provider_timeout = self._integer(provider.get("timeout"), _DEFAULT_TIMEOUT_SECONDS)
        functions: dict[str, FunctionDefinition] = {}
        for name, config in self._mapping(self._document.get("functions"), "functions").items():
            where = f"functions.{name}"
            config = self._mapping(config, where)
            handler = config.get("handler")
            if not isinstance(handler, str) or is_unresolved(handler) or "." not in handler:
                raise self._fail(f"{where}.handler must look like `package/module.function`")
            module_path, attribute = handler.rsplit(".", 1)
            module = module_path.replace("/", ".").strip(".")
            if not module or not attribute.isidentifier():
                raise self._fail(f"{where}.handler {handler!r} does not name module.function")
            environment = dict(shared_environment)
            environment.update(
                _literal_environment(self._mapping(config.get("environment"), f"{where}.environment"))
            )
            functions[str(name)] = FunctionDefinition(
                name=str(name),
                module=module,
                attribute=attribute,
                environment=MappingProxyType(environment),
                memory_size_mb=self._integer(config.get("memorySize"), provider_memory),
                timeout_seconds=self._integer(config.get("timeout"), provider_timeout),
            )
        return functions

    def _authorizers(
        self, provider: Mapping[str, Any], functions: Mapping[str, FunctionDefinition]
    ) -> dict[str, AuthorizerDefinition]:
        http_api = self._mapping(provider.get("httpApi"), "provider.httpApi")
        configured = self._mapping(http_api.get("authorizers"), "provider.httpApi.authorizers")
        authorizers: dict[str, AuthorizerDefinition] = {}
        for name, config in configured.items():
            where = f"provider.httpApi.authorizers.{name}"
            config = {key: self._resolved(value) for key, value in self._mapping(config, where).items()}
            kind = str(config.get("type", "jwt")).lower()
            if kind != "request":
                raise self._fail(
                    f"{where}: type {kind!r} is not emulated locally; only `type: request`"
                    " (Lambda) authorizers are"
                )
            function = config.get("functionName")
            if config.get("functionArn") is not None and function is None:
                raise self._fail(f"{where}: functionArn points outside this service; use functionName")
            if not isinstance(function, str) or function not in functions:
                raise self._fail(
                    f"{where}.functionName {function!r} is not a function defined in `functions`"
                )
            sources = config.get("identitySource", [])
            if isinstance(sources, str):
                sources = [sources]
            if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
                raise self._fail(f"{where}.identitySource must be a string or a list of strings")
            for source in sources:
                if not source.startswith(_IDENTITY_SOURCE_PREFIXES):
                    raise self._fail(f"{where}.identitySource {source!r} is not a selection expression")
            version = str(config.get("payloadVersion", "2.0"))
            if version != "2.0":
                raise self._fail(f"{where}.payloadVersion {version!r}: only 2.0 is emulated")
            simple = config.get("enableSimpleResponses", False)
            authorizers[str(name)] = AuthorizerDefinition(
                name=str(config.get("name", name)),
                function=function,
                identity_sources=tuple(sources),
                enable_simple_responses=simple is True or str(simple).lower() == "true",
                payload_version=version,
                result_ttl_seconds=self._integer(config.get("resultTtlInSeconds"), 0),
            )
        return authorizers

    def _routes(
        self,
        provider: Mapping[str, Any],
        functions: Mapping[str, FunctionDefinition],
        authorizers: Mapping[str, AuthorizerDefinition],
    ) -> list[RouteDefinition]:
        http_api = self._mapping(provider.get("httpApi"), "provider.httpApi")
        provider_payload = str(http_api.get("payload", "2.0"))
        routes: dict[str, RouteDefinition] = {}
        raw_functions = self._mapping(self._document.get("functions"), "functions")
        for name in functions:
            config = self._mapping(raw_functions.get(name), f"functions.{name}")
            events = config.get("events") or []
            if not isinstance(events, list):
                raise self._fail(f"functions.{name}.events must be a list")
            function_http_api = self._mapping(config.get("httpApi"), f"functions.{name}.httpApi")
            payload = str(function_http_api.get("payload", provider_payload))
            for index, event in enumerate(events):
                if not isinstance(event, Mapping) or "httpApi" not in event:
                    continue  # other event sources are not served over HTTP
                where = f"functions.{name}.events[{index}].httpApi"
                if payload != "2.0":
                    raise self._fail(f"functions.{name}: payload {payload!r}; only 2.0 is emulated")
                route = self._route(event["httpApi"], name, authorizers, where)
                if route.route_key in routes:
                    raise self._fail(f"{where}: duplicate route {route.route_key!r}")
                routes[route.route_key] = route
        return list(routes.values())

    def _route(
        self,
        event: Any,
        function: str,
        authorizers: Mapping[str, AuthorizerDefinition],
        where: str,
    ) -> RouteDefinition:
        authorizer_config: Any = None
        if isinstance(event, str):
            if event.strip() == "*":
                method, path = "*", "*"
            else:
                method, _, path = event.strip().partition(" ")
                path = path.strip()
        elif isinstance(event, Mapping):
            method = str(event.get("method", "*" if event.get("path") == "*" else ""))
            path = str(event.get("path", ""))
            authorizer_config = event.get("authorizer")
        else:
            raise self._fail(f"{where} must be a string like `GET /path` or a mapping")

        method = method.upper()
        if method == "*":
            method = ANY_METHOD
        if path == "*":
            if method != ANY_METHOD:
                raise self._fail(f"{where}: path `*` (the $default route) takes no method")
            path = DEFAULT_ROUTE_KEY
        elif method not in _METHODS:
            raise self._fail(f"{where}: method {method or '(missing)'!r} is not an HTTP method")
        elif not path.startswith("/"):
            raise self._fail(f"{where}: path {path!r} must start with `/`")
        elif re.search(r"\{[^}]+\+\}.", path):
            raise self._fail(f"{where}: a greedy path variable must end the path")

        return RouteDefinition(
            method=method,
            path=path,
            function=function,
            authorizer=self._route_authorizer(authorizer_config, authorizers, where),
        )

    def _route_authorizer(
        self, config: Any, authorizers: Mapping[str, AuthorizerDefinition], where: str
    ) -> str | None:
        if config is None:
            return None
        if isinstance(config, str):
            name: Any = config
        elif isinstance(config, Mapping):
            if config.get("type") == "aws_iam" or "id" in config:
                raise self._fail(f"{where}.authorizer: only named Lambda authorizers are emulated")
            name = config.get("name")
        else:
            raise self._fail(f"{where}.authorizer must be a name or a mapping with `name`")
        if not isinstance(name, str) or name not in authorizers:
            known = ", ".join(sorted(authorizers)) or "none"
            raise self._fail(
                f"{where}.authorizer {name!r} is not in provider.httpApi.authorizers (defined: {known})"
            )
        return name

    def _integer(self, value: Any, default: int, depth: int = 0) -> int:
        """A whole-number setting; an unresolved one falls back to its literal default."""
        if isinstance(value, bool) or value is None:
            return default
        if isinstance(value, int):
            return value
        if not isinstance(value, str):
            return default
        text = value.strip()
        if text.isdigit():
            return int(text)
        reference = _SELF_REFERENCE.match(text)
        if reference and depth < 10:
            # `${self:custom.x}` is resolvable from the file itself; follow it to its default.
            return self._integer(self._lookup(reference["address"]), default, depth + 1)
        with_default = _VARIABLE_WITH_DEFAULT.match(text)
        if with_default:
            literal = next(g for g in with_default.groups() if g is not None)
            if literal.strip().isdigit():
                return int(literal)
        return default

    def _resolved(self, value: Any) -> Any:
        """`value` with its `${self:...}` and `${param:...}` variables followed, innermost first.

        A variable that fills the whole string takes the referenced value as it is (a list, a
        number); anything else unresolvable is left in place, still counting as unresolved.
        """
        for _ in range(10):  # the nesting depth Serverless itself would tolerate, and then some
            if not isinstance(value, str):
                return value
            match = _INNERMOST_VARIABLE.search(value)
            if match is None:
                return value
            address = match["address"]
            found = self._params.get(address) if match["source"] == "param" else self._lookup(address)
            if found is None:
                return value
            if match.span() == (0, len(value)):
                value = found
            elif isinstance(found, str | int) and not isinstance(found, bool):
                value = value[: match.start()] + str(found) + value[match.end() :]
            else:
                return value
        return value

    def _lookup(self, address: str) -> Any:
        node: Any = self._document
        for part in address.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node


def _literal_environment(environment: Mapping[str, Any]) -> dict[str, str]:
    literal: dict[str, str] = {}
    for name, value in environment.items():
        if isinstance(value, bool):
            continue  # Lambda would reject it; Serverless would too
        if isinstance(value, int | float):
            value = str(value)
        if isinstance(value, str) and not is_unresolved(value):
            literal[str(name)] = value
    return literal
