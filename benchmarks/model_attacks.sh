#!/usr/bin/env bash
# The attacks on a protected model's weights (wm eval --attacks), on the ×2 MSRResNets of basicsr_absorb.py:
# the one trained with the flag and a spectral key (absorb), its plain twin (the control, which must never be
# detected), and the plain twin protected with the spectral barrier. Writes benchmarks/results/model_attacks_*/.
# Environment: ATTACKS (the --attacks list), RUNS (of: absorb barrier plain absorb_photos), PREFIX, WORK, DATA.
# Run after: python benchmarks/basicsr_absorb.py data --scheme spectral --iters 1600 --work runs/basicsr_absorb
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/basicsr_absorb}
ATTACKS=${ATTACKS:-none,prune30,weightnoise1%,int8,finetune1k,lora1k}
RESULTS=benchmarks/results/${PREFIX:-model_attacks}
KEY=$WORK/owner_spectral.key
PLAIN=$WORK/experiments/msrresnet_x2_plain_spectral/models/net_g_1600.pth
wm protect --framework basicsr -opt "$WORK/msrresnet_x2_plain_spectral.yml" --checkpoint "$PLAIN" --key "$KEY" \
   --mode barrier -o "$WORK/msrresnet_x2_barrier_spectral.pth" --force --json > /dev/null
W=$WORK/experiments
RUNS=${RUNS:-absorb barrier plain absorb_photos}
for run in "absorb $WORK/msrresnet_x2_wm_spectral.yml $W/msrresnet_x2_wm_spectral/models/net_g_1600.pth" \
           "barrier $WORK/msrresnet_x2_barrier_spectral.yml $WORK/msrresnet_x2_barrier_spectral.pth" \
           "plain $WORK/msrresnet_x2_plain_spectral.yml $PLAIN"; do
  read -r name opt model <<< "$run"
  [[ " $RUNS " == *" $name "* ]] || continue
  start=$SECONDS
  wm eval --framework basicsr -opt "$opt" --model "$model" --key "$KEY" --attacks "$ATTACKS" \
     -o "${RESULTS}_$name" --force
  echo "$name: $((SECONDS - start)) s"
done
# How fast the absorbed mark fades when the thief fine-tunes on photos (the training photos: a thief with
# the owner's own data) rather than on procedural images.
if [[ " $RUNS " == *" absorb_photos "* ]]; then
  start=$SECONDS
  wm eval --framework basicsr -opt "$WORK/msrresnet_x2_wm_spectral.yml" --key "$KEY" \
     --model "$W/msrresnet_x2_wm_spectral/models/net_g_1600.pth" --attacks finetune100,finetune300,finetune1k,lora1k \
     --attack-data "${DATA:-data}/train" -o "${RESULTS}_absorb_photos" --force
  echo "absorb_photos: $((SECONDS - start)) s"
fi
