#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with the exact pins of
# requirements/test.txt and install avem-plugins into it (editable).
#
#   bash scripts/bootstrap.sh            # -> .venv (override with AVEM_VENV=/path)
#
# Re-running is cheap: the install is skipped while requirements/test.txt and
# pyproject.toml are unchanged (a stamp file in the venv records their hash).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${AVEM_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

stamp_of() { cat "$root/requirements/test.txt" "$root/pyproject.toml" "$root/setup.py" | sha256sum | cut -d' ' -f1; }

if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating $venv with $($python --version 2>&1)"
  "$python" -m venv "$venv"
fi
want="$(stamp_of)"
if [ "$(cat "$venv/.avem-stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing pinned requirements (torch 2.14.1 + torchvision 0.29.1 pair; a cold install takes ~3 min)"
  # (pip's notes about this machine's local wheel folders are filtered out; errors still show)
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/requirements/test.txt" \
    2>&1 | { grep -v '^WARNING: Location' || true; }
  # setuptools is pinned above, so the editable build needs no download.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$root" \
    2>&1 | { grep -v '^WARNING: Location' || true; }
  echo "$want" > "$venv/.avem-stamp"
else
  echo "[bootstrap] $venv is up to date"
fi
