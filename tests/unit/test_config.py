"""Config loading: drop-in order, every error kind located to FILE:LINE, the shipped file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crashd.core.config import default_config, load_config, read_config
from crashd.core.errors import ConfigError
from crashd.core.paths import HostPaths
from crashd.core.settings import SETTINGS, parse_duration, parse_size
from tests.fakeroot import build_root

REPO = Path(__file__).resolve().parents[2]


def write(root: Path, host_path: str, content: str | bytes) -> None:
    target = root / host_path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)


def test_no_files_gives_defaults(tmp_path: Path) -> None:
    cfg = load_config(HostPaths(tmp_path))
    assert cfg == default_config()
    assert cfg.capture.target == "/var/crash"
    assert cfg.panic.on_oops is True and cfg.panic.on_warn is None
    assert all(origin == "default" for origin in cfg.origins.values())


def test_dropins_apply_in_lexical_order_later_wins(tmp_path: Path) -> None:
    write(tmp_path, "/etc/crashd.conf", "[capture]\ndump_level = 31\ncompression = zlib\n")
    write(tmp_path, "/etc/crashd.conf.d/20-b.conf", "[capture]\ncompression = lzo\n")
    write(tmp_path, "/etc/crashd.conf.d/10-a.conf", "[capture]\ncompression = zstd\ndump_level = 1, 31\n")
    write(tmp_path, "/etc/crashd.conf.d/99-ignored.conf.bak", "[capture]\ncompression = none\n")
    cfg = load_config(HostPaths(tmp_path))
    assert cfg.capture.compression == "lzo"
    assert cfg.capture.dump_level == (1, 31)
    assert cfg.origins["capture", "compression"] == "/etc/crashd.conf.d/20-b.conf:2"
    assert cfg.origins["capture", "dump_level"] == "/etc/crashd.conf.d/10-a.conf:3"


def test_typed_values(tmp_path: Path) -> None:
    write(tmp_path, "/etc/crashd.conf", """\
# comment
; another
[retention]
max_size = 2G
max_age = 90d
min_free = 512M
max_records = 7
[panic]
on_warn = yes
timeout = -1
softlockup = keep
[arm]
cmdline_append = nr_cpus=1  irqpoll
""")
    cfg = load_config(HostPaths(tmp_path))
    assert cfg.retention.max_size == 2 << 30
    assert cfg.retention.max_age == 90 * 86400
    assert cfg.retention.min_free == 512 << 20
    assert cfg.retention.max_records == 7
    assert cfg.panic.on_warn is True and cfg.panic.timeout == -1 and cfg.panic.softlockup is None
    assert cfg.arm.cmdline_append == ("nr_cpus=1", "irqpoll")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[arm]\nenabled = perhaps\n", r"^/etc/crashd.conf:2: \[arm\] enabled: not a boolean: 'perhaps'"),
        ("[retention]\nmax_size = lots\n", r"^/etc/crashd.conf:2: \[retention\] max_size: not a size"),
        ("[retention]\nmax_age = 3 fortnights\n", r"^/etc/crashd.conf:2: \[retention\] max_age: not a duration"),
        ("[retention]\nmax_records = -4\n", r"^/etc/crashd.conf:2: \[retention\] max_records: -4 is below the minimum 0"),
        ("[panic]\ntimeout = soon\n", r"^/etc/crashd.conf:2: \[panic\] timeout: not an integer"),
        ("[capture]\ncollector = scp\n",
         r"^/etc/crashd.conf:2: \[capture\] collector: unknown value 'scp'; allowed: auto, makedumpfile, copy$"),
        ("[capture]\ndump_level = 31,99\n", r"^/etc/crashd.conf:2: \[capture\] dump_level: 99 is above the maximum 31"),
        ("[arm]\nenabled = yes\n\nenabled = no\n",
         r"^/etc/crashd.conf:4: \[arm\] enabled: duplicate key \(first set on line 2\)$"),
        ("enabled = yes\n", r"^/etc/crashd.conf:1: enabled: key outside a section$"),
        ("[arm]\nthis is not ini\n", r"^/etc/crashd.conf:2: \[arm\]: cannot parse line"),
        (b"[arm]\nkernel = /boot/\xff\xfe\n", r"^/etc/crashd.conf:2: \[arm\]: not valid UTF-8"),
    ],
)
def test_each_error_kind_names_file_line_and_key(tmp_path: Path, content: str | bytes, expected: str) -> None:
    write(tmp_path, "/etc/crashd.conf", content)
    report = read_config(HostPaths(tmp_path))
    assert len(report.errors) == 1, report.problems
    assert re.search(expected, str(report.errors[0])), str(report.errors[0])
    with pytest.raises(ConfigError):
        load_config(HostPaths(tmp_path))


def test_unreadable_dropin_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "etc/crashd.conf.d").mkdir(parents=True)
    (tmp_path / "etc/crashd.conf.d/50-dangling.conf").symlink_to(tmp_path / "nowhere")
    report = read_config(HostPaths(tmp_path))
    assert [str(p) for p in report.errors] == ["/etc/crashd.conf.d/50-dangling.conf: cannot read: No such file or directory"]


def test_unknown_keys_and_sections_warn_only(tmp_path: Path) -> None:
    write(tmp_path, "/etc/crashd.conf", "[arm]\ncolour = blue\n[network]\nhost = x\n")
    report = read_config(HostPaths(tmp_path))
    assert report.errors == []
    assert [str(p) for p in report.warnings] == [
        "/etc/crashd.conf:2: [arm] colour: warning: unknown key (ignored)",
        "/etc/crashd.conf:3: [network]: warning: unknown section (ignored)",
    ]


def test_every_problem_is_reported_across_files(tmp_path: Path) -> None:
    write(tmp_path, "/etc/crashd.conf", "[arm]\nenabled = maybe\n[capture]\nfinal_action = explode\n")
    write(tmp_path, "/etc/crashd.conf.d/10-size.conf", "[retention]\nmax_size = huge\n")
    report = read_config(HostPaths(tmp_path))
    lines = [str(p) for p in report.errors]
    assert [line.split(":")[0:2] for line in lines] == [
        ["/etc/crashd.conf", "2"], ["/etc/crashd.conf", "4"], ["/etc/crashd.conf.d/10-size.conf", "2"]]
    # a bad value keeps the default (or the earlier good value) in force
    assert report.config.arm.enabled is True


def test_sizes_and_durations() -> None:
    assert parse_size("4096") == 4096
    assert parse_size("1.5G") == 3 << 29
    assert parse_size("64MiB") == 64 << 20
    assert parse_duration("1h30m") == 5400
    assert parse_duration("0") == 0
    with pytest.raises(ValueError):
        parse_size("12X")
    with pytest.raises(ValueError):
        parse_duration("1h30x")


def test_shipped_conf_documents_every_setting_with_its_default() -> None:
    text = (REPO / "etc/crashd.conf").read_text()
    section = None
    documented: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m.group(1)
        elif m := re.fullmatch(r"#(\w+) = (.*)", line):
            assert section is not None
            documented[section, m.group(1)] = m.group(2)
    table = {(s.section, s.key): s.default for s in SETTINGS}
    assert documented == table


def test_shipped_conf_uncommented_parses_to_the_defaults(tmp_path: Path) -> None:
    text = (REPO / "etc/crashd.conf").read_text()
    active = re.sub(r"^#(\w+ = )", r"\1", text, flags=re.MULTILINE)
    build_root(tmp_path, {"/etc/crashd.conf": active})
    report = read_config(HostPaths(tmp_path))
    assert report.problems == []
    assert report.config == default_config()


# --- issue 10 E/F2: inline comments, keep, hostile input ----------------------------------


def test_inline_comment_is_rejected_with_file_line_and_hint(tmp_path: Path) -> None:
    # systemd's rule: '#' starts a comment only at the start of a line
    write(tmp_path, "/etc/crashd.conf.d/50-local.conf",
          "[capture]\ntarget = LABEL=crashdump      # a dedicated partition\n[retention]\nmax_records = 20 ; twenty\n")
    report = read_config(HostPaths(tmp_path))
    lines = [str(p) for p in report.errors]
    assert len(lines) == 2, lines
    assert lines[0].startswith("/etc/crashd.conf.d/50-local.conf:2: [capture] target: inline comment")
    assert "own line" in lines[0]
    assert lines[1].startswith("/etc/crashd.conf.d/50-local.conf:4: [retention] max_records: inline comment")
    assert report.config.capture.target == "/var/crash"  # the default stays in force


def test_a_hash_inside_a_value_is_not_a_comment(tmp_path: Path) -> None:
    write(tmp_path, "/etc/crashd.conf", "[capture]\nmount_options = x#y\n")
    report = read_config(HostPaths(tmp_path))
    assert report.problems == []
    assert report.config.capture.mount_options == "x#y"


def test_readme_configuration_example_passes_as_pasted(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Configure", 1)[1]
    block = section.split("```", 2)[1]
    write(tmp_path, "/etc/crashd.conf.d/50-local.conf", block.lstrip("\n"))
    report = read_config(HostPaths(tmp_path))
    assert report.problems == []
    assert report.config.capture.target == "LABEL=crashdump"
    assert report.config.retention.max_records == 20


@pytest.mark.parametrize("key", [s.key for s in SETTINGS if s.section == "retention" and s.type == "int"])
def test_keep_is_refused_where_it_means_nothing(tmp_path: Path, key: str) -> None:
    write(tmp_path, "/etc/crashd.conf", f"[retention]\n{key} = keep\n")
    report = read_config(HostPaths(tmp_path))
    assert [p.key for p in report.errors] == [key]
    assert "not an integer" in report.errors[0].message


def test_keep_still_means_leave_alone_for_panic_timeout(tmp_path: Path) -> None:
    write(tmp_path, "/etc/crashd.conf", "[panic]\ntimeout = keep\n")
    assert load_config(HostPaths(tmp_path)).panic.timeout is None


@pytest.mark.parametrize(
    ("line", "section"),
    [
        ("max_size = " + "9" * 400, "retention"),
        ("min_free = " + "9" * 400 + ".5G", "retention"),
        ("max_age = " + "9" * 400 + "d", "retention"),
        ("max_records = " + "9" * 400, "retention"),
        ("max_size = 99999999T", "retention"),
    ],
)
def test_absurd_numbers_are_one_clear_error(tmp_path: Path, line: str, section: str) -> None:
    write(tmp_path, "/etc/crashd.conf", f"[{section}]\n{line}\n")
    report = read_config(HostPaths(tmp_path))
    assert len(report.errors) == 1, report.problems
    assert "too large" in report.errors[0].message
    assert len(str(report.errors[0])) < 200


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("var/crash", "absolute"),
        ("/var/\x00crash", "control character"),
        ("/var/crash\x1b[2J", "control character"),
        ("/../../etc", "'..'"),
        ("LABEL=", "empty"),
    ],
)
def test_unusable_targets_fail_config_check(tmp_path: Path, value: str, message: str) -> None:
    write(tmp_path, "/etc/crashd.conf", f"[capture]\ntarget = {value}\n")
    report = read_config(HostPaths(tmp_path))
    assert [p.key for p in report.errors] == ["target"], report.problems
    assert message in report.errors[0].message


@pytest.mark.parametrize("value", ["/var/crash", "/srv/crash", "UUID=1234-ABCD", "LABEL=crashdump", "/dev/sdb1",
                                   "PARTUUID=0f5c3b5e-01", "PARTLABEL=crash"])
def test_usable_targets_pass(tmp_path: Path, value: str) -> None:
    write(tmp_path, "/etc/crashd.conf", f"[capture]\ntarget = {value}\n")
    assert load_config(HostPaths(tmp_path)).capture.target == value


def test_fifo_dropin_does_not_hang(tmp_path: Path) -> None:
    import os

    (tmp_path / "etc/crashd.conf.d").mkdir(parents=True)
    os.mkfifo(tmp_path / "etc/crashd.conf.d/50-x.conf")
    report = read_config(HostPaths(tmp_path))
    assert [str(p) for p in report.errors] == ["/etc/crashd.conf.d/50-x.conf: cannot read: is not a regular file"]


def test_dropin_symlinked_to_dev_zero_is_refused(tmp_path: Path) -> None:
    (tmp_path / "etc/crashd.conf.d").mkdir(parents=True)
    # on the real root (a relative link reaches the real /dev/zero from the fake one)
    up = "../" * len((tmp_path / "etc/crashd.conf.d").parts)
    (tmp_path / "etc/crashd.conf.d/50-zero.conf").symlink_to(f"{up}dev/zero")
    report = read_config(HostPaths(tmp_path))
    assert len(report.errors) == 1
    assert "not a regular file" in str(report.errors[0])


def test_oversized_config_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "/etc/crashd.conf", "#" * (2 << 20))
    report = read_config(HostPaths(tmp_path))
    assert len(report.errors) == 1 and "more than" in str(report.errors[0])


def test_dropin_symlink_is_followed_inside_the_root(tmp_path: Path) -> None:
    # config management (NixOS, ansible) links /etc files: follow them, but resolve
    # an absolute link under --root, never on the host
    write(tmp_path, "/srv/conf/local.conf", "[capture]\ncompression = lzo\n")
    (tmp_path / "etc/crashd.conf.d").mkdir(parents=True)
    (tmp_path / "etc/crashd.conf.d/50-link.conf").symlink_to("/srv/conf/local.conf")
    report = read_config(HostPaths(tmp_path))
    assert report.problems == []
    assert report.config.capture.compression == "lzo"


def test_symlink_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "etc/crashd.conf.d").mkdir(parents=True)
    (tmp_path / "etc/crashd.conf.d/50-a.conf").symlink_to("50-b.conf")
    (tmp_path / "etc/crashd.conf.d/50-b.conf").symlink_to("50-a.conf")
    report = read_config(HostPaths(tmp_path))
    assert len(report.errors) == 2
    assert all("symlink" in p.message for p in report.errors)
