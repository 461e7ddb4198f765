#!/usr/bin/env bash
# Runs every test: unit and property tests, and the integration tests against the real
# kernel (network namespaces, veth, XDP, real TCP), on this machine's kernel and then in a
# VM on Linux 6.1. Needs root; installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
(cd policer-ebpf && cargo fmt -- --check)
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== building (the eBPF object is built by policer/build.rs)"
cargo build --workspace --all-targets --quiet
echo "== cargo test"
# The integration tests make their own uniquely named namespaces and run in parallel.
cargo test --workspace --no-fail-fast
echo "== cargo xtask vm-test (the integration tests again, in QEMU on Debian bookworm's Linux 6.1)"
# A second, older kernel: its verifier and features differ (no TCX before 6.6). See
# docs/kernel-support.md for what runs there.
cargo xtask vm-test
