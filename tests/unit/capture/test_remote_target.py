"""Remote target spellings: what parses, and what never reaches an argv."""

from __future__ import annotations

import pytest

from crashd.core.remote import NfsTarget, SshTarget, is_remote, parse_remote
from crashd.core.settings import parse_target


def test_ssh_target_parts() -> None:
    t = parse_remote("ssh://crash@dumps.example.org:2222/srv/crash/")
    assert t == SshTarget("crash", "dumps.example.org", 2222, "/srv/crash")
    assert t.destination == "crash@dumps.example.org"
    assert t.location("crashd", "x") == "ssh://crash@dumps.example.org:2222/srv/crash/crashd/x"


def test_ssh_default_port_and_ipv6() -> None:
    assert parse_remote("ssh://root@10.0.0.1/var/crash") == SshTarget("root", "10.0.0.1", 22, "/var/crash")
    t = parse_remote("ssh://u@[fd00::1]:23/d")
    assert isinstance(t, SshTarget) and t.port == 23 and t.destination == "u@fd00::1"


def test_nfs_spellings() -> None:
    assert parse_remote("nfs://nas/export") == NfsTarget("nas", "/export", "")
    assert parse_remote("nfs://nas/export/crash/box1") == NfsTarget("nas", "/export", "/crash/box1")
    assert parse_remote("nas.lan:/srv/nfs/crash") == NfsTarget("nas.lan", "/srv/nfs/crash", "")
    assert parse_remote("nas.lan:/srv/nfs/crash").spec == "nas.lan:/srv/nfs/crash"


@pytest.mark.parametrize("value", ["/var/crash", "UUID=1234-abcd", "LABEL=x", "/dev/sdb1", "PARTLABEL=a:b"])
def test_local_spellings_are_not_remote(value: str) -> None:
    assert not is_remote(value)
    assert parse_remote(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "ssh://-oProxyCommand=sh@host/x",
        "ssh://u@-oProxyCommand=touch/x",
        "ssh://u@host/x;reboot",
        "ssh://u@host/x$(id)",
        "ssh://u@host/x`id`",
        "ssh://u@host/a/../etc",
        "ssh://u@host/a/-rf",
        "ssh://u@host/a b",
        "ssh://u@host/a\nb",
        "ssh://u@host/a\x1bb",
        "ssh://host/x",
        "ssh://u@host",
        "ssh://u@host/",
        "ssh://u@host:0/x",
        "ssh://u@host:99999/x",
        "ssh://u@host:22x/x",
        "ssh://u@ho_st/x",
        "nfs://host",
        "nfs://-o/x",
        "-oProxyCommand=x:/export",
        "host:/ex'port",
    ],
)
def test_bad_remote_targets_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_remote(value)


def test_settings_parser_validates_remote_targets() -> None:
    assert parse_target("ssh://crash@dumps:2222/srv/crash") == "ssh://crash@dumps:2222/srv/crash"
    assert parse_target("nas:/export") == "nas:/export"
    with pytest.raises(ValueError, match="option"):
        parse_target("ssh://u@-oProxyCommand=x/srv")
