#!/usr/bin/env bash
# bench/ab.sh: interleaved A/B of two or more builds of liballoctrace.so on one workload.
# Runs the workload under `alloctrace run -q` (as bench/run.sh times it) with each library
# in turn (ALLOCTRACE_LIB), N rounds, alternating the order from round to round, and
# prints per library the min and median wall and CPU (user + sys) seconds. Interleaving is
# what separates a change from this kind of machine's drift (bench/results.md, its history):
# compare only figures printed by one call. Fails when a run leaves no trace (a library
# that did not load would otherwise be timed untraced). Writes only to a temporary
# directory it removes.
set -euo pipefail
export LC_ALL=C # printf reads and writes the figures with a decimal point

usage() {
    cat >&2 <<'EOF'
usage: bench/ab.sh [--runs N] [--scale F] [--unwind libunwind|fp] [--build DIR] [--]
                   WORKLOAD LIB.so LIB.so [LIB.so...]
  WORKLOAD  a bench program name (churn1, churn2, churn8, deep40, cxx, cxxdeep) found in
            DIR/bench, or a path to any program (run as: PROGRAM SCALE)
  LIB.so    builds of liballoctrace.so to compare (copy each build's out of the tree
            first: a rebuild overwrites it)
  --runs N  rounds (default 10); --scale F argument for the workload (default 0.5)
  --unwind  alloctrace run --unwind for every run (default libunwind)
  --build   the meson build directory with cli/alloctrace and bench/ (default build)
EOF
    exit 2
}
die() { echo "bench/ab.sh: $*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/bench_lib.sh" # median, minimum, positive_number
build=$here/../build runs=10 scale=0.5 unwind=libunwind
while [ $# -gt 0 ]; do
    case $1 in
        --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
        --scale) [ $# -ge 2 ] || usage; scale=$2; shift 2 ;;
        --unwind) [ $# -ge 2 ] || usage; unwind=$2; shift 2 ;;
        --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
[ $# -ge 3 ] || usage
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive integer, not '$runs'"
positive_number "$scale" || die "--scale wants a positive number, not '$scale'"
case $unwind in libunwind|fp) ;; *) die "--unwind is libunwind or fp, not '$unwind'" ;; esac
name=$1; shift
prog=$build/bench/$name
[[ $name == */* ]] && prog=$name
[ -f "$prog" ] && [ -x "$prog" ] || die "no workload program $name (looked in $build/bench)"
prog=$(realpath "$prog")
atr=$build/cli/alloctrace
rusage_run=$build/bench/rusage_run
for x in "$atr" "$rusage_run"; do
    [ -x "$x" ] || die "not built: $x (run: ninja -C $build)"
done
libs=()
for lib in "$@"; do
    [ -f "$lib" ] || die "no library $lib"
    libs+=("$(realpath "$lib")") # a bare name would make ld.so search its own paths
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=${#libs[@]}
walls=() cpus=() # per library: its runs' figures, space-separated
for ((r = 0; r < runs; r++)); do
    for ((k = 0; k < n; k++)); do
        i=$(( r % 2 ? n - 1 - k : k )) # every other round in reverse: no library always first
        rm -f "$tmp"/trace*
        # rusage_run: "<wall> <max rss KiB> <exit code> <user> <sys>"
        ALLOCTRACE_LIB=${libs[$i]} "$rusage_run" -o "$tmp/res" -- \
            "$atr" run -q --unwind="$unwind" -o "$tmp/trace.zst" -- "$prog" "$scale" \
            >/dev/null 2>"$tmp/err" || die "${libs[$i]}: the run failed: $(head -c 300 "$tmp/err")"
        [ -s "$tmp/trace.zst" ] || die "${libs[$i]}: the run left no trace"
        read -r wall _ _ user sys <"$tmp/res"
        walls[i]+=" $wall"
        cpus[i]+=" $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')"
    done
done

echo "$(basename "$prog") $scale, $runs interleaved rounds, unwind=$unwind"
for ((i = 0; i < n; i++)); do
    # shellcheck disable=SC2086 # the lists split into their numbers
    printf '%-50s wall min %.3f median %.3f   cpu min %.3f median %.3f\n' "${libs[$i]}" \
        "$(minimum ${walls[i]})" "$(median ${walls[i]})" "$(minimum ${cpus[i]})" "$(median ${cpus[i]})"
done
