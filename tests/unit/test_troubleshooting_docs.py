"""The troubleshooting page quotes messages the code still prints (docs/operations/troubleshooting.md).

Each error section of the page (a `## ` heading) shows what the user sees in ```text blocks. Each
block is preceded by one or more lines `<!-- message: LITERAL -->`, a literal part of what the
block quotes. The literal must appear verbatim in the block below it, and in a string of the code
under authorizer/ or auth_service/: part of one string literal (for a message assembled at run
time, a part written as is; adjacent literals count as one, as Python joins them), or, when the
marker is in double quotes (`"Forbidden"`), a whole one. Docstrings and comments do not count.
Change a message in the code, or the quote on the page, and this test fails until they agree.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "operations" / "troubleshooting.md"
SOURCE_PACKAGES = ("authorizer", "auth_service")
ERROR_SECTIONS = 10

_MARKER = re.compile(r"^<!-- message: (?P<literal>.+?) -->$")
_FENCE = re.compile(r"^```(?P<info>\S*)\s*$")


@dataclass(frozen=True)
class Quote:
    section: str  # the `## ` heading the block is under
    line: int  # of the block's opening fence, 1-based
    block: str  # the block's text
    literals: tuple[str, ...]  # from the marker lines right before it


def sections_and_quotes(text: str) -> tuple[list[str], list[Quote]]:
    """The page's `## ` headings, and every ```text block with the markers right before it."""
    lines = text.splitlines()
    sections: list[str] = []
    quotes: list[Quote] = []
    pending: list[str] = []  # markers since the last other line
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            end = next((j for j in range(index + 1, len(lines)) if lines[j].startswith("```")), None)
            assert end is not None, f"{PAGE.name}:{index + 1}: a code block is never closed"
            if fence["info"] == "text":
                assert sections, f"{PAGE.name}:{index + 1}: a text block before the first section"
                block = "\n".join(lines[index + 1 : end])
                quotes.append(Quote(sections[-1], index + 1, block, tuple(pending)))
            pending = []
            index = end + 1
            continue
        marker = _MARKER.match(line)
        if marker:
            pending.append(marker["literal"].strip())
        else:
            pending = []
            if line.startswith("## "):
                sections.append(line[3:].strip())
        index += 1
    return sections, quotes


def code_strings(source: str) -> list[str]:
    """The string literals of a module that are values (not docstrings or other bare strings),
    f-strings as their literal parts."""
    tree = ast.parse(source)
    bare = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare
    ]


def found_in(literal: str, strings: list[str]) -> bool:
    if len(literal) > 2 and literal.startswith('"') and literal.endswith('"'):
        return literal[1:-1] in strings
    return any(literal in string for string in strings)


SECTIONS, QUOTES = sections_and_quotes(PAGE.read_text(encoding="utf-8"))
CHECKS = [(quote, literal) for quote in QUOTES for literal in quote.literals]


@pytest.fixture(scope="module")
def strings() -> list[str]:
    files = sorted(path for package in SOURCE_PACKAGES for path in (ROOT / package).rglob("*.py"))
    assert files, "the packages' sources are found"
    return [string for path in files for string in code_strings(path.read_text(encoding="utf-8"))]


def test_every_error_section_quotes_a_checked_message() -> None:
    assert len(SECTIONS) == ERROR_SECTIONS, f"the page covers {ERROR_SECTIONS} errors: {SECTIONS}"
    quoted = {quote.section for quote in QUOTES}
    assert not [s for s in SECTIONS if s not in quoted], "every section quotes what the user sees"
    unmarked = [f"line {quote.line}" for quote in QUOTES if not quote.literals]
    assert not unmarked, f"text blocks without a <!-- message: ... --> line before them: {unmarked}"


@pytest.mark.parametrize(
    ("quote", "literal"), CHECKS, ids=[f"line{quote.line}:{literal[:40]}" for quote, literal in CHECKS]
)
def test_the_quoted_message_is_in_the_code(quote: Quote, literal: str, strings: list[str]) -> None:
    where = f"{PAGE.name}:{quote.line} ({quote.section})"
    assert literal in quote.block, f"{where}: the block does not quote {literal!r}"
    assert found_in(literal, strings), (
        f"{where}: {literal!r} is in no string of the code under authorizer/ or auth_service/ "
        "any more: quote what the code prints now"
    )


def test_the_check_tells_code_from_docstrings() -> None:
    module = '"""token has expired"""\nX = f"missing scope: {1}" " for" \'\'\nY = "Forbidden"\n'
    strings = code_strings(module)
    assert not found_in("token has expired", strings)
    assert found_in("missing scope: ", strings) and found_in("for", strings)
    assert found_in('"Forbidden"', strings) and not found_in('"Forbid"', strings)
