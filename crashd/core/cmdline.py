"""The kernel command line: one tokenizer for every stage.

Arming edits the running command line into the capture kernel's, readiness reads
``crashkernel=``, the capture reads ``crashd.boot_id=`` back: all three must split
exactly as the kernel's ``next_arg()`` does, or a quoted value (``dyndbg="a b"``)
would be cut differently in each place.
"""

from __future__ import annotations

__all__ = ["param", "param_key", "split_cmdline"]


def split_cmdline(text: str) -> list[str]:
    """Split like the kernel's ``next_arg()``: whitespace separates, double quotes
    protect spaces anywhere in a parameter (``a="b c"`` or ``"a=b c"``).

    Tokens are returned verbatim (quotes kept) so they pass through unchanged.
    """
    tokens: list[str] = []
    current: list[str] = []
    in_quote = False
    started = False
    for ch in text:
        if ch == '"':
            in_quote = not in_quote
            current.append(ch)
            started = True
        elif ch.isspace() and not in_quote:
            if started:
                tokens.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        tokens.append("".join(current))
    return tokens


def param_key(token: str) -> str:
    """The parameter name of one token (``"a=b c"`` → ``a``; ``quiet`` → ``quiet``)."""
    return token.split("=", 1)[0].replace('"', "")


def param(cmdline: str, key: str) -> str | None:
    """The value of ``key=`` (last one wins, quotes removed), ``""`` for a bare ``key``, or None.

    Parameters after a bare ``--`` belong to init, not the kernel, and are not looked at.
    """
    value = None
    for token in split_cmdline(cmdline):
        if token == "--":
            break
        name, sep, val = token.replace('"', "").partition("=")
        if name == key:
            value = val if sep else ""
    return value
