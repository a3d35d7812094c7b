"""One emulated Lambda container, seen from `auth-service serve`: a worker process of its own.

A container is a process forked from the container template (lambda_template.py) running
lambda_worker with the function's environment, so its module state (clients, keys, caches) is
its own and so is the cold start of our code. It runs one invocation at a time; the pool
(lambda_runtime.py) decides which container gets which invocation.

Its stdout and stderr are relayed to serve's, each line labelled `[function#n]`. The worker
flushes them before answering and the relay drains them before `invoke` returns, so a handler's
log lines appear before the response they belong to.

The worker runs in a session of its own: Ctrl-C in a terminal reaches serve, which stops the
containers itself. A worker also exits when its channel closes, and the template kills its
containers when serve goes away, so even a serve killed outright leaves no container behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from auth_service.local.container_template import ContainerTemplate, ForkedProcess, TemplateError

# Lambda's limit for the init phase (the handler module's import). Past it, Lambda tries the init
# again within the first invocation, under the function's timeout: so a cold start may take both.
INIT_TIMEOUT_SECONDS = 10.0
# How long a stopping container may take to exit on its own before it is killed.
STOP_GRACE_SECONDS = 2.0


class InvocationError(RuntimeError):
    """The invocation failed in a way Lambda reports to its caller; the container logged why."""


class ColdStartError(InvocationError):
    """The handler module could not be imported (or the worker not started): nothing is kept."""


class ContainerExitedError(InvocationError):
    """The worker process ended during the invocation (a crash, `sys.exit`, a signal)."""


class ContainerGoneError(ContainerExitedError):
    """The worker had ended before the invocation reached it: the event was never delivered."""


class FunctionTimeoutError(InvocationError):
    """The invocation took longer than the function's configured timeout."""


class FunctionResultError(InvocationError, TypeError):
    """The handler returned something Lambda could not serialise as JSON."""


class FunctionError(InvocationError):
    """The handler raised; Lambda's errorType and errorMessage."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


class _LogRelay:
    """Copies a container's stdout and stderr to serve's, line by line, with its label.

    A thread relays as output arrives; `drain()` relays what is already in the pipes, at once.
    """

    def __init__(self, label: str, stdout: int, stderr: int) -> None:
        """`stdout` and `stderr`: the read ends of the container's pipes, closed by the relay."""
        self._label = label
        self._lock = threading.Lock()
        self._partial: dict[int, bytes] = {}
        self._targets: dict[int, str] = {}
        self._selector = selectors.DefaultSelector()
        for fd, target in ((stdout, "stdout"), (stderr, "stderr")):
            os.set_blocking(fd, False)
            self._partial[fd] = b""
            self._targets[fd] = target
            self._selector.register(fd, selectors.EVENT_READ)
        self._fds = (stdout, stderr)
        self._thread = threading.Thread(target=self._run, name=f"logs {label}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._targets:
                    break
            self._selector.select(timeout=0.5)
            self.drain()
        self._selector.close()
        for fd in self._fds:
            os.close(fd)

    def drain(self) -> None:
        with self._lock:
            for fd in list(self._targets):
                self._read_available(fd)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _read_available(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not chunk:  # the worker exited: its last, unterminated line too
                if self._partial[fd]:
                    self._emit(fd, self._partial[fd])
                self._selector.unregister(fd)
                del self._targets[fd]
                return
            *lines, self._partial[fd] = (self._partial[fd] + chunk).split(b"\n")
            for line in lines:
                self._emit(fd, line)

    def _emit(self, fd: int, line: bytes) -> None:
        # Looked up at each line, so a redirected or captured stdout/stderr is honoured.
        stream = sys.stdout if self._targets[fd] == "stdout" else sys.stderr
        stream.write(f"{self._label} {line.decode('utf-8', 'replace').rstrip(chr(13))}\n")
        stream.flush()


class Container:
    """A started worker whose handler module is imported; `start()` makes one."""

    def __init__(
        self,
        label: str,
        process: ForkedProcess,
        channel: socket.socket,
        relay: _LogRelay,
    ) -> None:
        self.label = label
        self.init_ms = 0.0  # the handler module's import, Lambda's "Init Duration"
        self.start_ms = 0.0  # from spawning the process to ready: what the first request waits
        self._process = process
        self._channel = channel
        self._reader = channel.makefile("rb")
        self._writer = channel.makefile("wb")
        self._relay = relay
        self._usable = True

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def usable(self) -> bool:
        """Whether the container can take another invocation (it is not broken or exited).

        Between invocations a worker sends nothing: a readable channel means it closed (the
        kernel closes it as the process dies, before the template reports the exit).
        """
        if not self._usable or self._process.exited:
            return False
        try:
            readable, _, _ = select.select([self._channel], [], [], 0)
        except (OSError, ValueError):  # closed
            readable = [self._channel]
        if readable:
            self._usable = False
        return self._usable

    @classmethod
    def start(
        cls,
        label: str,
        config: Mapping[str, Any],
        *,
        template: ContainerTemplate,
        environment: Mapping[str, str],
        cwd: str,
        path: Sequence[str],
        timeout_seconds: float,
    ) -> Container:
        """Fork the worker and run its cold start; raises ColdStartError when that fails.

        `timeout_seconds` is the function's: the cold start may take INIT_TIMEOUT_SECONDS more.
        """
        started = time.monotonic()
        ours, theirs = socket.socketpair()
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        try:
            process = template.spawn(
                environment=environment, cwd=cwd, path=path, fds=[theirs.fileno(), stdout_write, stderr_write]
            )
        except TemplateError as exc:
            for fd in (stdout_read, stderr_read):
                os.close(fd)
            ours.close()
            raise ColdStartError(f"{label}: {exc}") from None
        finally:
            theirs.close()
            os.close(stdout_write)
            os.close(stderr_write)
        relay = _LogRelay(label, stdout_read, stderr_read)
        container = cls(label, process, ours, relay)
        init_timeout = INIT_TIMEOUT_SECONDS + timeout_seconds
        try:
            container._send(dict(config))
            reply = container._receive(init_timeout)
        except FunctionTimeoutError:
            container.kill()
            raise ColdStartError(f"{label}: the cold start took over {init_timeout:g}s") from None
        except ContainerExitedError as exc:
            container.kill()
            raise ColdStartError(str(exc)) from None
        except BaseException:
            container.kill()
            raise
        if "init_error" in reply:
            container.stop()
            error = reply["init_error"]
            raise ColdStartError(f"{label}: cold start failed: {error['errorType']}: {error['errorMessage']}")
        container.init_ms = float(reply["ready"])
        container.start_ms = (time.monotonic() - started) * 1000
        return container

    def invoke(self, event: Mapping[str, Any], request_id: str, timeout_seconds: float) -> Any:
        """Run one invocation; the container is unusable afterwards if it timed out or exited."""
        started = time.monotonic()
        try:
            self._send({"request_id": request_id, "deadline": time.time() + timeout_seconds, "event": event})
        except ContainerExitedError as exc:
            self.kill()
            raise ContainerGoneError(str(exc)) from None
        try:
            reply = self._receive(timeout_seconds)
        except FunctionTimeoutError:
            self.kill()
            elapsed = time.monotonic() - started
            # What Lambda logs; the container is then replaced, as Lambda resets its environment.
            print(f"{self.label} {request_id} Task timed out after {elapsed:.2f} seconds", file=sys.stderr)
            raise FunctionTimeoutError(f"{self.label} ran over its {timeout_seconds:g}s timeout") from None
        except ContainerExitedError:
            self.kill()
            raise
        if "error" in reply:
            raise FunctionError(reply["error"]["errorType"], reply["error"]["errorMessage"])
        if "result_error" in reply:
            raise FunctionResultError(reply["result_error"])
        return reply["result"]

    def _send(self, message: Mapping[str, Any]) -> None:
        try:
            self._writer.write(json.dumps(message).encode() + b"\n")
            self._writer.flush()
        except OSError:
            self._usable = False
            raise ContainerExitedError(self._exit_description()) from None

    def _receive(self, timeout_seconds: float) -> dict[str, Any]:
        self._channel.settimeout(timeout_seconds)
        try:
            line = self._reader.readline()
        except TimeoutError:
            self._usable = False
            raise FunctionTimeoutError(self.label) from None
        except OSError:
            line = b""
        if not line.endswith(b"\n"):
            self._usable = False
            raise ContainerExitedError(self._exit_description())
        self._relay.drain()
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _exit_description(self) -> str:
        if not self._process.wait(STOP_GRACE_SECONDS):
            return f"{self.label}: the runtime closed its channel"
        self._relay.join(timeout=1.0)
        status = self._process.returncode
        if status is None:
            return f"{self.label}: runtime exited"
        if status < 0:
            return f"{self.label}: runtime exited with signal {-status}"
        return f"{self.label}: runtime exited with error: exit status {status}"

    def close_channel(self) -> None:
        """Ask the worker to exit: it does once its invocation in progress (if any) ends."""
        self._usable = False
        # shutdown() first: it ends a read in progress on another thread (close() would wait
        # for it), and the worker reads end-of-file once its invocation in progress is over.
        with contextlib.suppress(OSError):
            self._channel.shutdown(socket.SHUT_RDWR)
        for stream in (self._writer, self._reader, self._channel):
            with contextlib.suppress(OSError):
                stream.close()

    def kill(self) -> None:
        """End the worker (and anything it started) at once."""
        self.close_channel()
        self._process.kill()
        self._process.wait(STOP_GRACE_SECONDS)
        self._relay.join(timeout=1.0)

    def stop(self) -> None:
        stop_containers([self])

    def wait_exited(self, timeout: float) -> bool:
        if not self._process.wait(timeout):
            return False
        self._relay.join(timeout=1.0)
        return True


def stop_containers(containers: Sequence[Container], grace_seconds: float = STOP_GRACE_SECONDS) -> None:
    """Close every channel first, so the workers exit together; kill what outlives the grace."""
    for container in containers:
        container.close_channel()
    deadline = time.monotonic() + grace_seconds
    for container in containers:
        if not container.wait_exited(deadline - time.monotonic()):
            container.kill()
