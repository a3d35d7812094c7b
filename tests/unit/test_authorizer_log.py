"""authorizer.log: one JSON line per event, exactly what `json.dumps(record, default=str)` wrote."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from authorizer.log import bind_request, log_event

LOGGER = "lambda_jwt_auth.test_log"


class Shown:
    def __str__(self) -> str:
        return "shown\u00e9"


class Boom:
    def __str__(self) -> str:
        raise AssertionError("built a line nobody reads")


@pytest.mark.parametrize(
    "fields",
    [
        {"outcome": "allow", "reason": "ok", "route": "GET /orders", "jti": "j-1", "sub": "alice"},
        {"sub": "\u00e9l\u00e8ve \u2603 \U0001f600", "quote": 'a "b" \\ c\n\t\u0000'},
        {"count": 3, "ratio": 0.5, "big": 10**30, "flag": True, "nan": float("nan"), "inf": float("inf")},
        {"list": [1, "two", None, {"three": [3.0]}], "object": Shown()},
        {"skipped": None, "kept": ""},
    ],
)
def test_a_line_is_what_json_dumps_writes(fields: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        log_event(logger, "authorize", **fields)
    (record,) = caplog.records
    expected = {"event": "authorize", **{k: v for k, v in fields.items() if v is not None}}
    assert record.getMessage() == json.dumps(expected, default=str)


def test_a_line_is_located_where_logging_would_have_found_it(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        log_event(logger, "authorize", level=logging.WARNING)
    (record,) = caplog.records
    assert record.funcName == "log_event"
    assert record.pathname.replace("\\", "/").endswith("authorizer/log.py")
    assert record.levelno == logging.WARNING and record.name == LOGGER


def test_nothing_is_built_for_a_level_that_is_off(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        log_event(logger, "noise", level=logging.DEBUG, thing=Boom())
    assert caplog.records == []


def test_bind_request_tags_lines_and_is_undone_on_exit(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        with bind_request("req-1", "GET /me"):
            log_event(logger, "inner")
            with pytest.raises(RuntimeError), bind_request("req-2"):
                log_event(logger, "nested")
                raise RuntimeError("boom")
            log_event(logger, "after-nested")
        log_event(logger, "outside")
    lines = [json.loads(record.getMessage()) for record in caplog.records]
    assert lines == [
        {"event": "inner", "request_id": "req-1", "route": "GET /me"},
        {"event": "nested", "request_id": "req-2"},
        {"event": "after-nested", "request_id": "req-1", "route": "GET /me"},
        {"event": "outside"},
    ]


def test_the_level_constants_are_loggings() -> None:
    from authorizer import log

    assert (log.DEBUG, log.INFO, log.WARNING, log.ERROR) == (
        logging.DEBUG,
        logging.INFO,
        logging.WARNING,
        logging.ERROR,
    )


def test_a_lazy_logger_writes_through_the_named_logging_logger(caplog: pytest.LogCaptureFixture) -> None:
    from authorizer.log import get_logger

    lazy = get_logger(LOGGER)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert not lazy.isEnabledFor(logging.INFO)
        log_event(lazy, "lazy", logging.WARNING, jti="j-9")
    (record,) = caplog.records
    assert record.name == LOGGER and json.loads(record.getMessage()) == {"event": "lazy", "jti": "j-9"}


def test_the_invocation_id_tags_lines_until_the_next_invocation(caplog: pytest.LogCaptureFixture) -> None:
    from authorizer.log import bind_invocation

    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        bind_invocation("req-1")
        log_event(logger, "first")
        with bind_request("outer", route="GET /x"):  # an explicit binding names its own request
            log_event(logger, "bound")
        bind_invocation("req-2")
        log_event(logger, "second")
        bind_invocation(None)
        log_event(logger, "none")
    lines = [json.loads(record.getMessage()) for record in caplog.records]
    assert lines == [
        {"event": "first", "request_id": "req-1"},
        {"event": "bound", "request_id": "outer", "route": "GET /x"},
        {"event": "second", "request_id": "req-2"},
        {"event": "none"},
    ]


def test_the_authorizer_imports_no_logging_until_it_writes_a_line() -> None:
    """`logging` (and traceback, threading...) stays off a cold start that writes nothing."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from authorizer.log import INFO, get_logger, log_event, set_package_level\n"
        "set_package_level(INFO)\n"
        "lazy = get_logger('lambda_jwt_auth.x')\n"
        "assert 'logging' not in sys.modules, 'imported at once'\n"
        "log_event(lazy, 'first')\n"
        "import logging\n"
        "assert logging.getLogger('lambda_jwt_auth').level == logging.INFO\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
