#!/usr/bin/env bash
# The v3 recipe on a lent GPU machine, in one short call (issue 22). UNTESTED until a GPU is lent.
#
# Here, once (the GPU machine has no rasterio and no network):
#     .venv/bin/python -c "from microflow.synth.textures import save_landsat_npz; save_landsat_npz('out/gpu_carry/landsat.npz')"
#     cp ~/.cache/microflow/runs/v3-w8/final.safetensors out/gpu_carry/init.safetensors   # where to start
# Then with the device tool (about 15 minutes of device time per task, start-up included):
#     run(command="bash scripts/gpu_campaign.sh", carry=["out/gpu_carry"], timeout_s=600)
# It trains for TRAIN_MINUTES (9) with a checkpoint about every minute, then writes into $OUT:
# final_fp16.safetensors (< 16 MiB), log.csv, loss.png, card (final.json/md) and test_split.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_out}
CARRY=${CARRY:-out/gpu_carry}
TRAIN_MINUTES=${TRAIN_MINUTES:-9}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export MICROFLOW_LANDSAT_NPZ="$CARRY/landsat.npz"
PY=${PYTHON:-python3}
INIT=robust
[ -f "$CARRY/init.safetensors" ] && INIT="$CARRY/init.safetensors"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
RUN=/tmp/microflow-v3-gpu
rm -rf "$RUN"
# Larger batches and 8 data workers keep a GPU busy; ~1,000 steps a minute is a checkpoint a minute.
$PY -m microflow.cli.main train --config configs/v3.yaml --out "$RUN" --quiet \
  --set model.init="$INIT" --set run.device="${DEVICE:-cuda}" --set run.threads="${THREADS:-8}" --set run.batch_size=16 \
  --set data.num_workers="${WORKERS:-12}" --set run.max_minutes="$TRAIN_MINUTES" --set run.ckpt_every=1000 \
  --set run.val_every=1000 --set optim.warmup_steps=100 2>&1 | tail -5
cp "$RUN"/log.csv "$RUN"/loss.png "$RUN"/final.json "$RUN"/final.md "$OUT"/ 2>/dev/null || true
$PY - "$RUN/final.safetensors" "$OUT/final_fp16.safetensors" <<'PYEOF'
import sys
from safetensors import safe_open
from safetensors.torch import save_file
src, dst = sys.argv[1:]
with safe_open(src, "pt") as fh:
    meta = fh.metadata()
    tensors = {k: fh.get_tensor(k).half() if fh.get_tensor(k).is_floating_point() else fh.get_tensor(k)
               for k in fh.keys()}
save_file(tensors, dst, metadata=meta)
PYEOF
$PY scripts/score_split.py "$RUN/final.safetensors" --device "${DEVICE:-cuda}" --per-category "${SCORE_PER_CATEGORY:-60}" --json "$OUT/test_split.json"
ls -la "$OUT"
