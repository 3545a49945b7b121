"""The network the capture kernel brings up for a remote target, as the capture command line carries it.

Decided at arm time (:mod:`crashd.arm.netplan`: the interface the target is
reached through and what configures it on the running system), carried to the
capture kernel on its command line, carried out there by
``crashd-capture-network.service`` (:mod:`crashd.capture.netup`). The command line
is the one channel from the armed system to the capture boot that needs no
writable ``/etc`` and is renewed on every arm:

* ``systemd.wants=crashd-capture-network.service`` (and, for systemd-networkd,
  ``systemd.wants=systemd-networkd.service``): systemd-debug-generator turns each
  into a ``Wants=`` of the ``systemd.unit=`` target, crashd-capture.target. A
  local target gets none of it, so the capture boot starts no network at all.
* ``crashd.net=MANAGER:IFACE[:ADDRESS/PREFIX[:GATEWAY]]``: what to do.

Managers: ``networkd`` (the running system's ``.network`` files; the unit
above applies them), ``ifupdown`` (``ifup IFACE`` from ``/etc/network/interfaces``)
and ``static`` (``ip`` with the address and gateway given: ``[capture] network``,
or the interface's address on the running system when neither manager
configures it, e.g. NetworkManager).

``[capture] network``: ``auto`` (the default), ``none`` (crashd brings up no
network: something else on the capture command line does), ``IFACE``, or
``IFACE ADDRESS/PREFIX [GATEWAY]``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from crashd.core.cmdline import param

__all__ = [
    "MANAGERS", "NETWORK_PARAM", "NETWORK_UNIT", "NETWORKD_UNIT", "NetPlan", "NetworkSetting", "parse_network",
    "plan_from_cmdline",
]

NETWORK_UNIT = "crashd-capture-network.service"
NETWORKD_UNIT = "systemd-networkd.service"
NETWORK_PARAM = "crashd.net"
MANAGERS = ("networkd", "ifupdown", "static")
_IFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}")  # IFNAMSIZ 16; no ':' (our separator), no '/'


@dataclass(frozen=True)
class NetworkSetting:
    """``[capture] network`` parsed: mode auto/none/iface/static."""

    mode: str
    iface: str = ""
    address: str = ""  # ADDRESS/PREFIX
    gateway: str = ""


def _iface(text: str) -> str:
    if not _IFACE.fullmatch(text) or text in (".", ".."):
        raise ValueError(f"not an interface name: {text[:20]!r}")
    return text


def _address(text: str) -> str:
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise ValueError(f"not an ADDRESS/PREFIX: {text[:50]!r}") from None
    if "/" not in text:
        raise ValueError(f"give the prefix length too: {text[:50]!r} (e.g. 192.168.1.20/24)")
    return iface.with_prefixlen


def _gateway(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"not a gateway address: {text[:50]!r}") from None


def parse_network(text: str) -> NetworkSetting:
    """``auto``, ``none``, ``IFACE`` or ``IFACE ADDRESS/PREFIX [GATEWAY]``."""
    words = text.split()
    if not words or words == ["auto"]:
        return NetworkSetting("auto")
    if words == ["none"]:
        return NetworkSetting("none")
    if len(words) == 1:
        return NetworkSetting("iface", _iface(words[0]))
    if len(words) in (2, 3):
        gateway = _gateway(words[2]) if len(words) == 3 else ""
        return NetworkSetting("static", _iface(words[0]), _address(words[1]), gateway)
    raise ValueError("use auto, none, IFACE, or IFACE ADDRESS/PREFIX [GATEWAY]")


@dataclass(frozen=True)
class NetPlan:
    """What the capture kernel does to reach the target."""

    manager: str  # one of MANAGERS
    iface: str
    address: str = ""  # static: ADDRESS/PREFIX
    gateway: str = ""  # static, optional

    def __post_init__(self) -> None:
        if self.manager not in MANAGERS:
            raise ValueError(f"unknown network manager {self.manager!r}")
        _iface(self.iface)
        if self.manager == "static" and not self.address:
            raise ValueError("a static network needs an address")

    def value(self) -> str:
        """``crashd.net=``'s value; IPv6 addresses are bracketed so ':' still splits."""
        parts = [self.manager, self.iface]
        if self.manager == "static":
            parts.append(f"[{self.address}]" if ":" in self.address else self.address)
            if self.gateway:
                parts.append(f"[{self.gateway}]" if ":" in self.gateway else self.gateway)
        return ":".join(parts)

    def cmdline(self) -> list[str]:
        """The capture command line's parameters for this plan."""
        wants = [f"systemd.wants={NETWORKD_UNIT}"] if self.manager == "networkd" else []
        return [*wants, f"systemd.wants={NETWORK_UNIT}", f"{NETWORK_PARAM}={self.value()}"]

    @classmethod
    def from_value(cls, value: str) -> NetPlan:
        parts = re.findall(r"\[[^\]]*\]|[^:]+", value)
        parts = [p.strip("[]") for p in parts]
        if len(parts) < 2:
            raise ValueError(f"{NETWORK_PARAM}={value[:60]}: want MANAGER:IFACE[:ADDRESS/PREFIX[:GATEWAY]]")
        manager, iface, *rest = parts
        if manager == "static":
            if not rest or len(rest) > 2:
                raise ValueError(f"{NETWORK_PARAM}={value[:60]}: static needs ADDRESS/PREFIX[:GATEWAY]")
            return cls(manager, iface, _address(rest[0]), _gateway(rest[1]) if len(rest) == 2 else "")
        if rest:
            raise ValueError(f"{NETWORK_PARAM}={value[:60]}: only a static plan takes an address")
        return cls(manager, iface)


def plan_from_cmdline(cmdline: str) -> NetPlan | None:
    """The plan on the capture command line; None when there is none (a local target).
    Raises ValueError for a malformed one."""
    value = param(cmdline, NETWORK_PARAM)
    return NetPlan.from_value(value) if value else None
