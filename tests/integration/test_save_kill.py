"""kill -9 at 24 points of a save: never a directory that claims more than it has.

Each run is ``crashd save`` as a subprocess on the same target (as repeated
crashes would be). The kill points are seeded: 18 random byte offsets inside the
dump copy (``CRASHD_TEST_KILL_AT_BYTE``) and every phase boundary
(``CRASHD_TEST_KILL_AT``), so the process dies exactly there without sleeps.
After every run the whole target is checked:

- every entry is a capture directory named ``<stamp>-<bootid8>[.incomplete]``;
- a directory without ``.incomplete`` has a whole capture.json, and if that says
  ``complete`` the dump is byte-identical to the vmcore;
- an ``.incomplete`` directory killed after the dmesg phase holds the whole dmesg.txt
  (so ingest can still keep the kernel log and say the dump was interrupted).
"""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

from crashd.capture.spool import NAME_RE, SPOOL_DIR
from tests.integration.test_save import make_bin, make_root, run_save
from tests.unit.capture.elfcore import PAGE, Load, pattern, write_core

PHASES = ["dmesg", "dump", "json", "publish"]


def check_target(target: Path, vmcore: bytes) -> dict[str, int]:
    seen = {"final": 0, "incomplete": 0}
    for d in sorted(target.iterdir()):
        m = NAME_RE.match(d.name)
        assert m and d.is_dir() and not d.is_symlink(), d
        names = {p.name for p in d.iterdir()}
        assert names <= {"dmesg.txt", "vmcore", "vmcore.kdump", "capture.json"}, names
        if m.group(3):  # .incomplete: interrupted; whatever is there is only a part
            seen["incomplete"] += 1
            continue
        seen["final"] += 1
        rec = json.loads((d / "capture.json").read_text())
        assert rec["schema"] == 1
        if rec["complete"]:
            assert (d / rec["dump_file"]).read_bytes() == vmcore
        else:
            assert rec["errors"]
    return seen


def test_kill_at_random_points_never_leaves_a_false_claim(tmp_path: Path) -> None:
    paths = make_root(tmp_path, "[capture]\ncollector = copy\n")
    # 40 MiB: kills land before and after the first 32 MiB writeback window.
    write_core(paths.vmcore, [Load(40 << 20, pages=pattern(5, density=3)), Load(16 * PAGE)])
    bin_dir = make_bin(tmp_path)
    vmcore = paths.vmcore.read_bytes()
    rng = random.Random(20261127)
    points = [{"CRASHD_TEST_KILL_AT_BYTE": str(rng.randrange(0, len(vmcore)))} for _ in range(18)]
    points += [{"CRASHD_TEST_KILL_AT": phase} for phase in PHASES]
    points += [{"CRASHD_TEST_KILL_AT": "dump"}, {"CRASHD_TEST_KILL_AT_BYTE": "0"}]
    assert len(points) >= 20
    target = paths.var("crash", SPOOL_DIR)
    target.mkdir(mode=0o700)  # a private spool of an earlier capture: kept as it is
    for env in points:
        before = set(target.iterdir())
        r = run_save(paths, bin_dir, env=env)
        assert r.returncode == -signal.SIGKILL, (env, r.stdout, r.stderr)
        new = set(target.iterdir()) - before
        assert len(new) == 1, (env, new)
        d = new.pop()
        # Killed before the rename: it must still say so in its name.
        assert d.name.endswith(".incomplete"), (env, d)
        if env.get("CRASHD_TEST_KILL_AT") != "dmesg":
            assert (d / "dmesg.txt").read_text() == "fake dmesg\n"
        check_target(target, vmcore)
    # A run without a kill still succeeds next to all the debris, and is the only
    # directory that claims to be whole.
    r = run_save(paths, bin_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    seen = check_target(target, vmcore)
    assert seen == {"final": 1, "incomplete": len(points)}
