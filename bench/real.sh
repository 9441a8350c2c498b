#!/usr/bin/env bash
# bench/real.sh: the real-program benchmark (issue 17): clang++ compiling a template-heavy
# file, a Python program under PYTHONMALLOC=malloc and a multi-threaded C++ server, each
# untraced / alloctrace / --unwind=fp (where frame pointers exist) / heaptrack, interleaved;
# then summary and flamegraph against heaptrack_print, and the ratios against the targets.
# Must never build or install anything, or write outside its mktemp -d but the results file.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/real.sh [--runs N] [--quick] [--build DIR] [--workloads a,b,c] [--results FILE]

  --runs N          interleaved rounds, medians are reported (default 2)
  --quick           1 round of tiny workloads (a small C++ file, scale 0.02): checks the
                    script, measures nothing; writes no results file unless --results
  --build DIR       meson build directory holding cli/alloctrace and bench/ (default:
                    build, relative to the current directory or to the repository root)
  --workloads LIST  comma-separated subset of: clang,python,server
  --results FILE    where the markdown table goes (default bench/results_real.md)

Workloads: clang = clang++-14 -O2 -std=c++17 -c bench/tmpl_heavy.cc (TH_N=4);
python = PYTHONMALLOC=malloc /usr/bin/python3 bench/py_work.py; server = build/bench/server
(4 threads, ~1.5 M distinct stacks). Modes: untraced, alloctrace (run -q), fp (run -q
--unwind=fp, server only: the others have no frame pointers), heaptrack (n/a when it is
not installed). Max RSS is of the whole run (rusage_run -t: the recorder, heaptrack's
interpreter and the CLI that waits included).
EOF
}

die() { printf 'real.sh: error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'real.sh: warning: %s\n' "$*" >&2; }
note() { printf '%s\n' "$*" >&2; }

ALL_WORKLOADS=(clang python server)
runs=2
runs_set=0
quick=0
build=build
workload_arg=""
results=""

while [ $# -gt 0 ]; do
    case "$1" in
        --runs) [ $# -ge 2 ] || die "--runs needs a value"; runs=$2; runs_set=1; shift 2 ;;
        --runs=*) runs=${1#*=}; runs_set=1; shift ;;
        --quick) quick=1; shift ;;
        --build) [ $# -ge 2 ] || die "--build needs a value"; build=$2; shift 2 ;;
        --build=*) build=${1#*=}; shift ;;
        --workloads) [ $# -ge 2 ] || die "--workloads needs a value"; workload_arg=$2; shift 2 ;;
        --workloads=*) workload_arg=${1#*=}; shift ;;
        --results) [ $# -ge 2 ] || die "--results needs a value"; results=$2; shift 2 ;;
        --results=*) results=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[ "$quick" = 1 ] && [ "$runs_set" = 0 ] && runs=1
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$runs'"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$script_dir/bench_lib.sh" # median, locate_build
repo_dir=$(dirname "$script_dir")
[ -n "$results" ] || { [ "$quick" = 1 ] || results=$script_dir/results_real.md; }

locate_build # build_dir, atr, rusage_run, have_ht

workloads=("${ALL_WORKLOADS[@]}")
if [ -n "$workload_arg" ]; then
    IFS=',' read -r -a workloads <<<"$workload_arg"
    [ "${#workloads[@]}" -gt 0 ] || die "--workloads is empty"
    for w in "${workloads[@]}"; do
        case " ${ALL_WORKLOADS[*]} " in
            *" $w "*) ;;
            *) die "unknown workload '$w' (known: $(IFS=,; echo "${ALL_WORKLOADS[*]}"))" ;;
        esac
    done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/alloctrace-real.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the workloads: argv of each, and the modes that apply -----------------------------
declare -A cmdline modes_of
selected=()
scale=1
[ "$quick" = 1 ] && scale=0.02
for w in "${workloads[@]}"; do
    case "$w" in
        clang)
            cxx=$(command -v clang++-14 2>/dev/null || true)
            [ -n "$cxx" ] || { warn "clang++-14 not found: skipping the clang workload"; continue; }
            src=$script_dir/tmpl_heavy.cc
            if [ "$quick" = 1 ]; then
                src=$tmp/small.cc
                printf '#include <map>\n#include <string>\nstd::map<int, std::string> m{{1, "a"}};\n' >"$src"
            fi
            cmdline[$w]="$cxx -O2 -std=c++17 -DTH_N=4 -c $src -o $tmp/out.o"
            modes_of[$w]="base atr ht" ;;
        python)
            [ -x /usr/bin/python3 ] || { warn "/usr/bin/python3 not found: skipping python"; continue; }
            cmdline[$w]="/usr/bin/python3 $script_dir/py_work.py $scale"
            modes_of[$w]="base atr ht" ;;
        server)
            [ -x "$build_dir/bench/server" ] ||
                die "workload binary not found: $build_dir/bench/server (run: ninja -C $build)"
            cmdline[$w]="$build_dir/bench/server $scale"
            modes_of[$w]="base atr fp ht" ;;
    esac
    selected+=("$w")
done
[ "${#selected[@]}" -gt 0 ] || die "no workloads left to run"

# Runs "$@" under rusage_run -t; sets r_wall r_user r_rss (KiB, the whole tree) r_code.
measure() {
    local rc=0 _maxrss _sys
    "$rusage_run" -t -o "$tmp/res" -- "$@" >"${out_to:-$tmp/out}" 2>"$tmp/err" </dev/null || rc=$?
    [ -s "$tmp/res" ] || die "could not run: $* (exit $rc): $(tail -n 5 "$tmp/err")"
    read -r r_wall _maxrss r_code r_user _sys r_rss <"$tmp/res"
}

mode_label() {
    case "$1" in
        base) echo untraced ;; atr) echo alloctrace ;; fp) echo "alloctrace fp" ;; ht) echo heaptrack ;;
    esac
}

# events = totals.allocations + totals.frees of summary --json
events_of() {
    "$atr" summary --json "$1" 2>/dev/null | tr -d '\n' |
        sed -n 's/.*"totals"[^}]*"allocations": *\([0-9]*\)[^}]*"frees": *\([0-9]*\).*/\1 \2/p' |
        awk '{ print $1 + $2 }'
}

declare -A v events
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
total_start=$(date +%s)
for ((i = 1; i <= runs; i++)); do
    for w in "${selected[@]}"; do
        read -r -a cmd <<<"${cmdline[$w]}"
        ref=""
        for m in ${modes_of[$w]}; do
            [ "$m" = ht ] && [ "$have_ht" = 0 ] && continue
            rm -f "$tmp/t.zst" "$tmp"/ht.* "$tmp/out.o"
            case "$m" in
                base) run=("${cmd[@]}") ;;
                atr) run=("$atr" run -q -o "$tmp/t.zst" -- "${cmd[@]}") ;;
                fp) run=("$atr" run -q --unwind=fp -o "$tmp/t.zst" -- "${cmd[@]}") ;;
                ht) run=(heaptrack -o "$tmp/ht" "${cmd[@]}") ;;
            esac
            if [ "$w" = python ]; then PYTHONMALLOC=malloc measure "${run[@]}"; else measure "${run[@]}"; fi
            [ "$r_code" = 0 ] || die "$w under $(mode_label "$m") exited with $r_code: $(tail -n 5 "$tmp/err")"
            if [ "$w" = clang ]; then
                sum=$([ -s "$tmp/out.o" ] && echo object)
            else
                sum=$(grep -m1 '^checksum ' "$tmp/out" || true)
            fi
            [ -n "$sum" ] || die "$w under $(mode_label "$m") left no output (checksum line or object)"
            [ -z "$ref" ] || [ "$sum" = "$ref" ] || die "$w under $(mode_label "$m"): '$sum', untraced '$ref'"
            ref=$sum
            v[$w,$m,wall]+="$r_wall "
            v[$w,$m,user]+="$r_user "
            v[$w,$m,rss]+="$r_rss "
            msg=$(printf '[%s] round %d/%d %-13s %8.2f s %8.2f user %7.0f MiB' "$w" "$i" "$runs" \
                "$(mode_label "$m")" "$r_wall" "$r_user" "$(awk -v k="$r_rss" 'BEGIN { print k / 1024 }')")
            case "$m" in
                atr|fp)
                    [ -s "$tmp/t.zst" ] || die "alloctrace wrote no trace for $w"
                    v[$w,$m,trace]+="$(stat -c %s "$tmp/t.zst") "
                    if [ "$m" = atr ]; then
                        [ -n "${events[$w]:-}" ] || events[$w]=$(events_of "$tmp/t.zst")
                        out_to=/dev/null measure "$atr" summary "$tmp/t.zst"
                        [ "$r_code" = 0 ] || die "alloctrace summary failed on $w: $(tail -n 3 "$tmp/err")"
                        v[$w,$m,ana]+="$r_wall "
                        v[$w,$m,ana_rss]+="$r_rss "
                        msg+=$(printf '  summary %.2f s' "$r_wall")
                        out_to=/dev/null measure "$atr" flamegraph -o "$tmp/fg.html" "$tmp/t.zst"
                        [ "$r_code" = 0 ] || die "alloctrace flamegraph failed on $w: $(tail -n 3 "$tmp/err")"
                        v[$w,$m,fg]+="$r_wall "
                        v[$w,$m,fg_rss]+="$r_rss "
                        msg+=$(printf '  flamegraph %.2f s' "$r_wall")
                    fi ;;
                ht)
                    [ -s "$tmp/ht.zst" ] || die "heaptrack wrote no $tmp/ht.zst for $w"
                    v[$w,$m,trace]+="$(stat -c %s "$tmp/ht.zst") "
                    out_to=/dev/null measure heaptrack_print "$tmp/ht.zst"
                    [ "$r_code" = 0 ] || die "heaptrack_print failed on $w: $(tail -n 3 "$tmp/err")"
                    v[$w,$m,ana]+="$r_wall "
                    v[$w,$m,ana_rss]+="$r_rss "
                    msg+=$(printf '  heaptrack_print %.2f s' "$r_wall") ;;
            esac
            note "$msg"
        done
    done
done
elapsed=$(($(date +%s) - total_start))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- tables: medians per (workload, mode), then ratios against the targets -------------
med() { # shellcheck disable=SC2086
    median ${v[$1]:-}
}
runs_tsv=$tmp/runs.tsv
ratio_tsv=$tmp/ratio.tsv
printf '%s\t' workload mode "wall s" "user s" "max RSS MiB" "trace MB" "summary|print s" \
    "summary|print MiB" "flamegraph s" >"$runs_tsv"
printf '%s\n' "flamegraph MiB" >>"$runs_tsv"
printf '%s\t' workload "events M" "overhead atr/ht (<=0.25)" "added RSS atr/ht (<=1)" \
    "trace atr/ht (<=0.8)" "summary/print time (<=0.33)" "summary/print RSS (<=1)" >"$ratio_tsv"
printf '%s\n' "flamegraph/print time (<=1)" >>"$ratio_tsv"
for w in "${selected[@]}"; do
    for m in ${modes_of[$w]}; do
        [ "$m" = ht ] && [ "$have_ht" = 0 ] && continue
        printf '%s\t%s' "$w" "$(mode_label "$m")"
        for k in wall user rss trace ana ana_rss fg fg_rss; do
            x=$(med "$w,$m,$k")
            case "$k" in
                rss|ana_rss|fg_rss) [ "$x" = n/a ] || x=$(awk -v k="$x" 'BEGIN { printf "%.0f", k / 1024 }') ;;
                trace) [ "$x" = n/a ] || x=$(awk -v b="$x" 'BEGIN { printf "%.1f", b / 1e6 }') ;;
                *) [ "$x" = n/a ] || x=$(awk -v s="$x" 'BEGIN { printf "%.2f", s }') ;;
            esac
            printf '\t%s' "$x"
        done
        printf '\n'
    done >>"$runs_tsv"
    {
        echo "$w" "${events[$w]:-n/a}"
        for k in wall rss; do for m in base atr ht; do med "$w,$m,$k"; done; done
        for m in atr ht; do med "$w,$m,trace"; done
        for k in ana ana_rss; do for m in atr ht; do med "$w,$m,$k"; done; done
        med "$w,atr,fg"
    } | tr '\n' ' ' | awk '
        function num(x) { return x != "n/a" && x != "" }
        # a / b against target t: "0.12 ok" or "1.40 no"
        function r(a, b, t) {
            if (!num(a) || !num(b) || b <= 0) return "n/a"
            return sprintf("%.2f %s", a / b, a / b <= t ? "ok" : "no")
        }
        {
            ev = num($2) ? sprintf("%.2f", $2 / 1e6) : "n/a"
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", $1, ev,
                r($4 - $3, $5 - $3, 0.25), r($7 - $6, $8 - $6, 1), r($9, $10, 0.8),
                r($11, $12, 1 / 3), r($13, $14, 1), r($15, $12, 1)
        }' >>"$ratio_tsv"
done

text_table() {
    awk -F'\t' '
        { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > wd[i]) wd[i] = length($i) }
          if (NF > nf) nf = NF }
        END {
            for (r = 1; r <= NR; r++) {
                line = ""
                for (i = 1; i <= nf; i++)
                    line = line (i > 1 ? "  " : "") sprintf("%" (i <= 2 || r == 1 ? "-" : "") wd[i] "s", c[r, i])
                sub(/ +$/, "", line); print line
            }
        }' "$1"
}
md_table() {
    awk -F'\t' '{ line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
        if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line " --- |"; print line } }' "$1"
}

cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
ht_version=n/a
[ "$have_ht" = 1 ] && ht_version=$(heaptrack --version 2>/dev/null | head -n 1)
header=(
    "date: $(date '+%Y-%m-%d %H:%M:%S %z'); kernel $(uname -r); cpu: ${cpu_model:-unknown}, $(nproc) cores"
    "rounds: $runs (medians), interleaved; heaptrack: $ht_version; bench time: $elapsed s"
    "load average (1/5/15 min): $load_start at start, $load_end at end (anything else running skews the timings)"
)
notes=(
    "max RSS = peak of the whole run's process tree, sampled every 10 ms (RssAnon + RssFile summed, shared memory once): alloctrace's recorder and heaptrack's interpreter included"
    "summary|print = alloctrace summary (alloctrace rows) or heaptrack_print (heaptrack row), output to /dev/null; flamegraph = alloctrace flamegraph (html)"
    "overhead = traced wall - untraced wall; added RSS = traced max RSS - untraced; ok/no = within the target of issue 17 or not"
)
LC_ALL=C
{
    printf '%s\n' "${header[@]}"
    echo
    text_table "$runs_tsv"
    echo
    text_table "$ratio_tsv"
    echo
    printf '%s\n' "${notes[@]}"
}
if [ -n "$results" ]; then
    {
        echo "# alloctrace on real programs (bench/real.sh)"
        echo
        printf -- '- %s\n' "${header[@]}"
        echo
        md_table "$runs_tsv"
        echo
        md_table "$ratio_tsv"
        echo
        printf -- '- %s\n' "${notes[@]}"
    } >"$results"
    note "wrote $results"
fi
