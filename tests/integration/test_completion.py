"""Shell completion: the shipped scripts are the generated ones, and they work in real bash and zsh."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crashd.cli import VERBS
from crashd.cli.completion import bash_script, zsh_script
from tests.integration.cli import REPO
from tests.unit.cli.store import several_records

BASH = REPO / "packaging/completion/crashd"
ZSH = REPO / "packaging/completion/_crashd"


def test_shipped_scripts_are_the_generated_ones() -> None:
    assert BASH.read_text() == bash_script(), "regenerate: python3 -m crashd.cli.completion bash > " + str(BASH)
    assert ZSH.read_text() == zsh_script(), "regenerate: python3 -m crashd.cli.completion zsh > " + str(ZSH)


def test_every_verb_and_its_options_are_in_both_scripts() -> None:
    for script in (bash_script(), zsh_script()):
        for verb in VERBS:
            assert verb in script
        for option in ("--since", "--no-legend", "--json", "--style", "--dry-run", "--no-pager", "--verbose"):
            assert option in script
    assert "__complete" not in " ".join(VERBS)  # the helper stays hidden


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], Path]:
    base = tmp_path_factory.mktemp("c")
    root, names = several_records(base / "root")
    bindir = base / "bin"
    bindir.mkdir()
    wrapper = bindir / "crashd"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m crashd "$@"\n')
    wrapper.chmod(0o755)
    return root, names, bindir


def test_hidden_helper_lists_record_names(store: tuple[Path, list[str], Path]) -> None:
    root, names, bindir = store
    out = subprocess.run([str(bindir / "crashd"), "__complete", "records"], capture_output=True, text=True,
                         env={**os.environ, "CRASHD_ROOT": str(root)}, check=False)
    assert out.returncode == 0 and out.stdout.split() == [*names, "last"]
    assert subprocess.run([str(bindir / "crashd"), "--help"], capture_output=True, text=True,
                          check=False).stdout.count("__complete") == 0


def _bash(words: list[str], store: tuple[Path, list[str], Path], with_bash_completion: bool,
          line: str | None = None) -> list[str]:
    """COMPREPLY for the command line ``line`` that bash split into ``words`` (the last is the
    word being completed)."""
    root, _, bindir = store
    line = " ".join(words) if line is None else line
    setup = "source /usr/share/bash-completion/bash_completion\n" if with_bash_completion else ""
    script = (f"{setup}source {BASH}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\nCOMP_CWORD={len(words) - 1}\n"
              f"COMP_LINE={line!r}\nCOMP_POINT={len(line)}\n_crashd crashd {words[-1]!r} {words[-2]!r}\n"
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{bindir}:/usr/bin:/bin", "CRASHD_ROOT": str(root)},
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("with_bash_completion", [
    pytest.param(True, marks=pytest.mark.skipif(not Path("/usr/share/bash-completion/bash_completion").exists(),
                                                reason="bash-completion not installed (tests/run installs it)")),
    False,
])
def test_bash_completes_verbs_options_and_record_ids(store: tuple[Path, list[str], Path],
                                                     with_bash_completion: bool) -> None:
    _, names, _ = store
    assert _bash(["crashd", "sh"], store, with_bash_completion) == ["show"]
    assert sorted(_bash(["crashd", "s"], store, with_bash_completion)) == ["save", "show", "status"]
    assert _bash(["crashd", "--debug", "st"], store, with_bash_completion) == ["status"]
    assert "--no-legend" in _bash(["crashd", "list", "--no-"], store, with_bash_completion)
    # bash breaks words at '=': "--json=s" arrives as --json, =, s; the value must be attached
    assert _bash(["crashd", "list", "--json", "=", "s"], store, with_bash_completion,
                 "crashd list --json=s") == ["short"]
    assert sorted(_bash(["crashd", "show", "--json", "=", ""], store, with_bash_completion,
                        "crashd show --json=")) == ["pretty", "short"]
    assert _bash(["crashd", "dmesg", "--style", "d"], store, with_bash_completion) == ["dmesg"]
    assert sorted(_bash(["crashd", "config", ""], store, with_bash_completion)) == ["check", "show"]
    assert _bash(["crashd", "show", names[2][:20]], store, with_bash_completion) == [names[2]]
    assert sorted(_bash(["crashd", "remove", ""], store, with_bash_completion)) == sorted([*names, "last"])
    assert _bash(["crashd", "show", "--json", names[1][:18]], store, with_bash_completion) == [names[1]]  # bare --json
    assert names[3] in _bash(["crashd", "dmesg", names[3][:12]], store, with_bash_completion)


def _zsh_complete(typed: str, store: tuple[Path, list[str], Path], tmp_path: Path) -> str:
    """Type ``typed`` and TAB into an interactive zsh on a pseudo-terminal; the line it then shows."""
    root, _, bindir = store
    fdir = tmp_path / "fpath"
    fdir.mkdir(exist_ok=True)
    shutil.copy(ZSH, fdir / "_crashd")
    (tmp_path / ".zshrc").write_text(f"fpath=({fdir} $fpath)\nautoload -Uz compinit\ncompinit -u -D\n"
                                     "PS1='READY> '\nunsetopt beep\n")
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "CRASHD_ROOT": str(root), "ZDOTDIR": str(tmp_path), "TERM": "dumb",
           "HOME": str(tmp_path)}
    master, slave = os.openpty()
    proc = subprocess.Popen(["zsh", "-i"], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = b""

    def read_until(marker: bytes, timeout: float = 30) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break

    try:
        read_until(b"READY> ")
        seen = b""
        os.write(master, typed.encode() + b"\t")
        time.sleep(0.5)
        read_until(b"\x00never", timeout=3)  # take what the completion printed
        os.write(master, b"\x03")
        return seen.decode(errors="replace")
    finally:
        os.close(master)
        proc.kill()
        proc.wait()


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed (tests/run installs it)")
def test_zsh_completes_a_verb_and_a_record_id(store: tuple[Path, list[str], Path], tmp_path: Path) -> None:
    _, names, _ = store
    assert "crashd show " in _zsh_complete("crashd sho", store, tmp_path)
    assert f"crashd show {names[2]}" in _zsh_complete(f"crashd show {names[2][:20]}", store, tmp_path)
    assert "--no-legend" in _zsh_complete("crashd list --no-le", store, tmp_path)
    assert "crashd list --json=short" in _zsh_complete("crashd list --json=sh", store, tmp_path)
    assert f"crashd show --json {names[1]}" in _zsh_complete(f"crashd show --json {names[1][:18]}", store, tmp_path)
