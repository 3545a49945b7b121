"""End the capture boot the way ``[capture] final_action`` / ``failure_action`` say.

Why ``crashd save`` asks systemctl itself rather than a static ``SuccessAction=``:
the action is configuration, and a unit file cannot read crashd.conf. So the
service runs ``crashd save --act``, which requests the configured action with
``systemctl --no-block`` (a normal, orderly shutdown that unmounts file systems)
and exits. The unit keeps ``FailureAction=reboot-force`` as the safety net for
the cases where crashd itself could not ask (killed, timed out, OOM, systemctl
failed): a device in the field must never hang in the capture kernel.

``shell`` starts ``emergency.target`` (sulogin on the console) and leaves the
machine there for someone to look.
"""

from __future__ import annotations

from crashd.core.errors import ToolError
from crashd.core.tools import ToolRunner

__all__ = ["ACTION_ARGV", "perform", "perform_or_report"]

ACTION_ARGV = {
    "reboot": ["systemctl", "--no-block", "reboot"],
    "poweroff": ["systemctl", "--no-block", "poweroff"],
    "halt": ["systemctl", "--no-block", "halt"],
    "shell": ["systemctl", "--no-block", "start", "emergency.target"],
}


def perform(action: str, tools: ToolRunner) -> str:
    """Request ``action``; returns a line for the console. Raises ToolError when
    systemd refused, so the unit's ``FailureAction=`` takes over."""
    argv = ACTION_ARGV[action]
    tools.run(argv, timeout=30, check=True)
    return f"requested {action} ({' '.join(argv)})"


def perform_or_report(action: str, tools: ToolRunner) -> tuple[bool, str]:
    try:
        return True, perform(action, tools)
    except ToolError as exc:
        return False, f"could not request {action}: {exc}"
