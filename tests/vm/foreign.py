"""Debian tools of another architecture, run on the host under qemu-user.

The host's ``crash`` reads x86 dumps only; an arm64 dump needs arm64's ``crash``. Rather
than add it to the guest image (a bigger base for every scenario), ``mmdebstrap
--variant=extract`` unpacks the package and its dependencies (no maintainer scripts run)
into a tree cached next to the base images, keyed by the same inputs (suite, architecture,
the host's apt sources and options), and ``qemu-<arch>-static -L TREE`` runs it there.
Measured: built in 16 s, 77 MB, ``crash --version`` 0.6 s.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.vm.image import SUITE, cache_root, host_apt_options, host_apt_sources

__all__ = ["QEMU_USER", "foreign_tree", "run_foreign"]

# Debian architecture -> the qemu-user binary (qemu-user-static) that runs its programs
QEMU_USER = {"arm64": "qemu-aarch64-static", "armhf": "qemu-arm-static"}


def _key(arch: str, packages: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for part in (SUITE, arch, "extract", *sorted(packages), *(p.read_text(errors="replace") for p in host_apt_sources()),
                 *host_apt_options()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def foreign_tree(arch: str, packages: tuple[str, ...]) -> Path:
    """A directory holding ``packages`` of ``arch`` and their dependencies, unpacked (cached)."""
    out = cache_root() / f"extract-{arch}-{'-'.join(packages)}-{_key(arch, packages)}"
    if (out / "usr").is_dir():
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    argv = ["mmdebstrap", "--variant=extract", "--mode=root", "--format=directory", f"--architectures={arch}",
            "--include=" + ",".join(packages), *(f"--aptopt={o}" for o in host_apt_options()),
            SUITE, str(partial), *(str(p) for p in host_apt_sources())]
    subprocess.run(argv, check=True, capture_output=True)
    os.replace(partial, out)
    return out


def run_foreign(arch: str, tree: Path, program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``program`` (a path inside ``tree``) with ``args``, under qemu-user with ``tree`` as its root for libraries."""
    qemu = shutil.which(QEMU_USER[arch])
    if qemu is None:
        raise FileNotFoundError(f"{QEMU_USER[arch]} is missing (tests/run installs qemu-user-static)")
    return subprocess.run([qemu, "-L", str(tree), str(tree / program.lstrip("/")), *args],
                          capture_output=True, text=True, timeout=timeout)
