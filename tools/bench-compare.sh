#!/usr/bin/env bash
# Before and after, interleaved: builds the test binaries of a package at
# OLDREV and in the work tree, then runs them in turn ROUNDS times with
# -count 1, and prints, for each benchmark both have, the median and range
# of the per-round ratios new/old (time, and the medians of B/op and
# allocs/op); the two run in alternating order. Sub-benchmark names are compared as they are, except that
# impl=streaming (the SDK's old name) is read as impl=sdk.
#
# usage: tools/bench-compare.sh [-r ROUNDS] [-t BENCHTIME] OLDREV PKG REGEX
#   e.g., from the repository root: tools/bench-compare.sh -r 11 5c9d7d9 . 'BenchmarkSubmit$|BenchmarkGet$'
set -euo pipefail
rounds=11 benchtime=1s
while getopts "r:t:" opt; do
  case $opt in
    r) rounds=$OPTARG ;; t) benchtime=$OPTARG ;;
    *) echo "usage: $0 [-r ROUNDS] [-t BENCHTIME] OLDREV PKG REGEX" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 3 ] || { echo "usage: $0 [-r ROUNDS] [-t BENCHTIME] OLDREV PKG REGEX" >&2; exit 2; }
oldrev=$1 pkg=$2 regex=$3
work=$(mktemp -d)
trap 'git worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/old" "$oldrev" >/dev/null 2>&1
(cd "$work/old" && go test -c -o "$work/old.test" "$pkg")
go test -c -o "$work/new.test" "$pkg"
olddir=$(cd "$work/old" && go list -f '{{.Dir}}' "$pkg")
newdir=$(go list -f '{{.Dir}}' "$pkg")
run() { # which dir binary
  (cd "$2" && "$3" -test.run '^$' -test.bench "$regex" -test.benchmem -test.count 1 -test.benchtime "$benchtime") |
    sed -n "s/^\(Benchmark[^ \t]*\)-[0-9]*[ \t]/\1 /p" | sed 's/impl=streaming/impl=sdk/' | awk -v r="$r" -v w="$1" '{print w, r, $0}'
}
for r in $(seq 1 "$rounds"); do
  # Old first in odd rounds, new first in even ones: neither always pays
  # for running first.
  if [ $((r % 2)) -eq 1 ]; then
    run old "$olddir" "$work/old.test" >> "$work/all.txt"
    run new "$newdir" "$work/new.test" >> "$work/all.txt"
  else
    run new "$newdir" "$work/new.test" >> "$work/all.txt"
    run old "$olddir" "$work/old.test" >> "$work/all.txt"
  fi
done
echo "# $rounds interleaved rounds, $oldrev against the work tree, of $regex in $pkg"
echo "# $(go version), $(nproc) CPUs, $(date -u +%Y-%m-%d)"
printf "%-52s %12s %12s %10s %10s   %s\n" benchmark "old ns/op" "new ns/op" "old B/op" "new B/op" "new/old time: median [min, max]"
awk '
  function median(arr, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j+1] = arr[j]; arr[j+1] = t }
    return (n % 2) ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
  }
  {
    which = $1; round = $2; name = $3; ns = ""; bop = ""
    for (i = 4; i <= NF; i++) { if ($i == "ns/op") ns = $(i-1); if ($i == "B/op") bop = $(i-1) }
    T[which, name, round] = ns; B[which, name, round] = bop; names[name] = 1; rounds[round] = 1
  }
  END {
    for (k in names) {
      n = 0; delete rr; delete to; delete tn; delete bo; delete bn
      for (r in rounds) if (("old", k, r) in T && ("new", k, r) in T && T["old", k, r] > 0) {
        n++; rr[n] = T["new", k, r] / T["old", k, r]; to[n] = T["old", k, r]; tn[n] = T["new", k, r]; bo[n] = B["old", k, r]; bn[n] = B["new", k, r]
      }
      if (n == 0) continue
      lo = hi = rr[1]; for (i = 1; i <= n; i++) { if (rr[i] < lo) lo = rr[i]; if (rr[i] > hi) hi = rr[i] }
      printf "%-52s %12.0f %12.0f %10.0f %10.0f   %.3f [%.3f, %.3f]\n", k, median(to, n), median(tn, n), median(bo, n), median(bn, n), median(rr, n), lo, hi
    }
  }' "$work/all.txt" | sort
