"""The `aws` commands of docs/attaching/console-cli.md and cross-account.md are commands the AWS CLI has.

The AWS CLI builds its commands from botocore's service models: operation `CreateAuthorizer` is
the command `create-authorizer`, and each input member is a flag named by botocore's
`xform_name(member, "-")` (`AuthorizerPayloadFormatVersion` is `--authorizer-payload-format-version`,
`restApiId` is `--rest-api-id`, `StatementId` is `--statement-id`); a boolean member is also its
`--no-` flag. Every `aws SERVICE COMMAND --flag ...` in the pages' ```sh blocks is read and checked
against those models: the service and the command exist, each flag is an input member of the
operation (or one of the CLI's own options), each required member is given, a literal value of an
enum member is one of its values, and a `--query` is a JMESPath expression. Nothing calls AWS.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions
import botocore.session
import jmespath
import jmespath.exceptions
import pytest
from botocore import xform_name
from botocore.model import OperationModel

ROOT = Path(__file__).resolve().parents[2]
PAGES = (ROOT / "docs" / "attaching" / "console-cli.md", ROOT / "docs" / "attaching" / "cross-account.md")

# The CLI's own options, accepted by every command (`aws help`, "Global Options").
GLOBAL_OPTIONS = {
    "--debug", "--endpoint-url", "--no-verify-ssl", "--no-paginate", "--output", "--query",
    "--profile", "--region", "--version", "--color", "--no-sign-request", "--ca-bundle",
    "--cli-read-timeout", "--cli-connect-timeout", "--cli-binary-format", "--no-cli-pager",
    "--cli-auto-prompt", "--no-cli-auto-prompt", "--cli-input-json", "--cli-input-yaml",
    "--generate-cli-skeleton",
}  # fmt: skip
TAKES_NO_VALUE = {
    "--debug", "--no-verify-ssl", "--no-paginate", "--no-sign-request", "--no-cli-pager",
    "--cli-auto-prompt", "--no-cli-auto-prompt", "--version",
}  # fmt: skip
# Added by the CLI to the commands of paginated operations.
PAGINATION_OPTIONS = {"--starting-token", "--page-size", "--max-items"}
# With these, the input comes from a file, and required members need no flags.
INPUT_FROM_FILE = {"--cli-input-json", "--cli-input-yaml"}

# The commands each page must keep (a page that loses them is no longer what it says).
EXPECTED = {
    "console-cli.md": {
        ("apigatewayv2", "create-authorizer"), ("apigatewayv2", "update-route"),
        ("apigatewayv2", "get-authorizer"), ("apigateway", "create-authorizer"),
        ("apigateway", "update-method"), ("apigateway", "create-deployment"),
        ("apigateway", "test-invoke-authorizer"), ("lambda", "add-permission"),
    },
    "cross-account.md": {
        ("apigateway", "create-authorizer"), ("apigatewayv2", "create-authorizer"),
        ("lambda", "add-permission"),
    },
}  # fmt: skip

_FENCE = re.compile(r"^```sh[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_ANY_FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`(aws [^`]+)`")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {"(", ")", "|", "||", "&", "&&", ";", ";;"}
_SESSION = botocore.session.get_session()


@dataclass
class Invocation:
    where: str  # page:line
    service: str
    command: str
    flags: list[tuple[str, list[str]]] = field(default_factory=list)  # in order, with their values
    stray: list[str] = field(default_factory=list)  # words before the first flag
    complete: bool = True  # a command to run, not a mention in the text (which may leave flags out)

    def __str__(self) -> str:
        return f"{self.where}: aws {self.service} {self.command}"


def sh_lines(text: str) -> list[tuple[int, str]]:
    """Each command line of the ```sh blocks (continuations joined), with its line number."""
    lines: list[tuple[int, str]] = []
    for block in _FENCE.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        pending, start = "", first
        for offset, line in enumerate(block.group(1).splitlines()):
            if not pending:
                start = first + offset
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            lines.append((start, pending + line))
            pending = ""
        if pending:
            lines.append((start, pending))
    return lines


def mentions(text: str, page: str) -> list[Invocation]:
    """`aws ...` in the text's inline code: checked too, but need not give every required flag."""
    prose = _ANY_FENCE.sub(lambda block: "\n" * block.group(0).count("\n"), text)
    found: list[Invocation] = []
    for match in _INLINE.finditer(prose):
        number = prose.count("\n", 0, match.start()) + 1
        for invocation in invocations(f"```sh\n{match.group(1)}\n```\n", f"{page}:{number}"):
            invocation.where = f"{page}:{number}"
            invocation.complete = False
            found.append(invocation)
    return found


def words(line: str) -> list[str]:
    """Shell words and the separators `( ) | & ;` between commands; `#` starts a comment."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="();|&")
    lexer.whitespace_split = True
    return list(lexer)


def invocations(text: str, page: str) -> list[Invocation]:
    found: list[Invocation] = []
    for number, line in sh_lines(text):
        tokens = words(line)
        command_position = True
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token in _SEPARATORS:
                command_position = True
            elif command_position and _ASSIGNMENT.match(token):
                pass  # `NAME=value command ...` and `NAME=$(command ...)`: still a command's position
            elif command_position and token == "aws" and index + 2 < len(tokens):
                invocation = Invocation(f"{page}:{number}", tokens[index + 1], tokens[index + 2])
                index += 3
                while index < len(tokens) and tokens[index] not in _SEPARATORS:
                    word = tokens[index]
                    if word.startswith("--"):
                        name, equals, value = word.partition("=")
                        invocation.flags.append((name, [value] if equals else []))
                    elif invocation.flags:
                        invocation.flags[-1][1].append(word)
                    else:
                        invocation.stray.append(word)
                    index += 1
                found.append(invocation)
                command_position = False
                continue
            else:
                command_position = False
            index += 1
    return found


def operation(service: str, command: str) -> OperationModel | None:
    model = _SESSION.get_service_model(service)
    for name in model.operation_names:
        if xform_name(name, "-") == command:
            return model.operation_model(name)
    return None


def paginated(service: str, operation_name: str) -> bool:
    try:
        _SESSION.get_paginator_model(service).get_paginator(operation_name)
    except (ValueError, botocore.exceptions.UnknownServiceError):
        return False
    return True


def problems(invocation: Invocation) -> list[str]:
    if invocation.service.startswith("-"):
        return [f"{invocation}: put the CLI's own options after the command"]
    if invocation.service not in _SESSION.get_available_services():
        return [f"{invocation}: no AWS CLI service {invocation.service!r}"]
    model = operation(invocation.service, invocation.command)
    if model is None:
        return [f"{invocation}: {invocation.service} has no command {invocation.command!r}"]
    members = model.input_shape.members if model.input_shape is not None else {}
    by_flag = {"--" + xform_name(name, "-"): shape for name, shape in members.items()}
    negated = {"--no-" + flag[2:] for flag, shape in by_flag.items() if shape.type_name == "boolean"}
    allowed = set(by_flag) | negated | GLOBAL_OPTIONS
    if paginated(invocation.service, model.name):
        allowed |= PAGINATION_OPTIONS
    found: list[str] = []
    if invocation.stray:
        found.append(f"{invocation}: words before the first flag: {invocation.stray}")
    given = {flag for flag, _ in invocation.flags}
    for flag, values in invocation.flags:
        if flag not in allowed:
            found.append(f"{invocation}: {flag} is not an option of this command")
            continue
        shape = by_flag.get(flag)
        boolean = shape is not None and shape.type_name == "boolean"
        no_value = flag in negated or flag in TAKES_NO_VALUE or boolean
        enum: list[str] = getattr(shape, "enum", None) or []  # only string shapes have one
        literal = values[0] if len(values) == 1 and "$" not in values[0] else None
        if no_value and values:
            found.append(f"{invocation}: {flag} takes no value, got {values}")
        elif not no_value and not values:
            found.append(f"{invocation}: {flag} needs a value")
        elif enum and literal is not None and literal not in enum:
            found.append(f"{invocation}: {flag} {literal!r} is none of {enum}")
        if flag == "--query" and len(values) == 1:
            try:
                jmespath.compile(values[0])
            except jmespath.exceptions.JMESPathError as exc:
                found.append(f"{invocation}: --query is no JMESPath expression: {exc}")
    if invocation.complete and not given & INPUT_FROM_FILE:
        for name in model.input_shape.required_members if model.input_shape is not None else ():
            flag = "--" + xform_name(name, "-")
            if flag not in given:
                found.append(f"{invocation}: the required {flag} is missing")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_aws_command_on_the_page_exists_with_the_flags_it_takes(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = invocations(text, page.name)
    assert {(i.service, i.command) for i in found} >= EXPECTED[page.name], "commands the page must keep"
    found += mentions(text, page.name)
    assert [problem for invocation in found for problem in problems(invocation)] == []


def _problems_of(block: str) -> list[str]:
    return [p for invocation in invocations(f"```sh\n{block}\n```\n", "sample") for p in problems(invocation)]


def test_commands_named_in_the_text_are_checked_too() -> None:
    text = "Run `aws lambda get-policy --function-name f` or `aws lambda update-function-configuration`.\n"
    assert [(i.service, i.command, i.complete) for i in mentions(text, "sample")] == [
        ("lambda", "get-policy", False),
        ("lambda", "update-function-configuration", False),
    ]
    misspelt = mentions("See `aws lambda get-policy --function f`.\n", "sample")
    assert [p for invocation in misspelt for p in problems(invocation)] == [
        "sample:1: aws lambda get-policy: --function is not an option of this command"
    ]


def test_the_checker_reads_what_the_pages_write() -> None:
    """Substitutions, continuations, quoting and comments as the pages use them."""
    block = (
        'AUTHORIZER_ID=$(aws apigatewayv2 create-authorizer --api-id "$API_ID" --name n \\\n'
        "  --authorizer-type REQUEST --identity-source '$request.header.Authorization' \\\n"
        "  --enable-simple-responses --query AuthorizerId --output text)   # a comment --not-a-flag\n"
        "REGION=us-east-1 aws lambda get-policy --function-name f | cat"
    )
    found = invocations(f"```sh\n{block}\n```\n", "sample")
    assert [(i.service, i.command) for i in found] == [
        ("apigatewayv2", "create-authorizer"),
        ("lambda", "get-policy"),
    ]
    assert dict(found[0].flags)["--identity-source"] == ["$request.header.Authorization"]
    assert dict(found[0].flags)["--enable-simple-responses"] == []
    assert dict(found[1].flags) == {"--function-name": ["f"]}
    assert _problems_of(block) == []


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            "aws apigatewayv2 create-authorizer --api-idd a --authorizer-type REQUEST --identity-source x "
            "--name n",
            "--api-idd is not an option",
        ),
        (
            "aws apigatewayv2 create-authorizer --api-id a --authorizer-type REQUEST --identity-source x",
            "the required --name is missing",
        ),
        (
            "aws apigatewayv2 update-route --api-id a --route-id r --authorization-type LAMBDA",
            "'LAMBDA' is none of",
        ),
        ("aws apigateway update-methods --rest-api-id a", "no command 'update-methods'"),
        ("aws apigatewayv3 get-apis", "no AWS CLI service"),
        (
            "aws lambda add-permission --function-name f --statement-id s --action a --principal p "
            "--enable x",
            "--enable is not an option",
        ),
        (
            "aws apigatewayv2 create-authorizer --api-id a --name n --authorizer-type REQUEST "
            "--identity-source x --enable-simple-responses true",
            "takes no value",
        ),
        ("aws apigatewayv2 get-routes --api-id a --query 'Items[?RouteKey=='", "no JMESPath"),
    ],
)
def test_the_checker_refuses_what_the_cli_would(block: str, expected: str) -> None:
    found = _problems_of(block)
    assert any(expected in problem for problem in found), found
