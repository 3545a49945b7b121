"""The VM lab: build the .deb and the session image once, then run scenarios on copies of it.

A scenario is: a sparse copy of the session image, a ``/etc/crashd-vmtest/scenario`` file for
the in-guest driver (``guest/crashd-vmtest``) plus any other files, one QEMU process (or more,
for the power cut), and afterwards the driver's results and ``/var/lib/crash`` read back from
the disk with debugfs. Shared by the pytest fixtures (conftest.py) and ``tests/vm/demo``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.vm.image import ARCHES, GuestImage, build_base, build_image, put_files, read_tree
from tests.vm.qemu import Guest, Line

REPO = Path(__file__).resolve().parents[2]

ARMED_ID = "1de598f008a14b4e863f8259561afd15"
RECORD_CREATED_ID = "20d9dc82fb064078a23fd9e674048009"

# ramoops in a reserved 1 MiB at 256 MiB (vm-lab.md): outside any crashkernel reservation.
RAMOOPS_CMDLINE = (
    "memmap=1M$0x10000000 ramoops.mem_address=0x10000000 ramoops.mem_size=0x100000 "
    "ramoops.record_size=0x10000 ramoops.console_size=0x10000 ramoops.ecc=1"
)


def work_dir() -> Path:
    return Path(os.environ.get("CRASHD_VM_WORK", REPO / "tests" / "vm" / ".work"))


def build_deb(out: Path) -> Path:
    """packaging/build-deb into ``out``; ``CRASHD_VM_PLACEHOLDERS=1`` allows missing units.

    ``CRASHD_VM_DEB=path``: test that .deb instead (e.g. one built from a clean ``git archive``
    while the working tree is mid-edit)."""
    given = os.environ.get("CRASHD_VM_DEB")
    if given:
        return Path(given).resolve()
    argv = [str(REPO / "packaging" / "build-deb")]
    if os.environ.get("CRASHD_VM_PLACEHOLDERS") == "1":
        argv.append("--placeholders")
    res = subprocess.run([*argv, str(out)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"packaging/build-deb failed:\n{res.stderr[-4000:]}")
    return Path(res.stdout.strip().splitlines()[-1])


@dataclass
class Outcome:
    """What a finished scenario left on its disk, read back on the host."""

    out: Path  # <out>/crashd-vmtest/..., <out>/crash/...

    @property
    def driver(self) -> Path:
        return self.out / "crashd-vmtest"

    def text(self, name: str) -> str:
        path = self.driver / "out" / name
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def result(self) -> str:
        path = self.driver / "result"
        return path.read_text().strip() if path.exists() else "(driver left no result)"

    def records(self) -> list[dict[str, Any]]:
        """``crashd list --json`` as the guest printed it."""
        rows: list[dict[str, Any]] = json.loads(self.text("list.json") or "{}").get("records", [])
        return rows

    def record_dirs(self) -> list[Path]:
        store = self.out / "crash"
        return sorted(p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")) if store.is_dir() else []

    def journal_entries(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text(name).splitlines() if line.startswith("{")]

    def explain(self) -> str:
        """Everything useful for a failure message."""
        parts = [f"driver result: {self.result}"]
        for name in ("list.err", "ingest-status.txt", "crashd-status.txt", "crashd-journal.txt", "status.txt", "spool.txt"):
            body = self.text(name).strip()
            if body:
                parts.append(f"--- {name} ---\n{body[-3000:]}")
        return "\n".join(parts)


@dataclass
class Lab:
    """One test session's images and scenario runs."""

    root: Path
    image: GuestImage | None = None  # the x86_64 (amd64) session image
    timings: dict[str, float] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    deb: Path | None = None
    arch_images: dict[str, GuestImage] = field(default_factory=dict)

    def prepare(self, deb: Path | None, *, eager: bool = True) -> None:
        """The .deb every guest installs (Architecture: all); with ``eager``, the x86_64 session
        image now (otherwise on first use, so that a run of only the ARM tests never builds it)."""
        self.deb = deb
        if eager:
            self.image_for("amd64")

    def image_for(self, arch: str) -> GuestImage:
        """The session image of one guest architecture, built (and its base) on first use."""
        if arch in self.arch_images:
            return self.arch_images[arch]
        if arch == "amd64" and self.image is not None:  # set by hand (tests/vm/probe)
            return self.image
        suffix = "" if arch == "amd64" else f" ({arch})"
        t0 = time.monotonic()
        base = build_base(arch=ARCHES[arch])
        self.timings[f"base image{suffix} (cached or built)"] = time.monotonic() - t0
        t1 = time.monotonic()
        out = self.root / ("image" if arch == "amd64" else f"image-{arch}")
        image = build_image(out, self.deb, base=base, arch=ARCHES[arch])
        self.timings[f"session image{suffix} (.deb installed)"] = time.monotonic() - t1
        self.arch_images[arch] = image
        if arch == "amd64":
            self.image = image
        return image

    def image_with(self, name: str, packages: tuple[str, ...]) -> GuestImage:
        """An x86_64 session image on a base with more packages (``name``: its directory, built once)."""
        if name in self.arch_images:
            return self.arch_images[name]
        t0 = time.monotonic()
        base = build_base(packages)
        self.timings[f"base image ({name}, cached or built)"] = time.monotonic() - t0
        t1 = time.monotonic()
        image = build_image(self.root / f"image-{name}", self.deb, base=base)
        self.timings[f"session image ({name}, .deb installed)"] = time.monotonic() - t1
        self.arch_images[name] = image
        return image

    def scenario(
        self,
        name: str,
        settings: Mapping[str, str],
        files: Mapping[str, str | bytes] | None = None,
        image: GuestImage | None = None,
    ) -> GuestImage:
        """A fresh copy of the session image (or ``image``) set up for one scenario."""
        source = image or self.image or self.image_for("amd64")
        d = self.root / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        img = source.copy(d / "disk.img")
        body = "".join(f"{k}={shlex.quote(v)}\n" for k, v in settings.items())
        put_files(img.disk, {"/etc/crashd-vmtest/scenario": body, **(files or {})})
        return img

    def guest(self, name: str, img: GuestImage, cmdline: str, **kw: Any) -> Guest:
        return Guest(img, cmdline, self.root / name / "console.log", **kw)

    def outcome(self, name: str, img: GuestImage) -> Outcome:
        out = self.root / name / "out"
        if out.exists():
            shutil.rmtree(out)
        read_tree(img.disk, "/var/lib/crashd-vmtest", out)
        read_tree(img.disk, "/var/lib/crash", out)
        return Outcome(out)

    def discard(self, name: str) -> None:
        """Drop a passed scenario's disk (hundreds of MiB); keep its console log and results."""
        (self.root / name / "disk.img").unlink(missing_ok=True)


def console_lines(log: Path) -> list[Line]:
    """Re-read a console.log written by Guest (for tools that analyse a past run)."""
    lines = []
    with log.open(newline="\n", errors="replace") as f:
        for raw in f:
            if raw.startswith("###"):
                continue
            t, _, text = raw.rstrip("\n").partition(" | ")
            lines.append(Line(float(t), text))
    return lines


def scale() -> float:
    """``CRASHD_VM_TIMEOUT_SCALE`` stretches every timeout (slow or loaded machines)."""
    return float(os.environ.get("CRASHD_VM_TIMEOUT_SCALE", "1"))


class ScenarioFailed(AssertionError):
    pass


@dataclass
class Run:
    """A scenario in progress: its image and the QEMU process booting it."""

    lab: Lab
    name: str
    img: GuestImage
    guest: Guest

    def expect(self, pattern: str, timeout: float, *, after: int = 0) -> int:
        """Await a console line; if the driver gives up first, fail with what it left on disk."""
        i, line = self.guest.wait_for(f"{pattern}|^VMTEST: finished", timeout * scale(), after=after)
        if line.text.startswith("VMTEST: finished") and not re.search(pattern, line.text):
            self.guest.wait_exit(120)
            outcome = self.lab.outcome(self.name, self.img)
            raise ScenarioFailed(
                f"[{self.name}] guest gave up ({line.text}) while waiting for {pattern!r}\n"
                f"{outcome.explain()}\n{self.guest.tail()}"
            )
        return i

    def finish(self, timeout: float = 300) -> Outcome:
        """Wait for the driver's poweroff and read the results back."""
        self.guest.wait_exit(timeout * scale())
        return self.lab.outcome(self.name, self.img)


def kdump_cmdline(crashkernel: str, console: str = "ttyS0") -> str:
    return f"root=/dev/vda rw console={console} panic=5 crashkernel={crashkernel}"


def start_kdump(
    lab: Lab,
    name: str,
    crashkernel: str = "256M",
    files: Mapping[str, str] | None = None,
    *,
    arch: str = "amd64",
) -> Run:
    """Boot a guest that waits until crashd says armed, then crashes with sysrq-c."""
    img = lab.scenario(name, {"SCENARIO": "kdump", "MAX_BOOTS": "2"}, files, image=lab.image_for(arch))
    guest = lab.guest(name, img, kdump_cmdline(crashkernel, img.arch.console)).start()
    return Run(lab, name, img, guest)


def crash_and_capture(run: Run) -> int:
    """Armed -> panic -> capture kernel; returns the index of the capture kernel's first line."""
    run.expect(r"^VMTEST: armed", 420)
    panic = run.expect(r"Kernel panic - not syncing: sysrq triggered crash", 120)
    return run.expect(r"Linux version \S+", 90, after=panic + 1)
