"""kill -9 at every step of an ingest: nothing is lost, the next run finishes the job once.

The ingester reports each durable step to a checkpoint hook; a forked child
SIGKILLs itself at step N (a real kill -9: no finally blocks, no flushing), the
parent checks that every pstore record and dump still exists somewhere safe,
then runs ingest to completion and checks the final store.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

from tests.unit.ingest.scenario import BOOT_CRASHED, Machine, pstore_text, sysrq_messages


def build(base: Path) -> Machine:
    m = Machine(base)
    m.last_boot(BOOT_CRASHED)
    m.capture(stamp="20261127T173600", boot=BOOT_CRASHED, messages=sysrq_messages(5.5))
    m.capture(
        stamp="20261126T120000",
        boot="3333cccc3333cccc3333cccc3333cccc",
        messages=sysrq_messages(8.0),
        crash_time=1_600_000_000,
        dump_name="vmcore.incomplete",  # an interrupted capture: the dump keeps a temp-like name
        incomplete=True,
        write_info=False,
    )
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(6.5)))  # links with the first capture
    for part in (1, 2, 3):
        text = f"Panic#1 Part{part}\n<0>[ {9 - part}.0] {'Kernel panic - not syncing: efi' if part == 1 else 'older'}\n"
        m.pstore(f"dmesg-efi-17100000000{part}001", text.encode())
    return m


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def contents(root: Path) -> set[str]:
    """Digests of every regular file below ``root``."""
    return {digest(p.read_bytes()) for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def counter() -> tuple[Callable[[str], None], list[str]]:
    steps: list[str] = []
    return steps.append, steps


def killer(at: int) -> Callable[[str], None]:
    seen = [0]

    def checkpoint(step: str) -> None:
        seen[0] += 1
        if seen[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def run_killed(m: Machine, at: int) -> int:
    pid = os.fork()
    if pid == 0:  # child: ingest until the checkpoint kills it
        try:
            m.ingest(checkpoint=killer(at))
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


def test_kill_at_every_step_loses_nothing(tmp_path: Path) -> None:
    probe = build(tmp_path / "probe")
    hook, steps = counter()
    probe.ingest(checkpoint=hook)
    expected = sorted(r.name for r in probe.records())
    assert len(steps) >= 20, steps
    assert [r.split("-")[1] for r in expected] == ["kdump", "pstore", "kdump+pstore"]

    for at in range(1, len(steps) + 1):
        m = build(tmp_path / f"kill{at}")
        pstore_before = {p.name: digest(p.read_bytes()) for p in m.paths.pstore.iterdir()}
        dumps_before = {digest(p.read_bytes()) for p in m.spool.rglob("vmcore*")}
        status = run_killed(m, at)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"step {at} ({steps[at - 1]})"

        published = set().union(*(contents(r) for r in m.records())) if m.records() else set()
        anywhere = contents(m.store) | contents(m.spool)
        for name, d in pstore_before.items():
            if not (m.paths.pstore / name).exists():
                assert d in published, f"kill at {steps[at - 1]}: {name} unlinked before it was stored"
        assert dumps_before <= anywhere, f"kill at {steps[at - 1]}: a dump vanished"

        m.ingest()  # the next boot's run finishes the job
        assert sorted(r.name for r in m.records()) == expected, f"after kill at {steps[at - 1]}"
        assert list(m.paths.pstore.iterdir()) == []
        assert list(m.spool.iterdir()) == []
        assert not [p for p in m.store.iterdir() if p.name.endswith((".incomplete", ".removing"))]
        stored = set().union(*(contents(r) for r in m.records()))
        assert set(pstore_before.values()) <= stored and dumps_before <= stored
        for rec in m.records():  # every file matches its recorded digest
            meta = m.metadata(rec)
            for rel, info in meta["files"].items():
                assert digest((rec / rel).read_bytes()) == info["sha256"], (at, rel)
