"""A handler module whose cold start fails while LOCAL_FIXTURE_FAIL_IMPORT is set."""

from __future__ import annotations

import os
from typing import Any

if os.environ.get("LOCAL_FIXTURE_FAIL_IMPORT"):
    raise RuntimeError("cold start failed on purpose")


def handler(event: dict[str, Any], context: Any) -> str:
    return "recovered"
