"""The pager, as systemd's tools start one: only on a terminal, and only when wanted.

``$SYSTEMD_PAGER``, else ``$PAGER``, else ``less``; a value that is empty or ``cat``
means no pager, and ``--no-pager`` too. The value is split with :func:`shlex.split`
and run as an argv — never through a shell (a configured value reaches no shell
anywhere in crashd). ``less`` gets ``LESS=$SYSTEMD_LESS`` or systemd's ``FRSXMK``:
quit when the text fits one screen (F), keep colours (R), chop long lines (S),
leave the text on the screen (X), a long prompt (M), quit on ^C (K).
A pager that cannot be started leaves the output plain, on the terminal.

Secure mode, as systemd's (crash records are root's, and a pager can run commands):
with ``$SYSTEMD_PAGERSECURE`` true, or unset while root through ``sudo``/``pkexec``,
only ``less`` runs, with ``LESSSECURE=1`` (no shell escapes, no editor, no log files).

The pager takes file descriptor 1 over (``dup2``), so everything a verb writes —
``sys.stdout`` and ``sys.stdout.buffer`` alike — reaches it; stderr stays on the
terminal.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["DEFAULT_LESS", "pager_argv", "pager_env", "paged", "secure_mode"]

DEFAULT_LESS = "FRSXMK"


_TRUE = {"1", "yes", "true", "on", "y", "t"}
_FALSE = {"0", "no", "false", "off", "n", "f"}


def secure_mode(env: Mapping[str, str], euid: int | None = None) -> bool:
    value = env.get("SYSTEMD_PAGERSECURE", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    euid = os.geteuid() if euid is None else euid
    return euid == 0 and bool(env.get("SUDO_UID") or env.get("PKEXEC_UID"))


def pager_argv(env: Mapping[str, str], euid: int | None = None) -> list[str] | None:
    """The pager's argv under ``env``; None when paging is off (empty, ``cat``, unparsable)."""
    value = env.get("SYSTEMD_PAGER")
    if value is None:
        value = env.get("PAGER")
    if value is None:
        return ["less"]
    try:
        argv = shlex.split(value)
    except ValueError:  # an unbalanced quote: plain output rather than a guess
        return None
    if not argv or (len(argv) == 1 and os.path.basename(argv[0]) == "cat"):
        return None
    if secure_mode(env, euid) and os.path.basename(argv[0]) != "less":
        return ["less"]  # only less is known to honour LESSSECURE
    return argv


def pager_env(env: Mapping[str, str], euid: int | None = None) -> dict[str, str]:
    """The pager's environment: ``LESS`` as systemd sets it (``$SYSTEMD_LESS`` or FRSXMK),
    ``LESSSECURE=1`` in secure mode."""
    out = dict(env)
    out["LESS"] = env.get("SYSTEMD_LESS", DEFAULT_LESS)
    out.setdefault("LESSCHARSET", "utf-8")
    if secure_mode(env, euid):
        out["LESSSECURE"] = "1"
    return out


def _start(argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, env=pager_env(env), close_fds=True)
    except OSError:  # not installed, not executable: plain output it is
        return None


@contextmanager
def paged(enabled: bool = True, env: Mapping[str, str] | None = None, fd: int = 1) -> Iterator[bool]:
    """Run the body with ``fd`` going to a pager when ``fd`` is a terminal and paging is on.

    Yields whether a pager runs. On leaving, the pager gets end-of-file and is waited
    for (the person reads at their pace); output it did not want (it quit early) is
    dropped rather than spilled onto the terminal.
    """
    env = os.environ if env is None else env
    argv = pager_argv(env) if enabled else None
    proc = _start(argv, env) if argv and os.isatty(fd) else None
    if proc is None:
        yield False
        return
    assert proc.stdin is not None
    sys.stdout.flush()
    saved = os.dup(fd)
    os.dup2(proc.stdin.fileno(), fd)
    proc.stdin.close()
    try:
        yield True
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # the pager quit: what is left in the buffer goes nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            try:
                sys.stdout.flush()
            except OSError:
                pass
        os.dup2(saved, fd)  # closes the pipe: the pager sees end-of-file
        os.close(saved)
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt:  # ^C belongs to the pager (less -K quits on it)
                continue
