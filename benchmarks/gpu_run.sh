#!/usr/bin/env bash
# The GPU measurements, in one call on a machine with python3 + torch (CUDA) and no network (the device tool's).
# PARTS (default: speed finetune surrogates) picks among:
#   victim      benchmarks/victims.sh on the GPU: whichever of .gpu/models is missing (as gpu_prep.sh MODELS=gpu
#               leaves them); the models come back in $OUT/models.tgz. Put it first.
#   speed       speed_gpu.py (issue 8)
#   finetune    trigger.py on the ×2 MSRResNet of basicsr_absorb.py (TRIG_STEPS implant steps, default 10000;
#               fine-tuning 5k / 20k and LoRA 5k after, at attack lr 1e-4 and 1e-5), and wm eval's fine-tuning
#               attacks on its absorb / barrier / plain twins (issue 6), in parallel
#   tpr         trigger_tpr.py on .gpu/models/plain: TPR_PROCS processes (default 1) of up to TPR_KEYS keys each
#               (default 3; no key begun that would end past LIMIT - 30 s; implant lr from the list TPR_LRS, in turn,
#               default 1e-3), each key's protected model fine-tuned 5k
#               steps at lr 1e-4 (issue 6's bar: TPR@1e-6 >= 0.95); with TPR_EXTRA=1 also one key under 20k steps,
#               LoRA 5k, pruning, int8 and the chroma notch, one under 5k steps at lr 1e-5, and the control (the
#               original attacked the same ways, probed with 12 keys) (trigger_tpr_<label>.jsonl); with TPR_CONTROL=1
#               only the control of the 5k-step fine-tune; TPR_MODEL=denoise_plain TPR_ARGS="--amplitude 12 --implant-task
#               denoise": the denoiser, implanted as `wm protect --task denoise --trigger-height 12` does;
#               TPR_ARGS="--amplitude 12 --minimax 0.005": implanted as `wm protect --minimax 0.005` does (3x the time)
#   fading      trigger_fading.py on .gpu/models/plain, one fresh key, four processes at once: the one-carrier and the
#               two-carrier trigger under the same thief (procedural images), and the two-carrier one under a thief
#               fine-tuning on the photos (.gpu/data/train) and under one whose procedural inputs pass the chroma
#               notch (nothing in the carrier band); implant TRIG_STEPS (default 2000) at batch 16, then the
#               response read after each chunk of FADE_CHUNKS (default 500,500,1000,3000) steps at lr 1e-4 (issue 6:
#               why the MSRResNet forgets the trigger within 1k steps; trigger_fading_<label>.jsonl)
#   flag        basicsr_absorb.py --mode trigger: BasicSR's own MSRResNet ×FLAG_SCALE (default 4; 64 features,
#               16 blocks) trained FLAG_ITERS iterations (default 5000) on .gpu/data with and without
#               `watermark: {mode: trigger}`, both at once: the task-PSNR cost of the flag and the trained model's
#               verdict (issues 4, 6)
#   surrogates  wm eval's surrogate attacks SURR_ATTACKS (default: U-Net, ResNet-9, SRVGGNetCompact, L1, 10k steps)
#               on the barrier twin, and SURR_CONTROL (default srvgg-l1-10k) on the plain control (issue 3);
#               PROBES: a folder of probe inputs (default: the bundled photos); SURR_SET=x4: the ×4 twins instead
#               (barrier_x4, plain_x4; PROBES=.gpu/data/probes_x4)
#   denoise     benchmarks/denoise_surrogates.sh: surrogates DN_ATTACKS (default: U-Net, ResNet-9, SRVGGNetCompact,
#               L1, 10k steps) of the SRVGGNetCompact denoiser behind the spectral barrier, the first on the plain
#               denoiser too (issue 3; surrogates_denoise/); ATTACK_DATA=.gpu/data/train trains them on the photos
#   stage2      wm train --stage 2 at GPU scale (S2_STEPS surrogate steps, default 5000): do surrogates keep any of
#               the learned mark there (mark_kept in stage2_log.jsonl)? Then benchmarks/stage2.py on the learned
#               barrier and its plain twin (issue 3)
# Needs .gpu/ (git-ignored): made on the CPU machine by benchmarks/gpu_prep.sh (wm's wheel, BasicSR, the photos,
# and benchmarks/victims.sh's models: BasicSR's MSRResNet ×2 64×16 as plain.*, its spectral barrier.* and absorbed
# wm.* with owner.key, its learned barrier_deep.* with owner_deep.key; the ×4 plain_x4.*, barrier_x4.*; the denoiser
# denoise_{plain,barrier}.*).
# A fresh checkout has none: run it first.
# PARALLEL=1 runs the PARTS at once (they share the card) instead of one after the other. Processes sharing the card
# add no throughput once one fills it: one implant of BasicSR's MSRResNet (64×16) at batch 16 does (29 ms a step
# alone on the H200, 2026-11-27), and 12 processes at once (tpr with TPR_EXTRA=1 and 5 surrogates) finished none of
# their keys or surrogates in 470 s. Size each call by the sum of its jobs' times alone.
# Writes under $OUT (default benchmarks/results/gpu): speed_gpu.json, trigger.jsonl, trigger_tpr.jsonl, eval_*.json,
# basicsr_trigger_x4.json (_x2 with FLAG_SCALE=2), surrogates_denoise/, log.txt.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
PARTS=${PARTS:-speed finetune surrogates}
STEPS=${STEPS:-3000}
LIMIT=${LIMIT:-300}
M=.gpu/models
mkdir -p "$OUT" /tmp/logs
python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.gpu/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${THREADS:-3}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > /tmp/logs/0_gpu.txt
python3 -c "import torch, wm_basicsr, basicsr; print('torch', torch.__version__, 'basicsr', basicsr.__version__)" >> /tmp/logs/0_gpu.txt 2>&1

trig() {  # label, extra arguments
  local label=$1; shift
  timeout "$LIMIT" python3 benchmarks/trigger.py --opt $M/plain.yml --checkpoint $M/plain.pth --key $M/owner.key \
    --device cuda --batch 16 --steps "${TRIG_STEPS:-10000}" --attacks finetune5k,finetune20k,lora5k --label "$label" \
    --out "$OUT/trigger.jsonl" "$@" > "/tmp/logs/2_trigger_$label.txt" 2>&1
}
ev() {  # name, options file, checkpoint, attacks
  timeout "$LIMIT" python3 -m wm_cli eval --framework basicsr -opt "$M/$2" --model "$M/$3" --key $M/owner.key \
    --attacks "$4" --device cuda ${PROBES:+--data "$PROBES"} --json > "$OUT/eval_$1.json" 2> "/tmp/logs/3_eval_$1.txt"
}
timed() {  # name, command...
  local name=$1 start=$SECONDS; shift
  "$@"
  echo "$name: $((SECONDS - start)) s" >> /tmp/logs/0_gpu.txt
}
victim() {
  timeout "$LIMIT" bash benchmarks/victims.sh .gpu/data cuda > /tmp/logs/0_victim.txt 2>&1
  tar -czf "$OUT/models.tgz" -C .gpu models
}
speed() {
  timeout "${SPEED_LIMIT:-170}" python3 benchmarks/speed_gpu.py --out "$OUT/speed_gpu.json" > /tmp/logs/1_speed.txt 2>&1
}
finetune() {
  trig response_lr1e-4 &
  trig response_lr1e-5 --attack-lr 1e-5 &
  ev absorb wm.yml wm.pth none,finetune5k,lora5k &
  (ev plain plain.yml plain.pth finetune5k,lora5k; ev barrier barrier.yml barrier.pth finetune5k) &
  wait
}
tpr_run() {  # label, trigger_tpr.py arguments
  local label=$1; shift
  local model=${TPR_MODEL:-plain}
  timeout "$LIMIT" python3 benchmarks/trigger_tpr.py --opt $M/$model.yml --checkpoint $M/$model.pth \
    --steps "${TRIG_STEPS:-3000}" --batch 16 --device cuda --label "$label" --out "$OUT/trigger_tpr_$label.jsonl" \
    ${TPR_ARGS:-} "$@" > "/tmp/logs/5_tpr_$label.txt" 2>&1
}
tpr() {
  local n lr lrs=(${TPR_LRS:-1e-3})
  for n in $(seq "${TPR_PROCS:-1}"); do
    lr=${lrs[$(((n - 1) % ${#lrs[@]}))]}
    tpr_run "gpu_${n}_lr$lr" --part protected --keys "${TPR_KEYS:-3}" --deadline $((LIMIT - 30)) --lr "$lr" \
      --attacks finetune5k &
  done
  if [ "${TPR_CONTROL:-0}" = 1 ]; then
    tpr_run gpu_control_finetune5k --part control --keys 12 --attacks finetune5k &
  fi
  if [ "${TPR_EXTRA:-0}" = 1 ]; then
    tpr_run gpu_more --part protected --keys 1 --attacks finetune20k,lora5k,prune30,int8,chromanotch &
    tpr_run gpu_lr1e-5 --part protected --keys 1 --attacks finetune5k --attack-lr 1e-5 &
    tpr_run gpu_control --part control --keys 12 --attacks finetune5k,finetune20k,lora5k,prune30,int8 &
  fi
  wait
}
fade_run() {  # label, trigger_fading.py arguments
  local label=$1; shift
  timeout "$LIMIT" python3 benchmarks/trigger_fading.py --opt $M/plain.yml --checkpoint $M/plain.pth \
    --key /tmp/fade.key --steps "${TRIG_STEPS:-2000}" --batch 16 --device cuda \
    --chunks "${FADE_CHUNKS:-500,500,1000,3000}" --label "gpu_$label" --out "$OUT/trigger_fading_$label.jsonl" "$@" \
    > "/tmp/logs/8_fading_$label.txt" 2>&1
}
fading() {
  python3 -m wm_cli keygen -o /tmp/fade.key > /dev/null
  fade_run one_carrier --carriers 1 &
  fade_run two_carriers --carriers 2 &
  fade_run two_carriers_photos --carriers 2 --attack-data .gpu/data/train &
  fade_run two_carriers_notched --carriers 2 --thief-filter chromanotch &
  wait
}
flag() {
  local scale=${FLAG_SCALE:-4}
  timeout "$LIMIT" python3 benchmarks/basicsr_absorb.py .gpu/data --mode trigger --iters "${FLAG_ITERS:-5000}" \
    --num-feat 64 --num-block 16 --batch 16 --scale "$scale" --num-gpu 1 --work /tmp/flag \
    --out "$OUT/basicsr_trigger_x$scale.json" \
    > /tmp/logs/6_flag.txt 2>&1
}
surrogates() {
  local attack control=${SURR_CONTROL:-srvgg-l1-10k} x=${SURR_SET:+_$SURR_SET}
  for attack in ${SURR_ATTACKS:-surrogate-unet-l1-10k surrogate-resnet9-l1-10k surrogate-srvgg-l1-10k}; do
    ev "barrier${x}_${attack#surrogate-}" "barrier$x.yml" "barrier$x.pth" "$attack" &
  done
  ev "plain${x}_$control" "plain$x.yml" "plain$x.pth" "surrogate-$control" &
  wait
}
denoise() {
  ATTACKS=${DN_ATTACKS:-surrogate-unet-l1-10k surrogate-resnet9-l1-10k surrogate-srvgg-l1-10k} THREADS=3 \
    OUT=$OUT/surrogates_denoise timeout "$LIMIT" bash benchmarks/denoise_surrogates.sh .gpu/data cuda \
    > /tmp/logs/7_denoise.txt 2>&1
}
stage2() {
  timeout "$LIMIT" python3 -m wm_cli train --stage 2 --task sr --scale 2 --archs unet,srvgg \
    --surrogate-steps "${S2_STEPS:-5000}" --steps 600 --device cuda --out /tmp/stage2 > /tmp/logs/4_stage2_train.txt 2>&1
  cp /tmp/stage2/log.jsonl "$OUT/stage2_log.jsonl"
  timeout "$LIMIT" python3 benchmarks/stage2.py --stage2 /tmp/stage2 --key $M/owner_deep.key \
    --protected $M/barrier_deep.yml $M/barrier_deep.pth --plain $M/plain.yml $M/plain.pth \
    --attacks "surrogate-unet-l1-${S2_STEPS:-5000},surrogate-srvgg-l1-${S2_STEPS:-5000}" --device cuda --out "$OUT" \
    > /tmp/logs/4_stage2_bench.txt 2>&1
}
if [ "${PARALLEL:-0}" = 1 ]; then
  for part in $PARTS; do timed "$part" "$part" & done
  wait
else
  for part in $PARTS; do timed "$part" "$part"; done
fi
for f in /tmp/logs/*; do echo "=== $f"; tail -c 20000 "$f"; done > "$OUT/log.txt"
