"""The oops test module (``oopsmod/crashd_oops.c``) built for a guest architecture's kernel.

``build_module(arch)`` returns ``crashd_oops.ko`` for the kernel in that architecture's base
image (:func:`tests.vm.image.build_base`), with debug info (``-g``: a PC maps to
``crashd_oops.c:line``). It is built once and cached in ``$CRASHD_VM_CACHE`` under a name made of
the base's key and a hash of the module's sources and of this recipe.

How: the base is unpacked into a scratch tree, the kernel's own ``linux-headers-<release>``
(and the compiler it names) installed there by apt from the host's sources, and Kbuild run in
the tree by chroot — natively on amd64, under qemu-user (binfmt_misc) on armhf and arm64. The
base and the guest images stay as they are (no compiler or headers in them, no new base key);
the cost is paid once per kernel release and module source: see :data:`LAST_BUILD_SECONDS`.

Run as a script to build (or reuse) it and print the path:
``python3 -m tests.vm.oopsmod --arch armhf``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.vm.image import ARCHES, base_key, cache_root, host_apt_options

__all__ = ["KBUILD_ARCH", "MODULE", "SOURCES", "LAST_BUILD_SECONDS", "build_module", "cached_base", "main", "module_key"]

SOURCES = Path(__file__).resolve().parent / "oopsmod"
MODULE = "crashd_oops.ko"
# Debian architecture -> the kernel's ARCH= (Kbuild would guess it from uname -m under qemu-user too)
KBUILD_ARCH = {"amd64": "x86", "armhf": "arm", "arm64": "arm64"}
# arch -> seconds the last build in this process took (absent when the cached module was used)
LAST_BUILD_SECONDS: dict[str, float] = {}

# The in-tree recipe, part of the cache key: $1 release, $2 ARCH.
_RECIPE = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q -o APT::Update::Error-Mode=any
apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-unsafe-io "linux-headers-$1" make
make -C "/usr/src/linux-headers-$1" M=/tmp/oopsmod ARCH="$2" modules
"""


def _log(msg: str) -> None:
    print(f"[vm-oopsmod] {msg}", file=sys.stderr, flush=True)


def module_key(base: Path, sources: Path = SOURCES) -> str:
    """The base's cache directory name (architecture and input hash) plus a hash of the sources."""
    h = hashlib.sha256(_RECIPE.encode())
    for src in sorted(sources.iterdir()):
        if src.is_file():
            h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    return f"{base.parent.name}-{h.hexdigest()[:12]}"


def _release(tree: Path) -> str:
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise RuntimeError(f"no kernel under {tree}/boot")
    return kernels[-1].name.removeprefix("vmlinuz-")


def _check(ko: Path, release: str, log: Path) -> None:
    """The module is for this kernel (vermagic) and has debug info."""
    data = ko.read_bytes()
    at = data.find(b"\0vermagic=") + 1  # the .modinfo string modinfo -F vermagic prints
    vermagic = data[at + len("vermagic="):data.find(b"\0", at)].decode(errors="replace") if at else ""
    if not vermagic.startswith(release + " "):
        raise RuntimeError(f"{ko}: vermagic {vermagic!r} is not for {release} (see {log})")
    sections = subprocess.run(["readelf", "-S", "-W", str(ko)], capture_output=True, text=True, check=True).stdout
    if ".debug_info" not in sections:
        raise RuntimeError(f"{ko}: no .debug_info section (see {log})")


def cached_base(arch: str) -> Path:
    """The base tarball :func:`tests.vm.image.build_base` made for ``arch``; never builds one (a
    base built concurrently with another build of it would clobber its partial file)."""
    tarball = cache_root() / f"{arch}-{base_key(ARCHES[arch])}" / "base.tar"
    if not tarball.is_file():
        raise RuntimeError(f"no {arch} base image at {tarball}: build it first (python3 -m tests.vm.image --arch {arch})")
    return tarball


def build_module(arch: str = "amd64", *, base: Path | None = None) -> Path:
    """``crashd_oops.ko`` for the kernel of ``arch``'s base image (``base``: that tarball; default
    the cached one, which must exist)."""
    base = base or cached_base(arch)
    out_dir = cache_root() / f"oopsmod-{module_key(base)}"
    ko = out_dir / MODULE
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session building the same module: wait for it
        if ko.is_file():
            _log(f"module cached: {ko}")
            return ko
        start = time.monotonic()
        log = out_dir / "build.log"
        _log(f"building {MODULE} for {arch} against its kernel headers (log: {log})")
        with tempfile.TemporaryDirectory(prefix="oopsmod-tree-", dir=out_dir) as tmp:
            tree = Path(tmp) / "root"
            tree.mkdir()
            # Not the kernel's modules (60 % of the base; Kbuild needs only the headers package)
            subprocess.run(["tar", "-C", str(tree), "--numeric-owner", "--exclude=./usr/lib/modules/*",
                            "-xpf", str(base)], check=True)
            _log(f"base unpacked in {time.monotonic() - start:.0f} s")
            release = _release(tree)
            # apt in the tree as on the host: its name server and its proxy/snapshot options
            if Path("/etc/resolv.conf").exists():
                (tree / "etc/resolv.conf").unlink(missing_ok=True)
                shutil.copyfile("/etc/resolv.conf", tree / "etc/resolv.conf")
            (tree / "etc/apt/apt.conf.d/99crashd-host").write_text("".join(f"{o}\n" for o in host_apt_options()))
            shutil.copytree(SOURCES, tree / "tmp/oopsmod")
            (tree / "tmp/oopsmod.sh").write_text(_RECIPE)
            with log.open("w") as f:
                res = subprocess.run(["chroot", str(tree), "sh", "/tmp/oopsmod.sh", release, KBUILD_ARCH[arch]],
                                     stdout=f, stderr=subprocess.STDOUT)
            if res.returncode != 0:
                tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-30:])
                raise RuntimeError(f"building {MODULE} for {arch} ({release}) failed, exit {res.returncode}:\n{tail}")
            _log(f"headers installed and module built in {time.monotonic() - start:.0f} s")
            built = tree / "tmp/oopsmod" / MODULE
            _check(built, release, log)
            partial = out_dir / f"{MODULE}.partial"
            shutil.copyfile(built, partial)
            os.replace(partial, ko)
    LAST_BUILD_SECONDS[arch] = time.monotonic() - start
    _log(f"{MODULE} for {arch} ({release}) built in {LAST_BUILD_SECONDS[arch]:.0f} s: {ko}")
    return ko


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arch", choices=sorted(ARCHES), default="amd64", help="guest architecture")
    args = parser.parse_args(argv)
    print(build_module(args.arch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
