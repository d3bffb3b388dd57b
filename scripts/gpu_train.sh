#!/usr/bin/env bash
# Train EAPNet on triplets simulated from HDR radiance maps, within a time budget, and write
# weights, log, held-out scores and a model-card draft.
#
#   scripts/gpu_train.sh HDR_DIR OUT_DIR [MINUTES]
#
# HDR_DIR  folder of .hdr/.exr radiance maps (e.g. the 12 Poly Haven CC0 1k panoramas copied into
#          the repository tree, as data/polyhaven)
# OUT_DIR  everything goes here: data/ (simulated sets), run/ (checkpoints), and the deliverables
#          MODEL.safetensors (EMA weights), MODEL_log.csv, MODEL_curve.png, eval.json, MODEL.md
# MINUTES  training-time budget (default 3.5); the whole script adds about a minute for data
#          simulation, patch caching and evaluation. Running again with the same OUT_DIR and a
#          larger MINUTES resumes the run (the budget counts the training time of all windows).
#
# Settings (environment variables, defaults in brackets):
#   MODEL [eapnet-lightweight]   HOLDOUT ["studio_small_03_1k venice_sunset_1k"] (file stems held out)
#   SIZE [512x384] CROPS [16]    training sample size and crops per training scene
#   VAL_SIZE [512x384] VAL_CROPS [6]   held-out sample size and crops per held-out scene
#   DEVICE [auto] WORKERS [8] AMP [1] BATCH [32] PATCH [256] STRIDE [128]
#   LR [8e-4] WARMUP [200] LR_STEP [500] EMA_EVERY [10] EMA_DECAY [0.9] ITERS [1000000] SEED [0]
#   PYTHON [python3]
# Tested end to end on a CPU with tiny settings (see tests/test_train.py and the README).
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
HDR_DIR=$(cd "$1" && pwd)
OUT=$2
MINUTES=${3:-3.5}
MODEL=${MODEL:-eapnet-lightweight}
HOLDOUT=${HOLDOUT:-"studio_small_03_1k venice_sunset_1k"}
SIZE=${SIZE:-512x384}
CROPS=${CROPS:-16}
VAL_SIZE=${VAL_SIZE:-512x384}
VAL_CROPS=${VAL_CROPS:-6}
DEVICE=${DEVICE:-auto}
WORKERS=${WORKERS:-8}
AMP=${AMP:-1}
BATCH=${BATCH:-32}
PATCH=${PATCH:-256}
STRIDE=${STRIDE:-128}
LR=${LR:-8e-4}
WARMUP=${WARMUP:-200}
LR_STEP=${LR_STEP:-500}
EMA_EVERY=${EMA_EVERY:-10}
EMA_DECAY=${EMA_DECAY:-0.9}
ITERS=${ITERS:-1000000}
SEED=${SEED:-0}
PY=${PYTHON:-python3}
export EAPBENCH_NO_PROGRESS=1  # one line per log row instead of a progress bar (batch logs)

cd "$(dirname "$0")/.."  # the repository root: run_bench.py lives there
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
T0=$(date +%s)
say() { echo "[gpu_train $(( $(date +%s) - T0 ))s] $*"; }

# 1. Split the scenes: HOLDOUT stems are never trained on.
SPLIT="$OUT/data/hdr"
rm -rf "$SPLIT" && mkdir -p "$SPLIT/train" "$SPLIT/val"
for f in "$HDR_DIR"/*.hdr "$HDR_DIR"/*.exr; do
    [[ -e "$f" ]] || continue
    stem=$(basename "${f%.*}")
    if [[ " $HOLDOUT " == *" $stem "* ]]; then ln -s "$f" "$SPLIT/val/"; else ln -s "$f" "$SPLIT/train/"; fi
done
for stem in $HOLDOUT; do
    ls "$SPLIT/val/$stem".* >/dev/null 2>&1 || { echo "gpu_train: held-out scene $stem not in $HDR_DIR" >&2; exit 2; }
done
say "train scenes: $(ls "$SPLIT/train" | tr '\n' ' ')"
say "held-out scenes: $(ls "$SPLIT/val" | tr '\n' ' ')"

# 2. Simulate the triplets (skipped when a previous window already made them: a resume must see the same data).
if [[ ! -f "$OUT/data/train/manifest.json" ]]; then
    "$PY" run_bench.py make-data --from-hdr "$SPLIT/train" "$OUT/data/train" --size "$SIZE" \
        --crops-per-image "$CROPS" --seed "$SEED" --force
fi
if [[ ! -f "$OUT/data/val/manifest.json" ]]; then
    "$PY" run_bench.py make-data --from-hdr "$SPLIT/val" "$OUT/data/val" --size "$VAL_SIZE" \
        --crops-per-image "$VAL_CROPS" --seed $((SEED + 1000)) --force
fi
say "data ready"

# 3. Train within the budget (stops cleanly at MINUTES of training time, checkpoint and weights saved).
RESUME=()
[[ -f "$OUT/run/checkpoints/last.json" ]] && RESUME=(--resume)
AMP_FLAG=()
[[ "$AMP" == 1 ]] && AMP_FLAG=(--amp)
"$PY" run_bench.py train --model "$MODEL" --data "$OUT/data/train" --out "$OUT/run" "${RESUME[@]}" \
    --iters "$ITERS" --max-minutes "$MINUTES" --batch "$BATCH" --patch "$PATCH" --stride "$STRIDE" \
    --lr "$LR" --warmup "$WARMUP" --lr-step "$LR_STEP" --ema-every "$EMA_EVERY" --ema-decay "$EMA_DECAY" \
    --flips --cache "${AMP_FLAG[@]}" --device "$DEVICE" --workers "$WORKERS" --seed "$SEED" \
    --log-every 50 --save-every 500 --val-data "$OUT/data/val" --val-every 250 --json "$OUT/train_summary.json"
say "training done"

# 4. Held-out evaluation: the EMA weights against the two parameter-free references.
"$PY" run_bench.py eval --models "$MODEL" --weights "$OUT/run/ema.safetensors" --data "$OUT/data/val" \
    --device "$DEVICE" --json "$OUT/eval_model.json"
"$PY" run_bench.py eval --models ref-frame,exposure-merge --data "$OUT/data/val" --device "$DEVICE" \
    --json "$OUT/eval_refs.json"
"$PY" - "$OUT" <<'EOF'
import json, sys
from bench.core import write_json
out = sys.argv[1]
records = json.load(open(f"{out}/eval_model.json")) + json.load(open(f"{out}/eval_refs.json"))
write_json(f"{out}/eval.json", records)
EOF

# 5. Deliverables: weights, log, curve, card.
cp "$OUT/run/ema.safetensors" "$OUT/$MODEL.safetensors"
cp "$OUT/run/log.csv" "$OUT/${MODEL}_log.csv"
"$PY" -m bench.train.card --run "$OUT/run" --eval "$OUT/eval.json" --train-data "$OUT/data/train" \
    --val-data "$OUT/data/val" --weights "$OUT/$MODEL.safetensors" --plot "$OUT/${MODEL}_curve.png" \
    --out "$OUT/$MODEL.md"
say "done: $OUT/$MODEL.safetensors, ${MODEL}_log.csv, ${MODEL}_curve.png, eval.json, $MODEL.md"
