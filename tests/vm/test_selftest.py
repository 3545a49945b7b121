"""``crashd test --crash --yes`` on a real kernel (issue 12, item 1): the guest crashes itself
through crashd's own test; after the capture and the reboot ``crashd status`` says the test
passed; after an initrd change (as update-initramfs makes) it says untested.

Runs on the stock harness: the "probe" scenario runs a script on the first boot (arm, estimate,
dry-run, then `crashd test --crash --yes`); that script enables a one-shot unit which, on the
next normal boot, runs after crashd-ingest and before the driver collects and powers off."""

from __future__ import annotations

import json

import pytest

from tests.vm.lab import Lab, Run, kdump_cmdline

pytestmark = pytest.mark.vm

ARMED_ID = "1de598f008a14b4e863f8259561afd15"
OUT = "/var/lib/crashd-vmtest/out"
RESERVED = "128M"

FIRST_BOOT = f"""\
set -u
for _ in $(seq 300); do
  [ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] && journalctl -q -b MESSAGE_ID={ARMED_ID} | grep -q . && break
  sleep 1
done
crashd status > {OUT}/status-before.txt 2>&1
crashd estimate --json > {OUT}/estimate.json 2> {OUT}/estimate.err; echo $? > {OUT}/estimate.rc
crashd test --dry-run > {OUT}/dry-run.txt 2>&1; echo $? > {OUT}/dry-run.rc
crashd test --crash < /dev/null > {OUT}/refused.txt 2>&1; echo $? > {OUT}/refused.rc
systemctl enable selftest-after.service
sync
echo "VMTEST: crashd test --crash --yes" > /dev/ttyS0
crashd test --crash --yes > {OUT}/test-crash.txt 2>&1
echo "VMTEST: still alive after crashd test --crash (exit $?)" > /dev/ttyS0
"""

AFTER_REBOOT = f"""\
set -u
deadline=$((SECONDS + 180))
while {{ [ "$(systemctl show -P ActiveState crashd-ingest.service)" = activating ] \\
        || [ "$(systemctl show -P SubState crashd-ingest.service)" = running ]; }} && [ $SECONDS -lt $deadline ]; do
  sleep 1
done
crashd status --json > {OUT}/status-passed.json 2>&1; echo $? > {OUT}/status-passed.rc
crashd status > {OUT}/status-passed.txt 2>&1
journalctl -o json --no-pager MESSAGE_ID=875d27ed703e4ff8a00ae1b4862c2a12 > {OUT}/selftest-passed.json 2>&1
initrd="/boot/initrd.img-$(uname -r)"
sleep 1
cp "$initrd" "$initrd.new" && mv "$initrd.new" "$initrd"
crashd status --json > {OUT}/status-untested.json 2>&1
crashd status > {OUT}/status-untested.txt 2>&1
echo "VMTEST: self-test checked after reboot" > /dev/ttyS0
"""

UNIT = """\
[Unit]
Description=crashd self-test VM check (test images only)
After=crashd-ingest.service crashd.service
Before=crashd-vmtest.service

[Service]
Type=oneshot
ExecStart=/bin/bash /etc/crashd-vmtest/selftest-after.sh

[Install]
WantedBy=multi-user.target
"""


def test_crashd_test_crash_passes_then_untested_after_initrd_change(lab: Lab) -> None:
    name = "selftest"
    img = lab.scenario(name, {"SCENARIO": "probe", "MAX_BOOTS": "2"}, {
        "/etc/crashd-vmtest/probe.sh": FIRST_BOOT,
        "/etc/crashd-vmtest/selftest-after.sh": AFTER_REBOOT,
        "/etc/systemd/system/selftest-after.service": UNIT,
    }, image=lab.image_for("amd64"))
    # 128M: what `crashd estimate` suggests on this image (asserted below), so this capture confirms it
    run = Run(lab, name, img, lab.guest(name, img, kdump_cmdline(RESERVED)).start())
    with run.guest:
        start = run.expect(r"^VMTEST: crashd test --crash --yes", 600)
        panic = run.expect(r"Kernel panic - not syncing: sysrq triggered crash", 120, after=start)
        capture = run.expect(r"Linux version \S+", 90, after=panic + 1)
        cmdline = run.expect(r"Command line: .*crashd\.test_id=[0-9a-f]{16}", 60, after=capture)
        run.expect(r"^VMTEST: self-test checked after reboot", 900, after=cmdline)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    assert outcome.text("refused.rc").strip() == "1", outcome.text("refused.txt")
    assert "refusing to crash without confirmation" in outcome.text("refused.txt")
    assert outcome.text("dry-run.rc").strip() == "0", outcome.text("dry-run.txt")

    passed = json.loads(outcome.text("status-passed.json"))
    assert passed["selftest"]["state"] == "passed", (passed["selftest"], outcome.text("status-passed.txt"))
    assert "self-test: test passed" in outcome.text("status-passed.txt")
    record = passed["selftest"]["last"]["record"]
    (rec_dir,) = [d for d in outcome.record_dirs() if d.name == record]
    meta = json.loads((rec_dir / "metadata.json").read_text())
    assert meta["complete"] is True
    assert meta["capture"]["test_id"] == passed["selftest"]["last"]["id"]
    assert outcome.text("selftest-passed.json").strip(), "no selftest_passed journal entry"

    untested = json.loads(outcome.text("status-untested.json"))
    assert untested["selftest"]["state"] == "untested", untested["selftest"]
    assert untested["selftest"]["changed"] == ["initrd"]
    assert "self-test: untested since " in outcome.text("status-untested.txt")

    est = json.loads(outcome.text("estimate.json"))
    needed = est["reservation"]["needed_bytes"] >> 20
    dump_est = est["dump"]["written_bytes"]
    written = meta["capture"]["bytes_written"]
    assert int(est["reservation"]["suggested_crashkernel"].rstrip("M")) <= int(RESERVED.rstrip("M")), est["reservation"]
    assert est["reservation"]["fits"] is True
    # How well the dump estimate does is measured, not asserted: the compression ratio of the same
    # guest's memory varied from 2.8x to 4.9x across captures (estimate -24 % ... +32 %), so a 25 %
    # bound fails by chance. What must hold: a figure, from --mem-usage, the right order of magnitude.
    assert dump_est and written / 2 <= dump_est <= written * 2, (dump_est, written, est["dump"]["how"])
    assert "makedumpfile --mem-usage" in est["dump"]["how"], est["dump"]["how"]
    lab.figures.append(
        f"{name} (crashkernel={RESERVED}): estimate needs ~{needed} MiB (suggests crashkernel={est['reservation']['suggested_crashkernel']}); "
        f"dump estimate {dump_est >> 20 if dump_est else '?'} MiB ({est['dump']['how']}) "
        f"vs written {written >> 20} MiB ({(dump_est - written) * 100 // written:+d} %; {meta['capture']['collector']} -d {meta['capture']['dump_level']} "
        f"{meta['capture']['compression']})")
    lab.discard(name)
