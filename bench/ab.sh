#!/usr/bin/env bash
# bench/ab.sh: interleaved A/B of two or more builds of liballoctrace.so on one workload.
# Runs the workload traced by each library in turn, N rounds, and prints per library the
# min and median wall and CPU (user + sys) seconds. Interleaving is what separates a
# change from this kind of machine's drift (README "Performance"): compare only figures
# printed by one call. Never writes anywhere but a temporary directory it removes.
set -euo pipefail

usage() {
    cat >&2 <<'EOF'
usage: bench/ab.sh [--runs N] [--scale F] [--unwind libunwind|fp] [--build DIR]
                   WORKLOAD LIB.so LIB.so [LIB.so...]
  WORKLOAD  a bench program name (churn1, churn2, churn8, deep40, cxx, cxxdeep) found in
            DIR/bench, or a path to any program (run as: PROGRAM SCALE)
  LIB.so    builds of liballoctrace.so to compare (copy each build's out of the tree
            first: a rebuild overwrites it)
  --runs N  rounds (default 10); --scale F argument for the workload (default 0.5)
  --unwind  ALLOCTRACE_UNWIND for every run (default libunwind)
EOF
    exit 2
}
die() { echo "bench/ab.sh: $*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$here/../build runs=10 scale=0.5 unwind=libunwind
while [ $# -gt 0 ]; do
    case $1 in
        --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
        --scale) [ $# -ge 2 ] || usage; scale=$2; shift 2 ;;
        --unwind) [ $# -ge 2 ] || usage; unwind=$2; shift 2 ;;
        --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
        -h|--help) usage ;;
        --*) die "unknown option $1" ;;
        *) break ;;
    esac
done
[ $# -ge 3 ] || usage
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive integer, not '$runs'"
case $unwind in libunwind|fp) ;; *) die "--unwind is libunwind or fp, not '$unwind'" ;; esac
name=$1 prog=$1; shift
[ -x "$prog" ] && [ -f "$prog" ] || prog=$build/bench/$name
[ -x "$prog" ] && [ -f "$prog" ] || die "no workload program $name (looked in $build/bench)"
rusage_run=$build/bench/rusage_run
[ -x "$rusage_run" ] || die "timing helper not found: $rusage_run (run: ninja -C $build)"
for lib in "$@"; do [ -f "$lib" ] || die "no library $lib"; done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= runs; r++)); do
    i=0
    for lib in "$@"; do
        rm -f "$tmp/trace"
        # rusage_run: "<wall> <max rss KiB> <exit code> <user> <sys>"
        env LD_PRELOAD="$lib" ALLOCTRACE_OUTPUT="$tmp/trace" ALLOCTRACE_UNWIND="$unwind" \
            "$rusage_run" -o "$tmp/res" -- "$prog" "$scale" >/dev/null 2>"$tmp/err" ||
            die "$lib: the workload failed: $(head -c 300 "$tmp/err")"
        read -r wall _ code user sys <"$tmp/res"
        [ "$code" = 0 ] || die "$lib: the workload exited with $code"
        echo "$i $wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >>"$tmp/all"
        i=$((i + 1))
    done
done

echo "$(basename "$prog") $scale, $runs interleaved rounds, unwind=$unwind"
i=0
for lib in "$@"; do
    awk -v i="$i" -v lib="$lib" '
        BEGIN { n = 0 }
        $1 == i { w[n] = $2 + 0; c[n] = $3 + 0; n++ }
        function sort(a, k,   x, y, t) {
            for (x = 1; x < k; x++)
                for (y = x; y > 0 && a[y - 1] > a[y]; y--) { t = a[y]; a[y] = a[y - 1]; a[y - 1] = t }
        }
        function med(a, k) { return k % 2 ? a[(k - 1) / 2] : (a[k / 2 - 1] + a[k / 2]) / 2 }
        END {
            sort(w, n); sort(c, n)
            printf "%-50s wall min %.3f median %.3f   cpu min %.3f median %.3f\n",
                   lib, w[0], med(w, n), c[0], med(c, n)
        }' "$tmp/all"
    i=$((i + 1))
done
