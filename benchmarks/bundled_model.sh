#!/usr/bin/env bash
# The bundled model, weights/chromafill.pt: trains configs/bundled.yaml (the pretrained_bins recipe,
# 60 minutes) on CamVid train + BSDS500 train (one folder of links, as benchmarks/colour_runs.sh),
# scores it against the baselines on CamVid val + BSDS500 val, as they are and with skies clipped to
# white (benchmarks/quality.py), then converts
# it with tools/make_bundled_model.py (fp16 EMA weights, config and PROVENANCE.md in weights/).
#
#   bash benchmarks/bundled_model.sh /path/to/camvid /path/to/bsds500 [STEP ...]
#
# STEP is train, quality or convert (default: all three, in this order), so a finished run can be
# scored or converted again without retraining. Extra train.py overrides: TRAIN_OVERRIDES="k=v ...";
# TRAINING_COMMIT names the code that trained a run whose checkpoint does not record it; other
# folders (the tests use them): BUNDLED_PHOTOS (the linked photos), BUNDLED_RUN (the run
# folder), BUNDLED_OUT (where the bundled files go).
set -euo pipefail
cd "$(dirname "$0")/.."
CAMVID=${1:?usage: bundled_model.sh CAMVID_DIR BSDS500_DIR [train|quality|convert ...]}
BSDS=${2:?usage: bundled_model.sh CAMVID_DIR BSDS500_DIR [train|quality|convert ...]}
shift 2
PHOTOS=${BUNDLED_PHOTOS:-checkpoints/cpu_photos}
RUN=${BUNDLED_RUN:-checkpoints/bundled}
OUT=${BUNDLED_OUT:-weights}
PY=${PYTHON:-python}

link_photos() {
  mkdir -p "$PHOTOS"
  ln -sf "$(realpath "$CAMVID")"/train/* "$(realpath "$BSDS")"/train/* "$PHOTOS"/
}

train() {
  link_photos
  # shellcheck disable=SC2086
  $PY train.py --config configs/bundled.yaml data.root="$PHOTOS" experiment.output_dir="$(dirname "$RUN")" \
    experiment.name="$(basename "$RUN")" ${TRAIN_OVERRIDES:-}
}

quality() {
  # The README Quality rows (all, per folder, the colourfulness thirds), then the same photos with
  # skies clipped to pure white (--exposure bright): two tables in the provenance.
  $PY benchmarks/quality.py "$CAMVID/val" "$BSDS/val" --checkpoint "bundled=$RUN/best.pt" --lost-gain --by-folder \
    --least-colourful-third "$CAMVID/val" --most-colourful-third "$BSDS/val" \
    --markdown --json "$RUN/quality.json" | tee "$RUN/quality.md"
  $PY benchmarks/quality.py "$CAMVID/val" "$BSDS/val" --checkpoint "bundled=$RUN/best.pt" --lost-gain --exposure bright \
    --markdown --json "$RUN/quality_clipped.json" | tee "$RUN/quality_clipped.md"
}

convert() {
  local quality_args=()
  for json in "$RUN/quality.json" "$RUN/quality_clipped.json"; do
    [[ -f $json ]] && quality_args+=("$json")
  done
  [[ ${#quality_args[@]} -gt 0 ]] && quality_args=(--quality-json "${quality_args[@]}")
  local photos
  photos=$(find -L "$PHOTOS" -maxdepth 1 -type f | wc -l)
  $PY tools/make_bundled_model.py --checkpoint "$RUN/best.pt" --out "$OUT" "${quality_args[@]}" \
    --data "CamVid train + BSDS500 train ($photos photos)" ${TRAINING_COMMIT:+--training-commit "$TRAINING_COMMIT"}
}

steps=("$@")
[[ ${#steps[@]} -eq 0 ]] && steps=(train quality convert)
for step in "${steps[@]}"; do
  case $step in
    train | quality | convert) $step ;;
    *) echo "bundled_model.sh: unknown step $step (expected train, quality or convert)" >&2; exit 2 ;;
  esac
done
