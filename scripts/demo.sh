#!/usr/bin/env bash
# The main job on an embedded default: the study in miniature (docs/STUDY.md). A tiny
# random-weight model warmed up on the synthetic cue world, trained with trl dpo --recipe
# naive-dpo and avem, all three evaluated with lmms-eval (media / text-only), one report
# (about 4 minutes on 2 quiet CPU cores; the prepared world is cached for the next run).
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
