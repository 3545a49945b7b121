"""The oops test module (``oopsmod/crashd_oops.c``) built for a guest architecture's kernel.

``build_module(arch)`` returns ``crashd_oops.ko`` for the kernel in that architecture's base
image (:func:`tests.vm.image.build_base`), with debug info (``-g``: a PC maps to
``crashd_oops.c:line``). It is built once and cached in ``$CRASHD_VM_CACHE`` under a name made of
the base's key and a hash of the module's sources and of this recipe.

How: cross-built on the host, as Debian's own kernel packages are. The guest kernel's
``linux-headers-<release>`` (the guest's architecture), its ``-common`` headers and the host's
``linux-kbuild`` of the same version are fetched by ``apt-get download`` from the host's apt
sources (a private apt state, so the host's dpkg and apt lists stay as they are) and unpacked with
``dpkg-deb -x``; Kbuild then runs with Debian's cross compiler of the same gcc (``gcc-12-<triplet>``,
which ``tests/run`` installs). Nothing runs under qemu-user: an earlier recipe that installed the
headers and gcc in a chroot of the base took 300–600 s on armhf, this one a few seconds plus the
downloads (about 14 MB). The base and the guest images stay as they are.

Run as a script to build (or reuse) it and print the path:
``python3 -m tests.vm.oopsmod --arch armhf``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from tests.vm.image import ARCHES, base_key, cache_root

__all__ = ["CROSS_COMPILE", "MODULE", "SOURCES", "LAST_BUILD_SECONDS", "build_module", "cached_base", "main",
           "module_key"]

SOURCES = Path(__file__).resolve().parent / "oopsmod"
MODULE = "crashd_oops.ko"
# Debian architecture -> the GNU triplet prefix of Debian's cross compilers (none on its own host)
CROSS_COMPILE = {"amd64": "x86_64-linux-gnu-", "armhf": "arm-linux-gnueabihf-", "arm64": "aarch64-linux-gnu-"}
_HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}.get(platform.machine(), platform.machine())
# arch -> seconds the last build in this process took (absent when the cached module was used)
LAST_BUILD_SECONDS: dict[str, float] = {}
# Part of the cache key: a change to how the module is built makes a new one.
_RECIPE = "cross: apt-get download linux-headers-REL:ARCH + -common + linux-kbuild:HOST; make M= CROSS_COMPILE= v2"


def _log(msg: str) -> None:
    print(f"[vm-oopsmod] {msg}", file=sys.stderr, flush=True)


def module_key(base: Path, sources: Path = SOURCES) -> str:
    """The base's cache directory name (architecture and input hash) plus a hash of the sources."""
    h = hashlib.sha256(_RECIPE.encode())
    for src in sorted(sources.iterdir()):
        if src.is_file():
            h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    return f"{base.parent.name}-{h.hexdigest()[:12]}"


def _release(base: Path) -> str:
    """The kernel release of the base image (its newest ``boot/vmlinuz-*``), read from the tar's index."""
    with tarfile.open(base) as tar:
        kernels = sorted(n.rsplit("/", 1)[-1] for n in tar.getnames() if n.rsplit("/", 1)[-1].startswith("vmlinuz-"))
    if not kernels:
        raise RuntimeError(f"no kernel under boot/ in {base}")
    return kernels[-1].removeprefix("vmlinuz-")


def _apt(work: Path, arch: str, *args: str, log: Path, cwd: Path | None = None) -> None:
    """apt-get with a private state and cache under ``work``: the host's sources and proxy, the
    guest's architecture beside the host's, and nothing of the host's apt state changed."""
    state, cache = work / "apt-state", work / "apt-cache"
    for d in (state / "lists" / "partial", cache / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    opts = [f"-oDir::State={state}", f"-oDir::Cache={cache}", "-oDir::State::status=/var/lib/dpkg/status",
            f"-oAPT::Architecture={_HOST_ARCH}", f"-oAPT::Architectures::={_HOST_ARCH}",
            f"-oAPT::Architectures::={arch}", "-oAPT::Sandbox::User=root", "-q"]
    with log.open("a") as f:
        f.write(f"$ apt-get {' '.join(args)}\n")
        f.flush()
        res = subprocess.run(["apt-get", *opts, *args], cwd=cwd or work, stdout=f, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise RuntimeError(f"apt-get {' '.join(args)} failed (exit {res.returncode}); see {log}")


def _field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], check=True, capture_output=True, text=True).stdout.strip()


def _headers_tree(work: Path, arch: str, release: str, log: Path) -> Path:
    """The kernel's headers and the host's kbuild, unpacked in ``work/tree``; returns the
    ``linux-headers-<release>`` directory, its Makefile pointed at the unpacked ``-common``."""
    debs = work / "debs"
    debs.mkdir()
    _apt(work, arch, "update", log=log)
    _apt(work, arch, "download", f"linux-headers-{release}:{arch}", log=log, cwd=debs)
    (flavour,) = debs.glob("*.deb")
    version = _field(flavour, "Version")
    wanted = [d.strip().split(" ", 1)[0] for d in _field(flavour, "Depends").split(",")]
    common = [n for n in wanted if n.startswith("linux-headers-")]
    kbuild = [n for n in wanted if n.startswith("linux-kbuild-")]
    if len(common) != 1 or len(kbuild) != 1:
        raise RuntimeError(f"{flavour.name}: Depends {wanted} names no single -common headers and kbuild")
    _apt(work, arch, "download", f"{common[0]}={version}", f"{kbuild[0]}:{_HOST_ARCH}={version}", log=log,
         cwd=debs)
    tree = work / "tree"
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    headers = tree / "usr" / "src" / f"linux-headers-{release}"
    makefile = headers / "Makefile"  # "include /usr/src/linux-headers-<abi>-common/Makefile"
    makefile.write_text(makefile.read_text().replace("/usr/src/", f"{tree}/usr/src/"))
    return headers


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
        log.write_text("")
        release = _release(base)
        _log(f"building {MODULE} for {arch} ({release}) against its kernel headers (log: {log})")
        cross = "" if arch == _HOST_ARCH else CROSS_COMPILE[arch]
        if cross and shutil.which(f"{cross}gcc-12") is None:
            raise RuntimeError(f"no {cross}gcc-12: install gcc-12-{cross.rstrip('-')} (tests/run does)")
        with tempfile.TemporaryDirectory(prefix="oopsmod-build-", dir=out_dir) as tmp:
            work = Path(tmp)
            headers = _headers_tree(work, arch, release, log)
            _log(f"headers fetched and unpacked in {time.monotonic() - start:.0f} s")
            src = work / "oopsmod"
            shutil.copytree(SOURCES, src)
            with log.open("a") as f:
                res = subprocess.run(["make", "-C", str(headers), f"M={src}", f"CROSS_COMPILE={cross}", "modules"],
                                     stdout=f, stderr=subprocess.STDOUT)
            if res.returncode != 0:
                tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-30:])
                raise RuntimeError(f"building {MODULE} for {arch} ({release}) failed, exit {res.returncode}:\n{tail}")
            built = src / MODULE
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
