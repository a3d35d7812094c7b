"""Route selection as HTTP API does it: the most specific route wins, `$default` catches the rest.

AWS documents the priority as: a full match for the route and method, then a match with a
greedy path variable (`{proxy+}`), then `$default`. Among several full matches a literal
segment beats a `{param}` segment at the first place they differ; among greedy matches the
longer fixed prefix wins; a route for the exact method beats `ANY` for the same path.
Path parameters are URL-decoded, as API Gateway does before calling the integration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from urllib.parse import unquote

from auth_service.local.service_definition import (
    ANY_METHOD,
    DEFAULT_ROUTE_KEY,
    RouteDefinition,
)


class _Segment(IntEnum):
    # The order is the priority: literal beats parameter beats greedy.
    LITERAL = 0
    PARAMETER = 1
    GREEDY = 2


@dataclass(frozen=True)
class RouteMatch:
    route: RouteDefinition
    path_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _CompiledRoute:
    route: RouteDefinition
    segments: tuple[tuple[_Segment, str], ...]

    @property
    def greedy(self) -> bool:
        return bool(self.segments) and self.segments[-1][0] is _Segment.GREEDY

    def match(self, raw_segments: list[str]) -> dict[str, str] | None:
        parameters: dict[str, str] = {}
        for index, (kind, value) in enumerate(self.segments):
            if kind is _Segment.GREEDY:
                rest = raw_segments[index:]
                # A greedy variable needs at least one character: `/pets/{proxy+}` is not `/pets`.
                if not rest or rest == [""]:
                    return None
                parameters[value] = unquote("/".join(rest))
                return parameters
            if index >= len(raw_segments):
                return None
            segment = unquote(raw_segments[index])
            if kind is _Segment.LITERAL:
                if segment != value:
                    return None
            elif not segment:
                return None  # `{id}` never matches an empty segment
            else:
                parameters[value] = segment
        return parameters if len(raw_segments) == len(self.segments) else None

    def priority(self) -> tuple[bool, tuple[int, ...], bool]:
        return (
            self.greedy,
            tuple(kind for kind, _ in self.segments),
            self.route.method == ANY_METHOD,
        )


def _compile(route: RouteDefinition) -> _CompiledRoute:
    segments: list[tuple[_Segment, str]] = []
    for part in route.path.split("/")[1:]:
        if part.startswith("{") and part.endswith("+}"):
            segments.append((_Segment.GREEDY, part[1:-2]))
        elif part.startswith("{") and part.endswith("}"):
            segments.append((_Segment.PARAMETER, part[1:-1]))
        else:
            segments.append((_Segment.LITERAL, part))
    return _CompiledRoute(route, tuple(segments))


class RouteTable:
    def __init__(self, routes: Iterable[RouteDefinition]) -> None:
        self._routes: list[_CompiledRoute] = []
        self._default: RouteDefinition | None = None
        for route in routes:
            if route.path == DEFAULT_ROUTE_KEY:
                self._default = route
            else:
                self._routes.append(_compile(route))

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        method = method.upper()
        raw_segments = raw_path.split("/")[1:] if raw_path.startswith("/") else [raw_path]
        candidates: list[tuple[tuple[bool, tuple[int, ...], bool], RouteMatch]] = []
        for compiled in self._routes:
            if compiled.route.method not in (method, ANY_METHOD):
                continue
            parameters = compiled.match(raw_segments)
            if parameters is not None:
                candidates.append((compiled.priority(), RouteMatch(compiled.route, parameters)))
        if candidates:
            return min(candidates, key=lambda candidate: candidate[0])[1]
        if self._default is not None:
            return RouteMatch(self._default)
        return None
