"""scripts/build_lambda.py without pip or the network: requirements, file selection, the zip."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "build_lambda.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_lambda", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


build_lambda = _load()


def test_every_artifact_requirement_comes_from_pyproject_with_its_bounds() -> None:
    requirements = build_lambda.project_requirements(REPO_ROOT / "pyproject.toml")
    for spec in build_lambda.ARTIFACTS:
        selected = build_lambda.select_requirements(requirements, spec.requirements)
        assert len(selected) == len(spec.requirements)
        assert all(">=" in text for text in selected), selected
    assert build_lambda.select_requirements(requirements, ["PyJWT"]) == [requirements["pyjwt"]]


def test_no_artifact_bundles_what_the_lambda_runtime_or_the_local_tools_provide() -> None:
    by_name = {spec.name: spec for spec in build_lambda.ARTIFACTS}
    for spec in by_name.values():
        assert not {"boto3", "botocore", "requests", "moto", "pyyaml"} & set(spec.requirements)
    assert "argon2-cffi" not in by_name["authorizer"].requirements
    assert by_name["authorizer"].packages == ("authorizer",)


def test_the_authorizer_artifact_holds_only_cryptography() -> None:
    # The authorizer verifies with `cryptography` alone; PyJWT issues tokens in the service only.
    by_name = {spec.name: spec for spec in build_lambda.ARTIFACTS}
    assert by_name["authorizer"].requirements == ("cryptography",)
    assert "pyjwt" in by_name["service"].requirements


def test_an_unknown_requirement_is_an_error() -> None:
    with pytest.raises(build_lambda.BuildError, match="not in pyproject"):
        build_lambda.select_requirements({"pyjwt": "PyJWT>=2"}, ["argon2-cffi"])


def test_own_files_are_python_sources_without_the_local_emulator() -> None:
    service = next(spec for spec in build_lambda.ARTIFACTS if spec.name == "service")
    names = set(build_lambda.own_files(REPO_ROOT, service))
    assert "auth_service/handlers/login.py" in names
    assert "authorizer/handler.py" in names
    assert not [name for name in names if name.startswith("auth_service/local/")]
    data = {name for name in names if not name.endswith(".py")}
    # Every file of the demo page, which its function serves from the zip.
    demo = REPO_ROOT / "auth_service" / "demo"
    assets = {f"auth_service/demo/{p.name}" for p in demo.iterdir() if p.is_file() and p.suffix != ".py"}
    assert data == set(service.data_files) == assets
    assert all("__pycache__" not in name for name in names)


def test_own_files_refuse_an_unexpected_data_file(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "routes.json").write_text("{}")
    spec = build_lambda.ArtifactSpec(name="x", packages=("pkg",), excluded=(), requirements=())
    with pytest.raises(build_lambda.BuildError, match=r"routes\.json"):
        build_lambda.own_files(tmp_path, spec)


@pytest.mark.parametrize(
    ("path", "junk"),
    [
        ("jwt/api_jwt.py", False),
        ("cryptography/hazmat/bindings/_rust.abi3.so", False),
        ("cffi-2.0.0.dist-info/METADATA", False),
        ("cffi-2.0.0.dist-info/licenses/LICENSE", False),
        ("cffi-2.0.0.dist-info/RECORD", True),
        ("cffi-2.0.0.dist-info/INSTALLER", True),
        ("jwt/__pycache__/api_jwt.cpython-312.pyc", True),
        ("cryptography/hazmat/bindings/_rust/x509.pyi", True),
        ("jwt/py.typed", True),
        ("bin/cffi-gen-src", True),
        ("somepkg/tests/test_x.py", True),
    ],
)
def test_junk_of_installed_dependencies(path: str, junk: bool) -> None:
    assert build_lambda.is_junk(PurePosixPath(path)) is junk


def test_the_zip_is_deterministic(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    files = {}
    for name in ("b/mod.py", "a/__init__.py", "a/lib.abi3.so"):
        path = sources / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 50)
        files[name] = path
    first = tmp_path / "first.zip"
    build_lambda.write_zip(files, first)
    for number, path in enumerate(files.values()):
        os.utime(path, (1_000_000 + number, 2_000_000 + number))
        path.chmod(0o755)
    second = tmp_path / "second.zip"
    build_lambda.write_zip(dict(reversed(files.items())), second)

    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(files)
    assert {info.date_time for info in infos} == {build_lambda.FIXED_DATE_TIME}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}


def _python_312() -> str | None:
    return build_lambda.lambda_python()


@pytest.mark.skipif(_python_312() is None, reason="no Python 3.12 (LAMBDA_PYTHON or python3.12) here")
def test_bytecode_is_python_312_unchecked_hash_deterministic_and_loads(tmp_path: Path) -> None:
    interpreter = _python_312()
    assert interpreter is not None
    sources = tmp_path / "src"
    (sources / "pkg").mkdir(parents=True)
    (sources / "pkg" / "__init__.py").write_text("")
    (sources / "pkg" / "mod.py").write_text("NAMES = frozenset({'a', 'b', 'c', 'd'})\nVALUE = 42\n")
    (sources / "pkg" / "data.txt").write_text("not python")
    files = {name: sources / name for name in ("pkg/__init__.py", "pkg/mod.py", "pkg/data.txt")}

    first = build_lambda.compile_bytecode(files, interpreter, tmp_path / "one")
    second = build_lambda.compile_bytecode(files, interpreter, tmp_path / "two")

    assert sorted(first) == [f"pkg/__pycache__/{m}.cpython-312.pyc" for m in ("__init__", "mod")]
    assert {name: path.read_bytes() for name, path in first.items()} == {
        name: path.read_bytes() for name, path in second.items()
    }
    header = first["pkg/__pycache__/mod.cpython-312.pyc"].read_bytes()[:8]
    assert header[:4] == (3531).to_bytes(2, "little") + b"\r\n"  # Python 3.12's magic number
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, never checked
    # Laid out as in the zip, Python 3.12 loads the bytecode (and says so under -v).
    site = tmp_path / "site"
    for name, path in {**files, **first}.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(path.read_bytes())
    (site / "pkg" / "mod.py").write_text("VALUE = 'the source, not the bytecode'\n")
    result = subprocess.run(
        [interpreter, "-c", "import pkg.mod; print(pkg.mod.VALUE)"],
        cwd=site,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.stdout.strip() == "42"  # unchecked: what was compiled at build time runs
