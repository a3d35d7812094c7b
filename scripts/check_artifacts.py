#!/usr/bin/env python3
"""Check the Lambda zips the packaged template deploys:
``python scripts/check_artifacts.py TEMPLATE [--build-dir .build]``.

We cannot import the handlers from the zips here (they hold arm64 wheels for python3.12), so the
checks are static. For every function of the CloudFormation template that ``serverless package``
wrote, its zip (the file name of its S3 key, in the build directory) must:

* define the handler function in the handler module;
* hold every module our code needs: imports are followed from the handler module through our
  own packages (``authorizer``, ``auth_service``; imports under ``if TYPE_CHECKING:`` are skipped)
  and each module imported that is not in python3.12's standard library or the Lambda runtime
  (boto3, botocore, snapshot_restore_py) must be in the zip;
* hold every distribution its distributions require (``Requires-Dist`` for Linux arm64, CPython
  3.12), and only native code built for arm64 and CPython 3.12 (or the stable ABI);
* hold no tests, node_modules, package*.json, auth_service/local, bytecode, keys, boto3 or botocore;
* stay under Lambda's size limits.

And authorizer.zip must hold none of auth_service, argon2, requests, yaml, moto or PyJWT (jwt): it
verifies tokens with `cryptography` alone, and issuing is the service's job.
Prints each artifact's size and file count; exits 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

OUR_PACKAGES = frozenset({"authorizer", "auth_service"})
# The Lambda Python runtime ships these; an artifact must neither need nor carry its own copy.
# (snapshot_restore_py: SnapStart's runtime hooks, imported by the authorizer only if present.)
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "snapshot_restore_py"})
# sys.stdlib_module_names of this (3.11+) interpreter, minus what python3.12 removed.
REMOVED_IN_312 = frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"})
STDLIB = frozenset(sys.stdlib_module_names) - REMOVED_IN_312

# Requires-Dist markers are evaluated for Lambda's python3.12 on Linux arm64.
LAMBDA_MARKER_ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.0",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.12.0",
    "python_version": "3.12",
    "sys_platform": "linux",
    "extra": "",
}
ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183
NATIVE_TAGS = (".cpython-312-aarch64-linux-gnu.so", ".abi3.so")

# Bytecode scripts/build_lambda.py ships: Python 3.12's, unchecked-hash (PEP 552), beside its source.
BYTECODE_TAG = ".cpython-312.pyc"
BYTECODE_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"  # importlib's MAGIC_NUMBER in Python 3.12
BYTECODE_UNCHECKED_HASH = 0b01  # the pyc flags: hash-based, source never checked

# Anywhere in any artifact (bytecode only as `bytecode_problems` allows).
FORBIDDEN_DIRS = frozenset({"tests", "test", "node_modules", "__pycache__", ".serverless", ".build"})
FORBIDDEN_NAMES = frozenset({"package.json", "package-lock.json", "serverless.yml", ".env"})
FORBIDDEN_SUFFIXES = frozenset({".pyc", ".pyo", ".pem", ".key"})
FORBIDDEN_PREFIXES = ("auth_service/local/",)
FORBIDDEN_TOP_LEVEL = RUNTIME_PROVIDED | {"s3transfer", "tests", "bench", "examples", "scripts", "deploy"}
# Only in authorizer.zip: what the authorizer must not carry.
AUTHORIZER_ARTIFACT = "authorizer.zip"
AUTHORIZER_FORBIDDEN_TOP_LEVEL = frozenset(
    {"auth_service", "argon2", "_argon2_cffi_bindings", "requests", "yaml", "moto", "jwt"}
)

# Lambda: 50 MB for a zip uploaded directly, 250 MB unzipped (functions and layers together).
MAX_ZIPPED_BYTES = 50 * 1000 * 1000
MAX_UNZIPPED_BYTES = 250 * 1000 * 1000


@dataclass
class Artifact:
    """The entries of one zip, and a way to read its Python sources."""

    path: Path
    archive: zipfile.ZipFile
    names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = frozenset(info.filename for info in self.archive.infolist() if not info.is_dir())

    def module_file(self, module: str) -> str | None:
        """The entry that defines ``module`` (a.b.c), if this zip has one."""
        base = module.replace(".", "/")
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if candidate in self.names:
                return candidate
        parent, _, leaf = base.rpartition("/")
        prefix = f"{parent}/{leaf}." if parent else f"{leaf}."
        for name in self.names:
            if name.startswith(prefix) and name.endswith(".so") and "/" not in name[len(prefix) :]:
                return name
        return None

    def has_module(self, module: str) -> bool:
        """Whether ``module`` is importable from this zip (also inside a native module or a namespace)."""
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            found = self.module_file(".".join(parts[:depth]))
            if found is not None and found.endswith(".so"):
                return True  # submodules of a native module live inside it
            if found is None and depth == len(parts):
                base = "/".join(parts) + "/"
                return any(name.startswith(base) for name in self.names)  # namespace package
        return True

    def source(self, entry: str) -> str:
        return self.archive.read(entry).decode("utf-8")


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    artifact: str


def functions_of(template: dict[str, Any]) -> list[Function]:
    found = []
    for logical_id, resource in sorted(template.get("Resources", {}).items()):
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        properties = resource.get("Properties", {})
        code = properties.get("Code", {})
        key = code.get("S3Key")
        handler = properties.get("Handler")
        if not isinstance(key, str) or not isinstance(handler, str):
            raise ValueError(f"{logical_id}: no literal Code.S3Key or Handler")
        found.append(Function(logical_id, handler, PurePosixPath(key).name))
    return found


def is_type_checking_guard(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and is_type_checking_guard(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


@dataclass(frozen=True)
class Imports:
    """What one module imports at run time."""

    # Modules certainly imported (absolute names, parents included).
    modules: frozenset[str]
    # `from base import name`: a submodule base.name, or an attribute of base.
    names: frozenset[tuple[str, str]]


def imported_modules(source: str, module: str, is_package: bool) -> Imports:
    """What ``module``'s source imports at run time, as absolute names."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    modules: set[str] = set()
    names: set[tuple[str, str]] = set()
    for node in runtime_nodes(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base == "__future__":
                continue
            modules.add(base)
            names.update((base, alias.name) for alias in node.names if alias.name != "*")
    with_parents = set(modules)
    for name in modules:
        parts = name.split(".")
        with_parents.update(".".join(parts[:depth]) for depth in range(1, len(parts)))
    return Imports(frozenset(with_parents), frozenset(names))


def top_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run on import: the module body, including inside if/try/with blocks."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With):
            yield from top_level_statements(node.body)
            if isinstance(node, ast.If):
                yield from top_level_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from top_level_statements(block)


def _bound_names(target: ast.expr) -> set[str]:
    """The names an assignment target binds: `a`, and each of `a, (b, *c)`."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    if isinstance(target, ast.Tuple | ast.List):
        return {name for element in target.elts for name in _bound_names(element)}
    return set()  # an attribute or a subscript binds no name of the module


def defines(source: str, name: str) -> bool:
    """Whether a module's source binds ``name`` at import time (as far as we can tell)."""
    for node in top_level_statements(ast.parse(source).body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(name in _bound_names(target) for target in node.targets):
            return True
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return True
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name:
                    return True
    return False


def check_imports(artifact: Artifact, entry_module: str) -> list[str]:
    """Follow imports from ``entry_module`` through our packages; report what the zip lacks."""
    problems: list[str] = []

    def missing(module: str, needed_by: str) -> None:
        problems.append(f"{artifact.path.name}: missing module {module} (imported by {needed_by})")

    # Breadth first, in sorted order: a problem names the importer closest to the handler.
    seen: set[str] = set()
    pending = deque([(entry_module, entry_module)])
    while pending:
        module, needed_by = pending.popleft()
        if module in seen:
            continue
        seen.add(module)
        top = module.split(".")[0]
        if top in STDLIB or top in RUNTIME_PROVIDED:
            continue
        if top not in OUR_PACKAGES:
            if not artifact.has_module(module):
                missing(module, needed_by)
            continue
        entry = artifact.module_file(module)
        if entry is None or not entry.endswith(".py"):
            missing(module, needed_by)
            continue
        imports = imported_modules(artifact.source(entry), module, entry.endswith("__init__.py"))
        pending.extend((name, module) for name in sorted(imports.modules))
        for base, name in sorted(imports.names):
            submodule = f"{base}.{name}"
            if artifact.module_file(submodule) is not None:
                pending.append((submodule, module))
            elif base.split(".")[0] in OUR_PACKAGES:
                # Not a submodule: then `base` must define `name` (a missing base is reported itself).
                base_entry = artifact.module_file(base)
                is_source = base_entry is not None and base_entry.endswith(".py")
                if is_source and base_entry and not defines(artifact.source(base_entry), name):
                    missing(submodule, module)
    return sorted(set(problems))


def distribution_problems(artifact: Artifact) -> list[str]:
    """Requires-Dist of each distribution in the zip must be in the zip too."""
    metadata_files = sorted(name for name in artifact.names if name.endswith(".dist-info/METADATA"))
    present = set()
    requirements: list[tuple[str, str]] = []
    for name in metadata_files:
        headers = HeaderParser().parsestr(artifact.source(name))
        present.add(canonicalize_name(headers["Name"]))
        requirements.extend((headers["Name"], text) for text in headers.get_all("Requires-Dist") or [])
    problems = []
    for owner, text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            problems.append(f"{artifact.path.name}: {owner} has an unreadable Requires-Dist {text!r}")
            continue
        if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_MARKER_ENVIRONMENT):
            continue
        if canonicalize_name(requirement.name) not in present:
            problems.append(f"{artifact.path.name}: {owner} requires {requirement.name}, which is missing")
    return problems


def native_problems(artifact: Artifact) -> list[str]:
    problems = []
    for name in sorted(artifact.names):
        if not name.endswith(".so"):
            continue
        if not name.endswith(NATIVE_TAGS):
            problems.append(f"{artifact.path.name}: {name} is not built for CPython 3.12 on aarch64")
        header = artifact.archive.read(name)[:20]
        if header[:4] != ELF_MAGIC or int.from_bytes(header[18:20], "little") != EM_AARCH64:
            problems.append(f"{artifact.path.name}: {name} is not an arm64 (aarch64) ELF binary")
    return problems


def content_problems(artifact: Artifact) -> list[str]:
    problems = []
    forbidden_top = FORBIDDEN_TOP_LEVEL
    if artifact.path.name == AUTHORIZER_ARTIFACT:
        forbidden_top = forbidden_top | AUTHORIZER_FORBIDDEN_TOP_LEVEL
    reported_top: set[str] = set()
    for name in sorted(artifact.names):
        path = PurePosixPath(name)
        top = path.parts[0].split(".")[0]
        if top in forbidden_top:
            if top not in reported_top:
                problems.append(f"{artifact.path.name}: must not contain {top}")
                reported_top.add(top)
            continue
        if is_bytecode_entry(path):
            continue  # bytecode_problems checks these
        if (
            any(part in FORBIDDEN_DIRS for part in path.parts[:-1])
            or path.name in FORBIDDEN_NAMES
            or path.suffix in FORBIDDEN_SUFFIXES
            or name.startswith(FORBIDDEN_PREFIXES)
        ):
            problems.append(f"{artifact.path.name}: must not contain {name}")
    return problems


def is_bytecode_entry(path: PurePosixPath) -> bool:
    """`pkg/__pycache__/mod.cpython-312.pyc`: where Lambda's Python looks for a module's bytecode."""
    return path.name.endswith(BYTECODE_TAG) and len(path.parts) >= 2 and path.parts[-2] == "__pycache__"


def bytecode_problems(artifact: Artifact) -> list[str]:
    """Bytecode must be Python 3.12's, unchecked-hash, and sit beside the source it was compiled from.

    (Stale or foreign bytecode would be a second copy of the code that nothing else here checks.)
    """
    problems = []
    for name in sorted(artifact.names):
        path = PurePosixPath(name)
        if not is_bytecode_entry(path):
            continue
        source = path.parent.parent / (path.name.removesuffix(BYTECODE_TAG) + ".py")
        header = artifact.archive.read(name)[:16]
        if str(source) not in artifact.names:
            problems.append(f"{artifact.path.name}: {name} has no source {source} beside it")
        elif header[:4] != BYTECODE_MAGIC:
            problems.append(f"{artifact.path.name}: {name} is not Python 3.12 bytecode")
        elif int.from_bytes(header[4:8], "little") != BYTECODE_UNCHECKED_HASH:
            problems.append(f"{artifact.path.name}: {name} is not unchecked-hash bytecode")
    return problems


def size_problems(artifact: Artifact) -> list[str]:
    zipped = artifact.path.stat().st_size
    unzipped = sum(info.file_size for info in artifact.archive.infolist())
    problems = []
    if zipped > MAX_ZIPPED_BYTES:
        problems.append(f"{artifact.path.name}: {zipped} bytes zipped, over Lambda's {MAX_ZIPPED_BYTES}")
    if unzipped > MAX_UNZIPPED_BYTES:
        problems.append(
            f"{artifact.path.name}: {unzipped} bytes unzipped, over Lambda's {MAX_UNZIPPED_BYTES}"
        )
    return problems


def handler_problems(artifact: Artifact, function: Function) -> list[str]:
    module_path, _, attribute = function.handler.rpartition(".")
    module = module_path.replace("/", ".")
    entry = artifact.module_file(module)
    if entry is None or not entry.endswith(".py"):
        return [f"{artifact.path.name}: {function.logical_id} handler module {module} is missing"]
    problems = []
    if not defines(artifact.source(entry), attribute):
        problems.append(
            f"{artifact.path.name}: {function.logical_id} handler {function.handler}: no {attribute}"
        )
    return problems + check_imports(artifact, module)


def check(
    template: dict[str, Any], build_dir: Path, asset_dir: Path | None = None
) -> tuple[list[str], list[str]]:
    """Return (report lines, problems). `asset_dir`: a CDK cloud assembly (cdk.out), whose
    `asset.<hash>.zip` files a CDK template's functions deploy: each must be byte for byte one
    of `build_dir`'s zips, and is then checked as that one."""
    functions = functions_of(template)
    report: list[str] = []
    problems: list[str] = []
    if asset_dir is not None:
        functions, problems = _as_built(functions, build_dir, asset_dir)
    by_artifact: dict[str, list[Function]] = {}
    for function in functions:
        by_artifact.setdefault(function.artifact, []).append(function)
    for name, users in sorted(by_artifact.items()):
        path = build_dir / name
        if not path.is_file():
            problems.append(
                f"{name}: missing from {build_dir} (used by {', '.join(f.logical_id for f in users)})"
            )
            continue
        with zipfile.ZipFile(path) as archive:
            artifact = Artifact(path, archive)
            for function in users:
                problems.extend(handler_problems(artifact, function))
            problems.extend(content_problems(artifact))
            problems.extend(bytecode_problems(artifact))
            problems.extend(distribution_problems(artifact))
            problems.extend(native_problems(artifact))
            problems.extend(size_problems(artifact))
            unzipped = sum(info.file_size for info in archive.infolist())
            report.append(
                f"{name}: {path.stat().st_size / 1048576:.1f} MiB zipped, {unzipped / 1048576:.1f} MiB "
                f"unzipped, {len(artifact.names)} files; functions: {', '.join(f.logical_id for f in users)}"
            )
    return report, list(dict.fromkeys(problems))


def _as_built(
    functions: list[Function], build_dir: Path, asset_dir: Path
) -> tuple[list[Function], list[str]]:
    built = {_sha256(path): path.name for path in sorted(build_dir.glob("*.zip"))}
    hashes: dict[Path, str] = {}  # functions share assets: each file is read once
    found: list[Function] = []
    problems: list[str] = []
    for function in functions:
        asset = asset_dir / f"asset.{function.artifact}"
        if not asset.is_file():
            problems.append(f"{function.logical_id}: its code {function.artifact} is not in {asset_dir}")
            continue
        if asset not in hashes:
            hashes[asset] = _sha256(asset)
        name = built.get(hashes[asset])
        if name is None:
            problems.append(f"{function.logical_id}: deploys {asset.name}, none of the zips in {build_dir}")
            continue
        found.append(Function(function.logical_id, function.handler, name))
    return found, problems


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the Lambda zips the packaged template deploys.")
    parser.add_argument("template", type=Path, help=".serverless/cloudformation-template-update-stack.json")
    parser.add_argument("--build-dir", type=Path, default=Path(".build"))
    parser.add_argument("--asset-dir", type=Path, help="a CDK template's cloud assembly (cdk.out)")
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        template = json.loads(args.template.read_text(encoding="utf-8"))
        report, problems = check(template, args.build_dir, args.asset_dir)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        print(f"check_artifacts: cannot check {args.template}: {exc}", file=sys.stderr)
        return 2
    for line in report:
        print(f"  {line}")
    for problem in problems:
        print(f"ARTIFACT BREACH: {problem}", file=sys.stderr)
    if problems:
        print(f"check_artifacts: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check_artifacts: OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
