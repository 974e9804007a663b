#!/usr/bin/env bash
# Interleaved benchmark rounds: builds the test binary once, then runs it
# ROUNDS times with -test.count 1, so that every round runs every
# implementation once, back to back, and drift on a noisy machine falls on
# all of them alike. Then, for each case, it prints the median and range of
# the per-round ratios of every impl=X to impl=BASE (time, B/op, allocs/op
# medians too). BASE may name several implementations, comma-separated:
# each gets a ratio column.
#
# With -R, every other round passes -reverse to the test binary, whose
# side-by-side benchmarks then run their implementations in reverse order
# (bench_test.go's runImpls), so that none always runs first in a fresh
# process: the first one pays for the process warming up.
#
# usage: tools/bench-rounds.sh [-R] [-r ROUNDS] [-b BASE] [-t BENCHTIME] PKG REGEX
#   e.g., from the repository root: tools/bench-rounds.sh -R -r 15 -b floor . 'BenchmarkSubmit$'
set -euo pipefail
rounds=15 base=floor benchtime=1s alternate=false
while getopts "Rr:b:t:" opt; do
  case $opt in
    R) alternate=true ;; r) rounds=$OPTARG ;; b) base=$OPTARG ;; t) benchtime=$OPTARG ;;
    *) echo "usage: $0 [-R] [-r ROUNDS] [-b BASE] [-t BENCHTIME] PKG REGEX" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: $0 [-R] [-r ROUNDS] [-b BASE] [-t BENCHTIME] PKG REGEX" >&2; exit 2; }
pkg=$1 regex=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/bench.test" "$pkg"
dir=$(go list -f '{{.Dir}}' "$pkg")
for r in $(seq 1 "$rounds"); do
  order=()
  if $alternate && [ $((r % 2)) -eq 0 ]; then order=(-reverse); fi
  (cd "$dir" && "$work/bench.test" -test.run '^$' -test.bench "$regex" -test.benchmem \
    -test.count 1 -test.benchtime "$benchtime" "${order[@]}") | sed -n "s/^\(Benchmark[^ \t]*\)-[0-9]*[ \t]/\1 /p" |
    awk -v r="$r" '{print r, $0}' >> "$work/all.txt"
done
echo "# $rounds interleaved rounds of $regex in $pkg (go test -bench, -count 1 per round$($alternate && echo ', order reversed every other round')); ratios to impl=$base"
echo "# $(go version), $(nproc) CPUs, $(date -u +%Y-%m-%d)"
printf "%-44s %-9s %12s %10s %7s   %s\n" case impl "median ns/op" B/op allocs "ratio to each of $base: median [min, max]"
awk -v base="$base" '
  function median(arr, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j+1] = arr[j]; arr[j+1] = t }
    return (n % 2) ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
  }
  BEGIN { nb = split(base, bases, ",") }
  {
    round = $1; name = $2; ns = ""; bop = ""; aop = ""
    for (i = 3; i <= NF; i++) {
      if ($i == "ns/op") ns = $(i-1)
      if ($i == "B/op") bop = $(i-1)
      if ($i == "allocs/op") aop = $(i-1)
    }
    impl = name; sub(/.*impl=/, "", impl); sub(/\/.*/, "", impl)
    kase = name; sub(/impl=[^\/]*\/?/, "", kase)
    key = kase SUBSEP impl
    T[key, round] = ns; B[key, round] = bop; A[key, round] = aop
    cases[kase] = 1; impls[impl] = 1; rounds[round] = 1
  }
  END {
    for (k in cases) for (im in impls) {
      n = 0; delete t; delete bb; delete aa
      for (r in rounds) {
        if ((k SUBSEP im, r) in T) { n++; t[n] = T[k SUBSEP im, r]; bb[n] = B[k SUBSEP im, r]; aa[n] = A[k SUBSEP im, r] }
      }
      if (n == 0) continue
      ratios = ""
      for (bi = 1; bi <= nb; bi++) {
        bs = bases[bi]; m = 0; delete rr
        if (bs == im) continue
        for (r in rounds) {
          if ((k SUBSEP im, r) in T && (k SUBSEP bs, r) in T && T[k SUBSEP bs, r] > 0) { m++; rr[m] = T[k SUBSEP im, r] / T[k SUBSEP bs, r] }
        }
        if (m == 0) continue
        lo = hi = rr[1]; for (i = 1; i <= m; i++) { if (rr[i] < lo) lo = rr[i]; if (rr[i] > hi) hi = rr[i] }
        ratios = ratios sprintf("%s%s %.3f [%.3f, %.3f]", (ratios == "" ? "" : "; "), bs, median(rr, m), lo, hi)
      }
      if (ratios == "") ratios = "-"
      printf "%-44s %-9s %12.0f %10.0f %7.0f   %s\n", k, im, median(t, n), median(bb, n), median(aa, n), ratios
    }
  }' "$work/all.txt" | sort
