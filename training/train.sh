#!/usr/bin/env bash
# One command per model: npm run train -- <regression|malaria|sentiment|all> [--data DIR] [...]
# Uses Debian's Python (see training/README.md for the apt-get line).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
model="${1:-}"
shift || true
case "$model" in
  regression) exec "$PY" training/train_regression.py "$@" ;;
  malaria)    exec "$PY" training/train_malaria.py "$@" ;;
  sentiment)  exec "$PY" training/train_sentiment.py "$@" ;;
  all)
    "$PY" training/train_regression.py "$@"
    "$PY" training/train_sentiment.py "$@"
    "$PY" training/train_malaria.py "$@"
    ;;
  *) echo "usage: npm run train -- <regression|malaria|sentiment|all> [--data DIR]" >&2; exit 2 ;;
esac
