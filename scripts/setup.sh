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
"${pip[@]}" install -c constraints.txt -e ".[dev,detection,faces,translation,deploy,openvino]"
for assets in assets/*.txt; do  # every application's packaged weights and data
    "${pip[@]}" install --no-deps -r "$assets"
done

# Assets that are not Python packages, into <venv>/share/graft/<name> (graft/assets.py finds them there)
share="$venv/share/graft"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [[ ! -f "$share/face-api/model/face_recognition_model.bin" ]]; then
    if command -v npm >/dev/null 2>&1; then
        (cd "$tmp" && npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null)
        mkdir -p "$share/face-api"
        tar xzf "$tmp/vladmandic-face-api-1.7.15.tgz" -C "$share/face-api" --strip-components=1 \
            package/LICENSE package/model/face_recognition_model.bin \
            package/model/face_recognition_model-weights_manifest.json
    else
        echo "graft: npm not found: the offline face embedder (face_api_resnet34) is not installed;" \
             "see graft/assets.py for the two commands that fetch it" >&2
    fi
fi
if [[ ! -f "$share/face-recognition-test-images/obama.jpg" ]]; then
    "${pip[@]}" download --no-deps --no-binary :all: face_recognition==1.3.0 -d "$tmp"
    mkdir -p "$share/face-recognition-test-images"
    tar xzf "$tmp/face_recognition-1.3.0.tar.gz" -C "$share/face-recognition-test-images" --strip-components=3 \
        face_recognition-1.3.0/tests/test_images
fi
# Firefox's and LibreOffice's human translations (MPL-2.0) from Debian's packages, for `graft datasets
# ui-translations`
if [[ ! -d "$share/firefox-l10n/en-US" ]]; then
    "$venv/bin/python" -m graft.translation.packages firefox-l10n "$share/firefox-l10n" ||
        echo "graft: Firefox's translations were not fetched; ui-translations uses the other sources" >&2
fi
if [[ ! -d "$share/libreoffice-l10n/ar" ]]; then
    "$venv/bin/python" -m graft.translation.packages libreoffice-l10n "$share/libreoffice-l10n" ||
        echo "graft: LibreOffice's translations were not fetched; ui-translations uses the other sources" >&2
fi
# Headless Chromium for the web page's browser test (Debian's packages; skipped with a note elsewhere)
if ! command -v chromedriver >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        (apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 ||
         (apt-get update -qq >/dev/null 2>&1 &&
          apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1)) ||
            echo "graft: could not install chromium + chromium-driver; the browser test will be skipped" >&2
    else
        echo "graft: chromium + chromium-driver are not installed; the browser test will be skipped" >&2
    fi
fi
echo "$want" > "$stamp"
echo "graft: set-up complete" >&2
