"""crashd.arm.estimate / dumpsize: each part read from what the files state, and stated where guessed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from crashd.arm.bootfiles import find_boot_files
from crashd.arm.dumpsize import estimate_dump, kept_from_mem_usage, kept_from_meminfo, parse_mem_usage
from crashd.arm.estimate import (
    KERNEL_FIXED,
    MIB,
    USERSPACE,
    ZIMAGE_FACTOR,
    capture_cma,
    estimate_reservation,
    initrd_parts,
    kernel_part,
    suggest,
)
from crashd.arm.readiness import assess
from crashd.core.config import load_config
from crashd.core.tools import ToolResult, ToolRunner
from tests.fakeroot import KERNEL_CONFIG, RELEASE, armed_guest, build_root

# The shape of Debian's makedumpfile 1.7.2 `--mem-usage /proc/kcore` on a 1 GiB guest.
MEM_USAGE = """\
The kernel version is not supported.
The makedumpfile operation may be incomplete.

TYPE		PAGES			EXCLUDABLE	DESCRIPTION
----------------------------------------------------------------------
ZERO		5405            	yes		Pages filled with zero
NON_PRI_CACHE	39826           	yes		Cache pages without private flag
PRI_CACHE	1346            	yes		Cache pages with private flag
USER		9230            	yes		User process pages
FREE		133398          	yes		Free pages
KERN_DATA	17620           	no		Dumpable kernel data

page size:		4096
Total pages on system:	206825
Total size on system:	847155200        Byte
"""


def bzimage(init_size: int, version: int = 0x020F) -> bytes:
    head = bytearray(0x400)
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, version)
    struct.pack_into("<I", head, 0x260, init_size)
    return bytes(head)


def arm64_image(image_size: int) -> bytes:
    head = bytearray(0x100)
    struct.pack_into("<Q", head, 16, image_size)
    head[0x38:0x3C] = b"ARM\x64"
    return bytes(head)


def zimage(size: int) -> bytes:
    head = bytearray(size)
    struct.pack_into("<I", head, 0x24, 0x016F2818)
    return bytes(head)


def newc(name: str, data: bytes) -> bytes:
    """One cpio newc member (as mkinitramfs/cpio -H newc write it), padded to 4 bytes."""
    nm = name.encode() + b"\0"
    fields = [1, 0o100644, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0]
    header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
    out = header + nm
    out += b"\0" * (-len(out) % 4) + data
    return out + b"\0" * (-len(out) % 4)


def cpio(files: dict[str, bytes]) -> bytes:
    return b"".join(newc(n, d) for n, d in files.items()) + newc("TRAILER!!!", b"")


def guest(tmp_path: Path, **over: str | bytes | None):  # type: ignore[no-untyped-def]
    files: dict[str, str | bytes | None] = {**armed_guest(), **over}
    paths = build_root(tmp_path, files)
    config = load_config(paths)
    return paths, config, find_boot_files(paths, config.arm, RELEASE)


def test_bzimage_init_size_is_the_kernel_part(tmp_path: Path) -> None:
    paths, _, boot = guest(tmp_path, **{f"/boot/vmlinuz-{RELEASE}": bzimage(66682880)})
    part = kernel_part(paths, boot)
    assert part.bytes == 66682880 and "init_size" in part.how


def test_old_boot_protocol_falls_back_to_the_running_kernel_in_iomem(tmp_path: Path) -> None:
    paths, _, boot = guest(tmp_path, **{f"/boot/vmlinuz-{RELEASE}": bzimage(1, version=0x0209)})
    part = kernel_part(paths, boot)
    # GUEST_IOMEM: Kernel code + rodata + data + bss
    expected = (0x2D001FFF - 0x2C000000 + 1) + (0x2DC26FFF - 0x2D200000 + 1) + (0x2E0D14FF - 0x2DE00000 + 1) + (
        0x2E9FFFFF - 0x2E5A2000 + 1)
    assert part.bytes == expected and "/proc/iomem" in part.how


def test_arm64_image_size_and_zimage_factor(tmp_path: Path) -> None:
    paths, _, boot = guest(tmp_path / "a", **{f"/boot/vmlinuz-{RELEASE}": None, f"/boot/Image-{RELEASE}": arm64_image(40 * MIB)})
    assert boot.kernel_kind == "Image"
    assert kernel_part(paths, boot).bytes == 40 * MIB
    paths, _, boot = guest(tmp_path / "z", **{f"/boot/vmlinuz-{RELEASE}": zimage(5 * MIB), "/proc/iomem": ""})
    assert boot.kernel_kind == "zImage"
    part = kernel_part(paths, boot)
    assert part.bytes == 5 * MIB * ZIMAGE_FACTOR and "stated factor" in part.how


def test_initrd_gzip_after_an_early_microcode_cpio_reads_the_recorded_size(tmp_path: Path) -> None:
    early = cpio({"kernel/x86/microcode/GenuineIntel.bin": b"\x01" * 5000})
    main = cpio({"init": b"#!/bin/sh\n" * 3000, "lib/modules/virtio_blk.ko": bytes(range(256)) * 400})
    path = tmp_path / "initrd.img"
    path.write_bytes(early + b"\0" * 512 + gzip.compress(main))
    compressed, unpacked = initrd_parts(path)
    assert compressed.bytes == path.stat().st_size
    assert unpacked.bytes == len(early) + 512 + len(main)
    assert "gzip, size recorded in the stream" in unpacked.how and "uncompressed cpio" in unpacked.how


def test_initrd_zstd_with_content_size_and_xz_by_stated_ratio(tmp_path: Path) -> None:
    zst = tmp_path / "z.img"
    # frame header: magic, FHD = single segment + 4-byte Frame_Content_Size, then the size
    zst.write_bytes(b"\x28\xb5\x2f\xfd" + bytes([0xA0]) + struct.pack("<I", 9_000_000) + b"\0" * 1000)
    assert initrd_parts(zst)[1].bytes == 9_000_000
    xz = tmp_path / "x.img"
    xz.write_bytes(b"\xfd7zXZ\x00" + b"\0" * 99_994)
    part = initrd_parts(xz)[1]
    assert part.bytes == 300_000 and "xz x 3.0 (stated ratio)" == part.how
    assert initrd_parts(None)[1].bytes == 0


def test_cma_from_the_build_default_unless_the_capture_line_says_cma(tmp_path: Path) -> None:
    cfg = KERNEL_CONFIG + "CONFIG_CMA=y\nCONFIG_DMA_CMA=y\nCONFIG_CMA_SIZE_MBYTES=16\n"
    no_cma0 = "[arm]\ncmdline_append = nr_cpus=1 irqpoll\n"
    paths, config, _ = guest(tmp_path / "a", **{f"/boot/config-{RELEASE}": cfg, "/etc/crashd.conf": no_cma0})
    part = capture_cma(paths, config, RELEASE)
    assert part.bytes == 16 * MIB and "cma=0" in part.how
    # crashd's default capture command line says cma=0 (Debian's armmp: 16 MiB, arm64: 64 MiB otherwise)
    paths, config, _ = guest(tmp_path / "b", **{f"/boot/config-{RELEASE}": cfg})
    part = capture_cma(paths, config, RELEASE)
    assert part.bytes == 0 and part.how == "cma=0 on the capture command line"
    # the running kernel's own cma= is dropped by the default cmdline_remove: the build default applies
    paths, config, _ = guest(tmp_path / "c", **{f"/boot/config-{RELEASE}": cfg, "/etc/crashd.conf": no_cma0,
                                               "/proc/cmdline": "root=/dev/vda cma=128M crashkernel=256M\n"})
    assert capture_cma(paths, config, RELEASE).bytes == 16 * MIB


def test_total_is_the_parts_plus_struct_page_and_the_suggestion_rounds_up(tmp_path: Path) -> None:
    paths, config, boot = guest(tmp_path, **{f"/boot/vmlinuz-{RELEASE}": bzimage(64 * MIB),
                                            f"/boot/initrd.img-{RELEASE}": gzip.compress(b"\0" * (16 * MIB))})
    est = estimate_reservation(paths, config, boot, 256 * MIB, arch="x86_64")
    assert [p.name for p in est.parts] == ["kernel", "initrd", "initrd_unpacked", "cma", "userspace", "kernel_overhead"]
    assert sum(p.bytes for p in est.parts) == est.needed
    base = 64 * MIB + (tmp_path / f"boot/initrd.img-{RELEASE}").stat().st_size + 16 * MIB + USERSPACE["x86_64"] + KERNEL_FIXED
    assert est.needed == base * 64 // 63 + 1  # need = base + need/64 (struct page for the reservation itself)
    assert est.fits is True and est.suggested == suggest(est.needed)
    assert suggest(97 * MIB) == "112M" and suggest(96 * MIB) == "96M"
    assert estimate_reservation(paths, config, boot, 96 * MIB, arch="x86_64").fits is False
    assert estimate_reservation(paths, config, boot, 0, arch="x86_64").fits is None


def test_readiness_degraded_when_the_reservation_is_too_small(tmp_path: Path) -> None:
    paths, config, _ = guest(tmp_path, **{f"/boot/vmlinuz-{RELEASE}": bzimage(64 * MIB),
                                         "/sys/kernel/kexec_crash_size": str(64 << 20) + "\n"})
    r = assess(paths, ToolRunner(path="/nonexistent"), config)
    check = r.check("capture_memory")
    assert check.state == "missing" and check.reason == "reservation_too_small"
    assert "capture_memory" in [c.name for c in r.degraded()]
    assert r.summary().startswith("armed, but the capture kernel will likely run out of memory: needs ~")
    assert "64 MiB reserved" in r.summary() and "set crashkernel=" in r.summary()


class MemUsage(ToolRunner):
    """makedumpfile answering --mem-usage as the real one does."""

    def __init__(self, stdout: str, returncode: int = 0):
        super().__init__(path="/nonexistent")
        self.stdout, self.returncode = stdout, returncode

    def which(self, name: str) -> str | None:
        return "/usr/bin/makedumpfile" if name == "makedumpfile" else None

    def run(self, argv, *, timeout=None, check=False, input=None):  # type: ignore[no-untyped-def,override]
        assert list(argv)[:2] == ["makedumpfile", "--mem-usage"]
        return ToolResult(list(argv), self.returncode, self.stdout, "")


def test_dump_from_mem_usage_keeps_what_the_level_does_not_exclude(tmp_path: Path) -> None:
    parsed = parse_mem_usage(MEM_USAGE)
    assert parsed is not None
    page, pages = parsed
    assert kept_from_mem_usage(page, pages, 31) == (206825 - 5405 - 39826 - 1346 - 9230 - 133398) * 4096
    assert kept_from_mem_usage(page, pages, 1) == (206825 - 5405) * 4096
    paths, config, _ = guest(tmp_path)
    est = estimate_dump(paths, MemUsage(MEM_USAGE), config)
    assert est.kept_bytes == kept_from_mem_usage(page, pages, 31)
    assert est.how.startswith("makedumpfile --mem-usage") and "stated ratio" in est.how
    assert est.written_bytes is not None and est.written_bytes < est.kept_bytes
    assert est.free_bytes is not None and est.fits is True


def test_dump_without_page_counts_falls_back_to_meminfo_and_says_why(tmp_path: Path) -> None:
    meminfo = "MemTotal: 1000000 kB\nMemFree: 600000 kB\nBuffers: 10000 kB\nCached: 200000 kB\nAnonPages: 90000 kB\n"
    assert kept_from_meminfo(meminfo, 31) == 100000 * 1024
    paths, config, _ = guest(tmp_path, **{"/proc/meminfo": meminfo})
    est = estimate_dump(paths, MemUsage("show_mem_usage: No memory is reserved for crashkernel!\n", 1), config)
    assert est.kept_bytes == 100000 * 1024
    assert "No memory is reserved" in est.how and "/proc/meminfo" in est.how


def test_a_device_target_has_no_free_figure_and_fits_stays_unknown(tmp_path: Path) -> None:
    paths, config, _ = guest(tmp_path, **{"/etc/crashd.conf": "[capture]\ntarget = LABEL=crashdump\n"})
    est = estimate_dump(paths, MemUsage(MEM_USAGE), config)
    assert est.free_bytes is None and est.fits is None and "dry-run" in est.target_how


def test_daemon_arms_but_says_so_in_status_and_once_in_the_journal(tmp_path: Path) -> None:
    from tests.fakeroot import unarmed_guest
    from tests.unit.arm.test_daemon_loop import World

    files = {**unarmed_guest(), f"/boot/vmlinuz-{RELEASE}": bzimage(64 * MIB),
             "/sys/kernel/kexec_crash_size": str(96 * MIB) + "\n"}
    w = World(tmp_path, files)
    try:
        w.daemon.start()
        [ready] = [m for m in w.rx.drain() if m.get("READY") == "1"]
        assert ready["STATUS"].startswith("armed, but the capture kernel will likely run out of memory: needs ~")
        assert ", 96 MiB reserved — set crashkernel=" in ready["STATUS"] and f"({RELEASE}, 96 MiB reserved" in ready["STATUS"]
        w.run_for(30)
        [(_, message, fields)] = w.journal.named("arm_degraded")
        assert message.startswith("Capture kernel armed, but") and fields["priority"] == 4
        assert fields["reason"] == "reservation_too_small" and fields["reserved_mib"] == 96
        assert w.journal.named("armed")  # it did arm: a crash still gets a chance
    finally:
        w.rx.close()
        w.hotplug.close()
