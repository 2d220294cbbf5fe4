#!/usr/bin/env bash
# Run graft's test suite (sets up .venv first, idempotently). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
export GRAFT_OFFLINE="${GRAFT_OFFLINE:-1}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec "${GRAFT_VENV:-$root/.venv}/bin/python" -m pytest "$@"
