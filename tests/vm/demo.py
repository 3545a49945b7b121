"""The README demo: build crashd, boot a Debian 12 VM, crash its kernel, show the captured crash.

Run through ``tests/vm/demo`` (which installs the host packages first). Prints one progress line
per phase with the seconds elapsed since the start, then ``crashd show`` of the record the guest
made and the tail of the crashed kernel's log.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tests.vm.lab import Lab, Run, build_deb, kdump_cmdline, work_dir
from tests.vm.qemu import VmError
from tests.vm.timeline import kdump_cycle

T0 = time.monotonic()


def progress(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.0f} s] {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--crashkernel", default="256M", help="reservation on the guest command line (default 256M)")
    parser.add_argument("--work", type=Path, default=work_dir() / "demo", help="where images and logs go")
    args = parser.parse_args(argv)

    lab = Lab(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    progress("building crashd .deb (packaging/build-deb)")
    deb = build_deb(args.work / "deb")
    progress(f"built {deb.name}; guest image: Debian 12 base (cached after the first run, ~2 min cold)")
    lab.prepare(deb)
    progress("guest image ready; booting the VM under QEMU (TCG, 1 GiB, crashkernel=" f"{args.crashkernel})")

    name = "vm"
    img = lab.scenario(name, {"SCENARIO": "kdump", "MAX_BOOTS": "2"})
    run = Run(lab, name, img, lab.guest(name, img, kdump_cmdline(args.crashkernel)).start())
    try:
        with run.guest:
            run.expect(r"^VMTEST: boot 1 ", 300)
            progress("guest is up (multi-user); waiting for crashd.service to arm the capture kernel")
            armed = run.expect(r"^VMTEST: armed", 420)
            progress(f"armed: {run.guest.lines[armed].text.split(': ', 2)[-1]}")
            progress("crashing the kernel: echo c > /proc/sysrq-trigger")
            panic = run.expect(r"Kernel panic - not syncing: sysrq triggered crash", 120)
            progress("kernel panicked; waiting for the capture kernel")
            capture = run.expect(r"Linux version \S+", 90, after=panic + 1)
            progress("capture kernel booting (crashd-capture.target)")
            saved = run.expect(r"crashd save: .*done|^VMTEST: boot 2 ", 600, after=capture)
            if "crashd save" in run.guest.lines[saved].text:
                progress(run.guest.lines[saved].text.strip())
            back = run.expect(r"^VMTEST: boot 2 ", 600, after=capture)
            progress("rebooted into the normal system; crashd-ingest is making the record")
            run.expect(r"^VMTEST: ingest ", 300, after=back)
            outcome = run.finish()
    except VmError as exc:
        print(exc, file=sys.stderr)
        progress(f"FAILED; full console log: {run.guest.log_path}")
        return 1
    progress("guest powered off; reading /var/lib/crash back from its disk")
    cycle = kdump_cycle(run.guest.lines)
    if cycle:
        progress(f"downtime: {cycle.describe()}")
    records = outcome.records()
    if not records:
        print(outcome.explain(), file=sys.stderr)
        progress(f"FAILED: no crash record; console log: {run.guest.log_path}")
        return 1
    rec = records[-1]["name"]
    print(f"\n$ crashd show {rec}")
    print(outcome.text(f"show-{rec}.txt").rstrip())
    print(f"\n$ crashd dmesg {rec} | tail -n 40")
    print(outcome.text(f"dmesg-tail-{rec}.txt").rstrip())
    print()
    progress(f"done; console log {run.guest.log_path}, record in {outcome.out / 'crash' / rec}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
