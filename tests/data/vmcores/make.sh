#!/usr/bin/env bash
# Rebuild the kdump-compressed and flattened reference dumps from the ELF one (tests/data/README.md).
# Needs makedumpfile 1.7.2, kexec-tools (vmcore-dmesg), strace, zstd; run from the repository root.
set -euo pipefail
ref=x86_64-6.1-sysrq
here=tests/data/vmcores
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
zstd -dq "$here/$ref.elf.zst" -o "$w/full.elf"
strace -f -e trace=openat,lseek,read,pread64 -o "$w/strace.log" \
  makedumpfile --dump-dmesg "$w/full.elf" "$w/setup-dmesg.txt" >/dev/null 2>&1
.venv/bin/python -m tests.data.vmcores.keep_pages "$w/strace.log" "$w/full.elf" "$w/trim.elf"
# The trimmed ELF must still give the real tool's log, byte for byte.
vmcore-dmesg "$w/trim.elf" | cmp - "$here/$ref.vmcore-dmesg.txt"
makedumpfile -c -d 31 "$w/trim.elf" "$w/$ref.kdump-zlib" >/dev/null 2>&1
makedumpfile -l -d 31 "$w/trim.elf" "$w/$ref.kdump-lzo" >/dev/null 2>&1
makedumpfile -F -c -d 31 "$w/trim.elf" > "$w/$ref.flat" 2>/dev/null
for f in kdump-zlib kdump-lzo flat; do
  rm -f "$w/check.txt"
  if [ "$f" = flat ]; then
    makedumpfile -R "$w/check.kdump" < "$w/$ref.flat" >/dev/null 2>&1
    cmp "$w/check.kdump" "$w/$ref.kdump-zlib"  # -R gives back the -c file byte for byte
  else
    makedumpfile --dump-dmesg "$w/$ref.$f" "$w/check.txt" >/dev/null 2>&1
    cmp "$w/check.txt" "$here/$ref.vmcore-dmesg.txt"
  fi
  zstd -19 --long=27 -qf "$w/$ref.$f" -o "$here/$ref.$f.zst"
done
ls -l "$here"
