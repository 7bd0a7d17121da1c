#!/usr/bin/env bash
# Benchmarks the release binary (built by `make bench`): see bench/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 bench/bench.py target/release/hardway ${BENCH_SIZES:-100 1000 5000}
