"""Test doubles for the daemon: a real sd_notify receiver, the fake kexec, a clock."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner
from tests.fakeroot import build_root

FAKES = Path(__file__).resolve().parents[2] / "fakes"


class NotifyReceiver:
    """A real AF_UNIX datagram socket like systemd's notify socket.

    ``abstract=True`` binds in the abstract namespace and ``name`` is the
    ``@…`` spelling to put in ``$NOTIFY_SOCKET``.
    """

    def __init__(self, directory: Path, abstract: bool = False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            label = f"crashd-test-{uuid.uuid4().hex}"
            self.sock.bind(b"\0" + label.encode())
            self.name = "@" + label
        else:
            path = directory / "notify.sock"
            self.sock.bind(str(path))
            self.name = str(path)
        self.messages: list[dict[str, str]] = []

    def receive(self, timeout: float) -> dict[str, str] | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.messages.append(fields)
        return fields

    def drain(self) -> list[dict[str, str]]:
        """Every message already queued (non-blocking); also kept in ``messages``."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(65536)
                fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
                self.messages.append(fields)
                out.append(fields)
        except BlockingIOError:
            pass
        return out

    def wait_for(self, predicate: Callable[[dict[str, str]], bool], timeout: float = 30.0) -> dict[str, str]:
        """The first message (from now) matching ``predicate``; fails after ``timeout``."""
        import time

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            m = self.receive(left)
            if m is not None and predicate(m):
                return m
        seen = [m.get("STATUS") for m in self.messages[-5:]]
        raise AssertionError(f"no matching sd_notify message within {timeout}s; last: {seen}")

    def statuses(self) -> list[str]:
        return [m["STATUS"] for m in self.messages if "STATUS" in m]

    def close(self) -> None:
        self.sock.close()


def fake_env(root: Path, log: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_KEXEC_")}
    env.update({"FAKE_KEXEC_ROOT": str(root), "FAKE_KEXEC_LOG": str(log)}, **extra)
    return env


def fake_tools(root: Path, log: Path, **extra: str) -> ToolRunner:
    """A ToolRunner whose ``kexec`` is tests/fakes/kexec."""
    return ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env=fake_env(root, log, **extra))


def kexec_calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()]


def loads(log: Path) -> list[list[str]]:
    return [a for a in kexec_calls(log) if "-u" not in a and "--version" not in a]


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def make_root(base: Path, files: Mapping[str, str | bytes | None]) -> HostPaths:
    """``build_root`` for any mapping (presets are typed without ``None``)."""
    table: dict[str, str | bytes | None] = dict(files)
    return build_root(base, table)
