#!/usr/bin/env bash
# Suite wall times on the bundled pair, one after another with nothing else running:
#   cold and warm with -n 2 and the pair group whole (--mech-split-pair=no, the baseline),
#   cold with -n 0, and cold with -n 2 --mech-split-pair=yes (what auto picks for this pair),
# the last two each in a fresh cache folder. Run from the repository root; the results go in
# BENCHMARKS.md. The results.json files are kept to compare verdicts and evidence.
set -uo pipefail
out=${1:-/tmp/bench_suites}
mkdir -p "$out"
run() {  # label, log name, cache folder, pytest arguments...
    local label=$1 log=$2 cache=$3
    shift 3
    MECHTESTS_CACHE_DIR="$cache" /usr/bin/time -f "$label: %e s" python -m pytest suites/ -q -p no:cacheprovider "$@" \
        > "$out/$log.log" 2>&1
    cp reports/results.json "$out/results_$log.json"
}
rm -rf .mechtests-cache "$out/cache_n0" "$out/cache_split"
run "cold -n 2, pair whole" cold_n2 .mechtests-cache -n 2 --mech-split-pair=no
run "warm -n 2, pair whole" warm_n2 .mechtests-cache -n 2 --mech-split-pair=no
run "cold -n 0" cold_n0 "$out/cache_n0" -n 0
run "cold -n 2, pair split" cold_split "$out/cache_split" -n 2 --mech-split-pair=yes
tail -n 1 "$out"/cold_n2.log "$out"/warm_n2.log "$out"/cold_n0.log "$out"/cold_split.log
