#!/usr/bin/env bash
# The victims of the GPU benchmarks, in .gpu/models/ (git-ignored), on either machine:
#   plain.{yml,pth}   BasicSR's own MSRResNet ×2 (64 features, 16 blocks) trained with BasicSR's pipeline, 2,500
#                     iterations at batch 16 on 96² crops of the training photos: the training of 2026-11-27 (3,930 s
#                     on the 2-core CPU machine, validation 31.54 dB), kept in benchmarks/victims/ so that every
#                     session measures the same model; trained anew if that file is deleted
#   owner.key         the benchmarks' spectral owner (benchmarks/victims/); barrier.{yml,pth}: plain behind its
#                     barrier; wm.{yml,pth}: plain fine-tuned to emit the mark itself (`wm protect --mode absorb`)
#   owner_deep.key    the benchmarks' learned-scheme owner; barrier_deep.{yml,pth}: plain behind its barrier
# What exists is kept (delete a file to redo its step).
# Usage: benchmarks/victims.sh DATA DEVICE   (DATA: benchmarks/datasets.py's folder; DEVICE: cpu or cuda)
# Environment: WORK, the folder of a new training (default runs/plain64; a finished one there is reused).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 DEVICE=$2
WORK=${WORK:-runs/plain64}
V=benchmarks/victims
M=.gpu/models
WM="python3 -m wm_cli"
mkdir -p $M

KEPT=$V/msrresnet64_x2_plain.safetensors
TRAINED=$WORK/experiments/msrresnet_x2_plain/models/net_g_2500.pth
if [ ! -f $M/plain.pth ]; then
  cp $V/msrresnet64_x2_plain.yml $M/plain.yml
  if [ -f $KEPT ]; then  # as BasicSR saves it, so BasicSR's own loaders take it too
    python3 -c "import sys, torch; from safetensors.torch import load_file
torch.save({'params': load_file(sys.argv[1])}, sys.argv[2])" $KEPT $M/plain.pth
  else
    [ -f "$TRAINED" ] || python3 benchmarks/basicsr_absorb.py "$DATA" --plain-only --iters 2500 --batch 16 \
      --num-feat 64 --num-block 16 --num-gpu "$([ "$DEVICE" = cuda ] && echo 1 || echo 0)" --work "$WORK" \
      --out "$WORK/plain.json"
    cp "$TRAINED" $M/plain.pth
  fi
fi
protect() {  # key, output, mode; exit 1 (written, but not detected: absorb here) is measured as it is
  [ -f "$M/$2.pth" ] || $WM protect --framework basicsr -opt $M/plain.yml --checkpoint $M/plain.pth --key "$M/$1" \
    --mode "$3" -o "$M/$2.pth" --device "$DEVICE" || [ $? = 1 ]
}
cp -n $V/owner.key $V/owner_deep.key $M/
protect owner.key barrier barrier
protect owner_deep.key barrier_deep barrier
protect owner.key wm absorb
[ -f $M/wm.yml ] || cp $M/plain.yml $M/wm.yml  # absorb writes a checkpoint of plain's own arch
