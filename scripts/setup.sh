#!/usr/bin/env bash
# Installs everything a fresh machine lacks to build, run and test policer.
# Idempotent: every step checks first, so a second run takes a few seconds.
# Recipe: ../shared/DESIGN.md section 4 (rustc-web ships a precompiled `core` for
# bpfel-unknown-none; bpf-linker 0.13 is built against Debian's LLVM 22).
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh must run as root (it installs Debian packages)" >&2
    exit 1
fi

# The second line is for `cargo xtask vm-test`: QEMU, Debian bookworm's kernel (6.1) to boot
# in it, busybox for virtme-ng's initramfs, and python3-venv for virtme-ng itself. The third
# is for the operations tests: a real Prometheus server scraping `policer export`, curl to
# ask its HTTP API, and systemd (for `systemd-analyze verify` of dist/systemd).
APT_PACKAGES=(rustc-web libstd-rust-web-dev-bpf llvm-22-dev iperf3 bpftool nftables
              ethtool iproute2 iputils-ping procps
              qemu-system-x86 linux-image-amd64 busybox-static python3-venv
              prometheus curl systemd)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "Debian packages present"
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! bpf-linker --version 2>/dev/null | grep -q '0\.13\.'; then
    log "building bpf-linker 0.13 against LLVM 22 (about a minute)"
    LLVM_PREFIX=/usr/lib/llvm-22 cargo install --quiet --locked bpf-linker@0.13.0 \
        --no-default-features --features llvm-22
else
    log "bpf-linker present"
fi

# virtme-ng boots a kernel over the host's root file system (cargo xtask vm-test). From
# PyPI, in a venv of its own: Debian bookworm does not package it.
VNG_VENV=/opt/virtme-ng
if ! "$VNG_VENV/bin/vng" --version >/dev/null 2>&1; then
    log "installing virtme-ng into $VNG_VENV"
    /usr/bin/python3 -m venv "$VNG_VENV"
    "$VNG_VENV/bin/pip" install --quiet "virtme-ng==1.42"
else
    log "virtme-ng present"
fi

if ! mountpoint -q /sys/fs/bpf; then
    log "mounting bpffs at /sys/fs/bpf"
    mount -t bpf bpf /sys/fs/bpf
fi
log "done"
