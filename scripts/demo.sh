#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the demo (cargo xtask demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo xtask demo "$@"
