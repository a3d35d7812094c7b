"""How many DynamoDB round trips a request waits for one after the other: its sequential stages.

`StageGate` hooks the clients of the code under test (botocore's `before-parameter-build`, before
anything is sent) and holds every DynamoDB request until all the requests expected in the current
stage have been made; then it lets them go together and the next stage begins. Code that makes
a stage's requests concurrently passes straight through. Code that makes them one after the other
cannot: its first request is held, so the second is never made; after `PATIENCE` the gate gives up
on that stage, lets it go with what came, and `stages` shows the difference. The patience only
bounds how long a failing test takes; no time is measured or asserted.

A request is labelled by what it is, not by its contents: "GetItem users", "GetItem user#" (a
user's not-before in the denylist), "UpdateItem throttle#ip" ...
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import EndpointConnectionError

PATIENCE = 5.0
_EVENT = "before-parameter-build.dynamodb"


def label(operation: str, params: dict[str, Any], users_table: str) -> str:
    if params.get("TableName") == users_table:
        return f"{operation} users"
    parts = params.get("Key", {}).get("pk", {}).get("S", "").split("#")
    kind = "#".join(parts[:2]) if parts[0] == "throttle" else parts[0] + "#"
    return f"{operation} {kind}"


class StageGate:
    def __init__(self, expected: Sequence[Sequence[str]], users_table: str) -> None:
        self.expected = [Counter(stage) for stage in expected]
        self.stages: list[Counter[str]] = []  # the requests each stage was let go with
        self.failing: dict[str, Callable[[], Exception]] = {}  # label -> the error its request raises
        self._users_table = users_table
        self._condition = threading.Condition()
        self._current: Counter[str] = Counter()
        self._released = 0  # stages let go so far

    def fail(self, request: str) -> None:
        """The request labelled `request` fails as if DynamoDB could not be reached (after its stage)."""
        self.failing[request] = lambda: EndpointConnectionError(endpoint_url="http://dynamodb.invalid")

    def _hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = label(model.name, params, self._users_table)
        with self._condition:
            stage = self._released
            self._current[name] += 1
            if stage < len(self.expected) and self._current == self.expected[stage]:
                self._let_go()
            else:
                let_go = self._condition.wait_for(lambda: self._released > stage, timeout=PATIENCE)
                if not let_go:  # the stage never completed: go with what came
                    self._let_go()
        if name in self.failing:
            raise self.failing[name]()

    def _let_go(self) -> None:
        self.stages.append(self._current)
        self._current = Counter()
        self._released += 1
        self._condition.notify_all()

    @contextmanager
    def watching(self, *clients: Any) -> Iterator[StageGate]:
        distinct = list({id(client): client for client in clients}.values())
        for client in distinct:
            client.meta.events.register(_EVENT, self._hook)
        try:
            yield self
        finally:
            for client in distinct:
                client.meta.events.unregister(_EVENT, self._hook)
            with self._condition:
                if self._current:
                    self.stages.append(self._current)
