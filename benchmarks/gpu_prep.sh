#!/usr/bin/env bash
# Builds .gpu/ (git-ignored): what benchmarks/gpu_run.sh needs, made on the CPU machine, since the GPU machine has
# torch but neither wm, BasicSR nor data, and reaches no network. A fresh checkout has no .gpu/: run this first,
# then carry it: run(command="... bash benchmarks/gpu_run.sh", carry=[".gpu"]).
#   .gpu/*.whl          wm itself (entry points included); always rebuilt, so the GPU runs today's code
#   .gpu/site/basicsr   BasicSR's package: pure Python, its imports are all on the GPU image
#   .gpu/data           benchmarks/datasets.py's photos: train/, test/, probes_x2/ and probes_x4/ (100 probe inputs
#                       for ×2 and ×4), probes_x1_noise25/ (100 for the denoiser)
#   .gpu/models         the victims (benchmarks/victims.sh: the kept MSRResNet 64×16 ×2 and ×4, SRVGGNetCompact
#                       denoiser, and their protected twins), made here with MODELS=cpu (the default; 5 min,
#                       absorb's fine-tuning) or by gpu_run.sh's `victim` part with MODELS=gpu
# Environment: DATA (default data: benchmarks/datasets.py's folder, made if missing), MODELS (cpu or gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
mkdir -p .gpu/site

rm -f .gpu/wm_plugin-*.whl
pip wheel -q --no-deps --no-build-isolation -w .gpu .
# found, not imported: basicsr's import needs wm_basicsr's fixes first (FRAMEWORKS.md)
[ -d .gpu/site/basicsr ] || cp -r "$(python3 -c 'import importlib.util as u; print(u.find_spec("basicsr").submodule_search_locations[0])')" .gpu/site/
[ -d "$DATA/probes_x2" ] || python3 benchmarks/datasets.py "$DATA" --probes 100 --scale 2
[ -d "$DATA/probes_x1_noise25" ] || python3 benchmarks/datasets.py "$DATA" --probes 100 --scale 1 --noise 25
[ -d "$DATA/probes_x4" ] || python3 benchmarks/datasets.py "$DATA" --probes 100 --scale 4
[ -d .gpu/data ] || cp -r "$DATA" .gpu/data
[ "${MODELS:-cpu}" = gpu ] || bash benchmarks/victims.sh .gpu/data cpu
du -sh .gpu
