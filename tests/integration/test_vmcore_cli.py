"""``crashd dmesg`` and ``crashd inspect`` as a user runs them (subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REF
from tests.integration.cli import run_crashd
from tests.vmcore_builder import VECTOR_A_EXPECTED, kdump_bytes, vector_a, write_elf, write_elf_vmcore


@pytest.fixture
def a_elf(tmp_path: Path) -> Path:
    p = tmp_path / "a.elf"
    write_elf(p, vector_a())
    return p


def _clean_failure(proc: object) -> None:
    stderr = getattr(proc, "stderr", "")
    assert "Traceback" not in stderr
    assert stderr.startswith("crashd ")


def test_dmesg_of_a_file(a_elf: Path) -> None:
    proc = run_crashd(["dmesg", str(a_elf)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == VECTOR_A_EXPECTED
    assert proc.stderr == ""


def test_dmesg_style_dmesg(a_elf: Path) -> None:
    proc = run_crashd(["dmesg", "--style", "dmesg", str(a_elf)])
    assert proc.returncode == 0
    assert "[    1.234567] line two\n" in proc.stdout


def test_dmesg_of_a_record_directory_prefers_dmesg_txt(tmp_path: Path, a_elf: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "vmcore.kdump").write_bytes(kdump_bytes(vector_a()))
    proc = run_crashd(["dmesg", str(rec)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == VECTOR_A_EXPECTED
    (rec / "dmesg.txt").write_text("saved text\n")
    proc = run_crashd(["dmesg", str(rec)])
    assert (proc.returncode, proc.stdout) == (0, "saved text\n")


def test_dmesg_of_an_empty_directory_fails_clearly(tmp_path: Path) -> None:
    proc = run_crashd(["dmesg", str(tmp_path)])
    assert proc.returncode == 1
    assert "no dmesg.txt and no vmcore" in proc.stderr
    _clean_failure(proc)


def test_dmesg_of_a_foreign_file_fails_clearly(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello\n")
    proc = run_crashd(["dmesg", str(p)])
    assert proc.returncode == 1
    assert "not a vmcore" in proc.stderr
    _clean_failure(proc)


def test_dmesg_of_an_unknown_record_id_fails_clearly(tmp_path: Path) -> None:
    proc = run_crashd(["dmesg", "no-such-record-20990101"], root=tmp_path)
    assert proc.returncode == 1
    _clean_failure(proc)


def test_dmesg_of_a_truncated_dump_prints_what_survives_and_exits_0(tmp_path: Path) -> None:
    full = tmp_path / "full.elf"
    expected = write_elf_vmcore(full, [f"line {i:03d} " + "z" * 70 for i in range(300)])
    cut = tmp_path / "cut.elf"
    cut.write_bytes(full.read_bytes()[:-8192])
    proc = run_crashd(["dmesg", str(cut)])
    assert proc.returncode == 0
    assert "warning: the file is truncated" in proc.stderr
    assert proc.stdout and expected.startswith(proc.stdout.splitlines(keepends=True)[0])
    assert len(proc.stdout) < len(expected)


def test_dmesg_without_a_readable_ring_exits_1(tmp_path: Path) -> None:
    p = tmp_path / "c1.elf"
    write_elf(p, vector_a(), drop_segments=[1])
    proc = run_crashd(["dmesg", str(p)])
    assert proc.returncode == 1
    assert "no kernel log" in proc.stderr and "descriptor array" in proc.stderr
    _clean_failure(proc)


def test_inspect_json_of_vector_a(a_elf: Path) -> None:
    proc = run_crashd(["inspect", "--json", str(a_elf)])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["version"] == 1
    assert (data["format"], data["kernel_release"], data["machine"]) == ("elf", "6.8.0-synth", "x86_64")
    assert (data["page_size"], data["crash_time"], data["kaslr_offset"]) == (4096, 1720000000, "0x1e000000")
    assert data["complete"] is True
    assert [c["pid"] for c in data["cpus"]] == [0, 1234]
    crash = data["crash"]
    assert crash["kind"] == "sysrq"
    assert crash["message"] == "Kernel panic - not syncing: sysrq triggered crash"  # not the "---[ end" marker
    assert (crash["cpu"], crash["pid"], crash["comm"], crash["note"]) == (1, 1234, "bash", 1)
    assert crash["signature"]


def test_inspect_of_a_truncated_dump_exits_0_and_says_incomplete(tmp_path: Path) -> None:
    p = tmp_path / "t.elf"
    write_elf(p, vector_a(), truncate_to=0.6)
    proc = run_crashd(["inspect", "--json", str(p)])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["complete"] is False
    assert any("truncated" in w for w in data["warnings"])
    assert any("dmesg unavailable" in w for w in data["warnings"])
    human = run_crashd(["inspect", str(p)])
    assert human.returncode == 0
    assert "complete:" in human.stdout and "NO" in human.stdout and "warning: " in human.stdout


def test_inspect_of_a_foreign_file_exits_1(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(b"\0" * 100)
    proc = run_crashd(["inspect", str(p)])
    assert proc.returncode == 1
    _clean_failure(proc)


def test_help_documents_exit_status() -> None:
    for verb in ("dmesg", "inspect"):
        proc = run_crashd([verb, "--help"])
        assert proc.returncode == 0
        assert "exit status: 0" in proc.stdout and "truncated" in proc.stdout


# ------------------------------------------------------------------ real reference dumps


@pytest.mark.parametrize("suffix", ["elf", "kdump-zlib", "kdump-lzo", "flat"])
def test_reference_dmesg_is_byte_identical(ref_vmcores: Path, reference_elf: Path, suffix: str) -> None:
    path = reference_elf if suffix == "elf" else ref_vmcores / f"{REF}.{suffix}"
    proc = run_crashd(["dmesg", str(path)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (ref_vmcores / f"{REF}.vmcore-dmesg.txt").read_text()


@pytest.mark.parametrize("suffix", ["elf", "kdump-zlib"])
def test_reference_inspect_json(ref_vmcores: Path, reference_elf: Path, suffix: str) -> None:
    path = reference_elf if suffix == "elf" else ref_vmcores / f"{REF}.{suffix}"
    proc = run_crashd(["inspect", "--json", str(path)])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["kernel_release"] == "6.1.0-56-amd64"
    assert data["cpus"][0]["pc_symbol"] == "__crash_kexec+0x11a/0x130"
    crash = data["crash"]
    assert crash["message"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert crash["kind"] == "sysrq"
    assert (crash["cpu"], crash["pid"], crash["comm"]) == (0, 1, "init")
    assert len(crash["signature"]) >= 8
    assert data["complete"] is True


def test_reference_truncated_elf(tmp_path: Path, ref_vmcores: Path, reference_elf: Path) -> None:
    cut = tmp_path / "cut.elf"
    with reference_elf.open("rb") as fin, cut.open("wb") as fout:
        left = reference_elf.stat().st_size * 6 // 10
        while left:
            chunk = fin.read(min(left, 1 << 20))
            fout.write(chunk)
            left -= len(chunk)
    proc = run_crashd(["dmesg", str(cut)])
    assert proc.returncode == 0
    assert "truncated" in proc.stderr
    assert "Kernel panic - not syncing: sysrq triggered crash" in proc.stdout
    inspect = run_crashd(["inspect", "--json", str(cut)])
    assert inspect.returncode == 0
    assert json.loads(inspect.stdout)["complete"] is False


def test_symlinks_planted_in_a_record_directory_are_not_followed(tmp_path: Path, a_elf: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("not for you\n")
    (rec / "dmesg.txt").symlink_to(secret)
    proc = run_crashd(["dmesg", str(rec)])
    assert proc.returncode == 1
    assert "symlink" in proc.stderr and "not for you" not in proc.stdout
    (rec / "dmesg.txt").unlink()
    (rec / "vmcore").symlink_to(a_elf)
    proc = run_crashd(["dmesg", str(rec)])
    assert proc.returncode == 1
    assert "symlink" in proc.stderr
    _clean_failure(proc)


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = run_crashd(["dmesg", str(fifo)], timeout=20)
    assert proc.returncode == 1
    assert "not a regular file" in proc.stderr


VMCORE_DMESG = Path("/usr/sbin/vmcore-dmesg")


@pytest.mark.skipif(not VMCORE_DMESG.exists(), reason="kexec-tools' vmcore-dmesg not installed")
@pytest.mark.parametrize("variant", ["vector-a", "many", "arm64", "arm32"])
def test_same_bytes_as_vmcore_dmesg_on_synthetic_dumps(tmp_path: Path, variant: str) -> None:
    """The reference tool as the oracle (formats.md §7.1.6 cross-check)."""
    import subprocess

    from tests.vmcore_builder import build_arm32_machine, elf32_bytes

    path = tmp_path / "v.elf"
    msgs = [f"line {i} " + "w" * (i % 50) for i in range(200)]
    if variant == "vector-a":
        write_elf(path, vector_a())
    elif variant == "many":
        write_elf_vmcore(path, msgs)
    elif variant == "arm64":
        write_elf_vmcore(path, msgs, arch="aarch64")
    else:
        path.write_bytes(elf32_bytes(build_arm32_machine(msgs, first_id=(1 << 30) - 7)[0]))
    oracle = subprocess.run([str(VMCORE_DMESG), str(path)], capture_output=True, check=True).stdout
    proc = run_crashd(["dmesg", str(path)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.encode() == oracle


def test_dmesg_of_a_record_id_resolves_through_the_store(tmp_path: Path) -> None:
    from tests.fakeroot import build_root

    paths = build_root(tmp_path / "root", {"/var/lib/crash/": ""})
    rec = paths.crash_store / "20260101T120000-kdump-0123abcd"
    rec.mkdir(mode=0o700)
    write_elf(rec / "vmcore", vector_a())
    proc = run_crashd(["dmesg", "20260101T120000-kdump"], root=paths.root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == VECTOR_A_EXPECTED
    unknown = run_crashd(["dmesg", "20990101T000000"], root=paths.root)
    assert unknown.returncode == 1 and "no crash record matches" in unknown.stderr


def test_dmesg_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "big.elf"
    write_elf_vmcore(path, ["x" * 900 + str(i) for i in range(400)])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "crashd", "dmesg", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 0
    assert b"Traceback" not in err


@pytest.mark.parametrize(("codec", "package"), [("zstd", "zstandard"), ("lzo", "python-lzo"), ("snappy", "cramjam")])
def test_missing_codec_library_names_the_package(tmp_path: Path, codec: str, package: str) -> None:
    """A real interpreter where the codec's module cannot be imported (a blocking stub first on the path)."""
    from tests.vmcore_builder import write_kdump_vmcore

    dump = tmp_path / "dump"
    write_kdump_vmcore(dump, ["compressed words " * 40], compression=codec)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    module = {"zstd": "zstandard", "lzo": "lzo", "snappy": "cramjam"}[codec]
    (stubs / f"{module}.py").write_text("raise ImportError('blocked for this test')\n")
    repo = Path(__file__).resolve().parents[2]
    proc = run_crashd(["dmesg", str(dump)], env={"PYTHONPATH": f"{stubs}:{repo}"})
    assert proc.returncode == 1
    assert f"install the Python package {package}" in proc.stderr
    _clean_failure(proc)
