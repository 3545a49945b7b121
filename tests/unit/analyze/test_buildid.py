"""The build id of a vmlinux, a .debug file or a module: from its note section or its PT_NOTE."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashd.analyze.buildid import read_build_id
from crashd.core.errors import CrashdError
from tests.unit.analyze.elfs import elf_with_build_id

BID = bytes.fromhex("6a2b4ac77585b8cf102cba771300e573c8489b69")


@pytest.mark.parametrize("kw", [{}, {"where": "segment"}, {"elf32": True}, {"big": True}, {"elf32": True, "big": True}])
def test_build_id_is_read_from_sections_or_segments_of_every_class(tmp_path: Path, kw: dict[str, object]) -> None:
    path = tmp_path / "vmlinux"
    path.write_bytes(elf_with_build_id(BID, **kw))  # type: ignore[arg-type]
    assert read_build_id(path) == BID.hex()


def test_a_file_without_a_build_id_note_has_none(tmp_path: Path) -> None:
    path = tmp_path / "vmlinux"
    path.write_bytes(elf_with_build_id(None))
    assert read_build_id(path) is None


def test_not_elf_and_truncated_files_are_refused_or_have_none(tmp_path: Path) -> None:
    (tmp_path / "text").write_bytes(b"not an ELF file at all, just words" * 4)
    with pytest.raises(CrashdError, match="not an ELF file"):
        read_build_id(tmp_path / "text")
    whole = elf_with_build_id(BID)
    for cut in (70, 100, len(whole) - 10):
        (tmp_path / "cut").write_bytes(whole[:cut])
        assert read_build_id(tmp_path / "cut") in (None, BID.hex())  # never an exception, never a wrong id
    with pytest.raises(CrashdError, match="cannot read"):
        read_build_id(tmp_path / "absent")


def test_a_hostile_section_table_is_bounded(tmp_path: Path) -> None:
    data = bytearray(elf_with_build_id(BID))
    data[60:62] = (0xFFFF).to_bytes(2, "little")  # e_shnum: 65535 sections that are not there
    (tmp_path / "v").write_bytes(bytes(data))
    assert read_build_id(tmp_path / "v") == BID.hex()  # found through the PT_NOTE instead
