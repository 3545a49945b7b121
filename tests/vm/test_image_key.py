"""The base image cache key and the host apt configuration it is built from (fast: no VM).

The base images come from the host's own apt sources and options (mirror, snapshot, proxy); the
cache key hashes their content, so pointing the host at another mirror rebuilds the bases, and
nothing in the harness names a mirror host.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.vm.image import ARCHES, BASE_PACKAGES, base_key, host_apt_options, host_apt_sources

AMD64 = ARCHES["amd64"]
SOURCES = ("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n",)
OPTIONS = ('Acquire::Check-Valid-Until "false";',)


def _key(**kw: object) -> str:
    args: dict[str, object] = {"sources": SOURCES, "apt_options": OPTIONS}
    args.update(kw)
    arch = args.pop("arch", AMD64)
    packages = args.pop("packages", BASE_PACKAGES)
    return base_key(arch, packages, **args)  # type: ignore[arg-type]


def test_key_is_stable_for_the_same_inputs() -> None:
    assert _key() == _key()


@pytest.mark.parametrize(
    "change",
    [
        {"sources": ("Types: deb\nURIs: http://other.example/debian\nSuites: bookworm\nComponents: main\n",)},
        {"sources": (*SOURCES, "deb http://mirror.example/debian bookworm-updates main\n")},
        {"apt_options": ('Acquire::http::Proxy "http://proxy.example:3142";',)},
        {"apt_options": ()},
        {"arch": ARCHES["armhf"]},
        {"arch": ARCHES["arm64"]},
        {"packages": (*BASE_PACKAGES, "strace")},
        {"late": ("kdump-tools",)},
    ],
)
def test_key_changes_with_every_input(change: dict[str, object]) -> None:
    assert _key(**change) != _key()


def test_package_order_does_not_matter() -> None:
    assert _key(packages=tuple(reversed(BASE_PACKAGES))) == _key()


def test_host_sources_in_apt_order_enabled_and_nonempty_only(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# a comment: harmless when pasted into the guest's sources\n")
    (tmp_path / "sources.list.d/b.sources").write_text(SOURCES[0])
    (tmp_path / "sources.list.d/a.list").write_text("deb http://mirror.example/debian bookworm main\n")
    (tmp_path / "sources.list.d/c.list.disabled-by-admin").write_text("deb http://x.example/ y main\n")
    (tmp_path / "sources.list.d/d.sources").write_text("")
    found = host_apt_sources(tmp_path)
    assert found == [tmp_path / "sources.list", tmp_path / "sources.list.d/a.list", tmp_path / "sources.list.d/b.sources"]


def test_no_host_sources_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no apt sources"):
        host_apt_sources(tmp_path)


def test_host_options_keep_proxies_and_snapshot_validity_only() -> None:
    dump = "\n".join([
        'APT::Architecture "amd64";',
        'Acquire::http::Proxy "http://proxy.example:3142";',
        'Acquire::https::Proxy::deb.example "DIRECT";',
        'Acquire::Check-Valid-Until "false";',
        'Acquire::Retries "3";',
        'DPkg::Post-Invoke:: "rm -f /var/cache/apt/archives/*.deb";',
    ])
    assert host_apt_options(dump) == [
        'Acquire::http::Proxy "http://proxy.example:3142";',
        'Acquire::https::Proxy::deb.example "DIRECT";',
        'Acquire::Check-Valid-Until "false";',
    ]


def test_no_harness_file_names_a_mirror_host() -> None:
    mirror = re.compile(r"\b(deb|security|ftp\.\w+|httpredir)\.debian\.org\b|archive\.ubuntu\.com")
    here = Path(__file__).resolve().parent
    files = [*here.glob("*.py"), *(here / "guest").iterdir(), here / "demo"]
    offenders = [p.name for p in files if p.is_file() and p.name != Path(__file__).name
                 and mirror.search(p.read_text(errors="replace"))]
    assert offenders == []
