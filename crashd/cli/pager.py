"""The pager, as systemd's tools start one: only on a terminal, and only when wanted.

``$SYSTEMD_PAGER``, else ``$PAGER``, else ``less``; a value that is empty or ``cat``
means no pager, and ``--no-pager`` too. The value is split with :func:`shlex.split`
and run as an argv — never through a shell (a configured value reaches no shell
anywhere in crashd). ``less`` gets ``LESS=$SYSTEMD_LESS`` or systemd's ``FRSXMK``:
quit when the text fits one screen (F), keep colours (R), chop long lines (S),
leave the text on the screen (X), a long prompt (M), quit on ^C (K).
A pager that cannot be started leaves the output plain, on the terminal.

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

__all__ = ["DEFAULT_LESS", "pager_argv", "pager_env", "paged"]

DEFAULT_LESS = "FRSXMK"


def pager_argv(env: Mapping[str, str]) -> list[str] | None:
    """The pager's argv under ``env``; None when paging is off (empty, ``cat``, unparsable)."""
    value = env.get("SYSTEMD_PAGER")
    if value is None:
        value = env.get("PAGER")
    if value is None:
        return ["less"]
    try:
        argv = shlex.split(value)
    except ValueError:  # an unbalanced quote: as if unset would surprise; plain output
        return None
    if not argv or argv == ["cat"] or os.path.basename(argv[0]) == "cat" and len(argv) == 1:
        return None
    return argv


def pager_env(env: Mapping[str, str]) -> dict[str, str]:
    """The pager's environment: ``LESS`` as systemd sets it (``$SYSTEMD_LESS`` or FRSXMK)."""
    out = dict(env)
    out["LESS"] = env.get("SYSTEMD_LESS", DEFAULT_LESS)
    out.setdefault("LESSCHARSET", "utf-8")
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
