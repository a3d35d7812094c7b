"""The process `auth-service serve` forks its containers from: third-party libraries imported once.

A fresh interpreter per container would import boto3, cryptography, PyJWT and argon2 again each
time (most of a local cold start, measured in README). This process imports those libraries and
nothing of ours, then forks one child per container. A child is a process of its own: it gets
the function's environment, code root and path, imports the handler itself (the cold start of
our code: clients, keys, caches are the container's own) and runs lambda_worker's loop.

Control channel (FD in argv, a Unix socket pair with serve), each message an 8-byte length and a
JSON body; a spawn request carries the container's three file descriptors (its channel, stdout,
stderr) with the length:

    serve -> template   {"id": n, "environment": {...}, "cwd": ..., "path": [...]}   + 3 fds
                        {"kill": pid}
    template -> serve   {"ready": true}   once, then   {"id": n, "pid": pid}   {"exited": pid, "status": s}
                        (one JSON object per line)

Only this process waits for its children, so a pid it has not reported as exited is still its
child and safe to signal: serve asks it to kill rather than signalling a pid that may be reused.
When serve goes away (the channel closes), the template kills its children and exits.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any

# What the functions import from outside this repository (the heavy part of their imports).
PRELOAD = (
    "boto3",
    "botocore.session",
    "jwt",
    "argon2",
    "cryptography.hazmat.primitives.asymmetric.ec",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "cryptography.hazmat.primitives.serialization",
)
HEADER_BYTES = 8
FDS_PER_CONTAINER = 3  # channel, stdout, stderr


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _become_container(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: take the container's descriptors and environment, run the worker."""
    status = 1
    try:
        os.setsid()  # its own session: Ctrl-C in a terminal reaches serve, not the containers
        channel_fd, stdout_fd, stderr_fd = fds
        devnull = os.open(os.devnull, os.O_RDONLY)
        for source, target in ((devnull, 0), (stdout_fd, 1), (stderr_fd, 2)):
            os.dup2(source, target)
            os.close(source)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's stdin
        for name, fd in (("stdout", 1), ("stderr", 2)):
            raw = io.FileIO(fd, "w", closefd=False)
            stream = io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", line_buffering=True)
            setattr(sys, name, stream)
        os.environ.clear()
        os.environ.update(request["environment"])
        os.chdir(request["cwd"])
        sys.path[:] = [*request["path"], *(entry for entry in sys.path if entry not in request["path"])]
        from auth_service.local.lambda_worker import serve_channel

        status = serve_channel(socket.socket(fileno=channel_fd))
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


class _Template:
    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._children: set[int] = set()
        # SIGCHLD wakes the loop through this pipe, so exits are reported at once.
        self._wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(wake_write)
        self._wake_write = wake_write

    def _send(self, message: dict[str, Any]) -> None:
        self._control.sendall(json.dumps(message).encode() + b"\n")

    def run(self) -> None:
        self._send({"ready": True})
        try:
            while True:
                readable, _, _ = select.select([self._control.fileno(), self._wake_read], [], [])
                if self._wake_read in readable:
                    os.read(self._wake_read, 4096)
                self._reap()
                if self._control.fileno() in readable and not self._handle_request():
                    break
        finally:
            self._kill_all()

    def _handle_request(self) -> bool:
        header, fds, _, _ = socket.recv_fds(self._control, HEADER_BYTES, FDS_PER_CONTAINER)
        if header:
            header += _receive_exactly(self._control, HEADER_BYTES - len(header))
        length = int.from_bytes(header, "big") if len(header) == HEADER_BYTES else 0
        body = _receive_exactly(self._control, length) if length else b""
        if not body:  # serve has gone away
            for fd in fds:
                os.close(fd)
            return False
        request = json.loads(body)
        if "kill" in request:
            self._kill(int(request["kill"]))
            return True
        if len(fds) != FDS_PER_CONTAINER:
            for fd in fds:
                os.close(fd)
            problem = f"expected {FDS_PER_CONTAINER} descriptors, got {len(fds)}"
            self._send({"id": request["id"], "error": problem})
            return True
        pid = os.fork()
        if pid == 0:
            self._control.close()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(self._wake_read)
            os.close(self._wake_write)
            _become_container(request, fds)
        for fd in fds:
            os.close(fd)
        self._children.add(pid)
        self._send({"id": request["id"], "pid": pid})
        return True

    def _kill(self, pid: int) -> None:
        # Not reaped yet (only this process reaps), so `pid` is still this child: safe to signal.
        if pid in self._children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:  # it has not called setsid() yet
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _reap(self) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._children.discard(pid)
            with contextlib.suppress(OSError):
                self._send({"exited": pid, "status": os.waitstatus_to_exitcode(status)})

    def _kill_all(self) -> None:
        for pid in list(self._children):
            self._kill(pid)
        for pid in list(self._children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[1]))
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # a library not installed is imported by no one
            importlib.import_module(name)
    _Template(control).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
