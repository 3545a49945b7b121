"""The guest kernel's debug vmlinux, for the VM tests of ``crashd debug`` and ``crashd analyze``.

Debian ships it in ``linux-image-<release>-dbg`` (about 860 MB, mostly module debug info). It is
downloaded once with ``apt-get download`` from the host's apt sources (the same sources the guest
kernel came from) and only ``usr/lib/debug/boot/vmlinux-<release>`` (about 630 MB) is kept, under
``$CRASHD_VM_CACHE/debuginfo-<release>/``. The .deb itself is deleted.

Run as a script to fetch (or reuse) it and print its path and the download time:
``python3 -m tests.vm.debuginfo 6.1.0-57-amd64``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.vm.image import cache_root

__all__ = ["cached_vmlinux", "fetch_vmlinux"]


def _log(msg: str) -> None:
    print(f"[vm-debuginfo] {msg}", file=sys.stderr, flush=True)


def cached_vmlinux(release: str) -> Path:
    return cache_root() / f"debuginfo-{release}" / f"vmlinux-{release}"


def fetch_vmlinux(release: str) -> Path:
    """Return the cached debug vmlinux of ``release``, downloading its -dbg package when missing."""
    dest = cached_vmlinux(release)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    package = f"linux-image-{release}-dbg"
    member = f"./usr/lib/debug/boot/vmlinux-{release}"
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        start = time.monotonic()
        res = subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"apt-get download {package} failed: {res.stderr.strip()[-2000:]}")
        downloaded = time.monotonic() - start
        (deb,) = Path(tmp).glob("*.deb")
        _log(f"downloaded {deb.name} ({deb.stat().st_size / 1e6:.0f} MB) in {downloaded:.0f} s")
        out = Path(tmp) / "tree"
        out.mkdir()
        fsys = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "-C", str(out), member], stdin=fsys.stdout, capture_output=True)
        assert fsys.stdout is not None
        fsys.stdout.close()
        if fsys.wait() != 0 or tar.returncode != 0:
            raise RuntimeError(f"extracting {member} from {deb.name} failed: {tar.stderr.decode(errors='replace')}")
        deb.unlink()
        extracted = out / member
        os.replace(extracted, dest)
        _log(f"kept {dest} ({dest.stat().st_size / 1e6:.0f} MB) after {time.monotonic() - start:.0f} s in all")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", help="kernel release, e.g. 6.1.0-57-amd64")
    args = parser.parse_args(argv)
    print(fetch_vmlinux(args.release))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
