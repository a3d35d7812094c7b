"""A handler that reads its configuration at import, like the real ones.

No test imports this module: its first import must be the emulated cold start.
"""

from __future__ import annotations

import os
from typing import Any

SETTING_AT_IMPORT = os.environ.get("LOCAL_FIXTURE_SETTING")
SHARED_AT_IMPORT = os.environ.get("LOCAL_FIXTURE_SHARED")
NUMBER_AT_IMPORT = os.environ.get("NUMBER_SETTING")
UNRESOLVED_AT_IMPORT = os.environ.get("UNRESOLVED_VARIABLE")


def handler(event: dict[str, Any], context: Any) -> dict[str, str | None]:
    return {
        "setting_at_import": SETTING_AT_IMPORT,
        "shared_at_import": SHARED_AT_IMPORT,
        "number_at_import": NUMBER_AT_IMPORT,
        "unresolved_at_import": UNRESOLVED_AT_IMPORT,
        "setting_now": os.environ.get("LOCAL_FIXTURE_SETTING"),
    }
