"""A capture directory on an ssh server: the local spool's contract, over ``ssh``.

On the server, under the target PATH, the same names as :mod:`crashd.capture.spool`:
``PATH/crashd/<stamp>-<bootid8>.incomplete/`` (0700) gets ``dmesg.txt`` first,
then ``vmcore.flat`` (``makedumpfile -F``, the flattened format a pipe can carry;
``makedumpfile -R vmcore < vmcore.flat`` turns it back into a dump file), then
``capture.json`` last; then it is synced and renamed to ``<stamp>-<bootid8>``.

ssh always runs from an argv with a dedicated key, batch mode (never a password
prompt in the capture kernel), the host key pinned at ``crashd propagate`` time
(``StrictHostKeyChecking=yes`` against our own known_hosts file: no trust on first
use), and connect/keepalive timeouts. The *remote* command, however, is read by
the server's login shell: it is one argument built only from validated pieces
(:mod:`crashd.core.remote` limits PATH to a safe charset; names are ours) and
each piece is still passed through :func:`shlex.quote`. Files are created with
``umask 077`` and ``set -C`` (noclobber: an existing file, or a planted symlink,
is refused rather than written through).

A failed connection (ssh's exit 255) is retried, at most :data:`ATTEMPTS` times
(kdump-tools retries 16 times) and never past the deadline; a command that ran
and failed is not retried.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crashd.capture.spool import INCOMPLETE, SPOOL_DIR
from crashd.core.errors import CrashdError, ToolError
from crashd.core.remote import SshTarget, key_files
from crashd.core.tools import ToolRunner

__all__ = ["ATTEMPTS", "FLAT_DUMP", "RETRY_PAUSE", "RemoteError", "SshOptions", "SshSpool", "capture", "key_paths", "ssh_argv"]

ATTEMPTS = 16
FLAT_DUMP = "vmcore.flat"
CONNECT_TIMEOUT = 10  # seconds for one TCP connect + handshake
ALIVE_INTERVAL = 5  # keepalive probe every 5 s; 3 unanswered -> ssh exits 255
ALIVE_COUNT = 3
COMMAND_TIMEOUT = 60.0  # one small remote command (mkdir, a small file, rename)
RETRY_PAUSE = 2.0  # seconds between attempts (each attempt may itself wait ConnectTimeout)
SSH_FAILED = 255
# ssh failures that no retry fixes: a host key not pinned or changed, a key refused.
_PERMANENT = ("Host key verification failed", "Permission denied", "REMOTE HOST IDENTIFICATION HAS CHANGED")  # ssh's own failure (connect, auth, host key), not the command's


class RemoteError(CrashdError):
    """The server could not be used; carries the target URL and why."""

    def __init__(self, url: str, reason: str):
        self.url = url
        self.reason = reason
        super().__init__(f"capture target {url}: {reason}")


@dataclass(frozen=True)
class SshOptions:
    key: Path  # the dedicated private key (crashd propagate)
    known_hosts: Path  # the pinned host key
    connect_timeout: int = CONNECT_TIMEOUT
    alive_interval: int = ALIVE_INTERVAL


def ssh_argv(target: SshTarget, opts: SshOptions, command: str) -> list[str]:
    """ssh's argv; ``command`` is the single remote command argument."""
    return [
        "ssh", "-i", str(opts.key), "-p", str(target.port),
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={opts.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
        "-o", f"ConnectTimeout={opts.connect_timeout}", "-o", f"ServerAliveInterval={opts.alive_interval}",
        "-o", f"ServerAliveCountMax={ALIVE_COUNT}", "-o", "LogLevel=ERROR", "-F", "/dev/null",
        target.destination, command,
    ]


def _q(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


class SshSpool:
    """One capture directory on the server, made by :meth:`create`."""

    def __init__(self, tools: ToolRunner, target: SshTarget, opts: SshOptions, *, deadline: float,
                 sleep: Callable[[float], None] = time.sleep, attempts: int = ATTEMPTS):
        self.tools = tools
        self.target = target
        self.opts = opts
        self.deadline = deadline  # time.monotonic() after which nothing new starts
        self.sleep = sleep
        self.attempts = attempts
        self.name = ""
        self.spool = f"{target.path.rstrip('/')}/{SPOOL_DIR}"

    @property
    def incomplete(self) -> str:
        return f"{self.spool}/{self.name}{INCOMPLETE}"

    def location(self, filename: str | None = None) -> str:
        """``ssh://…/PATH/crashd/<name>[/file]`` of the published directory."""
        names = [SPOOL_DIR, self.name] + ([filename] if filename else [])
        return self.target.location(*names)

    # ------------------------------------------------------------ commands
    def _run(self, command: str, what: str, *, input: str | None = None) -> None:
        argv = ssh_argv(self.target, self.opts, command)
        detail = ""
        for attempt in range(1, self.attempts + 1):
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RemoteError(self.target.url, f"{what}: deadline reached after {attempt - 1} attempts ({detail})")
            try:
                result = self.tools.run(argv, timeout=min(COMMAND_TIMEOUT, left), input=input)
            except ToolError as exc:
                if exc.returncode is None and "not found" in str(exc):
                    raise RemoteError(self.target.url, f"{what}: {exc}") from exc
                detail = str(exc)  # timed out: the network may come up later
            else:
                if result.ok:
                    return
                detail = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
                if result.returncode != SSH_FAILED:
                    raise RemoteError(self.target.url, f"{what} failed on the server: {detail}")
                if any(m in result.stderr for m in _PERMANENT):  # retrying cannot help
                    raise RemoteError(self.target.url, f"{what}: {detail} (run crashd propagate)")
            if attempt < self.attempts:
                self.sleep(min(RETRY_PAUSE, max(0.0, self.deadline - time.monotonic())))
        raise RemoteError(self.target.url, f"{what}: ssh failed {self.attempts} times: {detail}")

    def run_check(self, command: str, what: str) -> None:
        """Run a command built by the caller from validated pieces (``crashd propagate``)."""
        self._run(command, what)

    def create(self, base: str) -> None:
        """``PATH/crashd/<base>.incomplete`` on the server; ``base`` is ``<stamp>-<bootid8>``."""
        self.name = base
        # mkdir without -p for the capture directory: an existing one is an error,
        # never shared with another capture.
        self._run(f"umask 077 && mkdir -p -- {_q(self.spool)} && mkdir -m 0700 -- {_q(self.incomplete)}",
                  "creating the capture directory")

    def write_file(self, filename: str, text: str) -> None:
        path = f"{self.incomplete}/{filename}"
        self._run(f"umask 077 && set -C && cat > {_q(path)}", f"writing {filename}", input=text)

    def stream(self, producer: list[str], filename: str) -> tuple[bool, str]:
        """Run ``producer`` (``makedumpfile -F …``, writing to stdout) into ``filename``
        on the server. Returns (ok, message); bounded by the deadline (both killed)."""
        path = f"{self.incomplete}/{filename}"
        argv = ssh_argv(self.target, self.opts, f"umask 077 && set -C && cat > {_q(path)}")
        read_fd, write_fd = os.pipe()
        with tempfile.TemporaryFile() as prod_err, tempfile.TemporaryFile() as ssh_err:
            try:
                prod = self.tools.pipe(producer, stdin=subprocess.DEVNULL, stdout=write_fd, stderr=prod_err.fileno())
            except ToolError as exc:
                os.close(read_fd)
                os.close(write_fd)
                return False, str(exc)
            os.close(write_fd)
            try:
                ssh = self.tools.pipe(argv, stdin=read_fd, stdout=subprocess.DEVNULL, stderr=ssh_err.fileno())
            except ToolError as exc:
                _kill(prod)
                return False, str(exc)
            finally:
                os.close(read_fd)
            killed = ""
            for proc in (prod, ssh):
                try:
                    proc.wait(timeout=max(0.1, self.deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    killed = "the deadline was reached while streaming; killed"
                    _kill(prod)
                    _kill(ssh)
                    break
            if killed:
                return False, killed
            if prod.returncode != 0:
                return False, f"{producer[0]} exit {prod.returncode}: {_last(prod_err)}"
            if ssh.returncode != 0:
                return False, f"ssh exit {ssh.returncode}: {_last(ssh_err)}"
            return True, ""

    def publish(self) -> None:
        final = f"{self.spool}/{self.name}"
        self._run(f"sync -- {_q(self.incomplete)}/* 2>/dev/null; sync && mv -T -- {_q(self.incomplete)} {_q(final)}"
                  f" && sync -- {_q(self.spool)}", "publishing the capture directory")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _last(f: object) -> str:
    assert hasattr(f, "seek") and hasattr(f, "read")
    f.seek(0)
    lines = f.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else ""


def key_paths(etc: Path) -> SshOptions:
    """Where ``crashd propagate`` keeps the dedicated key and the pinned host key."""
    return SshOptions(*key_files(etc))


def capture(
    ssh: SshSpool,
    base: str,
    dmesg: str | None,
    producer: list[str],
    record: dict[str, object],
    step: Callable[[str], None],
    *,
    connect_deadline: float,
) -> str:
    """The whole remote capture into ``PATH/crashd/<base>``: the published dump's
    ``ssh://`` location. ``record`` is capture.json's content, updated for the
    server's copy (``dump_file`` there is :data:`FLAT_DUMP`). Raises RemoteError;
    the caller then saves locally."""
    final_deadline = ssh.deadline
    ssh.deadline = min(final_deadline, connect_deadline)  # the network may never come up
    ssh.create(base)
    ssh.deadline = final_deadline
    step(f"ssh: capture directory {ssh.location()}.incomplete created")
    if dmesg is not None:
        ssh.write_file("dmesg.txt", dmesg)
    ok, message = ssh.stream(producer, FLAT_DUMP)
    if not ok:
        raise RemoteError(ssh.target.url, f"streaming the dump failed: {message}")
    step(f"ssh: {' '.join(producer[:-1])} streamed to {ssh.location(FLAT_DUMP)}")
    server = dict(record, dump_file=FLAT_DUMP, remote_location=ssh.location(FLAT_DUMP), complete=True)
    ssh.write_file("capture.json", json.dumps(server, sort_keys=True, indent=2) + "\n")
    ssh.publish()
    return ssh.location(FLAT_DUMP)
