"""scripts/check_artifacts.py on small synthetic zips: what a Lambda artifact must and must not hold."""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_artifacts.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_artifacts", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


check_artifacts = _load()

AARCH64_SO = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + (183).to_bytes(2, "little") + b"\0" * 40
X86_64_SO = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + (62).to_bytes(2, "little") + b"\0" * 40

HANDLER = """\
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import cryptography

from authorizer.tokens import verifier
from authorizer.tokens.verifier import verify

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def handler(event, context):
    import boto3  # the Lambda runtime has it
    return verify(event)
"""


VERIFIER = """\
from cryptography.exceptions import InvalidSignature


def verify(event):
    return event
"""


def metadata(name: str, *requires: str) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    return "\n".join(lines) + "\n"


def good_authorizer() -> dict[str, bytes | str]:
    return {
        "authorizer/__init__.py": "",
        "authorizer/handler.py": HANDLER,
        "authorizer/tokens/__init__.py": "",
        "authorizer/tokens/verifier.py": VERIFIER,
        "cryptography/__init__.py": "",
        "cryptography/exceptions.py": "class InvalidSignature(Exception):\n    pass\n",
        "cryptography-50.0.0.dist-info/METADATA": metadata(
            "cryptography", "cffi>=2; extra == 'ssh'", "typing-extensions; python_version < '3.8'"
        ),
        "cryptography/hazmat/bindings/_rust.abi3.so": AARCH64_SO,
    }


def template(*functions: tuple[str, str]) -> dict[str, Any]:
    resources = {}
    for index, (handler, artifact) in enumerate(functions):
        resources[f"F{index}LambdaFunction"] = {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Handler": handler, "Code": {"S3Key": f"serverless/svc/ci/123/{artifact}"}},
        }
    return {"Resources": resources}


def write_zip(path: Path, files: dict[str, bytes | str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def problems_of(tmp_path: Path, files: dict[str, bytes | str], name: str = "authorizer.zip") -> list[str]:
    write_zip(tmp_path / name, files)
    _, problems = check_artifacts.check(template(("authorizer/handler.handler", name)), tmp_path)
    result: list[str] = problems
    return result


def assert_problem(problems: list[str], *fragments: str) -> None:
    assert any(all(fragment in line for fragment in fragments) for line in problems), (
        f"no problem with {fragments!r} in:\n" + "\n".join(problems)
    )


def test_a_good_artifact_passes(tmp_path: Path) -> None:
    assert problems_of(tmp_path, good_authorizer()) == []


def test_a_missing_dependency_is_reported(tmp_path: Path) -> None:
    files = good_authorizer()
    for name in [name for name in files if name.startswith("cryptography/")]:
        del files[name]
    problems = problems_of(tmp_path, files)
    assert_problem(problems, "missing module cryptography (imported by authorizer.handler)")
    assert_problem(
        problems, "missing module cryptography.exceptions (imported by authorizer.tokens.verifier)"
    )


def test_a_missing_module_of_ours_is_reported(tmp_path: Path) -> None:
    files = good_authorizer()
    del files["authorizer/tokens/verifier.py"]
    assert_problem(problems_of(tmp_path, files), "missing module authorizer.tokens.verifier")


def test_an_excluded_subpackage_imported_by_a_handler_is_reported(tmp_path: Path) -> None:
    files = good_authorizer()
    files["authorizer/handler.py"] = HANDLER + "\nfrom authorizer import local\n"
    assert_problem(problems_of(tmp_path, files), "missing module authorizer.local")


def test_the_handler_function_must_exist(tmp_path: Path) -> None:
    files = good_authorizer()
    files["authorizer/handler.py"] = "def other(event, context):\n    return None\n"
    assert_problem(problems_of(tmp_path, files), "handler authorizer/handler.handler: no handler")


def test_the_artifact_must_exist(tmp_path: Path) -> None:
    _, problems = check_artifacts.check(template(("authorizer/handler.handler", "authorizer.zip")), tmp_path)
    assert_problem(problems, "authorizer.zip: missing from")


@pytest.mark.parametrize(
    "name",
    [
        "tests/test_handler.py",
        "cryptography/tests/test_api.py",
        "node_modules/x/index.js",
        "package.json",
        "package-lock.json",
        "cryptography/__pycache__/api.cpython-311.pyc",
        "cryptography/api.pyc",
        "signing-key.pem",
        "boto3/__init__.py",
        "botocore/__init__.py",
    ],
)
def test_forbidden_files_are_reported(tmp_path: Path, name: str) -> None:
    files = good_authorizer()
    files[name] = "x"
    assert_problem(problems_of(tmp_path, files), "must not contain")


def test_auth_service_local_is_never_in_an_artifact(tmp_path: Path) -> None:
    files = good_authorizer()
    files["auth_service/__init__.py"] = ""
    files["auth_service/local/serve.py"] = ""
    assert_problem(
        problems_of(tmp_path, files, "service.zip"), "must not contain auth_service/local/serve.py"
    )


@pytest.mark.parametrize(
    "package", ["auth_service", "argon2", "_argon2_cffi_bindings", "requests", "yaml", "moto", "jwt"]
)
def test_the_authorizer_artifact_carries_no_service_code_or_dependencies(
    tmp_path: Path, package: str
) -> None:
    files = good_authorizer()
    files[f"{package}/__init__.py"] = ""
    assert_problem(problems_of(tmp_path, files), f"authorizer.zip: must not contain {package}")
    assert problems_of(tmp_path, files, "service.zip") == []


def test_required_distributions_must_be_present(tmp_path: Path) -> None:
    files = good_authorizer()
    files["cryptography-43.0.0.dist-info/METADATA"] = metadata(
        "cryptography", "cffi>=1.12; platform_python_implementation != 'PyPy'", "bcrypt; extra == 'ssh'"
    )
    assert_problem(problems_of(tmp_path, files), "cryptography requires cffi, which is missing")
    files["cffi-1.17.1.dist-info/METADATA"] = metadata("cffi", "pycparser")
    files["pycparser-2.22.dist-info/METADATA"] = metadata("pycparser")
    assert problems_of(tmp_path, files) == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "_cffi_backend.cpython-312-x86_64-linux-gnu.so",
            AARCH64_SO,
            "not built for CPython 3.12 on aarch64",
        ),
        (
            "_cffi_backend.cpython-311-aarch64-linux-gnu.so",
            AARCH64_SO,
            "not built for CPython 3.12 on aarch64",
        ),
        ("cryptography/hazmat/bindings/_rust.abi3.so", X86_64_SO, "not an arm64 (aarch64) ELF binary"),
    ],
)
def test_native_code_must_be_for_lambda(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    files = good_authorizer()
    files[name] = data
    assert_problem(problems_of(tmp_path, files), name, message)


def test_main_reports_sizes_and_fails_on_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = good_authorizer()
    write_zip(tmp_path / "build" / "authorizer.zip", files)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template(("authorizer/handler.handler", "authorizer.zip"))))
    assert check_artifacts.main([str(path), "--build-dir", str(tmp_path / "build")]) == 0
    out = capsys.readouterr().out
    assert "authorizer.zip:" in out and f"{len(files)} files" in out and "check_artifacts: OK" in out

    files["tests/test_x.py"] = ""
    write_zip(tmp_path / "build" / "authorizer.zip", files)
    assert check_artifacts.main([str(path), "--build-dir", str(tmp_path / "build")]) == 1
    assert "ARTIFACT BREACH: authorizer.zip: must not contain tests" in capsys.readouterr().err


PYC_312 = (3531).to_bytes(2, "little") + b"\r\n" + (0b01).to_bytes(4, "little") + b"\0" * 8 + b"code"


def test_unchecked_hash_python_312_bytecode_beside_its_source_is_accepted(tmp_path: Path) -> None:
    files = good_authorizer()
    files["authorizer/__pycache__/handler.cpython-312.pyc"] = PYC_312
    assert problems_of(tmp_path, files) == []


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("authorizer/__pycache__/gone.cpython-312.pyc", PYC_312, "has no source"),
        ("authorizer/__pycache__/handler.cpython-312.pyc", b"\x00\x00\r\n" + PYC_312[4:], "not Python 3.12"),
        (
            "authorizer/__pycache__/handler.cpython-312.pyc",
            PYC_312[:4] + (0).to_bytes(4, "little") + PYC_312[8:],
            "not unchecked-hash",
        ),
        ("boto3/__pycache__/session.cpython-312.pyc", PYC_312, "must not contain boto3"),
    ],
)
def test_bytecode_must_be_ours_to_ship(tmp_path: Path, name: str, data: bytes, problem: str) -> None:
    files = good_authorizer()
    files[name] = data
    assert_problem(problems_of(tmp_path, files), problem)


@pytest.mark.parametrize(
    ("source", "bound"),
    [
        ("A = 1", True),
        ("A: int = 1", True),
        ("X, A = 1, 2", True),
        ("(X, (Y, A)) = 1, (2, 3)", True),
        ("X, *A = 1, 2, 3", True),
        ("[X, A] = 1, 2", True),
        ("X = A_ = 1", False),
        ("obj.A = 1", False),
        ("d['A'] = 1", False),
    ],
)
def test_a_name_bound_by_any_assignment_form_counts_as_defined(source: str, bound: bool) -> None:
    assert check_artifacts.defines(source, "A") is bound
