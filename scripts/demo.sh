#!/usr/bin/env bash
# The main job on an embedded default: evaluate -> AVEm-DPO training -> re-evaluate -> report,
# on a tiny random-weight model and synthetic clips (about 5-10 minutes on 2 CPU cores).
#
#   bash scripts/demo.sh                 # writes ./avem-demo (replaced if present)
#   bash scripts/demo.sh --out DIR ...   # any `avem demo` option
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
venv="${AVEM_VENV:-$root/.venv}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
if [ "$#" -eq 0 ]; then
  set -- --out "$root/avem-demo" --force
fi
exec "$venv/bin/avem" demo "$@"
