"""A real oops, on every guest architecture: a test module (``oopsmod/crashd_oops.c``, built
against the guest kernel's own headers by :mod:`tests.vm.oopsmod`) dereferences NULL; crashd's
default ``[panic] on_oops = yes`` (``kernel.panic_on_oops=1``) makes that a panic, so the capture
kernel saves it. One guest run, three crashes (boot N oopses at the Nth site once the record of
the last one is ingested): site A, site A again, site B. Each record's crash is an ``oops`` with
its PC and call trace symbolised; both site-A records share a signature, site B's differs.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import pytest

from crashd.crashlog.summary import normalize_frame
from tests.vm.lab import Lab, Outcome, Run, kdump_cmdline
from tests.vm.oopsmod import build_module, cached_base
from tests.vm.test_kdump_arm import _need
from tests.vm.timeline import kernel_boots

pytestmark = pytest.mark.vm

SITES = ("a", "a", "b")
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
    sites = re.findall(r"crashd_oops: site ([AB])", dmesg)
    return sites[-1].lower() if sites else None


def _assert_oops_records(outcome: Outcome) -> tuple[str, str]:
    """One record per oops, each an ``oops`` at its site, symbolised; returns the signatures of
    site A (both records) and site B."""
    rows = outcome.records()
    assert len(rows) == len(SITES), f"crashd list --json: {rows}\n{outcome.explain()}"
    by_site: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        assert row["complete"] is True, row
        rec = row["name"]
        shown = json.loads(outcome.text(f"show-{rec}.json"))
        meta = shown["metadata"]
        dmesg = (outcome.out / "crash" / rec / "dmesg.txt").read_text(errors="replace")
        rec_site = _record_site(dmesg)
        assert rec_site is not None, f"{rec}: no 'crashd_oops: site' line in its dmesg"
        panic = meta["panic"]
        assert panic["kind"] == "oops", (rec, panic)
        assert (panic["pc_symbol"] or "").startswith(f"crashd_oops_site_{rec_site}+0x"), (rec, panic)
        assert (panic["pc_symbol"] or "").endswith(" [crashd_oops]"), (rec, panic)
        trace = panic["call_trace"]
        assert trace and all(SYMBOLISED.match(f) for f in trace), (rec, trace)
        names = _frame_names(trace)
        caller = "crashd_oops_write" if rec_site == "a" else "crashd_oops_via_b"
        assert caller in names and "vfs_write" in names, (rec, trace)
        by_site.setdefault(rec_site, []).append(meta)
    assert sorted((s, len(m)) for s, m in by_site.items()) == [("a", 2), ("b", 1)], by_site.keys()
    (a1, a2), (b,) = by_site["a"], by_site["b"]
    assert a1["signature"] and a1["signature"] == a2["signature"], (a1["signature"], a2["signature"])
    assert b["signature"] and b["signature"] != a1["signature"], (a1["signature"], b["signature"])
    return str(a1["signature"]), str(b["signature"])


# CI runs amd64; CRASHD_VM_OOPS_ARCHES=amd64,armhf,arm64 adds the ARM guests (each: the module
# built once under qemu-user, then three oops cycles).
OOPS_ARCHES = [a for a in os.environ.get("CRASHD_VM_OOPS_ARCHES", "amd64").split(",") if a]


@pytest.mark.parametrize("arch", OOPS_ARCHES)
def test_oops_panics_through_on_oops_and_same_site_shares_a_signature(lab: Lab, arch: str) -> None:
    if arch != "amd64":
        _need(arch)
    source = lab.image_for(arch)
    t0 = time.monotonic()
    ko = build_module(arch, base=cached_base(arch))
    lab.timings[f"oops module ({arch}, cached or built)"] = time.monotonic() - t0
    name = f"oops-{arch}"
    settings = {"SCENARIO": "oops", "OOPS_SITES": " ".join(SITES), "MAX_BOOTS": str(len(SITES) + 1)}
    img = lab.scenario(name, settings, {MODULE_PATH: ko.read_bytes()}, image=source)
    start = time.monotonic()
    run = Run(lab, name, img, lab.guest(name, img, kdump_cmdline("256M", img.arch.console)).start())
    with run.guest:
        at = 0
        for n, site in enumerate(SITES, start=1):
            at = run.expect(rf"^VMTEST: oops at site {site}, boot {n},", 420, after=at)
            assert run.guest.lines[at].text.endswith("panic_on_oops=1"), run.guest.lines[at].text
            oops = run.expect(OOPS_LINE, 60, after=at)
            capture = run.expect(r"Linux version \S+", 120, after=oops + 1)
            at = run.expect(rf"^VMTEST: boot {n + 1} ", 600, after=capture)
        outcome = run.finish()
    wall = time.monotonic() - start
    assert outcome.result == "ok", outcome.explain()

    sig_a, sig_b = _assert_oops_records(outcome)

    boots = len(kernel_boots(run.guest.lines))
    lab.figures.append(f"{name}: {len(SITES)} oops cycles (site A, A, B) in one run: {wall:.0f} s, {boots} kernel boots; "
                       f"signatures A {sig_a}, B {sig_b}")
    lab.discard(name)
