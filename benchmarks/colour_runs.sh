#!/usr/bin/env bash
# The runs behind the README's "Quality" table: each trains for the same 20 CPU-minutes on
# CamVid train + BSDS500 train (one folder of links), then benchmarks/quality.py scores every
# run in one table on CamVid val, BSDS500 val and their least / most colourful thirds.
#
#   bash benchmarks/colour_runs.sh /path/to/camvid /path/to/bsds500 [RUN ...]
#
# RUN names one of the runs below (default: the first five, in this order); `table` skips training and
# only writes the tables from the runs that exist: $TABLE.md / .json (default docs/quality_runs), and
# $TABLE_clipped.md / .json, the same photos with skies clipped to white (quality.py --exposure bright).
# `scaling` trains $SCALING_CONFIG (default configs/pretrained_bins.yaml, the encoder fine-tuned) for 10, then 20, then
# 40 minutes of training time, each stage resuming the last (a constant learning rate, so the 10- and 20-minute stages are
# what runs of that length give), and keeps each stage's folder (run_${SCALING_RUN:-scaling}_10, _20, _40);
# `scaling_table` scores them against run_$SCALING_PAIRED (default pretrained_bins): $TABLE.md / .json and
# ${TABLE}_clipped.md / .json. The default recipe's row: SCALING_CONFIG=configs/cpu_budget.yaml
# SCALING_RUN=budget_scaling SCALING_PAIRED=budget_frozen.
# `hole_table` scores the runs $HOLE_RUNS names (default "scaling_20 lost_ssim fsr"; those that exist) with the pre-fills
# $HOLE_PREFILLS names alone (default "telea fsr_fast"), paired against $PAIRED (default scaling_20), on the plain photos, the
# clipped ones and the darkened ones: $TABLE.md, ${TABLE}_clipped.md and ${TABLE}_dark.md (+ .json).
# A run whose data.prefill is cached (fsr_fast, ...) fills its cache on every core before training.
# $EXTRA_OVERRIDES is appended to every run's overrides: e.g. EXTRA_OVERRIDES=train.amp=off on a CPU without
# native bf16 (no avx512_bf16 / amx_bf16 flag), where bf16 autocast is emulated and about 7x slower than fp32.
set -euo pipefail
cd "$(dirname "$0")/.."
CAMVID=${1:?usage: colour_runs.sh CAMVID_DIR BSDS500_DIR [RUN ...]}
BSDS=${2:?usage: colour_runs.sh CAMVID_DIR BSDS500_DIR [RUN ...]}
shift 2
PHOTOS=checkpoints/cpu_photos
PY=${PYTHON:-python}
TABLE=${TABLE:-docs/quality_runs}

# name | config | overrides (the recipes compared; each changes one thing against its neighbour)
RUNS=(
  "baseline|configs/unet_budget.yaml|"
  "pretrained|configs/pretrained.yaml|"
  "pretrained_bins|configs/pretrained_bins.yaml|"
  "pretrained_bins_full_res|configs/pretrained_bins.yaml|model.generator.chroma_scale=1"
  "pretrained_gate|configs/pretrained.yaml|model.generator.head=luma_gate"
  "scratch_encoder|configs/pretrained_bins.yaml|model.generator.encoder_weights=none"
  # Against pretrained_bins (constant lr, random crops); not in the default list, run them by name:
  "bins_cosine|configs/pretrained_bins.yaml|train.scheduler.type=cosine_time train.scheduler.min_lr_ratio=0.05"
  "bins_whole|configs/pretrained_bins.yaml|data.augment.whole_photo_prob=0.5"
  "bins_cosine_whole|configs/pretrained_bins.yaml|train.scheduler.type=cosine_time train.scheduler.min_lr_ratio=0.05 data.augment.whole_photo_prob=0.5"
  # The scaling row: the schedules at 10 minutes (configs/bundled.yaml is bins_cosine at 60)
  "bins_10|configs/pretrained_bins.yaml|train.max_minutes=10"
  "bins_cosine_10|configs/pretrained_bins.yaml|train.scheduler.type=cosine_time train.scheduler.min_lr_ratio=0.05 train.max_minutes=10"
  # The hole (hole_table): the score's SSIM_lost as a loss, then with the FSR_FAST pre-fill as well
  "lost_ssim|configs/pretrained_bins.yaml|loss.lost_ssim.weight=10"
  "fsr|configs/pretrained_bins.yaml|data.prefill=fsr_fast loss.lost_ssim.weight=10"
  # Against fsr: a heavier SSIM_lost loss; 30 % of the crops clipped bright or dark
  "fsr_lost30|configs/pretrained_bins.yaml|data.prefill=fsr_fast loss.lost_ssim.weight=30"
  "fsr_exposure|configs/pretrained_bins.yaml|data.prefill=fsr_fast loss.lost_ssim.weight=10 data.augment.exposure_prob=0.3"
  # The encoder frozen throughout (no encoder backward: more steps): against pretrained_bins, and against fsr_exposure
  "frozen|configs/pretrained_bins.yaml|model.generator.encoder_frozen_epochs=1000"
  "fsr_frozen|configs/pretrained_bins.yaml|data.prefill=fsr_fast loss.lost_ssim.weight=10 data.augment.exposure_prob=0.3 model.generator.encoder_frozen_epochs=1000"
  # Against fsr_exposure: the discriminator also sees where the hole is
  "fsr_dmask|configs/pretrained_bins.yaml|data.prefill=fsr_fast loss.lost_ssim.weight=10 data.augment.exposure_prob=0.3 model.discriminator.sees_mask=true"
  # Against fsr_exposure: every crop placed to hold the hole
  "fsr_holecrop|configs/pretrained_bins.yaml|data.prefill=fsr_fast loss.lost_ssim.weight=10 data.augment.exposure_prob=0.3 data.augment.hole_crop_prob=1.0"
  # configs/cpu_budget.yaml (pretrained_bins with the encoder frozen for good, exposed crops and the SSIM_lost loss),
  # against scaling_20 (pretrained_bins at 20 minutes)
  "budget_frozen|configs/cpu_budget.yaml|"
  # Against budget_frozen: the decoder told where the hole is (the frozen stem cannot see the mask)
  "budget_frozen_dsm|configs/cpu_budget.yaml|model.generator.decoder_sees_mask=true"
  # Against budget_frozen: every crop placed to hold the hole; then with the FSR_FAST pre-fill as well
  "budget_holecrop|configs/cpu_budget.yaml|data.augment.hole_crop_prob=1.0"
  "budget_fsr_holecrop|configs/cpu_budget.yaml|data.prefill=fsr_fast data.augment.hole_crop_prob=1.0"
  # Against budget_fsr_holecrop: the mean of the FSR_FAST and NS fills, softened with the hole's depth (data/prefill.py)
  "budget_fsr_ns_soft_holecrop|configs/cpu_budget.yaml|data.prefill=fsr_ns_soft data.augment.hole_crop_prob=1.0"
  # Against budget_fsr_ns_soft_holecrop: FSR_FAST averaged over the photo's four mirrorings, with a dark guard (data/prefill.py)
  "budget_fsr_flips_holecrop|configs/cpu_budget.yaml|data.prefill=fsr_flips_ns_soft data.augment.hole_crop_prob=1.0"
  # Against budget_fsr_flips_holecrop: the decoder told where the hole is
  "budget_fsr_flips_dsm|configs/cpu_budget.yaml|data.prefill=fsr_flips_ns_soft data.augment.hole_crop_prob=1.0 model.generator.decoder_sees_mask=true"
  # budget_fsr_flips_holecrop for 58 epochs (3,944 steps) instead of 20 minutes: about the steps the same recipe on
  # FSR_FAST (budget_fsr_holecrop) got in 20 minutes on a CPU with native bf16 (3,983); 68.5 minutes of fp32 training
  # on a 2-core AVX2 EPYC
  "budget_fsr_flips_58ep|configs/cpu_budget.yaml|data.prefill=fsr_flips_ns_soft data.augment.hole_crop_prob=1.0 train.epochs=58 train.max_minutes=0"
  # Against budget_fsr_flips_holecrop: the SSIM_lost loss three times heavier on the hole's luminance only (its colour
  # keeps weight 10; loss.lost_ssim.weight=30 on RGB cost colour, docs/quality.md "Two more levers on top of fsr")
  "budget_fsr_flips_luma20|configs/cpu_budget.yaml|data.prefill=fsr_flips_ns_soft data.augment.hole_crop_prob=1.0 loss.lost_ssim.luma_weight=20"
  # Against budget_fsr_flips_luma20: the hole's luminance at 60 instead of 30
  "budget_fsr_flips_luma50|configs/cpu_budget.yaml|data.prefill=fsr_flips_ns_soft data.augment.hole_crop_prob=1.0 loss.lost_ssim.luma_weight=50"
  # Against budget_fsr_flips_luma20: the generator's learning rate doubled (the decoder learns the hole in fewer steps?)
  "budget_fsr_flips_luma20_lr1e3|configs/cpu_budget.yaml|data.prefill=fsr_flips_ns_soft data.augment.hole_crop_prob=1.0 loss.lost_ssim.luma_weight=20 train.optim.lr_g=0.001"
  # Against budget_fsr_flips_luma20: no discriminator (no adversarial loss in the hole, and more steps)
  "budget_fsr_flips_luma20_noadv|configs/cpu_budget.yaml|data.prefill=fsr_flips_ns_soft data.augment.hole_crop_prob=1.0 loss.lost_ssim.luma_weight=20 loss.adversarial.weight=0"
  # Against budget_fsr_flips_luma20: two Fourier-convolution blocks on the 1/16 feature (LaMa's global reach)
  "budget_fsr_flips_luma20_ffc2|configs/cpu_budget.yaml|data.prefill=fsr_flips_ns_soft data.augment.hole_crop_prob=1.0 loss.lost_ssim.luma_weight=20 model.generator.global_blocks=2"
)

link_photos() {
  mkdir -p "$PHOTOS"
  ln -sf "$(realpath "$CAMVID")"/train/* "$(realpath "$BSDS")"/train/* "$PHOTOS"/
}

train_run() {  # name config overrides...
  local name=$1 config=$2
  shift 2
  # shellcheck disable=SC2068
  $PY tools/warm_prefill_cache.py --config "$config" data.root="$PHOTOS" $@
  # shellcheck disable=SC2068
  $PY train.py --config "$config" data.root="$PHOTOS" experiment.name="run_$name" $@
}

table() {
  local args=()
  for entry in "${RUNS[@]}"; do
    local name=${entry%%|*}
    [[ -f checkpoints/run_$name/best.pt ]] && args+=(--checkpoint "$name=checkpoints/run_$name/best.pt")
  done
  # Every run scores the same photos: its difference to the winner with the paired standard error.
  [[ -f checkpoints/run_pretrained_bins/best.pt ]] && args+=(--paired-against pretrained_bins)
  $PY benchmarks/quality.py "$CAMVID/val" "$BSDS/val" --by-folder \
    --least-colourful-third "$CAMVID/val" --most-colourful-third "$BSDS/val" \
    "${args[@]}" --lost-gain --markdown --json "$TABLE.json" | tee "$TABLE.md"
  $PY benchmarks/quality.py "$CAMVID/val" "$BSDS/val" --exposure bright \
    "${args[@]}" --lost-gain --markdown --json "${TABLE}_clipped.json" | tee "${TABLE}_clipped.md"
}

SCALING_CONFIG=${SCALING_CONFIG:-configs/pretrained_bins.yaml}
SCALING_RUN=${SCALING_RUN:-scaling}
SCALING_PAIRED=${SCALING_PAIRED:-pretrained_bins}

scaling() {
  local minutes
  for minutes in 10 20 40; do
    $PY train.py --config "$SCALING_CONFIG" data.root="$PHOTOS" experiment.name="run_$SCALING_RUN" \
      train.max_minutes="$minutes" --resume auto
    rm -rf "checkpoints/run_${SCALING_RUN}_$minutes"
    cp -r "checkpoints/run_$SCALING_RUN" "checkpoints/run_${SCALING_RUN}_$minutes"
  done
}

scaling_table() {
  local args=(--checkpoint "$SCALING_PAIRED=checkpoints/run_$SCALING_PAIRED/best.pt")
  local minutes
  for minutes in 10 20 40; do
    args+=(--checkpoint "${SCALING_RUN}_$minutes=checkpoints/run_${SCALING_RUN}_$minutes/best.pt")
  done
  $PY benchmarks/quality.py "$CAMVID/val" "$BSDS/val" --by-folder \
    --least-colourful-third "$CAMVID/val" --most-colourful-third "$BSDS/val" \
    "${args[@]}" --paired-against "$SCALING_PAIRED" --no-baselines --lost-gain --markdown --json "$TABLE.json" | tee "$TABLE.md"
  $PY benchmarks/quality.py "$CAMVID/val" "$BSDS/val" --exposure bright \
    "${args[@]}" --paired-against "$SCALING_PAIRED" --no-baselines --lost-gain --markdown --json "${TABLE}_clipped.json" | tee "${TABLE}_clipped.md"
}

hole_table() {
  local args=() name
  for name in ${HOLE_RUNS:-scaling_20 lost_ssim fsr}; do
    [[ -f checkpoints/run_$name/best.pt ]] && args+=(--checkpoint "$name=checkpoints/run_$name/best.pt")
  done
  # shellcheck disable=SC2206
  args+=(--paired-against "${PAIRED:-scaling_20}" --baseline-prefill ${HOLE_PREFILLS:-telea fsr_fast} --lost-gain --markdown)
  $PY benchmarks/quality.py "$CAMVID/val" "$BSDS/val" --by-folder \
    --least-colourful-third "$CAMVID/val" --most-colourful-third "$BSDS/val" \
    "${args[@]}" --json "$TABLE.json" | tee "$TABLE.md"
  local exposure
  for exposure in bright dark; do
    local suffix=_dark
    [[ $exposure == bright ]] && suffix=_clipped
    $PY benchmarks/quality.py "$CAMVID/val" "$BSDS/val" --exposure "$exposure" \
      "${args[@]}" --json "$TABLE$suffix.json" | tee "$TABLE$suffix.md"
  done
}

link_photos
wanted=("$@")
[[ ${#wanted[@]} -eq 0 ]] && wanted=(baseline pretrained pretrained_bins pretrained_gate scratch_encoder table)
for want in "${wanted[@]}"; do
  if [[ $want =~ ^(table|scaling|scaling_table|hole_table)$ ]]; then $want; continue; fi
  found=0
  for entry in "${RUNS[@]}"; do
    IFS='|' read -r name config overrides <<<"$entry"
    if [[ $name == "$want" ]]; then
      # shellcheck disable=SC2086
      train_run "$name" "$config" $overrides ${EXTRA_OVERRIDES:-}
      found=1
    fi
  done
  [[ $found == 1 ]] || { echo "colour_runs.sh: unknown run $want (expected one of the RUNS names, table, scaling, scaling_table or hole_table)" >&2; exit 2; }
done
