#!/usr/bin/env bash
# The victims of the attack benchmarks, in .gpu/models/ (git-ignored), on either machine. Three sets:
# sr (×2 super-resolution):
#   plain.{yml,pth}   BasicSR's own MSRResNet ×2 (64 features, 16 blocks) trained with BasicSR's pipeline, 2,500
#                     iterations at batch 16 on 96² crops of the training photos: the training of 2026-11-27 (3,930 s
#                     on the 2-core CPU machine, validation 31.54 dB), kept in benchmarks/victims/ so that every
#                     session measures the same model; trained anew if that file is deleted
#   owner.key         the benchmarks' spectral owner (benchmarks/victims/); barrier.{yml,pth}: plain behind its
#                     barrier; wm.{yml,pth}: plain fine-tuned to emit the mark itself (`wm protect --mode absorb`)
#   owner_deep.key    the benchmarks' learned-scheme owner; barrier_deep.{yml,pth}: plain behind its barrier
# x4 (×4 super-resolution):
#   plain_x4.{yml,pth}, barrier_x4.{yml,pth}   the same MSRResNet recipe at ×4 (the training of 2026-12-03: 6,919 s
#                     on the CPU machine, validation 27.05 dB; kept in benchmarks/victims/), and it behind owner.key's
#                     barrier
# denoise (Gaussian noise, σ = 25):
#   denoise_plain.{yml,pth}    BasicSR's SRVGGNetCompact ×1 (32 features, 8 convolutions) trained by
#                     benchmarks/denoiser.py, kept in benchmarks/victims/
#   denoise_barrier.{yml,pth}  denoise_plain behind owner.key's barrier
# What exists is kept (delete a file to redo its step).
# Usage: benchmarks/victims.sh DATA DEVICE   (DATA: benchmarks/datasets.py's folder; DEVICE: cpu or cuda)
# Environment: SETS (default "sr x4 denoise"); WORK, the stem of a new MSRResNet training's folder (default
# runs/plain64, to which _x2 or _x4 is added; a finished one there is reused).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 DEVICE=$2
WORK=${WORK:-runs/plain64}
V=benchmarks/victims
M=.gpu/models
WM="python3 -m wm_cli"
mkdir -p $M
cp -n $V/owner.key $V/owner_deep.key $M/

kept() {  # safetensors, output .pth: as BasicSR saves a network, so BasicSR's own loaders take it too
  python3 -c "import sys, torch; from safetensors.torch import load_file
torch.save({'params': load_file(sys.argv[1])}, sys.argv[2])" "$1" "$2"
}
protect() {  # victim, key, output, mode[, wm protect options]; exit 1 (written, but not detected: absorb here) is
             # measured as it is
  local victim=$1 key=$2 out=$3 mode=$4; shift 4
  [ -f "$M/$out.pth" ] || $WM protect --framework basicsr -opt "$M/$victim.yml" --checkpoint "$M/$victim.pth" \
    --key "$M/$key" --mode "$mode" -o "$M/$out.pth" --device "$DEVICE" "$@" || [ $? = 1 ]
}
msrresnet() {  # scale, name: BasicSR's MSRResNet ×scale (64 features, 16 blocks) as $M/name.{yml,pth}, from the
               # weights kept in benchmarks/victims/, or else trained here and kept there (commit them)
  local scale=$1 name=$2 stem=$V/msrresnet64_x$1_plain work=${WORK}_x$1
  local trained=$work/experiments/msrresnet_x${scale}_plain/models/net_g_2500.pth
  [ -f "$M/$name.pth" ] && return
  if [ ! -f "$stem.safetensors" ]; then
    [ -f "$trained" ] || python3 benchmarks/basicsr_absorb.py "$DATA" --plain-only --iters 2500 --batch 16 \
      --num-feat 64 --num-block 16 --scale "$scale" --num-gpu "$([ "$DEVICE" = cuda ] && echo 1 || echo 0)" \
      --work "$work" --out "$work/plain.json"
    python3 -c "import sys, torch; from safetensors.torch import save_file
save_file(torch.load(sys.argv[1], weights_only=True)['params'], sys.argv[2])" "$trained" "$stem.safetensors"
    cp "$work/msrresnet_x${scale}_plain.yml" "$stem.yml"
  fi
  cp "$stem.yml" "$M/$name.yml"
  kept "$stem.safetensors" "$M/$name.pth"
}
sr() {
  msrresnet 2 plain
  protect plain owner.key barrier barrier
  protect plain owner_deep.key barrier_deep barrier
  protect plain owner.key wm absorb
  [ -f $M/wm.yml ] || cp $M/plain.yml $M/wm.yml  # absorb writes a checkpoint of plain's own arch
}
x4() {
  msrresnet 4 plain_x4
  protect plain_x4 owner.key barrier_x4 barrier
}
denoise() {
  if [ ! -f $M/denoise_plain.pth ]; then
    cp $V/srvgg_denoise_plain.yml $M/denoise_plain.yml
    kept $V/srvgg_denoise_plain.safetensors $M/denoise_plain.pth
  fi
  protect denoise_plain owner.key denoise_barrier barrier --data "$DATA/probes_x1_noise25"
}
for set in ${SETS:-sr x4 denoise}; do "$set"; done
