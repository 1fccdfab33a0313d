#!/usr/bin/env bash
# Regenerate data_samples/raw from the simulator (deterministic for the seed): five trading days,
# 3 symbols, all six venue kinds. Execution logs rotate CSV -> JSONL -> FIX by day and tick data
# alternates Parquet / CSV, so every raw format the simulator writes is covered.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf data_samples/raw
uv run --frozen sor-pipeline sim --start 2024-03-04 --days 5 --symbols 3 --seed 11 \
  --exec-format rotate --tick-format rotate --out data_samples/raw --json | tail -1
