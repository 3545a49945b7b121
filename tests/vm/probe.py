"""Run a shell script as root inside the test guest (after multi-user.target) and print its output.

A development tool for finding out how the real kernel and systemd behave:
``python3 -m tests.vm.probe script.sh [--crashkernel 256M] [--append "..."] [--fresh]``.
Reuses the session image under ``$CRASHD_VM_WORK/probe`` unless ``--fresh`` (rebuild with the
current checkout's .deb).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.vm.image import GuestImage
from tests.vm.lab import Lab, Run, build_deb, kdump_cmdline, work_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("script", type=Path)
    parser.add_argument("--crashkernel", default="256M")
    parser.add_argument("--append", default="", help="more kernel command line")
    parser.add_argument("--fresh", action="store_true", help="rebuild the .deb and the image")
    args = parser.parse_args(argv)
    lab = Lab(work_dir() / "probe")
    image_dir = lab.root / "image"
    disk = image_dir / "disk.img"
    if args.fresh or not disk.exists():
        lab.prepare(build_deb(lab.root / "deb"))
    else:
        kernel = sorted(image_dir.glob("vmlinuz-*"))[-1]
        release = kernel.name.removeprefix("vmlinuz-")
        lab.image = GuestImage(disk, kernel, image_dir / f"initrd.img-{release}", release)
    img = lab.scenario("run", {"SCENARIO": "probe", "MAX_BOOTS": "1"},
                       {"/etc/crashd-vmtest/probe.sh": args.script.read_text()})
    cmdline = f"{kdump_cmdline(args.crashkernel)} {args.append}".strip()
    run = Run(lab, "run", img, lab.guest("run", img, cmdline).start())
    with run.guest:
        outcome = run.finish(600)
    print(outcome.text("probe.txt"))
    print(f"(console: {run.guest.log_path})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
