#!/usr/bin/env bash
# Surrogate attacks (wm eval --attacks surrogate-...) on the ×2 MSRResNet behind the spectral barrier and on its
# plain twin (the control): model_attacks.sh with other attacks. Writes benchmarks/results/surrogate_attacks_*/.
# Run after: python benchmarks/basicsr_absorb.py data --scheme spectral --iters 1600 --work runs/basicsr_absorb
set -euo pipefail
ATTACKS=${ATTACKS:-surrogate-unet-l1-2k,surrogate-srvgg-l1-2k} PREFIX=surrogate_attacks RUNS=${RUNS:-barrier plain} \
  exec "$(dirname "$0")/model_attacks.sh"
