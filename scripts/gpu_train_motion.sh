#!/usr/bin/env bash
# Issue 18's GPU run (about 8 minutes): train eapnet-lightweight and eapnet-standard on the prepared
# motion data, score them on the held-out sets against ref-frame and exposure-merge, then, if time
# remains, the four Table 2 rows (eapnet-lightweight-pdub2..5) at a fixed, shorter budget.
#
#   scripts/gpu_train_motion.sh DATA WORK [PACK]
#
# DATA  what scripts/prepare_motion_data.py wrote (train/ val/ test-motion/ test-static/)
# WORK  everything goes here as it is made: MODEL/ (run folders: checkpoints, log.csv, ema.safetensors),
#       pdub/MODEL/, logs/, eval/ and eval-pdub/ (eval JSON, scores.json, scores.md), cards/MODEL.md
#       (draft cards and curves), db/ (results databases), summary.md
# PACK  optional folder (the device's $OUT): WORK is also packed there, one .tar.gz per run group, at
#       most 16 MiB each, every PACK_EVERY seconds while training and after each phase (a run cut
#       short still returns its newest checkpoint)
#
# Settings (environment variables, defaults in brackets):
#   MAIN_MINUTES [3.5] training time of each main model (MAIN_ITERS [1000000] caps it);
#   CONCURRENT [1] trains them at the same time
#   (one GPU: small models leave most of it idle), 0 back to back
#   PDUB_ITERS [500] PDUB_MINUTES [1.25] the Table 2 rows' fixed budget (iterations; the minutes cap it)
#   BUDGET_MINUTES [8] the Table 2 rows start only if they can end within this wall time
#   DEVICE [auto] WORKERS [2] BATCH [32] PATCH [256] STRIDE [64] LR [8e-4] WARMUP [200] LR_STEP [500]
#   EMA_EVERY [10] EMA_DECAY [0.9] VAL_EVERY [250] SAVE_EVERY [250] LOG_EVERY [25] SEED [0] AMP [1]
#   CACHE [1] PACK_EVERY [60] PYTHON [python3]
#   MAIN_MODELS ["eapnet-lightweight eapnet-standard"] PDUB_MODELS ["eapnet-lightweight-pdub2 ... pdub5"]
# Recipe (the paper's 10M-iteration one scaled to a few thousand iterations): loss mu_tanh, Adam
# lr 8e-4, warm-up 200 (paper 1000), x0.75 every 500 iterations (paper 100k), EMA every 10 steps
# with decay 0.9 (paper 5000 and 0.5), flips, bf16 autocast, patches cached on the GPU.
set -uo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
DATA=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && WORK=$(cd "$2" && pwd)
PACK=""
if [[ $# -ge 3 ]]; then mkdir -p "$3" && PACK=$(cd "$3" && pwd); fi
MAIN_MINUTES=${MAIN_MINUTES:-3.5}
MAIN_ITERS=${MAIN_ITERS:-1000000}
CONCURRENT=${CONCURRENT:-1}
PDUB_ITERS=${PDUB_ITERS:-500}
PDUB_MINUTES=${PDUB_MINUTES:-1.25}
BUDGET_MINUTES=${BUDGET_MINUTES:-8}
DEVICE=${DEVICE:-auto}
WORKERS=${WORKERS:-2}
BATCH=${BATCH:-32}
PATCH=${PATCH:-256}
STRIDE=${STRIDE:-64}
LR=${LR:-8e-4}
WARMUP=${WARMUP:-200}
LR_STEP=${LR_STEP:-500}
EMA_EVERY=${EMA_EVERY:-10}
EMA_DECAY=${EMA_DECAY:-0.9}
VAL_EVERY=${VAL_EVERY:-250}
SAVE_EVERY=${SAVE_EVERY:-250}
LOG_EVERY=${LOG_EVERY:-25}
SEED=${SEED:-0}
AMP=${AMP:-1}
CACHE=${CACHE:-1}
PACK_EVERY=${PACK_EVERY:-60}
PY=${PYTHON:-python3}
read -r -a MAIN_MODELS <<<"${MAIN_MODELS:-eapnet-lightweight eapnet-standard}"
read -r -a PDUB_MODELS <<<"${PDUB_MODELS:-eapnet-lightweight-pdub2 eapnet-lightweight-pdub3 eapnet-lightweight-pdub4 eapnet-lightweight-pdub5}"

cd "$(dirname "$0")/.." || exit 2 # the repository root: run_bench.py lives there
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" EAPBENCH_NO_PROGRESS=1 PYTHONUNBUFFERED=1
T0=$(date +%s)
say() { echo "[gpu_train_motion $(($(date +%s) - T0))s] $*"; }
mkdir -p "$WORK/logs" "$WORK/pdub" "$WORK/cards" "$WORK/db"
DB="$WORK/db/eval.sqlite" # one results database per process: concurrent runs never wait on a lock

# 0. Packages and data, before anything is started.
"$PY" - <<'EOF' || { echo "gpu_train_motion: a package is missing (see above)" >&2; exit 2; }
import cv2, numpy, safetensors, torch  # noqa: F401  (the run needs these; fail now, not after training)
print("torch", torch.__version__, "cuda:", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
for set in train val test-motion test-static; do
    [[ -f "$DATA/$set/manifest.json" ]] || { echo "gpu_train_motion: $DATA/$set is missing: run scripts/prepare_motion_data.py" >&2; exit 2; }
done
cp "$DATA/splits.json" "$WORK/" 2>/dev/null

# Pack one run group into PACK (atomically: a half-written archive never replaces a whole one).
pack_one() { # NAME DIR...: each DIR's files but its checkpoints, plus its newest checkpoint
    local name=$1
    shift
    local list=()
    for dir in "$@"; do
        [[ -e "$WORK/$dir" ]] || continue
        while IFS= read -r f; do list+=("$f"); done < <(cd "$WORK" && find "$dir" -type f ! -path '*/checkpoints/*')
        if [[ -f "$WORK/$dir/checkpoints/last.json" ]]; then
            local stem
            stem=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["weights"].split(".")[0])' "$WORK/$dir/checkpoints/last.json" 2>/dev/null)
            for f in "$WORK/$dir/checkpoints/last.json" "$WORK/$dir/checkpoints/$stem".*; do
                [[ -f "$f" ]] && list+=("${f#"$WORK"/}")
            done
        fi
    done
    ((${#list[@]})) || return 0
    tar czf "$PACK/.$name.tar.gz" -C "$WORK" "${list[@]}" 2>/dev/null && mv "$PACK/.$name.tar.gz" "$PACK/$name.tar.gz"
}
pack() {
    [[ -n "$PACK" ]] || return 0
    for model in "${MAIN_MODELS[@]}"; do pack_one "$model" "$model"; done
    local pdubs=()
    for model in "${PDUB_MODELS[@]}"; do pdubs+=("pdub/$model"); done
    pack_one pdub "${pdubs[@]}"
    pack_one scores logs eval eval-pdub cards db splits.json summary.md
}
packer() { while sleep "$PACK_EVERY"; do pack; done; }

FLAGS=(--batch "$BATCH" --patch "$PATCH" --stride "$STRIDE" --lr "$LR" --warmup "$WARMUP" --lr-step "$LR_STEP"
    --ema-every "$EMA_EVERY" --ema-decay "$EMA_DECAY" --loss mu_tanh --flips --device "$DEVICE"
    --workers "$WORKERS" --seed "$SEED" --log-every "$LOG_EVERY" --save-every "$SAVE_EVERY"
    --val-data "$DATA/val" --val-every "$VAL_EVERY")
[[ "$AMP" == 1 ]] && FLAGS+=(--amp)
[[ "$CACHE" == 1 ]] && FLAGS+=(--cache)

train() { # MODEL RUN_DIR ITERS MINUTES: one training run, its output in logs/MODEL.log
    local model=$1 run=$2 iters=$3 minutes=$4
    "$PY" run_bench.py train --model "$model" --data "$DATA/train" --out "$run" --iters "$iters" \
        --max-minutes "$minutes" "${FLAGS[@]}" --db "$WORK/db/$model.sqlite" >"$WORK/logs/$model.log" 2>&1
    local rc=$?
    say "$model: training exited $rc ($(tail -n 1 "$WORK/logs/$model.log"))"
    return $rc
}
train_all() { # ITERS MINUTES PARALLEL PREFIX MODEL...
    local iters=$1 minutes=$2 parallel=$3 prefix=$4
    shift 4
    local pids=()
    for model in "$@"; do
        rm -rf "${WORK:?}/$prefix$model"
        if [[ "$parallel" == 1 ]]; then
            train "$model" "$WORK/$prefix$model" "$iters" "$minutes" &
            pids+=($!)
        else
            train "$model" "$WORK/$prefix$model" "$iters" "$minutes"
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
}
score() { # OUT_NAME RUN_PREFIX MODEL...: eval on the held-out sets (one Python process)
    local name=$1 prefix=$2
    shift 2
    local runs=()
    for model in "$@"; do
        [[ -f "$WORK/$prefix$model/ema.safetensors" ]] && runs+=(--run "$model=$WORK/$prefix$model")
    done
    "$PY" scripts/eval_heldout.py --out "$WORK/$name" --device "$DEVICE" --db "$DB" "${runs[@]}" \
        --set "test-motion=$DATA/test-motion" --set "test-static=$DATA/test-static" --set "val=$DATA/val" \
        ${SHIPPED:+--shipped "$SHIPPED"} 2>&1 | tee "$WORK/logs/$name.log"
}

packer &
PACKER=$!
trap 'kill "$PACKER" 2>/dev/null' EXIT

# 1. The two shipped models, with motion and varied noise.
say "training ${MAIN_MODELS[*]} for $MAIN_MINUTES min each (concurrent: $CONCURRENT)"
train_all "$MAIN_ITERS" "$MAIN_MINUTES" "$CONCURRENT" "" "${MAIN_MODELS[@]}"
pack

# 2. Held-out scores: the new runs, the currently shipped eapnet-lightweight (before/after), references.
say "scoring on test-motion, test-static, val"
SHIPPED=eapnet-lightweight score eval "" "${MAIN_MODELS[@]}"
for model in "${MAIN_MODELS[@]}"; do
    run="$WORK/$model"
    [[ -f "$run/ema.safetensors" ]] || continue
    "$PY" -m bench.train.card --run "$run" --train-data "$DATA/train" --val-data "$DATA/test-motion" \
        --eval "$WORK/eval/eval/test-motion.$model@trained.json" --eval "$WORK/eval/eval/test-motion.refs.json" \
        --weights "$run/ema.safetensors" --plot "$WORK/cards/${model}_curve.png" --out "$WORK/cards/$model.md" \
        >>"$WORK/logs/cards.log" 2>&1 || say "$model: card draft failed (logs/cards.log)"
done
pack

# 3. Table 2 (pdub2..5) at a fixed budget, if it can end within BUDGET_MINUTES.
elapsed=$(($(date +%s) - T0))
need=$("$PY" -c "print(int(float('$PDUB_MINUTES') * 60 + 60))") # training, then ~a minute to start and score
left=$("$PY" -c "print(int(float('$BUDGET_MINUTES') * 60) - $elapsed)")
if ((left >= need)); then
    say "Table 2 rows: ${PDUB_MODELS[*]}, $PDUB_ITERS iterations each (cap $PDUB_MINUTES min), concurrently"
    train_all "$PDUB_ITERS" "$PDUB_MINUTES" 1 "pdub/" "${PDUB_MODELS[@]}"
    pack
    SHIPPED="" score eval-pdub "pdub/" "${PDUB_MODELS[@]}"
else
    say "Table 2 rows skipped: ${left}s left of $BUDGET_MINUTES min, they need ${need}s"
fi

{
    echo "# gpu_train_motion: $(date -u +%FT%TZ), $(($(date +%s) - T0)) s wall time"
    echo
    cat "$WORK/eval/scores.md" 2>/dev/null
    echo
    cat "$WORK/eval-pdub/scores.md" 2>/dev/null
} >"$WORK/summary.md"
kill "$PACKER" 2>/dev/null
pack
say "done: $WORK (summary.md)${PACK:+; packed into $PACK}"
