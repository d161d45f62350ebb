#!/usr/bin/env bash
# Smoke subset for the lowest-direct ("floors") environment (.ci/floors; issue 19).
#
#   floors_smoke.sh VENV [WORKDIR]
#
# VENV must already hold the resolved dependencies and avem-plugins (e.g.
# `pip install -r lowest.txt && pip install --no-deps -e .`). Runs, offline, on the CPU:
#   1. `avem tiny-model`            - builds the tiny Qwen2.5-Omni thinker + processor
#   2. `lmms-eval --tasks emorealm`  - one EmoReAlM evaluation through the lmms-eval CLI on a
#                                      generated EmoReAlM json + DFEW tree (avem_av model)
#   3. `trl dpo --recipe avem-tiny`  - two DPO steps on a generated preference file
#   4. `lmms-eval` on the trained LoRA (pretrained=ADAPTER_DIR; peft without trl imported)
#   5. `avem report` on the evaluation (matplotlib)
#   6. lm-eval's task index finds our lm-eval task
#   7. `pip check`
# and checks the artefacts (lmms-eval exits 0 even when a task fails, so the results file is
# checked, not only the exit status). Exit status 0 = every step passed; each failing step
# prints the tail of its log. Step timings are printed as "TIME <step> <seconds>".
set -uo pipefail

venv="${1:?usage: floors_smoke.sh VENV [WORKDIR]}"
venv="$(cd "$venv" && pwd)"
work="${2:-$(mktemp -d -t avem-floors-smoke.XXXXXX)}"
mkdir -p "$work"
bin="$venv/bin"
py="$bin/python"
# Run from the work folder, never from the checkout: there `python -m` and `python -` would
# import the checkout's source folder instead of the installed wheel under test.
cd "$work"

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false CUDA_VISIBLE_DEVICES="" WANDB_MODE=disabled
export HF_HOME="$work/hf-home" HF_DATASETS_CACHE="$work/hf-datasets"
unset AVEM_ALLOW_MISSING_MEDIA AVEM_ANSWER_PARSER DFEW_AUDIO_ROOT DFEW_ANNOTATIONS AVEM_TRL_HOOK

failed=0
step() {  # step NAME CMD... : run with a log, time it, report
    local name="$1"; shift
    local t0=$SECONDS
    if "$@" >"$work/$name.log" 2>&1; then
        echo "PASS $name"
    else
        echo "FAIL $name (exit $?); last lines of $work/$name.log:"
        tail -n 40 "$work/$name.log" | sed 's/^/    /'
        failed=1
    fi
    echo "TIME $name $((SECONDS - t0))"
}

echo "venv: $venv"
echo "work: $work"
"$py" -c 'import importlib.metadata as m
for p in ["torch","torchvision","transformers","trl","peft","accelerate","datasets","lmms-eval",
          "huggingface-hub","typer","click","filelock","numpy","av","decord","pluggy","pyyaml",
          "packaging","openpyxl"]:
    print(f"  {p}=={m.version(p)}")'

# 1. tiny model (built from a config, no download)
step tiny_model "$bin/avem" tiny-model "$work/tiny"

# 2. data: an EmoReAlM questions file over a generated DFEW tree; clips + a preference file
step data "$py" - "$work" <<'EOF'
import csv, json, sys
from pathlib import Path
from avem_plugins.testing.synth import make_clips
from avem_plugins.testing.benchdata import write_dfew_tree, write_emorealm_json

work = Path(sys.argv[1])
dfew = write_dfew_tree(work / "DFEW", {1: "happiness", 2: "sadness", 3: 0, 4: "anger"}, clips=True)
write_emorealm_json(work / "emorealm.json", ["part_1/1.mp4", "part_2/2.mp4"], per_task=4)
clips = make_clips(work / "clips", 4, seed=0)
prompt = "<video>\n<audio>\nWhat emotion does the person show, and why?"
with open(work / "prefs.jsonl", "w") as fh:
    for rec in clips:
        fh.write(json.dumps({
            "prompt": prompt,
            "chosen": f"The person shows {rec.emotion}: {rec.visual_caption}.",
            "rejected": f"The person shows {rec.emotion} because of a smile.",
            "rejected_2": f"The person shows {rec.emotion}: {rec.audio_caption}.",
            "video": rec.path.name,
            "emotion": rec.emotion,
        }) + "\n")
print("data written to", work)
EOF

# 3. one EmoReAlM evaluation through the lmms-eval CLI
lmms_eval_run() {
    EMOREALM_JSON="$work/emorealm.json" DFEW_ROOT="$work/DFEW" "$bin/lmms-eval" \
        --model avem_av \
        --model_args "pretrained=$work/tiny,device=cpu,video_max_pixels=4096,max_new_tokens=8" \
        --tasks emorealm --limit 4 --output_path "$work/lmms-out" --log_samples || return $?
    "$py" - "$work/lmms-out" <<'EOF'
import json, sys
from pathlib import Path
files = sorted(Path(sys.argv[1]).rglob("*_results.json"))
assert files, "no *_results.json written (lmms-eval exits 0 when a task fails to load)"
res = json.loads(files[-1].read_text())["results"]
subtasks = ["emorealm_reasoning_basic_audio", "emorealm_reasoning_basic_video",
            "emorealm_modality_agreement", "emorealm_reasoning_stress_audio",
            "emorealm_reasoning_stress_video"]
for t in ["emorealm", *subtasks]:
    assert t in res and "accuracy,none" in res[t], (t, sorted(res))
for t in subtasks:
    assert res[t]["missing_media_count,none"] == 0, (t, res[t])
    assert res[t]["model_modalities,none"] == "audio,video", (t, res[t])
print("emorealm accuracy", res["emorealm"]["accuracy,none"], "from", files[-1])
EOF
}
step lmms_eval lmms_eval_run

# 4. two AVEm-DPO steps through TRL's own console script
trl_dpo_run() {
    printf '%s\n' "compute_environment: LOCAL_MACHINE" "distributed_type: 'NO'" \
        "num_processes: 1" "num_machines: 1" "machine_rank: 0" "mixed_precision: 'no'" \
        "use_cpu: true" > "$work/accelerate-cpu.yaml"
    "$bin/trl" dpo --recipe avem-tiny --model_name_or_path "$work/tiny" \
        --dataset_name "$work/prefs.jsonl" --media_root "$work/clips" \
        --output_dir "$work/dpo-out" --max_steps 2 \
        --accelerate_config "$work/accelerate-cpu.yaml" || return $?
    "$py" - "$work/dpo-out" <<'EOF'
import json, sys
from pathlib import Path
from safetensors.numpy import load_file
out = Path(sys.argv[1])
assert (out / "adapter_model.safetensors").is_file(), sorted(p.name for p in out.iterdir())
tensors = load_file(out / "adapter_model.safetensors")
lora_b = [v for k, v in tensors.items() if "lora_B" in k]
assert lora_b and all(".language_model." in k for k in tensors), sorted(tensors)[:5]
assert any(abs(v).max() > 0 for v in lora_b), "lora_B is still zero: nothing was trained"
print("trained LoRA:", len(tensors), "tensors in", out)
EOF
}
step trl_dpo trl_dpo_run

# 5. the trained LoRA through lmms-eval again (pretrained=ADAPTER_DIR: avem_av applies it with
#    peft, in a process that never imports trl - catches peft/transformers mismatches)
eval_adapter_run() {
    [ -f "$work/dpo-out/adapter_config.json" ] || { echo "no adapter from trl_dpo"; return 1; }
    EMOREALM_JSON="$work/emorealm.json" DFEW_ROOT="$work/DFEW" "$bin/lmms-eval" \
        --model avem_av \
        --model_args "pretrained=$work/dpo-out,device=cpu,video_max_pixels=4096,max_new_tokens=8" \
        --tasks emorealm_reasoning_basic_video --limit 2 --output_path "$work/lmms-out-adapter" \
        || return $?
    "$py" - "$work/lmms-out-adapter" <<'PY'
import json, sys
from pathlib import Path
files = sorted(Path(sys.argv[1]).rglob("*_results.json"))
assert files, "no *_results.json written (lmms-eval exits 0 when the model fails to load)"
res = json.loads(files[-1].read_text())["results"]["emorealm_reasoning_basic_video"]
assert "accuracy,none" in res, res
print("adapter accuracy", res["accuracy,none"], "from", files[-1])
PY
}
step eval_adapter eval_adapter_run

# 6. the report extra: `avem report` draws the evaluation's results (matplotlib at its floor)
report_run() {
    "$bin/avem" report "$work/lmms-out" --out "$work/report" || return $?
    ls "$work"/report/*.png >/dev/null || { echo "no PNG plots in $work/report"; return 1; }
}
step report report_run

# 7. the lm-eval extra: lm-eval's task index finds our audio task in `avem tasks-dir --harness lm-eval`
lm_eval_run() {
    "$py" - "$("$bin/avem" tasks-dir --harness lm-eval)" <<'PY'
import sys
from lm_eval.tasks import TaskManager
names = TaskManager(include_path=sys.argv[1]).all_tasks
assert "ravdess_audio_lmeval" in names, "ravdess_audio_lmeval not indexed by lm-eval"
print("lm-eval indexes ravdess_audio_lmeval")
PY
}
step lm_eval lm_eval_run

"$bin/pip" check >"$work/pip-check.log" 2>&1 && echo "PASS pip_check" \
    || { echo "FAIL pip_check:"; sed 's/^/    /' "$work/pip-check.log"; failed=1; }

if [ "$failed" = 0 ]; then echo "SMOKE OK"; else echo "SMOKE FAILED"; fi
exit "$failed"
