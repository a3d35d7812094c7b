"""serve's side of the template process (lambda_template.py) that containers are forked from.

The template starts with the first container (so `serve` itself starts as fast as before), in a
session of its own, and stops with `close()`, or by itself when serve goes away. Whoever makes a
template closes it; `ContainerTemplate.shared()` is this process's own, closed at exit. Its children
are not serve's: what serve knows of them (pid, exit status) comes over the control channel, and
serve kills one by asking the template, the only process that may still signal that pid safely.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from auth_service.local.lambda_template import HEADER_BYTES

# Starting the template imports the libraries every container would otherwise import itself.
TEMPLATE_START_TIMEOUT_SECONDS = 60.0
SPAWN_TIMEOUT_SECONDS = 10.0


class TemplateError(RuntimeError):
    """The template could not be started, or did not fork a container."""


class ForkedProcess:
    """A container's process, forked by the template: what Popen offers, through the template."""

    def __init__(self, template: ContainerTemplate, pid: int) -> None:
        self.pid = pid
        self._template = template
        self._exited = threading.Event()
        self._status: int | None = None

    def _set_exited(self, status: int | None) -> None:
        self._status = status
        self._exited.set()

    def poll(self) -> int | None:
        """The exit status once the template has reported the exit, else None."""
        return self._status if self._exited.is_set() else None

    @property
    def exited(self) -> bool:
        return self._exited.is_set()

    def wait(self, timeout: float) -> bool:
        """Whether the process exited within `timeout` seconds."""
        return self._exited.wait(max(0.0, timeout))

    @property
    def returncode(self) -> int | None:
        return self._status

    def kill(self) -> None:
        """SIGKILL it (and anything it started); returns at once, `wait()` for the exit."""
        if not self._exited.is_set():
            self._template.kill(self.pid)


class ContainerTemplate:
    _shared: ContainerTemplate | None = None
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls) -> ContainerTemplate:
        """This process's template (a new one if the last was closed), closed when it exits."""
        with cls._shared_lock:
            if cls._shared is None or cls._shared._closed:
                cls._shared = cls()
                atexit.register(cls._shared.close)
            return cls._shared

    def __init__(self) -> None:
        self._send_lock = threading.Lock()  # one request on the control channel at a time
        self._state_lock = threading.Lock()  # the maps below; never held while waiting on the channel
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._children: dict[int, ForkedProcess] = {}
        self._pending: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._next_id = 0
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The template's process id, once started."""
        return self._process.pid if self._process is not None else None

    def spawn(
        self, *, environment: Mapping[str, str], cwd: str, path: Sequence[str], fds: Sequence[int]
    ) -> ForkedProcess:
        """Fork a container with `fds` (channel, stdout, stderr); they are duplicated, not taken."""
        done = threading.Event()
        answer: list[dict[str, Any]] = []
        with self._send_lock:
            control = self._ensure_started()
            with self._state_lock:
                self._next_id += 1
                request_id = self._next_id
                self._pending[request_id] = (done, answer)
            request = {"id": request_id, "environment": dict(environment), "cwd": cwd, "path": list(path)}
            data = json.dumps(request).encode()
            try:
                socket.send_fds(control, [len(data).to_bytes(HEADER_BYTES, "big")], list(fds))
                control.sendall(data)
            except OSError as exc:
                with self._state_lock:
                    self._pending.pop(request_id, None)
                raise TemplateError(f"the container template is gone ({exc})") from None
        if not done.wait(SPAWN_TIMEOUT_SECONDS) or not answer:
            raise TemplateError("the container template did not fork a container")
        if "child" not in answer[0]:
            raise TemplateError(str(answer[0].get("error", "the container template refused")))
        child: ForkedProcess = answer[0]["child"]
        return child

    def kill(self, pid: int) -> None:
        data = json.dumps({"kill": pid}).encode()
        with self._send_lock, contextlib.suppress(OSError):
            if self._control is not None:
                self._control.sendall(len(data).to_bytes(HEADER_BYTES, "big") + data)

    def close(self) -> None:
        """Stop the template; it kills any container still running. Safe to call more than once."""
        with self._send_lock:
            self._closed = True
            process, control = self._process, self._control
            self._control = None
        if control is not None:
            with contextlib.suppress(OSError):
                control.shutdown(socket.SHUT_RDWR)
            control.close()
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _ensure_started(self) -> socket.socket:
        if self._closed:
            raise TemplateError("the server is stopping")
        if self._control is not None and self._process is not None and self._process.poll() is None:
            return self._control
        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own template module, this interpreter
                [sys.executable, "-m", "auth_service.local.lambda_template", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            theirs.close()
        ours.settimeout(TEMPLATE_START_TIMEOUT_SECONDS)
        reader = ours.makefile("rb")
        try:
            ready = reader.readline()
        except OSError:
            ready = b""
        if not ready:
            ours.close()
            self._process.kill()
            self._process.wait()
            raise TemplateError("the container template did not start")
        ours.settimeout(None)
        self._control = ours
        self._reader = threading.Thread(target=self._read, args=(reader,), name="template", daemon=True)
        self._reader.start()
        return ours

    def _read(self, reader: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in reader:
                self._dispatch(json.loads(line))
        # The template is gone: it killed its children first (or was killed itself).
        with self._state_lock:
            children, self._children = self._children, {}
            pending, self._pending = self._pending, {}
        for child in children.values():
            child._set_exited(None)
        for done, _ in pending.values():
            done.set()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "exited" in message:
            with self._state_lock:
                exited = self._children.pop(int(message["exited"]), None)
            if exited is not None:
                exited._set_exited(int(message["status"]))
            return
        with self._state_lock:
            if "pid" in message:
                # Registered before the template can report its exit: messages come in order.
                pid = int(message["pid"])
                message["child"] = self._children[pid] = ForkedProcess(self, pid)
            done, answer = self._pending.pop(int(message["id"]), (None, []))
        answer.append(message)
        if done is not None:
            done.set()
