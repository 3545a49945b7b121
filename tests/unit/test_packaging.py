"""The packages ship what the checkout has: every unit, the catalog and the config, at one version.

The real build (dpkg-buildpackage + lintian) runs in the VM tests; this catches a unit added to
units/ but forgotten in a package, or a version bumped in one place only, in the fast suite.
"""

from __future__ import annotations

import ast
import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import crashd

REPO = Path(__file__).resolve().parents[2]
COMPLETIONS = ["packaging/completion/crashd", "packaging/completion/_crashd"]
SHIPPED = sorted([*(str(p.relative_to(REPO)) for p in (REPO / "units").iterdir()), "etc/crashd.conf"])


def test_debian_install_list_ships_every_unit_and_the_config() -> None:
    listed = sorted(line.split()[0] for line in (REPO / "packaging/debian/crashd.install").read_text().splitlines()
                    if line.strip())
    # the boot-loader snippet (packaging/debian is debian/ at build) and the shell completions
    assert listed == sorted([*SHIPPED, "debian/grub.d/crashd.cfg", *COMPLETIONS])


def test_both_packages_ship_the_completions_and_both_man_pages() -> None:
    install = (REPO / "packaging/debian/crashd.install").read_text()
    assert "packaging/completion/crashd usr/share/bash-completion/completions\n" in install
    assert "packaging/completion/_crashd usr/share/zsh/vendor-completions\n" in install
    pages = (REPO / "packaging/debian/crashd.manpages").read_text().split()
    assert pages == ["debian/crashd.8", "debian/crashd.conf.5"]
    spec = (REPO / "packaging/rpm/crashd.spec").read_text()
    for f in (*COMPLETIONS, "packaging/debian/crashd.8", "packaging/debian/crashd.conf.5"):
        assert re.search(rf"^install -D -m 0644 {re.escape(f)} ", spec, re.M), f
        assert (REPO / f).is_file(), f


def test_rpm_spec_installs_every_unit_and_the_config() -> None:
    spec = (REPO / "packaging/rpm/crashd.spec").read_text()
    installed = sorted(set(re.findall(r"^install .* ((?:units|etc)/\S+) ", spec, re.M)))
    assert installed == SHIPPED


def test_versions_agree() -> None:
    changelog = (REPO / "packaging/debian/changelog").read_text().splitlines()[0]
    assert re.match(rf"crashd \({re.escape(crashd.__version__)}(-\S+)?\) ", changelog), changelog
    spec = (REPO / "packaging/rpm/crashd.spec").read_text()
    assert re.search(rf"^Version:\s+{re.escape(crashd.__version__)}$", spec, re.M)


@pytest.mark.skipif(shutil.which("rpmspec") is None, reason="rpmspec not installed (tests/run installs rpm)")
def test_rpm_spec_parses() -> None:
    out = subprocess.run(["rpmspec", "-q", "--srpm", str(REPO / "packaging/rpm/crashd.spec")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(f"crashd-{crashd.__version__}-")


# ---------------------------------------------------------------- dependencies
# Every third-party module crashd imports: (pip distribution, Debian/Fedora package). None: not
# declared there — cramjam has no Debian 12 package; python-snappy is Debian's snappy fallback,
# pip users get snappy through cramjam.
THIRD_PARTY = {
    "lzo": ("python-lzo", "python3-lzo"),
    "zstandard": ("zstandard", "python3-zstandard"),
    "cramjam": ("cramjam", None),
    "snappy": (None, "python3-snappy"),
    "drgn": ("drgn", "python3-drgn"),  # crashd.analyze only (the triage report)
}


def _catches_import_error(node: ast.Try) -> bool:
    names = set()
    for h in node.handlers:
        for t in (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]) if h.type else []:
            if isinstance(t, ast.Name):
                names.add(t.id)
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def scan_imports() -> tuple[set[str], set[str]]:
    """(required, optional) third-party top-level modules imported by crashd/: an import inside a
    ``try`` that catches ImportError is optional, every other one is required."""
    required: set[str] = set()
    optional: set[str] = set()

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Try):
            inner = guarded or _catches_import_error(node)
            for child in node.body:
                visit(child, inner)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top != "crashd" and top not in sys.stdlib_module_names and top != "__future__":
                (optional if guarded else required).add(top)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    for path in sorted((REPO / "crashd").rglob("*.py")):
        visit(ast.parse(path.read_text(), str(path)), False)
    return required, optional - required


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg


def _req_names(text: str) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0] for line in text.splitlines() if line.strip()}


def _control_field(field: str) -> set[str]:
    text = (REPO / "packaging/debian/control").read_text()
    binary = text.split("\nPackage: crashd\n", 1)[1]
    m = re.search(rf"^{field}:(.*(?:\n[ \t].*)*)", binary, re.M)
    return {re.split(r"[\s(]", p.strip(), maxsplit=1)[0] for p in (m.group(1) if m else "").split(",") if p.strip()}


def _spec_field(field: str) -> set[str]:
    spec = (REPO / "packaging/rpm/crashd.spec").read_text()
    return {m.split()[0] for m in re.findall(rf"^{field}:\s+(.*)$", spec, re.M)}


def _python3(pkgs: set[str]) -> set[str]:
    return {p for p in pkgs if p.startswith("python3-")}


def test_every_third_party_import_is_known() -> None:
    required, optional = scan_imports()
    assert required == set(), "crashd's required imports are the standard library only"
    assert required | optional <= set(THIRD_PARTY), "add the new import to THIRD_PARTY and to the README table"


def test_pip_declares_exactly_what_is_imported() -> None:
    required, optional = scan_imports()
    cfg = _setup_cfg()
    assert _req_names(cfg["options"]["install_requires"]) == {THIRD_PARTY[m][0] for m in required}
    extras = _req_names(cfg["options.extras_require"]["codecs"]) | _req_names(cfg["options.extras_require"]["analyze"])
    assert extras == {THIRD_PARTY[m][0] for m in optional if THIRD_PARTY[m][0]}


def test_debian_and_rpm_declare_exactly_what_is_imported() -> None:
    required, optional = scan_imports()
    want_required = {THIRD_PARTY[m][1] for m in required}
    want_optional = {THIRD_PARTY[m][1] for m in optional if THIRD_PARTY[m][1]}
    assert _python3(_control_field("Depends")) == want_required
    assert _python3(_control_field("Recommends") | _control_field("Suggests")) == want_optional
    # what crashd writes by default must be readable on a default install
    assert {"python3-lzo", "python3-zstandard"} <= _control_field("Recommends")
    assert _python3(_spec_field("Requires")) == want_required
    assert _python3(_spec_field("Recommends") | _spec_field("Suggests")) == want_optional


def _readme_dependencies() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"^## Dependencies\n(.*?)(?=^## )", text, re.M | re.S)
    assert m, "README.md has no '## Dependencies' section"
    return m.group(1)


def test_readme_table_says_what_the_packages_declare() -> None:
    rows = {}
    for line in _readme_dependencies().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) > 3 and not set(cells[0]) <= {"-", " "}:
            rows[cells[0]] = cells
    header = rows.pop("Dependency")
    debian = header.index("Debian")
    declared = {**dict.fromkeys(_python3(_control_field("Depends")), "Depends"),
                **dict.fromkeys(_python3(_control_field("Recommends")), "Recommends"),
                **dict.fromkeys(_python3(_control_field("Suggests")), "Suggests")}
    in_table = {}
    for cells in rows.values():
        for name in re.findall(r"python3-[a-z0-9-]+", cells[debian]):
            in_table[name] = cells[debian].split()[-1]
    assert in_table == declared
    for module in THIRD_PARTY:
        assert any(module in name for name in rows), f"{module} missing from the README table"


# ---------------------------------------------------------------- documentation and maintainer scripts
README_DOC = "file:/usr/share/doc/crashd/README.md"


def test_packages_ship_the_readme_the_units_point_at() -> None:
    docs = (REPO / "packaging/debian/crashd.docs").read_text().split()
    assert "README.md" in docs  # dh_installdocs: /usr/share/doc/crashd/README.md
    assert re.search(r"^%doc README\.md$", (REPO / "packaging/rpm/crashd.spec").read_text(), re.M)
    for unit in sorted(p for p in (REPO / "units").iterdir() if p.suffix in (".service", ".target")):
        documentation = " ".join(re.findall(r"^Documentation=(.*)$", unit.read_text(), re.M)).split()
        assert README_DOC in documentation, unit.name
        assert "man:crashd(8)" in documentation, unit.name


def _install_key(unit: str, key: str) -> list[str]:
    text = (REPO / "units" / unit).read_text()
    section = text.split("[Install]", 1)[1] if "[Install]" in text else ""
    return [v for line in re.findall(rf"^{key}=(.*)$", section, re.M) for v in line.split()]


def test_each_unit_gets_one_set_of_maintainer_snippets() -> None:
    """dh_installsystemd also processes every unit named in Also= (unless --no-also): a unit listed
    in its own call and reached through Also= would be enabled twice and started by the wrong call."""
    rules = (REPO / "packaging/debian/rules").read_text()
    processed: list[str] = []
    for line in re.findall(r"^\tdh_installsystemd (.*)$", rules, re.M):
        words = line.split()
        units = [w for w in words if not w.startswith("-")]
        processed += units
        if "--no-also" not in words:
            processed += [a for u in units for a in _install_key(u, "Also")]
    assert sorted(processed) == sorted(set(processed)), processed
    services = {p.name for p in (REPO / "units").iterdir() if p.suffix in (".service", ".target")}
    assert set(processed) == services


def test_debian_readme_stays_uncompressed() -> None:
    """dh_compress would ship README.md.gz and leave every unit's Documentation= link dangling."""
    rules = (REPO / "packaging/debian/rules").read_text()
    assert re.search(r"^\tdh_compress .*-X ?README\.md", rules, re.M)
