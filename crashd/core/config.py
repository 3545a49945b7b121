"""Load ``/etc/crashd.conf`` and its ``crashd.conf.d/*.conf`` drop-ins.

The files are INI without interpolation, read line by line so that every problem
names its file and line. Drop-ins apply in lexical order; a later value wins.
Every problem is collected; :func:`load_config` raises :class:`ConfigError` with
all of them, :func:`read_config` returns them for ``crashd config check``.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashd.core.errors import ConfigError, ConfigProblem, UnsafePathError
from crashd.core.fsutil import read_regular
from crashd.core.paths import HostPaths
from crashd.core.settings import SECTION_TYPES, SETTINGS, Config, sections, setting

__all__ = ["MAX_CONFIG_BYTES", "MAX_SYMLINKS", "ConfigReport", "config_files", "default_config", "load_config",
           "read_config"]

MAX_CONFIG_BYTES = 1 << 20  # a config file is a few KiB; anything bigger is a mistake or /dev/zero
MAX_SYMLINKS = 40  # as the kernel's ELOOP limit

_SECTION_RE = re.compile(r"^\[\s*([^\]\s]+)\s*\]\s*$")
_KEY_RE = re.compile(r"^([A-Za-z0-9_.-]+)\s*=\s*(.*)$")


@dataclass(frozen=True)
class ConfigReport:
    """A parsed configuration plus every problem met on the way."""

    config: Config
    problems: list[ConfigProblem]
    files: list[Path]

    @property
    def errors(self) -> list[ConfigProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[ConfigProblem]:
        return [p for p in self.problems if p.severity == "warning"]


def config_files(paths: HostPaths) -> list[Path]:
    """The main file (if present) then the drop-ins, in the order they apply."""
    files: list[Path] = []
    if paths.config_file.exists() or paths.config_file.is_symlink():
        files.append(paths.config_file)
    if paths.config_dropins.is_dir():
        files += sorted(p for p in paths.config_dropins.iterdir() if p.name.endswith(".conf"))
    return files


def _resolve_in_root(paths: HostPaths, path: Path) -> Path:
    """Follow symlinks of the file itself as systemd does (config management links
    /etc files, NixOS always), but resolve an absolute link under the root, so
    ``--root`` never reads the host's files."""
    for _ in range(MAX_SYMLINKS):
        try:
            link = os.readlink(path)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # not a symlink: done
                return path
            raise
        path = paths.host(link) if link.startswith("/") else path.parent / link
    raise UnsafePathError(path, f"symlink loop (more than {MAX_SYMLINKS} links)")


def _read_file(paths: HostPaths, path: Path) -> bytes:
    """The file's bytes: a regular file (a FIFO would block, a device never end), capped."""
    return read_regular(_resolve_in_root(paths, path), MAX_CONFIG_BYTES)


def _parse_file(
    paths: HostPaths,
    path: Path,
    display: str,
    values: dict[tuple[str, str], Any],
    origins: dict[tuple[str, str], str],
    problems: list[ConfigProblem],
) -> None:
    try:
        raw = _read_file(paths, path)
    except UnsafePathError as exc:
        problems.append(ConfigProblem(display, 0, None, None, f"cannot read: {exc.reason}"))
        return
    except OSError as exc:
        problems.append(ConfigProblem(display, 0, None, None, f"cannot read: {exc.strerror or exc}"))
        return
    known_sections = set(sections())
    section: str | None = None
    seen_here: dict[tuple[str, str], int] = {}
    for lineno, rawline in enumerate(raw.split(b"\n"), start=1):
        try:
            line = rawline.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            problems.append(
                ConfigProblem(display, lineno, section, None, f"not valid UTF-8 (byte {exc.start + 1} of the line)")
            )
            continue
        if not line or line[0] in "#;":
            continue
        m = _SECTION_RE.match(line)
        if m:
            section = m.group(1)
            if section not in known_sections:
                problems.append(
                    ConfigProblem(display, lineno, section, None, "unknown section (ignored)", "warning")
                )
            continue
        m = _KEY_RE.match(line)
        if not m:
            problems.append(ConfigProblem(display, lineno, section, None, f"cannot parse line: {line!r} (expected key = value)"))
            continue
        key, text = m.group(1), m.group(2).strip()
        if section is None:
            problems.append(ConfigProblem(display, lineno, None, key, "key outside a section"))
            continue
        if section not in known_sections:
            continue
        try:
            spec = setting(section, key)
        except KeyError:
            problems.append(ConfigProblem(display, lineno, section, key, "unknown key (ignored)", "warning"))
            continue
        if (section, key) in seen_here:
            problems.append(
                ConfigProblem(display, lineno, section, key, f"duplicate key (first set on line {seen_here[section, key]})")
            )
            continue
        seen_here[section, key] = lineno
        try:
            values[section, key] = spec.parse(text)
        except ValueError as exc:
            problems.append(ConfigProblem(display, lineno, section, key, str(exc)))
            continue
        origins[section, key] = f"{display}:{lineno}"


def read_config(paths: HostPaths) -> ConfigReport:
    """Parse every file; never raises for content problems."""
    values: dict[tuple[str, str], Any] = {}
    origins: dict[tuple[str, str], str] = {}
    problems: list[ConfigProblem] = []
    for spec in SETTINGS:
        values[spec.section, spec.key] = spec.parse(spec.default)
        origins[spec.section, spec.key] = "default"
    files = config_files(paths)
    for path in files:
        _parse_file(paths, path, paths.unhost(path), values, origins, problems)
    parts = {
        name: SECTION_TYPES[name](**{k: v for (s, k), v in values.items() if s == name})
        for name in SECTION_TYPES
    }
    return ConfigReport(Config(**parts, origins=origins), problems, files)


def load_config(paths: HostPaths) -> Config:
    """The effective configuration, or :class:`ConfigError` listing every error."""
    report = read_config(paths)
    if report.errors:
        raise ConfigError(report.problems)
    return report.config


def default_config() -> Config:
    """The configuration with no files at all."""
    return read_config(HostPaths(Path("/nonexistent-crashd-root"))).config
