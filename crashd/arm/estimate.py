"""What the capture kernel needs on this machine, and what a dump will take.

``crashd estimate`` and readiness's ``capture_memory`` check both ask here, so
the figure a person is told to reserve is the figure crashd checks against.

The reservation is a sum of parts, each with how it was found (a read header
field, a stated ratio, a calibrated constant), because an estimate a person
cannot audit is one they cannot trust:

- the capture kernel's memory: the x86 bzImage setup header's ``init_size``, the
  arm64 Image header's ``image_size``, else the running kernel's ``Kernel
  code/data/bss`` in /proc/iomem, else (32-bit ARM zImage) the compressed size
  times :data:`ZIMAGE_FACTOR`;
- the initrd, compressed and unpacked (both are in memory while the kernel
  unpacks it): gzip's trailer and zstd's frame header state the unpacked size;
  other compressors use a stated ratio (:data:`UNPACK_RATIO`);
- CMA: ``cma=`` on the capture command line, else the kernel's
  ``CONFIG_CMA_SIZE_MBYTES`` (the capture kernel reserves it again unless told
  ``cma=0``, which crashd's default ``[arm] cmdline_append`` says);
- crashd's capture userspace (systemd, udev, python, makedumpfile):
  :data:`USERSPACE`, calibrated per architecture from the VM measurements (x86:
  at 96M the capture kernel had ~31 MiB left after its image and initrd and ran
  out of memory; 128M completed; the constant is what makes the sum fall between);
- the kernel's own bookkeeping: ``struct page`` for every reserved page (1/64 of
  the reservation) plus :data:`KERNEL_FIXED` of slab, page tables and per-CPU data.

Everything here reads small parts of files: readiness runs it on every poll.
"""

from __future__ import annotations

import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from crashd.arm.bootfiles import BootFiles, machine_arch
from crashd.arm.kernelconfig import read_kernel_config
from crashd.arm.kexec import capture_cmdline
from crashd.core.cmdline import param
from crashd.core.fsutil import read_value
from crashd.core.paths import HostPaths
from crashd.core.settings import Config, parse_size

__all__ = [
    "DEFAULT_KERNEL",
    "KERNEL_FIXED",
    "MIB",
    "Part",
    "ReservationEstimate",
    "UNPACK_RATIO",
    "USERSPACE",
    "ZIMAGE_FACTOR",
    "capture_cma",
    "estimate_reservation",
    "initrd_parts",
    "kernel_part",
    "suggest",
]

MIB = 1 << 20
# 32-bit ARM zImage: the kernel decompresses itself to about 3-4 times the zImage
# (Debian armmp 6.1: 5.5 MB zImage; kexec's --image-size default of 48M is room for it).
ZIMAGE_FACTOR = 4
DEFAULT_KERNEL = 48 * MIB  # nothing readable: as much as --image-size's default
# Unpacked/compressed size of an initramfs when the format does not say (initramfs-tools
# images of kernel modules measured 1.95 with gzip; xz/lzma squeeze a little more).
UNPACK_RATIO = {"zstd": 2.5, "xz": 3.0, "lzma": 3.0, "lz4": 2.0, "lzo": 2.0, "bzip2": 2.5, "gzip": 2.5}
# crashd's capture userspace: systemd, journald, udevd (children-max=2), python running
# `crashd save`, makedumpfile and their page cache — calibrated as the residual on the x86
# VM guest (Debian 12, 6.1.0-57-amd64: init_size 63.6 MiB, gzip initrd 6.2 MiB unpacking to
# 16.4 MiB, no CMA): 96M ran out of memory, 128M completed, so the parts must sum to between
# the two. init_size over-counts the running kernel (its init sections and decompression room
# are freed before userspace starts), which is why this residual is smaller than the ~40 MiB
# the processes' RSS adds up to. 32-bit ARM: smaller pointers, a smaller python.
# Every capture now records what it really cost (capture.json ``memory``: MemAvailable at the
# start and the lowest, crashd save's and makedumpfile's peak RSS; crashd/capture/memstat.py).
# The x86 96M failure, measured again with cma=0 cgroup_disable=memory transparent_hugepage=never:
# "Memory: 31640K/98932K available (14343K kernel code, 2338K rwdata, 9132K rodata, 2824K init,
# 17344K bss, 67088K reserved)"; out of memory 6.5 s in, unpacking the initramfs (9 of its 17 MiB
# unpacked, 12.8 MiB of slab): userspace never started, no parameter changes that.
USERSPACE = {"x86_64": 24 * MIB, "aarch64": 24 * MIB, "arm": 20 * MIB}
KERNEL_FIXED = 8 * MIB  # slab, page tables, per-CPU areas at boot (nr_cpus=1)
MEMMAP_FRACTION = 64  # one 64-byte struct page per 4 KiB page


@dataclass(frozen=True)
class Part:
    """One term of the sum, and how it was found (shown to the person)."""

    name: str
    bytes: int
    how: str


@dataclass(frozen=True)
class ReservationEstimate:
    arch: str
    parts: tuple[Part, ...]
    needed: int  # bytes, parts plus the kernel's bookkeeping for a reservation this size
    reserved: int  # bytes reserved now (0: none)

    @property
    def fits(self) -> bool | None:
        """None when nothing is reserved (there is nothing to compare)."""
        return None if not self.reserved else self.needed <= self.reserved

    @property
    def suggested(self) -> str:
        return suggest(self.needed)

    def line(self) -> str:
        """``needs ~N MiB, M MiB reserved``."""
        return f"needs ~{_mib(self.needed)} MiB, {self.reserved >> 20} MiB reserved"

    def to_dict(self) -> dict[str, object]:
        return {"arch": self.arch, "needed_bytes": self.needed, "reserved_bytes": self.reserved,
                "fits": self.fits, "suggested_crashkernel": self.suggested,
                "parts": [asdict(p) for p in self.parts]}


def _mib(n: int) -> int:
    return -(-n // MIB)


def suggest(needed: int) -> str:
    """A ``crashkernel=`` value: the need rounded up to 16 MiB (reservations are aligned anyway)."""
    step = 16 * MIB
    return f"{-(-needed // step) * step >> 20}M"


def _arch_family(arch: str) -> str:
    if arch.startswith("arm") and arch != "arm64":
        return "arm"
    return "aarch64" if arch == "arm64" else arch


def _head(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _iomem_kernel(paths: HostPaths) -> int:
    """Sum of the running kernel's ``Kernel code/data/bss`` (``Kernel rodata`` on arm64)."""
    total = 0
    for line in (read_value(paths.iomem) or "").splitlines():
        rng, _, name = line.strip().partition(" : ")
        if name.strip().startswith("Kernel "):
            start, _, end = rng.partition("-")
            try:
                total += int(end, 16) - int(start, 16) + 1
            except ValueError:
                continue
    return total


def kernel_part(paths: HostPaths, boot: BootFiles) -> Part:
    """The capture kernel's in-memory size, from the image header where it says."""
    head = _head(boot.kernel, 0x270) if boot.kernel else b""
    if boot.kernel_kind == "bzImage" and len(head) >= 0x264:
        version = struct.unpack_from("<H", head, 0x206)[0]
        if version >= 0x020A:  # boot protocol 2.10 added init_size
            size = struct.unpack_from("<I", head, 0x260)[0]
            return Part("kernel", size, "bzImage setup header init_size")
    if boot.kernel_kind == "Image" and len(head) >= 24:
        size = struct.unpack_from("<Q", head, 16)[0]
        if size:
            return Part("kernel", size, "arm64 Image header image_size")
    running = _iomem_kernel(paths)
    if running:
        return Part("kernel", running, "running kernel's Kernel code/data/bss in /proc/iomem")
    if boot.kernel_kind == "zImage" and boot.kernel is not None:
        try:
            size = boot.kernel.stat().st_size
        except OSError:
            size = 0
        if size:
            return Part("kernel", size * ZIMAGE_FACTOR, f"zImage size x {ZIMAGE_FACTOR} (stated factor)")
    return Part("kernel", DEFAULT_KERNEL, f"not readable from the image: {DEFAULT_KERNEL >> 20} MiB assumed")


# --- the initrd -------------------------------------------------------------

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x89LZO", "lzo"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
    (b"070701", "cpio"),
    (b"070702", "cpio"),
)
_CPIO_HEADER = 110


def compression_of(head: bytes) -> str:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "unknown"


def _skip_cpio(f: os.PathLike[str] | Path, size: int) -> int:
    """Offset just past uncompressed cpio archives at the start (early microcode), zero padding included."""
    offset = 0
    with open(f, "rb") as fh:
        while offset + _CPIO_HEADER <= size:
            fh.seek(offset)
            header = fh.read(_CPIO_HEADER)
            if header[:6] not in (b"070701", b"070702"):
                # archives are followed by NUL padding up to the next one
                lead = len(header) - len(header.lstrip(b"\x00"))
                if lead == 0:
                    return offset
                offset += lead
                continue
            try:
                filesize = int(header[54:62], 16)
                namesize = int(header[94:102], 16)
            except ValueError:
                return offset
            offset = (offset + _CPIO_HEADER + namesize + 3) & ~3
            offset = (offset + filesize + 3) & ~3
    return min(offset, size)


def _stated_size(path: Path, kind: str, start: int, size: int) -> int | None:
    """The unpacked size the format itself records, or None."""
    try:
        with path.open("rb") as f:
            if kind == "gzip":
                f.seek(size - 4)
                isize = struct.unpack("<I", f.read(4))[0]  # modulo 2^32; one member, as mkinitramfs writes
                return isize if isize >= size - start else None
            if kind == "zstd":
                f.seek(start + 4)
                fhd = f.read(1)[0]
                fcs_flag, single = fhd >> 6, (fhd >> 5) & 1
                did_size = (0, 1, 2, 4)[fhd & 3]
                fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
                if fcs_size == 0:
                    return None  # not recorded (mkinitramfs pipes into zstd)
                f.seek(start + 5 + (0 if single else 1) + did_size)
                raw = f.read(fcs_size)
                value = int.from_bytes(raw, "little")
                return value + 256 if fcs_size == 2 else value
    except (OSError, IndexError, struct.error):
        return None
    return None


def initrd_parts(path: Path | None) -> tuple[Part, Part]:
    """(compressed, unpacked) of the initrd; both zero without one."""
    if path is None:
        return Part("initrd", 0, "no initrd"), Part("initrd_unpacked", 0, "no initrd")
    try:
        size = path.stat().st_size
        start = _skip_cpio(path, size)
    except OSError as exc:
        return (Part("initrd", 0, f"unreadable: {exc.strerror or exc}"),
                Part("initrd_unpacked", 0, "unreadable"))
    kind = compression_of(_tail_head(path, start))
    compressed = Part("initrd", size, "file size")
    if start >= size or kind == "cpio":
        return compressed, Part("initrd_unpacked", size, "uncompressed cpio")
    prefix = f"{start} bytes of uncompressed cpio + " if start else ""
    stated = _stated_size(path, kind, start, size)
    if stated is not None:
        return compressed, Part("initrd_unpacked", start + stated, f"{prefix}{kind}, size recorded in the stream")
    ratio = UNPACK_RATIO.get(kind)
    if ratio is None:
        return compressed, Part("initrd_unpacked", int((size - start) * 3) + start,
                                f"{prefix}unknown compression: x 3 assumed")
    return compressed, Part("initrd_unpacked", int((size - start) * ratio) + start,
                            f"{prefix}{kind} x {ratio} (stated ratio)")


def _tail_head(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(8)
    except OSError:
        return b""


# --- CMA --------------------------------------------------------------------

def capture_cma(paths: HostPaths, config: Config, release: str) -> Part:
    """CMA the capture kernel reserves: its own command line's ``cma=``, else the build default."""
    running = read_value(paths.cmdline) or ""
    line = capture_cmdline(running, config.arm.cmdline_remove, config.arm.cmdline_append, "0" * 32)
    value = param(line, "cma")
    if value is not None:
        size_text = value.split("@", 1)[0].split(":")[-1].split(",")[-1]
        try:
            return Part("cma", parse_size(size_text), f"cma={value} on the capture command line")
        except ValueError:
            return Part("cma", 0, f"cma={value} on the capture command line (not understood)")
    kc = read_kernel_config(paths, release)
    if kc is None:
        return Part("cma", 0, "kernel config unknown: no CMA assumed")
    if not kc.enabled("DMA_CMA"):
        return Part("cma", 0, "CONFIG_DMA_CMA is off")
    mbytes = kc.options.get("CONFIG_CMA_SIZE_MBYTES", "0")
    try:
        size = int(mbytes) * MIB
    except ValueError:
        size = 0
    return Part("cma", size, f"CONFIG_CMA_SIZE_MBYTES={mbytes} (no cma= on the capture command line; "
                             "append cma=0 to save it)")


def estimate_reservation(paths: HostPaths, config: Config, boot: BootFiles, reserved: int,
                         arch: str | None = None) -> ReservationEstimate:
    """Every part and their total, against ``reserved``."""
    family = _arch_family(arch or machine_arch())
    initrd, unpacked = initrd_parts(boot.initrd if config.arm.initrd != "none" else None)
    userspace = USERSPACE.get(family, USERSPACE["x86_64"])
    parts = [
        kernel_part(paths, boot),
        initrd,
        unpacked,
        capture_cma(paths, config, boot.release),
        Part("userspace", userspace, f"crashd's capture userspace on {family} (calibrated constant)"),
    ]
    base = sum(p.bytes for p in parts) + KERNEL_FIXED
    # struct page for the reservation itself: need = base + need/64
    needed = base * MEMMAP_FRACTION // (MEMMAP_FRACTION - 1) + 1
    parts.append(Part("kernel_overhead", needed - base + KERNEL_FIXED,
                      f"struct page (1/{MEMMAP_FRACTION}) + {KERNEL_FIXED >> 20} MiB slab, page tables, per-CPU"))
    return ReservationEstimate(family, tuple(parts), needed, reserved)
