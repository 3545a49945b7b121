"""Reading /sys/fs/pstore: file names, dmesg headers, decompression, grouping (formats.md §6).

Every backend names its files ``<type>-<backend>-<id>[.enc.z]``. A dmesg dump is
split into parts, Part1 being the *newest* chunk of the log, so a crash's log is
rebuilt by joining parts from the highest number down. This module only reads:
copying records durably and unlinking them is the ingester's job (``ingest``).
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crashd.core.errors import CrashdError
from crashd.core.fsutil import read_regular_stat

__all__ = [
    "COMPRESSED_SUFFIX",
    "GROUP_GAP",
    "MAX_INFLATED",
    "MAX_RECORD",
    "PstoreCrash",
    "PstoreFile",
    "PstoreName",
    "TYPES",
    "decompress",
    "group",
    "log",
    "parse_dmesg",
    "parse_name",
    "read_file",
    "scan",
]

log = logging.getLogger(__name__)

# Kernel enum pstore_type_id order (fs/pstore/platform.c); names may hold '-'.
TYPES = ("dmesg", "mce", "console", "ftrace", "rtas", "powerpc-ofw", "powerpc-common", "pmsg", "powerpc-opal")
COMPRESSED_SUFFIX = ".enc.z"
MAX_RECORD = 64 << 20  # a pstore file larger than this is not a real record
# A backend record is at most a few hundred KiB of log (ramoops record_size, EFI variables).
MAX_INFLATED = 8 << 20

_HEADER = re.compile(r"^(?P<reason>\w+)#(?P<count>\d+) Part(?P<part>\d+)$")
# ramoops ECC status, appended by the kernel when the file is read (ram_core.c).
_ECC = re.compile(r"\n\n?(?P<ecc>(?:ECC: )?(?:No errors detected|\d+ Corrected bytes, \d+ unrecoverable blocks))\n?\Z")
_PREFIX = re.compile(r"^<\d+>(?=\[)", re.MULTILINE)
# Parts of one dump are written within moments of each other; two dumps that
# reuse (reason, count) after a reboot are further apart than this.
GROUP_GAP = 120.0


@dataclass(frozen=True)
class PstoreName:
    """A parsed pstore file name."""

    name: str
    type: str
    backend: str
    id: int | None
    compressed: bool

    @property
    def efi_time(self) -> int | None:
        """EFI ids are ``(time*100 + part)*1000 + count`` (efi-pstore.c generic_id)."""
        if self.backend in ("efi", "efi_pstore") and self.id is not None and self.id >= 100000:
            return self.id // 100000
        return None


def parse_name(name: str) -> PstoreName | None:
    """``dmesg-efi_pstore-172000000001001.enc.z`` → its parts; None for foreign names."""
    base = name[: -len(COMPRESSED_SUFFIX)] if name.endswith(COMPRESSED_SUFFIX) else name
    for type_ in sorted(TYPES, key=len, reverse=True):
        if not base.startswith(type_ + "-"):
            continue
        rest = base[len(type_) + 1 :]
        backend, sep, ident = rest.rpartition("-")
        if not sep or not backend:
            return None
        return PstoreName(name, type_, backend, int(ident) if ident.isdigit() else None, base != name)
    return None


@dataclass
class PstoreFile:
    """One pstore entry: its raw bytes (what gets stored) and what they say."""

    name: PstoreName
    path: Path
    raw: bytes
    mtime: float
    compression: str = "none"  # none | deflate | zlib | gzip | unknown-algorithm | oversized
    reason: str | None = None
    count: int | None = None
    part: int | None = None
    body: str | None = None  # dmesg text without header and ECC line; None if unreadable
    ecc: str | None = None
    # Where systemd-pstore archived it ("archive-<boot>-…"), "" for /sys/fs/pstore: every
    # archived boot has its own console-ramoops-0, and a record must keep them apart.
    subdir: str = ""

    @property
    def stored_name(self) -> str:
        """The file's name below the record's ``pstore/``."""
        return f"{self.subdir}/{self.name.name}" if self.subdir else self.name.name

    @property
    def time(self) -> float:
        """The record time: EFI ids carry it; other backends set the file's mtime."""
        efi = self.name.efi_time
        return float(efi) if efi is not None else self.mtime


def decompress(data: bytes) -> tuple[bytes | None, str]:
    """pstore ``.enc.z``: raw deflate (current), zlib (3.11 era), or gzip; else opaque.

    At most ``MAX_INFLATED`` bytes come out (a 1 MiB bomb would inflate to 1 GiB):
    more is ``"oversized"`` and the record is kept as it is, undecoded."""
    for wbits, label in ((-15, "deflate"), (15, "zlib"), (47, "gzip")):
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, MAX_INFLATED + 1)
        except zlib.error:
            continue
        if len(out) > MAX_INFLATED or inflater.unconsumed_tail:
            return None, "oversized"
        if inflater.eof:
            return out, label
    return None, "unknown-algorithm"


def parse_dmesg(text: str) -> tuple[str | None, int | None, int | None, str, str | None]:
    """Split ``Reason#N PartM`` header and trailing ECC status off a dmesg record."""
    reason = count = part = None
    first, nl, rest = text.partition("\n")
    m = _HEADER.match(first.strip())
    if m:
        reason, count, part = m["reason"], int(m["count"]), int(m["part"])
        text = rest
    ecc = None
    e = _ECC.search(text)
    if e:
        ecc = e["ecc"]
        text = text[: e.start()] + "\n"
    return reason, count, part, text, ecc


def read_file(path: Path) -> PstoreFile | None:
    """Read one entry without following symlinks; None for names that are not pstore's."""
    name = parse_name(path.name)
    if name is None:
        return None
    raw, st = read_regular_stat(path, MAX_RECORD)
    rec = PstoreFile(name=name, path=path, raw=raw, mtime=st.st_mtime)
    if name.type != "dmesg":
        return rec
    data: bytes | None = raw
    if name.compressed:
        data, rec.compression = decompress(raw)
    if data is not None:
        rec.reason, rec.count, rec.part, rec.body, rec.ecc = parse_dmesg(data.decode("utf-8", "replace"))
    return rec


def scan(directory: Path, refused: Callable[[Path, CrashdError], None] | None = None) -> list[PstoreFile]:
    """Every pstore entry in ``directory`` (missing directory = none), sorted by name.

    An entry that cannot be read safely (a symlink, a FIFO, an absurd size) is
    passed to ``refused`` and skipped: it must not hide the valid records beside it.
    Without ``refused`` the first such entry raises."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        try:
            rec = read_file(directory / n)
        except CrashdError as exc:
            if refused is None:
                raise
            refused(directory / n, exc)
            continue
        if rec is None:
            log.debug("ignoring %s: not a pstore record name", directory / n)
            continue
        out.append(rec)
    return out


@dataclass
class PstoreCrash:
    """The files of one dump (plus the console/pmsg/ftrace files of that boot)."""

    backend: str
    reason: str | None
    count: int | None
    parts: list[PstoreFile]  # dmesg files, oldest chunk (highest part) first
    extras: list[PstoreFile] = field(default_factory=list)  # console, pmsg, ftrace, undecodable …

    @property
    def files(self) -> list[PstoreFile]:
        return [*self.parts, *self.extras]

    @property
    def time(self) -> float | None:
        """Record time of the newest chunk (Part1), when the backend kept one."""
        return self.parts[-1].time if self.parts else (self.extras[0].time if self.extras else None)

    @property
    def missing_parts(self) -> list[int]:
        have = {p.part for p in self.parts if p.part is not None}
        return [n for n in range(1, max(have, default=0) + 1) if n not in have]

    def text(self) -> str:
        """The chronological log: parts joined highest first, ``<L>`` prefixes dropped."""
        bodies = [p.body for p in self.parts if p.body is not None]
        if not bodies:
            bodies = [x.raw.decode("utf-8", "replace") for x in self.extras if x.name.type == "console"]
        joined = "".join(b if b.endswith("\n") else b + "\n" for b in bodies)
        return _PREFIX.sub("", joined)


def group(files: Iterable[PstoreFile]) -> list[PstoreCrash]:
    """One :class:`PstoreCrash` per dump, oldest first (formats.md §6.4)."""
    dumps: dict[tuple[str, str | None, int | None], list[list[PstoreFile]]] = {}
    extras: list[PstoreFile] = []
    for f in sorted(files, key=lambda f: (f.time, f.name.name)):
        if f.name.type != "dmesg" or f.body is None:
            extras.append(f)
            continue
        key = (f.name.backend, f.reason, f.count)
        clusters = dumps.setdefault(key, [])
        # Same (backend, reason, count) in another boot is another dump; so is a part number seen twice.
        last = clusters[-1] if clusters else None
        if (
            last is not None
            and abs(f.time - last[-1].time) <= GROUP_GAP
            and all(p.part != f.part for p in last)
            and (f.count is not None)
        ):
            last.append(f)
        else:
            clusters.append([f])
    crashes = [
        PstoreCrash(backend, reason, count, sorted(c, key=lambda p: -(p.part or 1)))
        for (backend, reason, count), clusters in dumps.items()
        for c in clusters
    ]
    crashes.sort(key=lambda c: (c.time or 0.0, c.backend, c.count or 0))
    # Console/pmsg/ftrace files are the previous boot's: they go with its newest dump.
    if crashes:
        crashes[-1].extras.extend(extras)
    elif extras:
        crashes.append(PstoreCrash(extras[0].name.backend, None, None, [], extras))
    return crashes
