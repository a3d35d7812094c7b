"""Tiny Lambda handlers the local gateway tests route to (see tests/unit/test_local_*.py)."""
