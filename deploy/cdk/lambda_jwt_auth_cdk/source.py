"""serverless.yml, read as the framework reads it for one stage: the single source of both deploys.

The construct does not restate what serverless.yml defines. It loads the file with its
CloudFormation tags (`!Sub`, `!Ref`, `!GetAtt`, `!If`, `!Not`, `!Equals`) turned into their JSON
form, and follows the framework's variables for a stage and its params:

* `${param:name}`: the `params` given, else params.<stage>, else params.default;
* `${self:a.b}`: a value of the file; `${sls:stage}` and `${opt:stage, ...}`: the stage;
* `${file(./deploy/allowed-origins.js)}`: the `allowedOrigins` param split at commas, as that
  file does.

Variables nest (innermost first); a value that is one variable alone takes the variable's value
whatever its type (a list, a boolean). A variable that cannot be followed is an error that names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_INNERMOST = re.compile(r"\$\{(?P<body>[^${}]+)\}")
_STAGE_OPTION = re.compile(r"^opt:stage\s*,\s*'[^']*'$")
_ALLOWED_ORIGINS_FILE = "file(./deploy/allowed-origins.js)"
PARAMS = "_params"  # the key under which `load` adds the params it used


class SourceError(ValueError):
    """serverless.yml holds something this reader cannot follow."""


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags."""


def _tag(name: str, *, split: bool = False) -> None:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if split:
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    tag = "!" + name.removeprefix("Fn::")
    _Loader.add_constructor(tag, construct)


for _name in (
    "Ref", "Condition", "Fn::Sub", "Fn::If", "Fn::Not", "Fn::Equals", "Fn::And", "Fn::Or",
    "Fn::Join", "Fn::Select", "Fn::Split", "Fn::ImportValue", "Fn::FindInMap", "Fn::Base64",
):  # fmt: skip
    _tag(_name)
_tag("Fn::GetAtt", split=True)


def load(path: Path, stage: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """serverless.yml at `path` with every framework variable followed for `stage`."""
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader + tags
    if not isinstance(document, dict):
        raise SourceError(f"{path}: not a YAML mapping")
    declared = document.get("params", {})
    merged = {**declared.get("default", {}), **declared.get(stage, {}), **(params or {})}
    unknown = sorted(set(params or {}) - set(declared.get("default", {})))
    if unknown:
        raise SourceError(f"{path}: no such params: {', '.join(unknown)} (see params.default)")
    resolver = _Resolver(document, stage, merged, path)
    resolved: dict[str, Any] = resolver.value(document)
    resolved[PARAMS] = resolver.value(merged)
    return resolved


class _Resolver:
    def __init__(self, document: dict[str, Any], stage: str, params: dict[str, Any], path: Path) -> None:
        self.document = document
        self.stage = stage
        self.params = params
        self.path = path

    def value(self, value: Any, depth: int = 0) -> Any:
        if depth > 40:
            raise SourceError(f"{self.path}: variables nest too deep (a cycle?)")
        if isinstance(value, dict):
            return {key: self.value(item, depth) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, depth) for item in value]
        if isinstance(value, str):
            return self.text(value, depth)
        return value

    def text(self, text: str, depth: int) -> Any:
        while True:
            found = _INNERMOST.search(text)
            if found is None:
                return text
            body = found.group("body").strip()
            if not self._is_framework_variable(body):
                # `${AWS::Region}`, `${HttpApi}`: Fn::Sub's own variables, left to CloudFormation. Only
                # what follows them is searched further.
                head, tail = text[: found.end()], text[found.end() :]
                rest = self.text(tail, depth) if tail else ""
                if not isinstance(rest, str):
                    raise SourceError(f"{self.path}: {tail!r} inside {text!r} is not text")
                return head + rest
            replacement = self.value(self.lookup(body), depth + 1)
            if found.group(0) == text:
                return replacement
            if not isinstance(replacement, str | int | float) or isinstance(replacement, bool):
                raise SourceError(f"{self.path}: ${{{body}}} inside {text!r} is not text")
            text = text[: found.start()] + str(replacement) + text[found.end() :]

    @staticmethod
    def _is_framework_variable(body: str) -> bool:
        return body.split(":", 1)[0] in ("param", "self", "sls", "opt") or body.startswith("file(")

    def lookup(self, body: str) -> Any:
        if body == "sls:stage" or _STAGE_OPTION.match(body):
            return self.stage
        if body.startswith("opt:region"):
            return {"Ref": "AWS::Region"}
        if body == _ALLOWED_ORIGINS_FILE:
            raw = str(self.params.get("allowedOrigins") or "")
            return [origin.strip() for origin in raw.split(",") if origin.strip()]
        source, _, address = body.partition(":")
        if source == "param":
            if address not in self.params:
                raise SourceError(f"{self.path}: ${{param:{address}}} is no param")
            return self.params[address]
        if source == "self":
            node: Any = self.document
            for part in address.split("."):
                if not isinstance(node, dict) or part not in node:
                    raise SourceError(f"{self.path}: ${{self:{address}}} names nothing in the file")
                node = node[part]
            return node
        raise SourceError(f"{self.path}: cannot follow ${{{body}}}")
