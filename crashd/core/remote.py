"""Remote capture targets: ``ssh://USER@HOST[:PORT]/PATH``, ``nfs://HOST/EXPORT[/PATH]``, ``HOST:/EXPORT``.

Parsed into frozen values once, validated to a narrow character set, because each
piece ends up in an argv (``ssh``, ``mount``) and the ssh PATH also in a command
line that the *server's* shell reads (crashd quotes it with :func:`shlex.quote`
too, but a PATH that needs no quoting is one less thing to get right). A host
that looks like an option (``-oProxyCommand=…``) would be read by ssh as one; it
is refused here, and ``--`` is not an option for ssh's destination.

An NFS spelling is ``nfs://server/export`` (the export is the first path
component; anything after it is a directory under the mount: use ``HOST:/EXPORT``
for a multi-component export) or mount(8)'s ``server:/export/path`` (the whole
path is the export).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NfsTarget", "SshTarget", "is_remote", "key_files", "parse_remote"]


def key_files(etc: Path) -> tuple[Path, Path]:
    """(private key, pinned known_hosts) that ``crashd propagate`` makes and the capture uses."""
    return etc / "crashd" / "ssh" / "id_ed25519", etc / "crashd" / "ssh" / "known_hosts"

_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]{2,45}\]")
_PATH = re.compile(r"(?:/[A-Za-z0-9._+@=,-]+)+/?")
_HOST_EXPORT = re.compile(r"^(?P<host>\[[^\]]*\]|[^/:\[\]]+):(?P<path>/.*)$")


@dataclass(frozen=True)
class SshTarget:
    """``ssh://user@host[:port]/path``: dumps streamed to ``path`` on ``host``."""

    user: str
    host: str  # a hostname, an IPv4 address or a bracketed IPv6 address
    port: int
    path: str  # absolute, safe charset, no trailing slash

    @property
    def destination(self) -> str:
        """ssh's destination argument (``user@host``; brackets dropped for IPv6)."""
        return f"{self.user}@{self.host.strip('[]')}"

    @property
    def url(self) -> str:
        port = "" if self.port == 22 else f":{self.port}"
        return f"ssh://{self.user}@{self.host}{port}{self.path}"

    def location(self, *names: str) -> str:
        """The URL of a file or directory under the target path (for ``sources.vmcore``)."""
        return "/".join([self.url.rstrip("/"), *names])


@dataclass(frozen=True)
class NfsTarget:
    """An NFS export mounted in the capture kernel; captures go to ``subdir`` in it."""

    host: str
    export: str  # absolute
    subdir: str  # "" or absolute, under the mount

    @property
    def spec(self) -> str:
        """mount(8)'s ``server:/export``."""
        return f"{self.host}:{self.export}"

    @property
    def url(self) -> str:
        return f"nfs://{self.host}{self.export}{self.subdir}"


def is_remote(value: str) -> bool:
    """True for a spelling meant as a remote target (it may still be invalid)."""
    v = value.strip()
    return v.startswith(("ssh://", "nfs://")) or (not v.startswith("/") and _HOST_EXPORT.match(v) is not None)


def parse_remote(value: str) -> SshTarget | NfsTarget | None:
    """The remote target ``value`` names; None when it is not a remote spelling.

    Raises ValueError (with a reason a person can act on) for a bad one."""
    v = value.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c.isspace() for c in v):
        raise ValueError("a remote target may not contain spaces or control characters")
    if v.startswith("ssh://"):
        return _ssh(v[len("ssh://"):])
    if v.startswith("nfs://"):
        rest = v[len("nfs://"):]
        host, slash, path = rest.partition("/")
        if not slash or not path:
            raise ValueError("nfs:// needs an export: nfs://HOST/EXPORT[/PATH]")
        export, _, sub = ("/" + path).lstrip("/").partition("/")
        return NfsTarget(_host(host), _path("/" + export), _path("/" + sub) if sub.strip("/") else "")
    if is_remote(v):
        m = _HOST_EXPORT.match(v)
        assert m is not None
        return NfsTarget(_host(m["host"]), _path(m["path"]), "")
    return None


def _ssh(rest: str) -> SshTarget:
    authority, slash, path = rest.partition("/")
    if not slash or not path.strip("/"):
        raise ValueError("ssh:// needs a directory: ssh://USER@HOST[:PORT]/PATH")
    user, at, hostport = authority.rpartition("@")
    if not at:
        raise ValueError("ssh:// needs a user: ssh://USER@HOST[:PORT]/PATH")
    if not _USER.fullmatch(user):
        raise ValueError(f"not a user name: {user[:40]!r}")
    port = 22
    if hostport.startswith("["):
        host, close, tail = hostport.partition("]")
        host += close
        if tail:
            port = _port(tail)
    elif ":" in hostport:
        host, _, portText = hostport.rpartition(":")
        port = _port(":" + portText)
    else:
        host = hostport
    return SshTarget(user, _host(host), port, _path("/" + path))


def _port(text: str) -> int:
    if not re.fullmatch(r":[0-9]{1,5}", text) or not 0 < int(text[1:]) < 65536:
        raise ValueError(f"not a port: {text[1:][:10]!r}")
    return int(text[1:])


def _host(text: str) -> str:
    if text.startswith("-"):
        raise ValueError(f"a host may not start with '-' (it would be read as an option): {text[:40]!r}")
    if _HOSTNAME.fullmatch(text) or _IPV6.fullmatch(text):
        return text
    raise ValueError(f"not a host name or address: {text[:40]!r}")


def _path(text: str) -> str:
    if not _PATH.fullmatch(text):
        raise ValueError(f"path may hold only letters, digits and ._+@=,- between slashes: {text[:80]!r}")
    parts = text.strip("/").split("/")
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"path may not contain '.' or '..': {text[:80]!r}")
    if any(p.startswith("-") for p in parts):
        raise ValueError(f"path components may not start with '-': {text[:80]!r}")
    return text.rstrip("/") or "/"
