"""A real oops, on every guest architecture: a test module (``oopsmod/crashd_oops.c``, built
against the guest kernel's own headers by :mod:`tests.vm.oopsmod`) dereferences NULL; crashd's
default ``[panic] on_oops = yes`` (``kernel.panic_on_oops=1``) makes that a panic, so the capture
kernel saves it. One guest run, three crashes (boot N oopses at the Nth site once the record of
the last one is ingested): site A, site A again, site B. Each record's crash is an ``oops`` with
its PC and call trace symbolised; both site-A records share a signature, site B's differs.
On amd64 a fourth boot hangs a task at site H with crashd's ``[panic] hung_task = yes``: a
``hung_task`` record, whose analysis (with the debug vmlinux and the module's debug info) shows the
hung task's stack at its source line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from crashd.crashlog.summary import normalize_frame
from tests.vm.debuginfo import fetch_vmlinux
from tests.vm.hostcli import crashd_cli, fake_root
from tests.vm.lab import Lab, Outcome, Run, kdump_cmdline
from tests.vm.oopsmod import SOURCES, build_module, cached_base
from tests.vm.test_kdump_arm import _need
from tests.vm.timeline import kernel_boots

pytestmark = pytest.mark.vm

SITES = ("a", "a", "b")
SITES_BY_ARCH = {"amd64": (*SITES, "h")}  # the hung task: one more cycle, where the debug vmlinux is
HUNG_CONF = b"[panic]\nhung_task = yes\n"
MODULE_PATH = "/usr/local/lib/crashd-vmtest/crashd_oops.ko"
# The kernel's first oops line on each architecture (x86 "BUG: kernel NULL pointer dereference",
# ARM "Unable to handle kernel NULL pointer dereference at virtual address …")
OOPS_LINE = r"BUG: kernel NULL pointer dereference|Unable to handle kernel (NULL pointer dereference|paging request)"
# A frame as the kernel's %pS prints it: symbol+off/size [module]; ARM's first frame is a bare %ps
SYMBOLISED = re.compile(r"^(?:\? )?[A-Za-z_.$][\w.$]*(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[[^\]]+\])?$")


def _frame_names(trace: list[str]) -> list[str]:
    """Function names, without '?' frames, offsets, modules and compiler clone suffixes (.cold)."""
    return [name.split(" ", 1)[0] for f in trace if (name := normalize_frame(f))]


def _record_site(dmesg: str) -> str | None:
    sites = re.findall(r"crashd_oops: site ([ABH])", dmesg)
    return sites[-1].lower() if sites else None


def _assert_oops_records(outcome: Outcome, sites: tuple[str, ...], arch: str) -> dict[str, list[str]]:
    """One record per crash, each an ``oops`` at its site (a ``hung_task`` at site H), symbolised,
    both site-A records sharing a signature and the others' differing; the record names by site."""
    rows = outcome.records()
    assert len(rows) == len(sites), f"crashd list --json: {rows}\n{outcome.explain()}"
    by_site: dict[str, list[dict[str, Any]]] = {}
    names_by_site: dict[str, list[str]] = {}
    for row in rows:
        assert row["complete"] is True, row
        rec = row["name"]
        shown = json.loads(outcome.text(f"show-{rec}.json"))
        meta = shown["metadata"]
        dmesg = (outcome.out / "crash" / rec / "dmesg.txt").read_text(errors="replace")
        rec_site = _record_site(dmesg)
        assert rec_site is not None, f"{rec}: no 'crashd_oops: site' line in its dmesg"
        panic = meta["panic"]
        by_site.setdefault(rec_site, []).append(meta)
        names_by_site.setdefault(rec_site, []).append(rec)
        if rec_site == "h":
            assert panic["kind"] == "hung_task", (rec, panic)
            assert "crashd_oops_hang" in _frame_names(panic["call_trace"]), (rec, panic["call_trace"])
            continue
        assert panic["kind"] == "oops", (rec, panic)
        assert (panic["pc_symbol"] or "").startswith(f"crashd_oops_site_{rec_site}+0x"), (rec, panic)
        assert (panic["pc_symbol"] or "").endswith(" [crashd_oops]"), (rec, panic)
        trace = panic["call_trace"]
        assert trace and all(SYMBOLISED.match(f) for f in trace), (rec, trace)
        names = _frame_names(trace)
        caller = "crashd_oops_write" if rec_site == "a" else "crashd_oops_via_b"
        if arch == "arm64":  # a leaf function saves no frame record: its caller is in the link register
            assert f"lr : {caller}+0x" in dmesg, (rec, trace)
        else:
            assert caller in names, (rec, trace)
        assert "vfs_write" in names, (rec, trace)
    want = sorted((s, sites.count(s)) for s in set(sites))
    assert sorted((s, len(m)) for s, m in by_site.items()) == want, by_site.keys()
    (a1, a2), (b,) = by_site["a"], by_site["b"]
    assert a1["signature"] and a1["signature"] == a2["signature"], (a1["signature"], a2["signature"])
    assert b["signature"] and b["signature"] != a1["signature"], (a1["signature"], b["signature"])
    for (h,) in [by_site["h"]] if "h" in by_site else []:
        assert h["signature"] and h["signature"] not in (a1["signature"], b["signature"]), h["signature"]
    return names_by_site


def _site_line(site: str) -> int:
    """The line of ``/* site X */`` in the module's source: the faulting access (the call to
    schedule() where the hung task sleeps)."""
    lines = (SOURCES / "crashd_oops.c").read_text().splitlines()
    (n,) = [i for i, text in enumerate(lines, start=1) if f"/* site {site.upper()} */" in text]
    return n


def _analyze_module_oops(lab: Lab, outcome: Outcome, records: dict[str, list[str]], ko: Path, release: str) -> None:
    """Issue 15, module oops: with the guest kernel's debug vmlinux and the module's own .ko (built
    with -g) as ``lib/modules/<release>/extra/crashd_oops.ko`` of a ``--debuginfo`` directory,
    ``crashd analyze`` on the host names each site's faulting frame at its ``crashd_oops.c`` line,
    and for the hung task (site H) shows the D-state task's stack at its line among the ``involved``."""
    from crashd.analyze.schema import validate

    vmlinux = fetch_vmlinux(release)  # cached by test_kdump, or downloaded once here
    root = lab.root / "oops-analyze-root"
    store = fake_root(root)
    modules = lab.root / "oops-module-debug"
    shutil.rmtree(modules, ignore_errors=True)
    (modules / "lib" / "modules" / release / "extra").mkdir(parents=True)
    shutil.copyfile(ko, modules / "lib" / "modules" / release / "extra" / ko.name)
    for site in sorted(records):
        record = records[site][0]
        src = next(d for d in outcome.record_dirs() if d.name == record)
        shutil.copytree(src, store / record)
        t0 = time.monotonic()
        res = crashd_cli(root, "analyze", record, "--no-network", "--debuginfo", str(vmlinux.parent),
                         "--debuginfo", str(modules))
        lab.timings[f"crashd analyze, module oops site {site.upper()}"] = time.monotonic() - t0
        assert res.returncode == 0, res.stderr
        report = json.loads((store / record / "analysis.json").read_text())
        assert validate(report) == [], validate(report)
        (mod,) = [m for m in report["modules"] if m["name"] == "crashd_oops"]
        assert mod["debuginfo"] is True, report["modules"]
        if site == "h":
            stacks = [bt for bt in report["involved"] if any(f["function"] == "crashd_oops_hang" for f in bt["frames"])]
            assert stacks, f"{record}: no involved task in crashd_oops_hang: {report['involved']}"
            hang = next(f for f in stacks[0]["frames"] if f["function"] == "crashd_oops_hang")
            assert (hang["file"] or "").endswith("crashd_oops.c") and hang["line"] == _site_line("h"), hang
            assert re.search(rf"crashd_oops_hang at \S*crashd_oops\.c:{_site_line('h')}\b", res.stdout), res.stdout
            continue
        frames = report["crashed"]["frames"] if report.get("crashed") else []
        hits = [f for f in frames if f["function"] == f"crashd_oops_site_{site}"]
        assert hits, f"{record}: no crashd_oops_site_{site} frame in {frames}\nproblems: {report['problems']}"
        where = (hits[0]["file"] or "", hits[0]["line"])
        assert where[0].endswith("crashd_oops.c") and where[1] == _site_line(site), (record, where, _site_line(site))
        assert report["top_frames"][0] == f"crashd_oops_site_{site}", report["top_frames"]
        assert re.search(rf"crashd_oops_site_{site} at \S*crashd_oops\.c:{_site_line(site)}\b", res.stdout), res.stdout


# Every guest architecture (CI too); CRASHD_VM_OOPS_ARCHES=amd64 (say) runs fewer. Each: the module
# cross-built once (seconds), then three oops cycles (amd64: and the hung task).
OOPS_ARCHES = [a for a in os.environ.get("CRASHD_VM_OOPS_ARCHES", "amd64,armhf,arm64").split(",") if a]


@pytest.mark.parametrize("arch", OOPS_ARCHES)
def test_oops_panics_through_on_oops_and_same_site_shares_a_signature(lab: Lab, arch: str) -> None:
    if arch != "amd64":
        _need(arch)
    source = lab.image_for(arch)
    t0 = time.monotonic()
    ko = build_module(arch, base=cached_base(arch))
    lab.timings[f"oops module ({arch}, cached or built)"] = time.monotonic() - t0
    name = f"oops-{arch}"
    sites = SITES_BY_ARCH.get(arch, SITES)
    settings = {"SCENARIO": "oops", "OOPS_SITES": " ".join(sites), "MAX_BOOTS": str(len(sites) + 1)}
    files = {MODULE_PATH: ko.read_bytes(), "/etc/crashd.conf.d/50-vmtest-hung.conf": HUNG_CONF}
    img = lab.scenario(name, settings, files, image=source)
    start = time.monotonic()
    run = Run(lab, name, img, lab.guest(name, img, kdump_cmdline("256M", img.arch.console)).start())
    with run.guest:
        at = 0
        for n, site in enumerate(sites, start=1):
            if site == "h":
                at = run.expect(rf"^VMTEST: hang at site h, boot {n},", 420, after=at)
                assert run.guest.lines[at].text.endswith("hung_task_panic=1"), run.guest.lines[at].text
                oops = run.expect(r"INFO: task \S+ blocked for more than", 90, after=at)
            else:
                at = run.expect(rf"^VMTEST: oops at site {site}, boot {n},", 420, after=at)
                assert run.guest.lines[at].text.endswith("panic_on_oops=1"), run.guest.lines[at].text
                oops = run.expect(OOPS_LINE, 60, after=at)
            capture = run.expect(r"Linux version \S+", 120, after=oops + 1)
            at = run.expect(rf"^VMTEST: boot {n + 1} ", 600, after=capture)
        outcome = run.finish()
    wall = time.monotonic() - start
    assert outcome.result == "ok", outcome.explain()

    records = _assert_oops_records(outcome, sites, arch)
    sig_a, sig_b = (json.loads(outcome.text(f"show-{records[s][0]}.json"))["metadata"]["signature"] for s in "ab")
    if arch == "amd64":  # the -dbg vmlinux is fetched for the amd64 guest kernel (860 MB once, cached)
        _analyze_module_oops(lab, outcome, records, ko, run.img.release)

    boots = len(kernel_boots(run.guest.lines))
    lab.figures.append(f"{name}: {len(sites)} crash cycles (sites {', '.join(sites).upper()}) in one run: {wall:.0f} s, {boots} kernel boots; "
                       f"signatures A {sig_a}, B {sig_b}")
    lab.discard(name)
