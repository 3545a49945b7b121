"""``crashd propagate [ssh://USER@HOST[:PORT]/PATH] [--yes]``: make an ssh target work, as ``kdumpctl propagate``.

1. A dedicated key pair, ``/etc/crashd/ssh/id_ed25519`` (0600, no passphrase: the
   capture kernel has nobody to type one), made once with ``ssh-keygen``.
2. The server's host key, fetched with ``ssh-keyscan`` and *pinned* in
   ``/etc/crashd/ssh/known_hosts`` after the person confirms its fingerprint
   (``--yes`` for automation that checked it another way): the capture kernel
   runs with ``StrictHostKeyChecking=yes`` against that file, so there is no trust
   on first use at crash time.
3. The public key installed on the server with ``ssh-copy-id`` (the one step that
   may ask for a password), checked with the capture kernel's own ssh options
   by creating the target directory.

The target defaults to ``[capture] target``. Exit status: 0 ready, 1 failure, 2 usage.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from crashd.capture.remote_ssh import RemoteError, SshSpool, key_paths
from crashd.cli import EXIT_OK, Context
from crashd.core.errors import CrashdError
from crashd.core.remote import SshTarget, parse_remote

__all__ = ["add_arguments", "run"]

TIMEOUT = 60.0
KEYSCAN_TIMEOUT = 30  # seconds ssh-keyscan waits for the server's key


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", help="ssh://USER@HOST[:PORT]/PATH (default: [capture] target)")
    parser.add_argument("--yes", action="store_true", help="pin the server's host key without asking")
    parser.epilog = "exit status: 0 ready, 1 failure, 2 usage"


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    value = args.target
    if value is None:
        from crashd.core.config import read_config

        value = read_config(ctx.paths).config.capture.target
    try:
        target = parse_remote(value)
    except ValueError as exc:
        raise CrashdError(f"{value}: {exc}") from exc
    if not isinstance(target, SshTarget):
        raise CrashdError(f"{value}: not an ssh:// target; nothing to propagate")
    opts = key_paths(ctx.paths.etc())
    opts.key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(opts.key.parent, 0o700)
    if not opts.key.exists():
        ctx.tools.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "crashd", "-f", str(opts.key)],
                      timeout=TIMEOUT, check=True)
        print(f"created key {ctx.paths.unhost(opts.key)}")
    os.chmod(opts.key, 0o600)
    host = target.host.strip("[]")
    # -T: ssh-keyscan's own 5 s default was too short for a busy server (seen with the VM test's
    # emulated server under load: the port answered, no key came back within 5 s).
    scan = ctx.tools.run(["ssh-keyscan", "-T", str(KEYSCAN_TIMEOUT), "-p", str(target.port), "-t", "ed25519,ecdsa,rsa",
                          "--", host], timeout=TIMEOUT)
    lines = [ln for ln in scan.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise CrashdError(f"{target.url}: ssh-keyscan got no host key (is sshd reachable on port {target.port}?)")
    pending = opts.known_hosts.with_name("known_hosts.new")
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    prints = ctx.tools.run(["ssh-keygen", "-l", "-f", str(pending)], timeout=TIMEOUT, check=True).stdout
    print(f"host key of {host}:{target.port}:\n{prints.rstrip()}")
    if not args.yes:
        if not sys.stdin.isatty():
            pending.unlink()
            raise CrashdError("confirm the fingerprint: run on a terminal, or with --yes once checked")
        if input("Is this the server's key (compare on the server: ssh-keygen -lf /etc/ssh/ssh_host_*.pub)? [y/N] "
                 ).strip().lower() not in ("y", "yes"):
            pending.unlink()
            print("not pinned")
            return 1
    os.replace(pending, opts.known_hosts)
    print(f"pinned in {ctx.paths.unhost(opts.known_hosts)}")
    check = SshSpool(ctx.tools, target, opts, deadline=time.monotonic() + TIMEOUT, attempts=1)
    path = shlex.quote(target.path)  # validated charset, and quoted: the server runs a shell
    command = f"mkdir -p -- {path} && test -w {path}"
    try:  # the key may already be on the server (a re-run, a key installed by configuration management)
        check.run_check(command, "checking the target directory")
        print("the key is already installed on the server")
    except RemoteError as exc:
        if "Permission denied" not in exc.reason:
            raise
        if ctx.paths.root == Path("/"):  # ssh-copy-id keeps its scratch files in ~/.ssh
            os.makedirs(os.path.expanduser("~/.ssh"), mode=0o700, exist_ok=True)
        copy = ctx.tools.run(["ssh-copy-id", "-i", f"{opts.key}.pub", "-p", str(target.port),
                              "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={opts.known_hosts}",
                              target.destination], timeout=300)
        if not copy.ok:
            detail = (copy.stderr.strip().splitlines() or [f"exit {copy.returncode}"])[-1]
            raise CrashdError(f"{target.url}: ssh-copy-id failed: {detail}") from exc
        check.deadline = time.monotonic() + TIMEOUT
        check.run_check(command, "checking the target directory")
    print(f"{target.url}: ready (key installed, host key pinned, directory writable)")
    return EXIT_OK
