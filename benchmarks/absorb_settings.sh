#!/usr/bin/env bash
# `wm protect --mode absorb` on the benchmarks' victim (BasicSR's MSRResNet ×2 64×16 and the spectral owner key of
# benchmarks/victims/) at several learning rates, step counts and training images: does the fine-tuned model emit
# the mark, and how far do its answers move from the original's? The check is wm protect's own (the 4 bundled
# photos, held out). One JSON line per setting in OUT/absorb_settings.jsonl.
#
#   benchmarks/absorb_settings.sh DATA [OUT]     # DATA: benchmarks/datasets.py's folder (its train/ photos)
#   SETTINGS="LR:STEPS:IMAGES[:WEIGHT] ..."  IMAGES: photos (DATA/train) or procedural (wm protect's default);
#                                   WEIGHT: --extractor-weight (default 0.01)
#   JOBS=2 THREADS=1                runs side by side, torch threads each
# Needs .gpu/models/plain.{yml,pth} and owner.key: benchmarks/victims.sh DATA cpu.
set -euo pipefail
DATA=${1:?usage: absorb_settings.sh DATA [OUT]}
OUT=${2:-benchmarks/results/absorb_settings}
SETTINGS=${SETTINGS:-"1e-4:600:photos 1e-4:600:procedural 1e-4:600:photos:0.1"}
JOBS=${JOBS:-2} THREADS=${THREADS:-1}
M=.gpu/models
mkdir -p "$OUT"

run() {  # lr steps images weight
  local name="absorb_lr$1_$2steps_$3_w$4" start
  local data=(); [ "$3" = photos ] && data=(--data "$DATA/train")
  start=$(date +%s)
  # exit 1: written but not detected, which is a result here
  OMP_NUM_THREADS=$THREADS wm protect --framework basicsr -opt $M/plain.yml --checkpoint $M/plain.pth \
    --key $M/owner.key --mode absorb --lr "$1" --steps "$2" --extractor-weight "$4" "${data[@]}" -o "$OUT/$name.pth" --force --json \
    > "$OUT/$name.json" || [ $? = 1 ]
  python3 - "$OUT/$name.json" "$1" "$2" "$3" "$4" "$(( $(date +%s) - start ))" >> "$OUT/absorb_settings.jsonl" <<'EOF'
import json, sys
path, lr, steps, images, weight, seconds = sys.argv[1:]
r = json.load(open(path))
print(json.dumps({"lr": float(lr), "steps": int(steps), "images": images, "extractor_weight": float(weight),
                  "seconds": int(seconds),
                  "psnr_vs_original": r["psnr_vs_original"], "bit_accuracy": r["protected"]["bit_accuracy"],
                  "p_value": r["protected"]["p_value"], "detected": r["protected"]["detected"],
                  "original_p_value": r["original"]["p_value"]}))
EOF
  rm -f "$OUT/$name.pth"  # 6 MB each; the figure is the point
}

for s in $SETTINGS; do
  IFS=: read -r lr steps images weight <<< "$s"
  run "$lr" "$steps" "$images" "${weight:-0.01}" &
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
done
wait
cat "$OUT/absorb_settings.jsonl"
