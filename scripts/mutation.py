"""Mutation testing of the security-critical modules, one target at a time (not run in CI: slow).

    python scripts/mutation.py                 # every target
    python scripts/mutation.py verifier scopes # some of them
    python scripts/mutation.py --list          # what each target mutates and which tests judge it

Each target is a set of modules and the in-process tests that guard them. For each, the tree is
copied (as git sees it, uncommitted changes included) to a scratch folder, mutmut
(https://github.com/boxed/mutmut) mutates only those modules and runs only those tests against
each mutant, and the score is printed: killed / (killed + survived), with timeouts counted as
killed (a mutant that hangs a test is caught) and mutants no test reaches counted as survivors.
How many were killed by a timeout is printed too: on a loaded machine a mutant that changes
nothing can run past its time limit, so read those as survivors are read.
The surviving mutants are listed by name; `mutmut show NAME` in the scratch folder prints one.

End-to-end tests are left out: they start `auth-service serve` as a subprocess, which imports the
installed tree, not mutmut's mutated copy, so they could only ever report survivors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    modules: tuple[str, ...]
    tests: tuple[str, ...]


# The verifier's modules are judged one at a time (a score per module, and a run that fits an
# hour at one child: every survivor of these runs the slow security and fuzz suites in full).
_VERIFIER_TESTS = (
    "tests/unit/test_authorizer_verifier.py",
    "tests/unit/test_authorizer_jws.py",
    "tests/unit/test_authorizer_keys.py",
    "tests/unit/test_authorizer_issuers.py",
    "tests/unit/test_verifier_differential.py",
    "tests/unit/test_jose_vectors.py",
    "tests/unit/test_issuer_refusals.py",
    "tests/security/test_authorizer_attacks.py",
    "tests/fuzz/test_fuzz_authorizer.py",
    # A trusted issuer's settings (typ, preload, jwks_file...) as a request sees them: without
    # it, a mutant that drops a setting survives every test above. Slowest (moto): last.
    "tests/unit/test_settings_effects.py",
)

TARGETS = {
    "verifier": Target(("authorizer/tokens/verifier.py",), _VERIFIER_TESTS),
    "jws": Target(("authorizer/tokens/jws.py",), _VERIFIER_TESTS),
    "keys": Target(("authorizer/tokens/keys.py",), _VERIFIER_TESTS),
    "issuers": Target(("authorizer/tokens/issuers.py",), _VERIFIER_TESTS),
    "revocation": Target(
        ("authorizer/tokens/revocation.py",),
        (
            "tests/unit/test_authorizer_revocation.py",
            "tests/unit/test_faults_dynamodb.py",
            "tests/unit/test_service_sessions.py",
            "tests/unit/test_sign_out_races.py",
            "tests/security/test_authorizer_attacks.py",
            "tests/fuzz/test_fuzz_authorizer.py",
        ),
    ),
    "scopes": Target(
        # claim_checks: the trusted issuers' required_scopes / required_groups (Cognito and OIDC)
        (
            "authorizer/gateway/authorization.py",
            "authorizer/gateway/routes.py",
            "authorizer/tokens/claim_checks.py",
        ),
        (
            "tests/unit/test_authorizer_scopes.py",
            "tests/unit/test_authorizer_handler.py",
            "tests/unit/test_authorizer_events.py",
            "tests/unit/test_cookie_sessions.py",  # the access cookie's path through decide()
            "tests/unit/test_authorizer_claim_checks.py",
            "tests/unit/test_authorizer_issuers.py",
            "tests/security/test_authorizer_attacks.py",
            "tests/fuzz/test_fuzz_authorizer.py",
            "tests/unit/test_settings_effects.py",  # slowest (moto): last
        ),
    ),
    "csrf": Target(
        ("authorizer/gateway/cookies.py", "auth_service/cookies.py"),
        ("tests/unit/test_cookie_sessions.py", "tests/unit/test_authorizer_handler.py"),
    ),
    "refresh-claim": Target(
        ("auth_service/denylist.py", "auth_service/sessions.py"),
        (
            "tests/unit/test_service_sessions.py",
            "tests/unit/test_service_handlers.py",
            "tests/unit/test_faults_dynamodb.py",
            "tests/unit/test_cognito_sessions.py",
            "tests/unit/test_sign_out_races.py",
            # The write side's items as the read side judges them (TTLs, leeway, the horizon),
            # and sessions started by a token exchange.
            "tests/unit/test_authorizer_revocation.py",
            "tests/unit/test_cognito_exchange.py",
            # Machine clients' tokens and their revocation, client assertions' replay cache.
            "tests/unit/test_oauth_token_endpoint.py",
        ),
    ),
    "login-throttle": Target(
        ("auth_service/login_throttle.py",),
        (
            "tests/unit/test_login_throttle.py",
            "tests/unit/test_login_throttle_handler.py",
            "tests/unit/test_login_throttle_cognito.py",
        ),
    ),
}

# What the scratch copy needs besides the code and tests (fixtures read serverless.yml, examples...).
_ALSO_COPY = ["serverless.yml", "scripts", "bench", "examples", "deploy", "package.json"]


def _existing(paths: tuple[str, ...]) -> list[str]:
    return [path for path in paths if (ROOT / path).exists()]


def _copy_tree(destination: Path) -> None:
    """The files git knows (tracked, or untracked and not ignored), as they are now."""
    listed = subprocess.run(  # noqa: S603 - git, with fixed arguments
        [shutil.which("git") or "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


# mutmut hands pytest a mutant's tests in no particular order and stops at the first failure: run
# them in the target's order (focused unit tests first, the large catalogue and fuzz later), so a
# mutant one small test kills does not wait for thousands of cases first. Same tests, same verdict.
_ORDER_PLUGIN = """
TEST_FILES = {files}


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return TEST_FILES.index(path) if path in TEST_FILES else len(TEST_FILES)

    items.sort(key=rank)
"""


def _configure(scratch: Path, target: Target, timeout_multiplier: float) -> None:
    tests = _existing(target.tests)
    (scratch / "conftest.py").write_text(_ORDER_PLUGIN.format(files=json.dumps(tests)))
    lines = [
        "",
        "[tool.mutmut]",
        'source_paths = ["authorizer", "auth_service"]',
        f"only_mutate = {json.dumps(list(target.modules))}",
        f"also_copy = {json.dumps([*_ALSO_COPY, 'conftest.py'])}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-n", "0"]',
        f"timeout_multiplier = {timeout_multiplier}",
    ]
    with (scratch / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n".join(lines) + "\n")


def run_target(name: str, target: Target, max_children: int, timeout_multiplier: float) -> dict[str, object]:
    scratch = Path(tempfile.mkdtemp(prefix=f"mutation-{name}-"))
    _copy_tree(scratch)
    _configure(scratch, target, timeout_multiplier)
    started = time.monotonic()
    mutmut = [sys.executable, "-m", "mutmut"]
    subprocess.run(  # noqa: S603 - this interpreter's mutmut, fixed arguments
        [*mutmut, "run", "--max-children", str(max_children)],
        cwd=scratch,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=scratch, check=True, capture_output=True)  # noqa: S603
    stats = json.loads((scratch / "mutants" / "mutmut-cicd-stats.json").read_text())
    listing = subprocess.run(  # noqa: S603
        [*mutmut, "results"], cwd=scratch, check=True, capture_output=True, text=True
    )
    # "name: survived" or "name: no tests" (no test reached the mutated function)
    survivors = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
    killed = stats["killed"] + stats["timeout"]
    judged = killed + stats["survived"] + stats["no_tests"]
    return {
        "target": name,
        "modules": list(target.modules),
        "killed": killed,
        "timeouts": stats["timeout"],  # within "killed"; on a loaded machine, read them too
        "survived": stats["survived"],
        "no_tests": stats["no_tests"],
        "score": round(killed / judged, 4) if judged else None,
        "seconds": round(time.monotonic() - started),
        "scratch": str(scratch),
        "survivors": survivors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"some of: {', '.join(TARGETS)}")
    parser.add_argument("--list", action="store_true", help="print the targets and exit")
    parser.add_argument("--max-children", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument(
        "--timeout-multiplier",
        type=float,
        default=15.0,
        help="a mutant whose tests run this many times longer than unmutated is a timeout, counted as"
        " killed (default 15, mutmut's; a hang then costs 15 times the tests' time)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name}: mutates {', '.join(target.modules)}; tests {', '.join(_existing(target.tests))}")
        return 0
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))} (choose from {', '.join(TARGETS)})")
    results = []
    for name in args.targets or list(TARGETS):
        result = run_target(name, TARGETS[name], args.max_children, args.timeout_multiplier)
        results.append(result)
        print(
            f"{name:15} {result['score']!s:7} killed {result['killed']} ({result['timeouts']} by timeout),"
            f" survived {result['survived']},"
            f" no tests {result['no_tests']} ({result['seconds']} s; {result['scratch']})",
            flush=True,
        )
        for survivor in result["survivors"]:  # type: ignore[attr-defined]
            print(f"    {survivor}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
