#!/usr/bin/env bash
# Surrogate attacks on the denoiser (benchmarks/victims.sh's denoise set: BasicSR's SRVGGNetCompact ×1, σ = 25):
# wm eval trains each surrogate of ATTACKS on the answers of the denoiser behind the spectral barrier, and the
# surrogate CONTROL on the plain denoiser's (it must never be detected), all at once, one THREADS-thread process
# each; the thief's data are wm eval's default (procedural images, fresh noise each step) or the clean images of
# ATTACK_DATA, the probes the 100 noisy held-out crops of benchmarks/datasets.py --scale 1 --noise 25. Writes wm eval's JSON to
# benchmarks/results/surrogates_denoise/{barrier,plain}_ARCH_LOSS_STEPS.json (or OUT).
# Usage: benchmarks/denoise_surrogates.sh DATA [DEVICE]
# Environment: ATTACKS (default surrogate-srvgg-l1-5k), CONTROL (default: the first of ATTACKS), ATTACK_DATA,
# THREADS (1), OUT, CHECKPOINTS (a folder: each run saves its training there every 500 steps, under the victim's
# name, and the same command run again resumes it).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1 DEVICE=${2:-cpu}
ATTACKS=${ATTACKS:-surrogate-srvgg-l1-5k}
CONTROL=${CONTROL:-${ATTACKS%% *}}
OUT=${OUT:-benchmarks/results/surrogates_denoise}
M=.gpu/models
[ -d "$DATA/probes_x1_noise25" ] || python3 benchmarks/datasets.py "$DATA" --probes 100 --scale 1 --noise 25
SETS=denoise bash benchmarks/victims.sh "$DATA" "$DEVICE"
mkdir -p "$OUT"
ev() {  # victim, attack
  local name=${1#denoise_}_$(echo "${2#surrogate-}" | tr - _)
  OMP_NUM_THREADS=${THREADS:-1} python3 -m wm_cli eval --framework basicsr -opt "$M/$1.yml" --model "$M/$1.pth" \
    --key $M/owner.key --attacks "$2" --data "$DATA/probes_x1_noise25" \
    ${ATTACK_DATA:+--attack-data "$ATTACK_DATA"} ${CHECKPOINTS:+--checkpoints "$CHECKPOINTS/$1"} --device "$DEVICE" --json \
    > "$OUT/$name.json.part" && mv "$OUT/$name.json.part" "$OUT/$name.json" && echo "$name: done"
}
for attack in $ATTACKS; do ev denoise_barrier "$attack" & done
ev denoise_plain "$CONTROL" &
wait
