"""One JSON object per log line. Callers pass identifiers (jti, sub), never tokens or secrets."""

from __future__ import annotations

import json
import logging
from typing import Any


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    record = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    logger.log(level, json.dumps(record, default=str))
