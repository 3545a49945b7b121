"""The package layout is the architecture: stages import core and the shared readers, never each other.

crashd runs at three moments — arming in the running system, capture in the capture
kernel, ingest at the next boot — and each must stay small and importable alone (the
capture kernel's memory is tiny). This contract is checked on every import, lazy
ones inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import crashd

PKG = Path(crashd.__file__).parent
SHARED = {"core", "vmcore", "crashlog"}
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "vmcore": {"core", "vmcore"},
    "crashlog": {"core", "crashlog"},
    "arm": {"arm"} | SHARED,
    "capture": {"capture"} | SHARED,
    "ingest": {"ingest"} | SHARED,
    "analyze": {"analyze"} | SHARED,  # drgn triage of a dump (issue 15); run by the CLI after ingest
    "cli": {"cli", "arm", "capture", "ingest", "analyze", "top"} | SHARED,
    "top": {"cli", "top"},
}
# The spool contract (names, the directory regex, the capture.json schema) is the one
# interface between capture and ingest; ingest imports it from its owner.
EXCEPTIONS = {("ingest", "crashd.capture.spool")}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PKG / parts[1]).is_dir()) else "top"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "crashd":
                found += [(node.lineno, f"crashd.{a.name}") for a in node.names]
            elif node.module.startswith("crashd."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("crashd.")]
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        out.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return out


def test_stages_import_only_core_and_the_shared_readers() -> None:
    bad = []
    for module, path in _modules():
        src = _stage(module)
        for line, target in _imports(path):
            dst = _stage(target) if target != "crashd" else "top"
            if dst in ALLOWED[src] or (src, target) in EXCEPTIONS:
                continue
            bad.append(f"{path.relative_to(PKG.parent)}:{line}: {src} imports {target}")
    assert bad == []


def test_the_contract_sees_lazy_imports() -> None:
    # the capture path imports the reader lazily; a checker that missed it would pass anything
    targets = {t for _, t in _imports(PKG / "capture" / "dmesg.py")}
    assert "crashd.vmcore" in targets


def test_every_module_declares_its_public_names() -> None:
    missing = []
    for module, path in _modules():
        if path.name in ("__init__.py", "__main__.py") and module.count(".") > 0 and path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        names = [
            n
            for n in tree.body
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)
        ]
        if not names:
            missing.append(module)
            continue
        value = ast.literal_eval(names[0].value)
        defined = {
            *(n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)),
            *(t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)),
            *(n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)),
            *(a.asname or a.name.split(".")[-1] for n in tree.body if isinstance(n, ast.ImportFrom | ast.Import) for a in n.names),
        }
        assert set(value) <= defined, (module, set(value) - defined)
    assert missing == []


def test_every_package_directory_is_a_regular_package() -> None:
    # setup.cfg's find: (and so the .deb) skips a directory without __init__.py: its modules import
    # from a checkout and are missing once installed
    dirs = {p.parent for p in PKG.rglob("*.py") if "__pycache__" not in p.parts}
    assert sorted(str(d.relative_to(PKG.parent)) for d in dirs if not (d / "__init__.py").is_file()) == []
