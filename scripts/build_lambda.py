#!/usr/bin/env python3
"""Build the Lambda deployment zips: ``python scripts/build_lambda.py [--out .build]``.

Our own equivalent of serverless-python-requirements. Each artifact is our code plus its
third-party dependencies installed from PyPI as wheels for Lambda's Linux (python3.12, arm64),
whatever machine runs the build:

* ``authorizer.zip``: the ``authorizer`` package and cryptography (with cffi): it verifies tokens
  with cryptography alone, no PyJWT. No boto3 or botocore: the Lambda runtime has them.
* ``service.zip``: ``authorizer`` and ``auth_service`` (never ``auth_service/local``, the local
  emulator), PyJWT, cryptography and argon2-cffi.

Versions come from pyproject.toml's ``[project] dependencies`` and its ``service`` extra (this file
only names them). The zips
are deterministic: sorted entries, fixed timestamps and permissions, so the same sources and wheels
give the same bytes. scripts/check_artifacts.py verifies what ends up inside.

Bytecode: Lambda's /var/task is read-only, so Python compiles every module it imports from the zip
at each cold start and cannot keep the result. The zips therefore carry the bytecode of every
``.py`` file, compiled by a Python 3.12 interpreter (``$LAMBDA_PYTHON``, ``python3.12``, pyenv's) as
unchecked-hash ``.pyc`` files (PEP 552: no timestamps, so still deterministic; never checked
against the source, which the zip cannot change). ``--bytecode none`` leaves it out; ``auto`` (the
default) leaves it out with a warning when no Python 3.12 is found; ``require`` makes that an error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent

# Lambda's Linux: the python3.12 runtime on arm64 (serverless.yml: provider.runtime/architecture).
LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "manylinux2014_aarch64"

# Bytecode for Lambda's interpreter: `__pycache__/<module>.cpython-312.pyc` beside each source.
BYTECODE_TAG = "cpython-" + LAMBDA_PYTHON_VERSION.replace(".", "")
BYTECODE_CHOICES = ("auto", "require", "none")

# Zip entries get this timestamp (the earliest a zip can hold) and these permissions.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
COMPRESS_LEVEL = 9

# Files of installed dependencies that nothing imports at run time on Lambda: bytecode (Lambda
# compiles on import), type stubs, console scripts with this machine's shebang, test suites, and
# pip's own bookkeeping (RECORD would be stale after this pruning anyway).
JUNK_DIRS = frozenset({"__pycache__", "tests", "test"})
JUNK_SUFFIXES = frozenset({".pyc", ".pyo", ".pyi"})
JUNK_NAMES = frozenset({"py.typed"})
JUNK_DIST_INFO_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
JUNK_TOP_LEVEL = frozenset({"bin"})


@dataclass(frozen=True)
class ArtifactSpec:
    """One deployment zip."""

    name: str
    # Our top-level packages, directories under the repository root.
    packages: tuple[str, ...]
    # Sub-packages left out, as paths relative to the repository root.
    excluded: tuple[str, ...]
    # Names of [project] dependencies in pyproject.toml; their version bounds are read from there.
    requirements: tuple[str, ...]
    # Files other than .py that belong in the zip, as paths relative to the repository root.
    data_files: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.name}.zip"


LIBRARY_ONLY = ("authorizer/adapters", "authorizer/tokens/jwt_verifier.py")

ARTIFACTS = (
    ArtifactSpec(
        name="authorizer",
        packages=("authorizer",),
        # The verifier library's public API and its framework adapters are for other services:
        # no function of ours imports them, so neither zip carries them; the handlers' decorator
        # (principal) is for the API's own functions, in service.zip.
        excluded=(*LIBRARY_ONLY, "authorizer/principal.py"),
        requirements=("cryptography",),
    ),
    ArtifactSpec(
        name="service",
        packages=("authorizer", "auth_service"),
        excluded=("auth_service/local", *LIBRARY_ONLY),
        requirements=("pyjwt", "cryptography", "argon2-cffi"),
        # The demo function serves these (auth_service/demo/assets.py).
        data_files=tuple(
            f"auth_service/demo/{name}" for name in ("index.html", "app.js", "style.css", "favicon.svg")
        ),
    ),
)


class BuildError(Exception):
    """The build cannot go on; the message says why."""


@dataclass(frozen=True)
class BuiltArtifact:
    path: Path
    files: int
    unzipped_bytes: int
    distributions: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def project_requirements(pyproject: Path) -> dict[str, str]:
    """``[project] dependencies`` and the ``service`` extra of pyproject.toml, by canonical name."""
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        project = document["project"]
        dependencies = [*project["dependencies"], *project["optional-dependencies"]["service"]]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise BuildError(
            f"{pyproject}: cannot read [project] dependencies and the service extra ({exc})"
        ) from exc
    requirements: dict[str, str] = {}
    for text in dependencies:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise BuildError(f"{pyproject}: invalid dependency {text!r} ({exc})") from exc
        requirements[canonicalize_name(requirement.name)] = text
    return requirements


def select_requirements(available: Mapping[str, str], names: Iterable[str]) -> list[str]:
    """The requirement strings (with their version bounds) of ``names``, in that order."""
    selected = []
    for name in names:
        key = canonicalize_name(name)
        if key not in available:
            raise BuildError(f"{name} is not in pyproject.toml's [project] dependencies or service extra")
        selected.append(available[key])
    return selected


def install_dependencies(requirements: list[str], target: Path) -> None:
    """``pip install`` wheels for Lambda's Linux into ``target``, whatever this machine is."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",
        "--target",
        str(target),
        "--platform",
        LAMBDA_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
        *requirements,
    ]
    result = subprocess.run(command, check=False)  # noqa: S603 - fixed command, our requirements
    if result.returncode != 0:
        raise BuildError(f"pip install failed (exit {result.returncode}) for: {' '.join(requirements)}")


def is_junk(relative: PurePosixPath) -> bool:
    """Whether an installed dependency file is safe to leave out of the zip."""
    parts = relative.parts
    if parts[0] in JUNK_TOP_LEVEL:
        return True
    if any(part in JUNK_DIRS for part in parts[:-1]):
        return True
    if relative.suffix in JUNK_SUFFIXES or relative.name in JUNK_NAMES:
        return True
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in JUNK_DIST_INFO_FILES


def dependency_files(target: Path) -> dict[str, Path]:
    """Zip entry name -> file, for everything pip installed into ``target`` minus the junk."""
    files = {}
    for path in target.rglob("*"):
        if path.is_file():
            relative = PurePosixPath(path.relative_to(target).as_posix())
            if not is_junk(relative):
                files[str(relative)] = path
    return files


def own_files(repo_root: Path, spec: ArtifactSpec) -> dict[str, Path]:
    """Zip entry name -> file, for our packages: their ``.py`` and data files minus the excluded ones."""
    excluded = [PurePosixPath(item) for item in spec.excluded]
    files = {}
    for package in spec.packages:
        root = repo_root / package
        if not (root / "__init__.py").is_file():
            raise BuildError(f"{root} is not a Python package")
        for path in root.rglob("*"):
            relative = PurePosixPath(path.relative_to(repo_root).as_posix())
            if not path.is_file() or "__pycache__" in relative.parts:
                continue
            if any(relative.is_relative_to(item) for item in excluded):
                continue
            if relative.suffix == ".py" or str(relative) in spec.data_files:
                files[str(relative)] = path
            elif relative.name != "py.typed" and relative.suffix not in {".pyc", ".pyo"}:
                # A data file would be silently missing at run time; make adding one deliberate.
                raise BuildError(f"{relative}: not a .py file; teach scripts/build_lambda.py about it")
    return files


def lambda_python() -> str | None:
    """A Python interpreter of Lambda's version on this machine, if there is one.

    ``$LAMBDA_PYTHON``, else ``python3.12`` on PATH, else one installed by pyenv.
    """
    candidates = [os.environ.get("LAMBDA_PYTHON"), shutil.which(f"python{LAMBDA_PYTHON_VERSION}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(
        (str(path) for path in pyenv_root.glob(f"versions/{LAMBDA_PYTHON_VERSION}.*/bin/python3")),
        reverse=True,
    )
    for candidate in candidates:
        if candidate and _python_version(candidate) == LAMBDA_PYTHON_VERSION:
            return candidate
    return None


def _python_version(interpreter: str) -> str | None:
    try:
        probe = subprocess.run(  # noqa: S603 - our own fixed command
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return probe.stdout.strip() if probe.returncode == 0 else None


def compile_bytecode(files: Mapping[str, Path], interpreter: str, scratch: Path) -> dict[str, Path]:
    """Zip entry name -> file, for the unchecked-hash bytecode of every ``.py`` entry of ``files``.

    The sources are laid out as they will be in /var/task and compiled there, so the paths the
    bytecode records (shown in tracebacks) are the ones Lambda will have.
    """
    staging = scratch / "bytecode"
    sources = {name: path for name, path in files.items() if name.endswith(".py")}
    for name, path in sources.items():
        copy = staging / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    command = [
        interpreter, "-m", "compileall", "-q", "-j", "1",
        "--invalidation-mode", "unchecked-hash",
        "-s", str(staging), "-p", "/var/task",
        str(staging),
    ]  # fmt: skip
    # A fixed hash seed: the order of a frozenset constant must not vary from one build to the next.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BuildError(f"compiling bytecode failed: {(result.stdout + result.stderr).strip()[:2000]}")
    compiled = {}
    for name in sources:
        entry = PurePosixPath(name)
        pyc = entry.parent / "__pycache__" / f"{entry.stem}.{BYTECODE_TAG}.pyc"
        path = staging / pyc
        if not path.is_file():
            raise BuildError(f"no bytecode was written for {name}")
        compiled[str(pyc)] = path
    return compiled


def write_zip(files: Mapping[str, Path], destination: Path) -> int:
    """Write a deterministic zip of ``files`` (entry name -> file); return the unzipped size."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    unzipped = 0
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(files):
            data = files[name].read_bytes()
            unzipped += len(data)
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.create_system = 3  # Unix, so external_attr is read as permissions
            info.external_attr = (0o100000 | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=COMPRESS_LEVEL)
    partial.replace(destination)
    return unzipped


def installed_distributions(target: Path) -> tuple[str, ...]:
    """``Name version`` of every distribution pip installed into ``target``, sorted by name."""
    found = []
    for metadata in target.glob("*.dist-info/METADATA"):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8"))
        found.append(f"{headers['Name']} {headers['Version']}")
    return tuple(sorted(found, key=str.lower))


def build_artifact(
    spec: ArtifactSpec, requirements: Mapping[str, str], out_dir: Path, interpreter: str | None = None
) -> BuiltArtifact:
    with tempfile.TemporaryDirectory(prefix=f"build-{spec.name}-") as scratch:
        target = Path(scratch) / "site"
        install_dependencies(select_requirements(requirements, spec.requirements), target)
        dependencies = dependency_files(target)
        ours = own_files(REPO_ROOT, spec)
        top_level = {PurePosixPath(name).parts[0] for name in dependencies}
        clashes = sorted(top_level.intersection(spec.packages))
        if clashes:
            raise BuildError(f"a dependency installs {', '.join(clashes)}, which is one of our packages")
        files = {**dependencies, **ours}
        if interpreter is not None:
            files.update(compile_bytecode(files, interpreter, Path(scratch)))
        destination = out_dir / spec.filename
        unzipped = write_zip(files, destination)
        return BuiltArtifact(
            path=destination,
            files=len(files),
            unzipped_bytes=unzipped,
            distributions=installed_distributions(target),
        )


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".build", help="output directory")
    parser.add_argument(
        "--bytecode",
        choices=BYTECODE_CHOICES,
        default="auto",
        help=f"ship .pyc compiled by python{LAMBDA_PYTHON_VERSION} (default: auto, if one is found)",
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.out
    try:
        interpreter = None if args.bytecode == "none" else lambda_python()
        if interpreter is None and args.bytecode == "require":
            raise BuildError(f"--bytecode require: no python{LAMBDA_PYTHON_VERSION} on PATH")
        if interpreter is None and args.bytecode == "auto":
            print(
                f"build_lambda: warning: no python{LAMBDA_PYTHON_VERSION} on PATH; the zips carry no "
                "bytecode and Lambda compiles every module at each cold start",
                file=sys.stderr,
            )
        requirements = project_requirements(REPO_ROOT / "pyproject.toml")
        print(
            f"Building Lambda artifacts for python{LAMBDA_PYTHON_VERSION} on {LAMBDA_PLATFORM} into {out_dir}"
        )
        for spec in ARTIFACTS:
            built = build_artifact(spec, requirements, out_dir, interpreter)
            print(
                f"  {spec.filename}: {mib(built.size)} zipped, {mib(built.unzipped_bytes)} unzipped, "
                f"{built.files} files, sha256 {built.sha256()[:16]}"
            )
            print(f"    dependencies: {', '.join(built.distributions)}")
        print(f"  bytecode: {'compiled by ' + interpreter if interpreter else 'none'}")
    except BuildError as exc:
        print(f"build_lambda: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
