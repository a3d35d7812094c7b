"""A handler module whose cold start hangs for LOCAL_FIXTURE_IMPORT_SECONDS (default 0)."""

from __future__ import annotations

import os
import time
from typing import Any

time.sleep(float(os.environ.get("LOCAL_FIXTURE_IMPORT_SECONDS", "0")))


def handler(event: dict[str, Any], context: Any) -> str:
    return "imported"
