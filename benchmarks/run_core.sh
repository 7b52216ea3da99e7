#!/usr/bin/env bash
# Every figure of the core issue, in one go, on the machine it runs on (writes benchmarks/results/).
# Needs: pip install -e . && pip install -r benchmarks/requirements.txt
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/datasets.py data                                  # held-out photos, training photos
python benchmarks/fidelity.py data/test --keys 8                    # PSNR, SSIM, bit accuracy, edits
python benchmarks/key_scan.py data/test                             # clean read-backs over 60 messages
python benchmarks/false_positives.py data/train data/test --n 10000 # clean images: verdicts, p-values
python benchmarks/speed_cpu.py --repeat 5                           # wm vs dwtDct / dwtDctSvd
