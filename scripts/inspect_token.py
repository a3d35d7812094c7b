#!/usr/bin/env python3
"""Run inspect-token from a checkout: ``python scripts/inspect_token.py TOKEN [options]``.

Works without installing the package by putting the repository root on sys.path first.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from auth_service.cli.inspect_token import main  # noqa: E402  (needs the sys.path entry above)

if __name__ == "__main__":
    raise SystemExit(main())
