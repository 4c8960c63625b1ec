#!/usr/bin/env bash
# Suite wall times on the bundled pair: cold and warm with -n 2, then cold with -n 0 in a fresh
# cache folder. Run from the repository root with nothing else running; the results go in
# BENCHMARKS.md. The two results.json files are kept to compare verdicts and evidence.
set -uo pipefail
out=${1:-/tmp/bench_suites}
mkdir -p "$out"
rm -rf .mechtests-cache
/usr/bin/time -f "cold -n 2: %e s" python -m pytest suites/ -n 2 -q -p no:cacheprovider > "$out/cold_n2.log" 2>&1
cp reports/results.json "$out/results_n2.json"
/usr/bin/time -f "warm -n 2: %e s" python -m pytest suites/ -n 2 -q -p no:cacheprovider > "$out/warm_n2.log" 2>&1
rm -rf "$out/cache_n0"
MECHTESTS_CACHE_DIR="$out/cache_n0" /usr/bin/time -f "cold -n 0: %e s" python -m pytest suites/ -n 0 -q -p no:cacheprovider > "$out/cold_n0.log" 2>&1
cp reports/results.json "$out/results_n0.json"
tail -n 1 "$out"/cold_n2.log "$out"/warm_n2.log "$out"/cold_n0.log
