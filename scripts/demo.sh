#!/usr/bin/env bash
# The main job: elpv solar-cell defects with MobileNetV2, feature extraction then fine-tuning, on this
# machine's CPU, offline. Sets up .venv first (idempotently). Extra arguments go to `graft demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
exec "${GRAFT_VENV:-$root/.venv}/bin/graft" demo "$@"
