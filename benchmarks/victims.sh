#!/usr/bin/env bash
# The victims of the GPU benchmarks, in .gpu/models/ (git-ignored), on either machine:
#   plain.{yml,pth}   BasicSR's own MSRResNet ×2 (64 features, 16 blocks) trained with BasicSR's pipeline, 2,500
#                     iterations at batch 16 on 96² crops of the training photos (65 min on the 2-core CPU machine;
#                     BENCHMARKS "On the GPU: BasicSR's own MSRResNet")
#   owner.key         a spectral key; barrier.{yml,pth}: plain behind its barrier; wm.{yml,pth}: plain fine-tuned
#                     to emit the mark itself (`wm protect --mode absorb`)
#   owner_deep.key    a learned-scheme key; barrier_deep.{yml,pth}: plain behind its barrier (the stage2 part)
# Each key is new: rebuilt victims belong to another owner. What exists is kept (delete a file to redo its step).
# Usage: benchmarks/victims.sh DATA DEVICE   (DATA: benchmarks/datasets.py's folder; DEVICE: cpu or cuda)
# Environment: WORK, the training's folder (default runs/plain64; a finished training there is reused).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 DEVICE=$2
WORK=${WORK:-runs/plain64}
M=.gpu/models
WM="python3 -m wm_cli"
mkdir -p $M

TRAINED=$WORK/experiments/msrresnet_x2_plain/models/net_g_2500.pth
if [ ! -f $M/plain.pth ]; then
  [ -f "$TRAINED" ] || python3 benchmarks/basicsr_absorb.py "$DATA" --plain-only --iters 2500 --batch 16 \
    --num-feat 64 --num-block 16 --num-gpu "$([ "$DEVICE" = cuda ] && echo 1 || echo 0)" --work "$WORK" --out "$WORK/plain.json"
  cp "$WORK/msrresnet_x2_plain.yml" $M/plain.yml
  cp "$TRAINED" $M/plain.pth
fi
protect() {  # key, output, mode
  [ -f "$M/$2.pth" ] || $WM protect --framework basicsr -opt $M/plain.yml --checkpoint $M/plain.pth --key "$M/$1" \
    --mode "$3" -o "$M/$2.pth" --device "$DEVICE"
}
[ -f $M/owner.key ] || $WM keygen --scheme spectral -o $M/owner.key
[ -f $M/owner_deep.key ] || $WM keygen --scheme deep -o $M/owner_deep.key
protect owner.key barrier barrier
protect owner_deep.key barrier_deep barrier
protect owner.key wm absorb
[ -f $M/wm.yml ] || cp $M/plain.yml $M/wm.yml  # absorb writes a checkpoint of plain's own arch
