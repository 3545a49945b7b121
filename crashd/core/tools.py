"""The one seam through which crashd runs external tools.

kexec, makedumpfile, systemctl, mount and friends are all run through a
:class:`ToolRunner`. Arguments are always an argv list, never a shell string, so a
config value can never be interpreted by a shell. Tests replace the runner (or put
fake executables first on ``PATH``).

``--root X`` redirects every path, so it must redirect the tools that change the
host too: a confined runner (:meth:`ToolRunner.for_root`, any root but ``/``) runs
the tools of :data:`HOST_CHANGING` only from an explicitly given tools path
(``--tools-path`` / ``$CRASHD_TOOLS_PATH``), or from a ``PATH`` directory that is
not one of the system's (:data:`SYSTEM_DIRS`: a fake-tools directory put on
``PATH`` on purpose, as the tests do). ``crashd disarm --root /mnt/image`` as root
therefore never runs the real ``kexec -p -u``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crashd.core.errors import ToolError

__all__ = ["HOST_CHANGING", "SYSTEM_DIRS", "TOOLS_PATH_ENV", "ToolResult", "ToolRunner"]

# Tools whose run changes the machine (load/unload a kernel, reboot, mount, sysctl).
HOST_CHANGING = frozenset({
    "kexec", "systemctl", "mount", "umount", "reboot", "poweroff", "halt", "shutdown", "sysctl",
    "modprobe", "rmmod", "insmod", "swapoff", "swapon", "telinit", "init", "grub-reboot", "update-grub",
    "ip", "ifup", "ifdown",
})
SYSTEM_DIRS = frozenset({"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin",
                         "/snap/bin", "/usr/games", "/usr/local/games"})
TOOLS_PATH_ENV = "CRASHD_TOOLS_PATH"


@dataclass(frozen=True)
class ToolResult:
    """What a finished tool run left behind."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class ToolRunner:
    """Runs tools found on ``path`` (default: ``$PATH`` plus the sbin dirs)."""

    SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

    def __init__(self, path: str | None = None, env: Mapping[str, str] | None = None, *,
                 confined: bool = False, host_tools_path: str | None = None):
        base = path if path is not None else os.environ.get("PATH", "/usr/bin:/bin")
        parts = base.split(os.pathsep)
        if path is None:
            parts += [d for d in self.SBIN if d not in parts]
        self.path = os.pathsep.join(parts)
        self.env = dict(env) if env is not None else None
        self.confined = confined
        if host_tools_path is None:  # the non-system directories of PATH
            host_tools_path = os.pathsep.join(d for d in parts if d and os.path.realpath(d) not in SYSTEM_DIRS
                                              and os.path.normpath(d) not in SYSTEM_DIRS)
        self.host_tools_path = host_tools_path

    @classmethod
    def for_root(cls, root: os.PathLike[str] | str, tools_path: str | None = None) -> ToolRunner:
        """The runner for a host root: unconfined on ``/``; otherwise host-changing
        tools only from ``tools_path`` (or PATH's non-system directories when None)."""
        explicit = tools_path or None
        path = f"{explicit}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}" if explicit else None
        if os.path.realpath(root) == "/":
            return cls(path=path)
        return cls(path=path, confined=True, host_tools_path=explicit)

    def refused(self, name: str) -> bool:
        """True when this confined runner will not run ``name`` from where it would be found."""
        if not self.confined or os.path.basename(name) not in HOST_CHANGING:
            return False
        found = self.which(os.path.basename(name)) if "/" not in name else name
        return found is None or os.path.dirname(found) not in self.host_tools_path.split(os.pathsep)

    def which(self, name: str) -> str | None:
        """Full path of ``name`` on this runner's path, or None (a host-changing tool
        of a confined runner only on its host tools path)."""
        if self.confined and name in HOST_CHANGING:
            return shutil.which(name, path=self.host_tools_path) if self.host_tools_path else None
        return shutil.which(name, path=self.path)

    def _prepare(self, argv: Sequence[str]) -> tuple[list[str], str, dict[str, str]]:
        """argv as strings, the executable and the environment, for every way of running a tool;
        a host-changing tool under a root other than / is refused here, once for all of them."""
        args = [str(a) for a in argv]
        if self.refused(args[0]):
            raise ToolError(args, None, "", reason=(
                f"{args[0]}: not run: --root is not / and {args[0]} changes the host; give a fake on "
                f"--tools-path (${TOOLS_PATH_ENV})"))
        exe = self.which(args[0]) if "/" not in args[0] else args[0]
        if exe is None:
            raise ToolError(args, None, "", reason=f"{args[0]}: not found on PATH")
        env = dict(os.environ if self.env is None else self.env)
        env["PATH"] = self.path
        return args, exe, env

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = False,
        input: str | None = None,
    ) -> ToolResult:
        """Run ``argv`` and capture its output.

        A missing executable or a timeout raises :class:`ToolError`; a non-zero exit
        does so only with ``check=True``.
        """
        args, exe, env = self._prepare(argv)
        try:
            proc = subprocess.run(
                [exe, *args[1:]],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                input=input,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(args, None, "", reason=f"{args[0]} timed out after {exc.timeout}s") from exc
        except OSError as exc:
            raise ToolError(args, None, str(exc), reason=f"{args[0]} could not run") from exc
        result = ToolResult(args, proc.returncode, proc.stdout, proc.stderr)
        if check and not result.ok:
            raise ToolError(args, proc.returncode, proc.stderr)
        return result

    def run_foreground(self, argv: Sequence[str]) -> int:
        """Run ``argv`` on crashd's own terminal (stdin, stdout, stderr inherited, same session,
        so its job control and Ctrl-C work), as an interactive debugger needs; crashd ignores
        SIGINT and SIGQUIT meanwhile, as ``coredumpctl debug`` does. Returns its exit status."""
        import signal

        args, exe, env = self._prepare(argv)
        sigs = (signal.SIGINT, signal.SIGQUIT)

        def default_signals() -> None:  # an ignored signal stays ignored across exec
            for s in sigs:
                signal.signal(s, signal.SIG_DFL)

        old = [signal.signal(s, signal.SIG_IGN) for s in sigs]
        try:
            try:
                proc = subprocess.Popen([exe, *args[1:]], env=env, preexec_fn=default_signals)
            except OSError as exc:
                raise ToolError(args, None, str(exc), reason=f"{args[0]} could not run") from exc
            return proc.wait()
        finally:
            for s, handler in zip(sigs, old, strict=True):
                signal.signal(s, handler)

    def pipe(self, argv: Sequence[str], *, stdin: int, stdout: int, stderr: int) -> subprocess.Popen[bytes]:
        """Start ``argv`` (binary I/O) on the given descriptors, in a session of its
        own: one stage of a pipeline such as ``makedumpfile -F | ssh`` that the
        caller waits for and may kill with ``os.killpg``."""
        args, exe, env = self._prepare(argv)
        try:
            return subprocess.Popen([exe, *args[1:]], stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                                    start_new_session=True)
        except OSError as exc:
            raise ToolError(args, None, str(exc), reason=f"{args[0]} could not run") from exc

    def start(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        """Start ``argv`` for a caller that watches it and may have to kill it
        (a collector that stops making progress). It runs in a session of its own,
        so ``os.killpg(proc.pid, …)`` ends it with any children; stdout and stderr
        share one pipe, read with ``proc.communicate(timeout=…)``."""
        args, exe, env = self._prepare(argv)
        try:
            return subprocess.Popen(
                [exe, *args[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise ToolError(args, None, str(exc), reason=f"{args[0]} could not run") from exc
