#!/usr/bin/env bash
# Suite wall times on the bundled pair, one after another with nothing else running:
#   cold and warm with -n 2 and the pair group whole (--mech-split-pair=no, the baseline),
#   cold with -n 0 at 1 and at 2 torch threads (OMP_NUM_THREADS), and cold with -n 2
#   --mech-split-pair=yes (what auto picks for this pair) at the default threads,
# each cold run in a fresh cache folder. Then every run's verdicts and evidence values are
# compared with the first's (mechtests compare, tolerance 1e-5 relative).
#
#   bash bench/bench_suites.sh [OUT [PYTEST ARGS...]]
#   bash bench/bench_suites.sh /tmp/bench_suites                          # the BENCHMARKS.md table
#   bash bench/bench_suites.sh /tmp/bench_smoke -k previous_token_heads   # a smoke run on one hypothesis
#
# Run from the repository root; the results go in BENCHMARKS.md. The results.json files are
# kept in OUT (default /tmp/bench_suites).
set -uo pipefail
out=${1:-/tmp/bench_suites}
shift $(( $# > 0 ? 1 : 0 ))
extra=("$@")
mkdir -p "$out"
run() {  # label, log name, cache folder, threads (empty: the default), pytest arguments...
    local label=$1 log=$2 cache=$3 threads=$4
    shift 4
    rm -rf "$out/report_$log"
    env ${threads:+OMP_NUM_THREADS=$threads} MECHTESTS_CACHE_DIR="$cache" /usr/bin/time -f "$label: %e s" \
        python -m pytest suites/ -q -p no:cacheprovider --mech-report "$out/report_$log" "$@" "${extra[@]}" \
        > "$out/$log.log" 2>&1
    cp "$out/report_$log/results.json" "$out/results_$log.json"
}
rm -rf "$out/cache_n2" "$out/cache_n0_1" "$out/cache_n0_2" "$out/cache_split"
run "cold -n 2, pair whole" cold_n2 "$out/cache_n2" "" -n 2 --mech-split-pair=no
run "warm -n 2, pair whole" warm_n2 "$out/cache_n2" "" -n 2 --mech-split-pair=no
run "cold -n 0, 1 thread" cold_n0_1 "$out/cache_n0_1" 1 -n 0
run "cold -n 0, 2 threads" cold_n0_2 "$out/cache_n0_2" 2 -n 0
run "cold -n 2, pair split" cold_split "$out/cache_split" "" -n 2 --mech-split-pair=yes
tail -q -n 1 "$out"/cold_n2.log "$out"/warm_n2.log "$out"/cold_n0_1.log "$out"/cold_n0_2.log "$out"/cold_split.log
status=0
for log in warm_n2 cold_n0_1 cold_n0_2 cold_split; do  # same verdicts, evidence within 1e-5 relative
    echo "--- results_cold_n2.json vs results_$log.json"
    python -m mechtests.cli compare "$out/results_cold_n2.json" "$out/results_$log.json" --tolerance 0.001% || status=1
done
exit $status
