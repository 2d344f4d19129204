#!/usr/bin/env bash
# One command per model: npm run train -- <regression|malaria|sentiment|all> [--data DIR] [--extra DIR] [...]
# --extra DIR (npx ml-forms feedback export --out DIR: the inputs people corrected and shared) goes
# to each training script, which adds those items to its training split only.
# Uses Debian's Python (see training/README.md for the apt-get line). After a classifier is trained,
# its quantize step writes the 8-bit version beside the float one (training/quantize.py: the next
# version folder, served with it by config.pbtxt) and measures it into the card's `quantized`
# section (training/eval-quantized.ts --card: fails unless the issue-28 bars hold).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
model="${1:-}"
shift || true
# --data DIR and --extra DIR, if given, for the quantize step (sentiment's pruning reads the
# training reviews, the feedback export's among them).
data=()
extra=()
args=("$@")
for i in "${!args[@]}"; do
  if [[ "${args[$i]}" == "--data" ]]; then data=(--data "${args[$((i + 1))]}"); fi
  if [[ "${args[$i]}" == "--extra" ]]; then extra=(--extra "${args[$((i + 1))]}"); fi
done
# A run that writes no model (--help, --select, --tune) has nothing to quantize.
writes_model=1
for a in "${args[@]}"; do
  case "$a" in -h | --help | --select | --tune) writes_model=0 ;; esac
done
# What the prediction log compares with (issue 26): the sentiment graph's vocabulary beside each
# version, and each model's training distributions in its card (training/monitoring-reference.ts).
# Training rewrites the card, so this runs after every model written.
monitor() {
  [ "$writes_model" = 1 ] || return 0
  if [ "$1" = sentiment ]; then "$PY" training/sentiment_vocabulary.py; fi
  npx tsx training/monitoring-reference.ts --only "$1" "${data[@]}"
}
quantize() {
  local name="$1"
  shift
  [ "$writes_model" = 1 ] || [ "$model" = quantize ] || return 0
  "$PY" training/quantize.py --model "$name" "$@" "${data[@]}" "${extra[@]}"
  npx tsx training/eval-quantized.ts --only "$name" --card "${data[@]}"
}
case "$model" in
  regression) "$PY" training/train_regression.py "$@" && monitor regression ;;
  malaria)    "$PY" training/train_malaria.py "$@" && quantize malaria && monitor malaria ;;
  sentiment)  "$PY" training/train_sentiment.py "$@" && quantize sentiment --prune 0.4 && monitor sentiment ;;
  quantize)   quantize malaria && quantize sentiment --prune 0.4 ;;
  all)
    "$PY" training/train_regression.py "$@"
    monitor regression
    "$PY" training/train_sentiment.py "$@"
    quantize sentiment --prune 0.4
    monitor sentiment
    "$PY" training/train_malaria.py "$@"
    quantize malaria
    monitor malaria
    ;;
  *) echo "usage: npm run train -- <regression|malaria|sentiment|quantize|all> [--data DIR] [--extra DIR]" >&2; exit 2 ;;
esac
