"""Finding the debug vmlinux (and module debug files) of a crashed kernel.

The dump says which kernel crashed: its ``OSRELEASE`` and, since Linux 5.9 (commit 0935288c6e00
"kdump: append kernel build-id string to VMCOREINFO"), its ``BUILD-ID``. Candidates are tried in
this order, in each base directory (``--debuginfo DIR``, then ``[analyze] debuginfo_dirs``, then
``/usr/lib/debug``):

1. ``.build-id/xx/yyyy.debug`` (the build id's first byte, then the rest),
2. ``boot/vmlinux-<release>`` (Debian's ``linux-image-<release>-dbg``),
3. ``lib/modules/<release>/vmlinux`` (Fedora's ``kernel-debuginfo``),
4. ``vmlinux-<release>`` (a flat directory, e.g. one given with ``--debuginfo``),

and then ``debuginfod-find debuginfo BUILD-ID`` when ``$DEBUGINFOD_URLS`` is set and the caller
allows the network. Every candidate's own build id (its ``NT_GNU_BUILD_ID`` note) is compared
with the dump's: a mismatch is refused and named in the error, never used. When the dump has no
build id (older kernels) a candidate matched by release only is used and said to be unverified.
Module debug files are looked up under ``lib/modules/<release>`` of the same bases.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crashd.analyze.buildid import read_build_id
from crashd.core.errors import CrashdError, ToolError
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner

__all__ = [
    "DEBUGINFOD_TIMEOUT",
    "DebugInfo",
    "KernelId",
    "NoDebugInfo",
    "Rejected",
    "find_debuginfo",
    "package_hint",
]

DEBUGINFOD_TIMEOUT = 600.0  # a debug vmlinux is hundreds of MB


@dataclass(frozen=True)
class KernelId:
    """Which kernel crashed, as the dump says."""

    release: str | None
    build_id: str | None  # lower-case hex, None when the dump does not carry it
    machine: str | None = None


@dataclass(frozen=True)
class Rejected:
    """A candidate looked at and refused."""

    path: str  # host spelling
    reason: str


@dataclass(frozen=True)
class DebugInfo:
    """The debug vmlinux found for a kernel."""

    vmlinux: Path
    how: str  # which rule found it, for a person
    verified: bool  # its build id equals the dump's
    modules_dir: Path | None = None  # lib/modules/<release> of a base that has one
    rejected: tuple[Rejected, ...] = ()

    def module_file(self, name: str) -> Path | None:
        """The debug file of module ``name`` (``-`` and ``_`` are one), or None."""
        if self.modules_dir is None:
            return None
        return _module_index(self.modules_dir).get(name.replace("-", "_"))


_INDEX_CACHE: dict[Path, dict[str, Path]] = {}


def _module_index(top: Path) -> dict[str, Path]:
    if top not in _INDEX_CACHE:
        index: dict[str, Path] = {}
        for dirpath, _dirs, files in os.walk(top):  # os.walk does not follow symlinked directories
            for fn in files:
                for suffix in (".ko", ".ko.debug"):
                    if fn.endswith(suffix):
                        index.setdefault(fn[: -len(suffix)].replace("-", "_"), Path(dirpath) / fn)
        _INDEX_CACHE[top] = index
    return _INDEX_CACHE[top]


class NoDebugInfo(CrashdError):
    """No usable debug vmlinux: carries what would enable one (exit status 3, not applicable)."""

    exit_code = 3

    def __init__(self, kernel: KernelId, hint: str, rejected: Sequence[Rejected] = ()):
        self.kernel = kernel
        self.hint = hint
        self.rejected = tuple(rejected)
        what = f"kernel {kernel.release or 'of unknown release'}"
        if kernel.build_id:
            what += f", build id {kernel.build_id}"
        lines = [f"no debug info for {what}: install {hint}"]
        lines += [f"refused {r.path}: {r.reason}" for r in self.rejected]
        super().__init__("\n".join(lines))


def _os_release(paths: HostPaths) -> dict[str, str]:
    out: dict[str, str] = {}
    for candidate in (paths.etc("os-release"), paths.host("/usr/lib/os-release")):
        try:
            text = candidate.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                out[key.strip()] = value.strip().strip('"')
        break
    return out


def package_hint(paths: HostPaths, kernel: KernelId) -> str:
    """What to install for this kernel's debug info, in this host's distribution's words."""
    rel = kernel.release
    osr = _os_release(paths)
    family = {osr.get("ID", ""), *osr.get("ID_LIKE", "").split()}
    if rel and "ubuntu" in family:
        return f"linux-image-unsigned-{rel}-dbgsym (from ddebs.ubuntu.com)"
    if rel and "debian" in family:
        return f"linux-image-{rel}-dbg"
    if rel and family & {"fedora", "rhel", "centos"}:
        return f"kernel-debuginfo-{rel} (dnf debuginfo-install kernel-{rel})"
    if kernel.build_id:
        return f"the debug vmlinux with build id {kernel.build_id}"
    return f"the debug vmlinux of {rel or 'the crashed kernel'}"


@dataclass
class _Search:
    paths: HostPaths
    kernel: KernelId
    rejected: list[Rejected] = field(default_factory=list)

    def check(self, path: Path, how: str) -> DebugInfo | None:
        try:
            if not path.is_file():
                return None
        except OSError:
            return None
        shown = self.paths.unhost(path)
        try:
            found = read_build_id(path)
        except CrashdError as exc:
            self.rejected.append(Rejected(shown, str(exc).removeprefix(f"{path}: ")))
            return None
        want = self.kernel.build_id
        if want and found != want:
            self.rejected.append(Rejected(shown, f"build id {found or 'missing'}, the dump's kernel has {want}"))
            return None
        return DebugInfo(path, how, verified=bool(want))


def find_debuginfo(
    paths: HostPaths,
    kernel: KernelId,
    *,
    dirs: Sequence[str] = (),
    extra: Sequence[Path] = (),
    tools: ToolRunner | None = None,
    network: bool = False,
    env: Mapping[str, str] | None = None,
) -> DebugInfo:
    """The debug vmlinux of ``kernel`` (see the module docstring for the order).

    ``extra``: directories given on the command line (real paths, searched first); ``dirs``:
    ``[analyze] debuginfo_dirs`` (host paths, under the root); ``network``: may ask debuginfod.
    Raises :class:`NoDebugInfo` naming the package and every refused candidate."""
    search = _Search(paths, kernel)
    bases = [*extra, *(paths.host(d) for d in dirs), paths.host("/usr/lib/debug")]
    rel, bid = kernel.release, kernel.build_id
    modules_dir = None
    if rel:
        modules_dir = next((b / "lib" / "modules" / rel for b in bases if (b / "lib" / "modules" / rel).is_dir()), None)
    for base in bases:
        names: list[tuple[Path, str]] = []
        if bid:
            names.append((base / ".build-id" / bid[:2] / f"{bid[2:]}.debug", "build-id"))
        if rel:
            names += [(base / "boot" / f"vmlinux-{rel}", "release"), (base / "lib" / "modules" / rel / "vmlinux", "release"),
                      (base / f"vmlinux-{rel}", "release")]
        for path, rule in names:
            hit = search.check(path, f"{rule}: {paths.unhost(path)}")
            if hit is not None:
                return DebugInfo(hit.vmlinux, hit.how, hit.verified, modules_dir, tuple(search.rejected))
    environ = os.environ if env is None else env
    if network and bid and environ.get("DEBUGINFOD_URLS", "").strip():
        runner = tools or ToolRunner()
        try:
            res = runner.run(["debuginfod-find", "debuginfo", bid], timeout=DEBUGINFOD_TIMEOUT)
        except ToolError as exc:
            search.rejected.append(Rejected("debuginfod", str(exc)))
        else:
            lines = res.stdout.strip().splitlines()
            if res.ok and lines and lines[-1].startswith("/"):
                hit = search.check(Path(lines[-1]), f"debuginfod: {lines[-1]}")
                if hit is not None:
                    return DebugInfo(hit.vmlinux, hit.how, hit.verified, modules_dir, tuple(search.rejected))
            else:
                detail = (res.stderr.strip().splitlines() or ["no answer"])[-1]
                search.rejected.append(Rejected("debuginfod", f"build id {bid}: {detail}"))
    raise NoDebugInfo(kernel, package_hint(paths, kernel), search.rejected)
