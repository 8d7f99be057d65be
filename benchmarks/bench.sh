#!/bin/sh
# Regenerate docs/BENCHMARKS.md and docs/figures/bench_*.png (full mode: must finish in < 30 min on 2 cores).
# The generated split is kept in out/bench_data (git-ignored) and reused by later runs; delete it to
# regenerate. Extra arguments go to `microflow bench` (e.g. --methods freqcorr ncc, or --quick).
set -eu
cd "$(dirname "$0")/.."
exec microflow bench --out docs --data "${MICROFLOW_BENCH_DATA:-out/bench_data}" "$@"
