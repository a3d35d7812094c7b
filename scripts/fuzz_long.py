#!/usr/bin/env python3
"""Run the fuzz properties of tests/fuzz for as long as you like, and count what happened.

    python scripts/fuzz_long.py --examples 100000            # every property, 100,000 examples each
    python scripts/fuzz_long.py --examples 20000 --jobs 2    # two properties at a time
    python scripts/fuzz_long.py --property http-login --property authorizer-simple --seed 7

The properties, strategies and deployed world are the ones `pytest tests/fuzz` uses (a few hundred
examples each there). Here a failing example does not stop the run: every example is checked,
failures are grouped by their first line, and the shortest input of each group is printed, so one
bug does not hide the next. `--shrink` then reruns each failing property the usual Hypothesis way
for a minimal example. Reports cases tried, failures and the distribution of answers per
property; exits 1 if anything failed. Never touches AWS: everything runs on moto, in-process.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLE_CHARS = 2_000  # of each failing input printed


@dataclass
class Report:
    name: str
    examples: int = 0
    failures: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    # first line of the failure -> (count, shortest input seen, as repr)
    failure_kinds: dict[str, tuple[int, str]] = field(default_factory=dict)
    shrunk: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "property": self.name,
            "examples": self.examples,
            "failures": self.failures,
            "seconds": round(self.seconds, 1),
            "outcomes": dict(self.outcomes.most_common()),
            "failure_kinds": {
                kind: {"count": n, "shortest": s} for kind, (n, s) in self.failure_kinds.items()
            },
            **({"shrunk": self.shrunk} if self.shrunk else {}),
        }


def outcome(result: Any) -> str:
    """A short name for an answer: an HTTP status, an authorizer decision."""
    if type(result).__name__ == "KnownBug":
        return f"known bug: {result.bug}"
    if isinstance(result, BaseException):
        return f"raised {type(result).__name__}: {result}"[:80]
    if isinstance(result, dict):
        if "statusCode" in result:
            body = result.get("body")
            error = ""
            if isinstance(body, str) and body.startswith("{"):
                try:
                    error = str(json.loads(body).get("error", ""))
                except ValueError:
                    error = "?"
            return f"{result['statusCode']} {error}".strip()
        if "isAuthorized" in result:
            return "allow" if result["isAuthorized"] else "deny"
        if "policyDocument" in result:
            effects = sorted({s.get("Effect") for s in result["policyDocument"].get("Statement", [])})
            return "policy " + "+".join(str(effect) for effect in effects)
    return type(result).__name__


def run_property(name: str, examples: int, seed: int | None, shrink: bool, verbose: bool) -> dict[str, Any]:
    """One property, in this process: its own deployed world, `examples` examples."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed

    from tests.fuzz.properties import all_properties
    from tests.fuzz.world import deployed

    if not verbose:
        logging.disable(logging.CRITICAL)
    report = Report(name)
    started = time.monotonic()
    with deployed() as world:
        strategy, check = all_properties(world)[name]

        def collect(event: Any) -> None:
            report.examples += 1
            try:
                report.outcomes[outcome(check(event))] += 1
            except Exception as exc:  # every failure is recorded; the run goes on
                report.outcomes["FAILED"] += 1
                report.failures += 1
                kind = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
                shown = repr(event)[:SAMPLE_CHARS]
                count, shortest = report.failure_kinds.get(kind, (0, shown))
                report.failure_kinds[kind] = (count + 1, min(shortest, shown, key=len))

        quiet = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],  # every example is new; nothing is replayed or shrunk here
            suppress_health_check=list(HealthCheck),
        )
        test: Callable[[], None] = quiet(given(strategy)(collect))
        if seed is not None:
            test = with_seed(seed)(test)
        test()
        if shrink and report.failures:
            report.shrunk = _shrink(strategy, check, seed)
    report.seconds = time.monotonic() - started
    return report.as_dict()


def _shrink(strategy: SearchStrategy[Any], check: Callable[[Any], Any], seed: int | None) -> str:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as with_seed

    loud = settings(
        max_examples=100_000, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )

    def test_property(event: Any) -> None:
        check(event)

    test: Callable[[], None] = loud(given(strategy)(test_property))
    if seed is not None:
        test = with_seed(seed)(test)
    try:
        test()
    except Exception as exc:  # the minimal example is in Hypothesis' notes on the exception
        notes = "\n".join(getattr(exc, "__notes__", []))
        return f"{type(exc).__name__}: {exc}\n{notes}"[: SAMPLE_CHARS * 2]
    return "not reproduced by a shrinking run (the failure depends on more than the input)"


def property_names() -> list[str]:
    from tests.fuzz.properties import AUTHORIZER_MODES, CONTRACT_FORMATS, HTTP_HANDLERS

    contract = [f"contract-{fmt}" for fmt in CONTRACT_FORMATS] + ["contract-introspect", "contract-refresh"]
    return (
        [f"authorizer-{mode}" for mode in AUTHORIZER_MODES]
        + contract
        + [f"http-{name}" for name in HTTP_HANDLERS]
    )


def print_report(reports: Iterable[dict[str, Any]]) -> int:
    total_examples = total_failures = 0
    print(f"\n{'property':<22}{'examples':>10}{'failures':>10}{'seconds':>10}  answers")
    for report in reports:
        total_examples += report["examples"]
        total_failures += report["failures"]
        answers = ", ".join(f"{k}: {v}" for k, v in list(report["outcomes"].items())[:8])
        print(
            f"{report['property']:<22}{report['examples']:>10}{report['failures']:>10}"
            f"{report['seconds']:>10}  {answers}"
        )
        for kind, found in report["failure_kinds"].items():
            print(f"    FAILURE x{found['count']}: {kind}\n      shortest input: {found['shortest']}")
        if report.get("shrunk"):
            print(f"    minimal example:\n{report['shrunk']}")
    print(f"{'total':<22}{total_examples:>10}{total_failures:>10}")
    return 1 if total_failures else 0


def main(argv: list[str] | None = None) -> int:
    names = property_names()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=20_000, help="examples per property (default 20000)")
    parser.add_argument("--property", action="append", choices=names, help="only these (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="properties run in parallel processes")
    parser.add_argument("--seed", type=int, help="a fixed Hypothesis seed, to repeat a run")
    parser.add_argument("--shrink", action="store_true", help="find a minimal example of each failure")
    parser.add_argument("--json", type=Path, help="also write the reports to this file")
    parser.add_argument("--verbose", action="store_true", help="keep the handlers' logs")
    args = parser.parse_args(argv)
    chosen = args.property or names
    print(f"fuzz_long: {len(chosen)} properties x {args.examples} examples, {args.jobs} job(s)", flush=True)
    started = time.monotonic()
    jobs = [(name, args.examples, args.seed, args.shrink, args.verbose) for name in chosen]
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            reports = list(pool.map(_run, jobs))
    else:
        reports = [_run(job) for job in jobs]
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, ensure_ascii=True), encoding="utf-8")
    status = print_report(reports)
    print(f"fuzz_long: {time.monotonic() - started:.0f} s")
    return status


def _run(job: tuple[str, int, int | None, bool, bool]) -> dict[str, Any]:
    name, examples, seed, shrink, verbose = job
    report = run_property(name, examples, seed, shrink, verbose)
    print(
        f"  {name}: {report['examples']} examples, {report['failures']} failures, {report['seconds']} s",
        flush=True,
    )
    return report


if __name__ == "__main__":
    raise SystemExit(main())
