#!/usr/bin/env bash
# Surrogate attacks (wm eval --attacks surrogate-...) on the ×2 MSRResNet protected with the spectral barrier by
# model_attacks.sh, and on its plain twin (the control). Writes benchmarks/results/surrogate_attacks_*/.
# Run after benchmarks/model_attacks.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/basicsr_absorb}
ATTACKS=${ATTACKS:-surrogate-unet-l1-2k,surrogate-srvgg-l1-2k}
RUNS=${RUNS:-barrier plain}
for run in "barrier $WORK/msrresnet_x2_barrier_spectral.yml $WORK/msrresnet_x2_barrier_spectral.pth" \
           "plain $WORK/msrresnet_x2_plain_spectral.yml $WORK/experiments/msrresnet_x2_plain_spectral/models/net_g_1600.pth"; do
  read -r name opt model <<< "$run"
  [[ " $RUNS " == *" $name "* ]] || continue
  start=$SECONDS
  wm eval --framework basicsr -opt "$opt" --model "$model" --key "$WORK/owner_spectral.key" --attacks "$ATTACKS" \
     -o "benchmarks/results/surrogate_attacks_$name" --force
  echo "$name: $((SECONDS - start)) s"
done
