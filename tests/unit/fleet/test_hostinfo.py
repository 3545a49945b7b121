"""Which machine this is: the hostname and machine id that travel with a crash."""

from __future__ import annotations

from pathlib import Path

from crashd.core.hostinfo import HostIdentity, clean_hostname, clean_machine_id, read_identity
from tests.fakeroot import build_root

MID = "5c1b0d9f3e2a4c6b8d7e9f0a1b2c3d4e"


def test_static_hostname_and_machine_id(tmp_path: Path) -> None:
    paths = build_root(tmp_path, {"/etc/hostname": "# set by the installer\nweb-07.example.org\n",
                                  "/etc/machine-id": MID + "\n",
                                  "/proc/sys/kernel/hostname": "localhost\n"})
    assert read_identity(paths) == HostIdentity("web-07.example.org", MID)


def test_kernel_hostname_when_no_static_one(tmp_path: Path) -> None:
    paths = build_root(tmp_path, {"/proc/sys/kernel/hostname": "dhcp-host\n"})
    assert read_identity(paths) == HostIdentity("dhcp-host", None)


def test_nothing_known_is_none_not_invented(tmp_path: Path) -> None:
    paths = build_root(tmp_path, {"/proc/sys/kernel/hostname": "(none)\n", "/etc/machine-id": "uninitialized\n"})
    assert read_identity(paths) == HostIdentity(None, None)


def test_hostile_values_are_refused() -> None:
    assert clean_hostname("../../etc") is None
    assert clean_hostname("a b") is None
    assert clean_hostname("x" * 254) is None
    assert clean_hostname("\x1b[31mred") is None
    assert clean_hostname(".") is None and clean_hostname("-a") is None
    assert clean_hostname(7) is None
    assert clean_hostname("Node_1.lab") == "Node_1.lab"
    assert clean_machine_id(MID.upper()) == MID
    assert clean_machine_id("5c1b0d9f-3e2a-4c6b-8d7e-9f0a1b2c3d4e") is None
    assert clean_machine_id(None) is None


def test_a_symlinked_hostname_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("secret-host\n")
    paths = build_root(tmp_path / "root", {"/proc/sys/kernel/hostname": "kern\n", "/etc/": ""})
    (paths.etc("hostname")).symlink_to(outside)
    assert read_identity(paths).hostname == "kern"
