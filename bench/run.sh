#!/usr/bin/env bash
# bench/run.sh: times the workloads untraced, under alloctrace (libunwind, fp) and heaptrack,
# interleaved, and prints median cost/size/analysis tables (also to bench/results.md).
# Must never build or install anything, or write outside its mktemp -d but results.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/run.sh [--runs N] [--quick] [--build DIR] [--workloads a,b,c] [--scale F]

  --runs N          runs per configuration, medians are reported (default 5)
  --quick           1 run, workloads scaled down to 0.1 (an explicit --runs or
                    --scale still wins)
  --build DIR       meson build directory holding cli/alloctrace and bench/
                    (default: build, relative to the current directory or,
                    failing that, to the repository root)
  --workloads LIST  comma-separated subset of:
                    churn1,deep40,churn2,churn8,cxx,cxxdeep,rust
  --scale F         workload scale factor passed as argv[1] (default 1.0)

Configurations: untraced; alloctrace run -q (libunwind); alloctrace run -q
--unwind=fp; heaptrack (columns show n/a when heaptrack is not installed).
The rust workload is built with rustc (PATH, then ~/.cargo/bin) into the
temporary directory, and skipped when rustc is not found.
EOF
}

die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'run.sh: warning: %s\n' "$*" >&2; }
note() { printf '%s\n' "$*" >&2; }

ALL_WORKLOADS=(churn1 deep40 churn2 churn8 cxx cxxdeep rust)
MODES=(base atr fp ht)

runs=5
runs_set=0
scale=1.0
scale_set=0
quick=0
build=build
workload_arg=""

while [ $# -gt 0 ]; do
    case "$1" in
        --runs) [ $# -ge 2 ] || die "--runs needs a value"; runs=$2; runs_set=1; shift 2 ;;
        --runs=*) runs=${1#*=}; runs_set=1; shift ;;
        --quick) quick=1; shift ;;
        --build) [ $# -ge 2 ] || die "--build needs a value"; build=$2; shift 2 ;;
        --build=*) build=${1#*=}; shift ;;
        --workloads) [ $# -ge 2 ] || die "--workloads needs a value"; workload_arg=$2; shift 2 ;;
        --workloads=*) workload_arg=${1#*=}; shift ;;
        --scale) [ $# -ge 2 ] || die "--scale needs a value"; scale=$2; scale_set=1; shift 2 ;;
        --scale=*) scale=${1#*=}; scale_set=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

if [ "$quick" = 1 ]; then
    [ "$runs_set" = 1 ] || runs=1
    [ "$scale_set" = 1 ] || scale=0.1
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$runs'"
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$script_dir/bench_lib.sh" # median, minimum, positive_number, locate_build
positive_number "$scale" || die "--scale must be a positive number, got '$scale'"

repo_dir=$(dirname "$script_dir")

locate_build # build_dir, atr, rusage_run, have_ht

if [ -n "$workload_arg" ]; then
    IFS=',' read -r -a workloads <<<"$workload_arg"
    [ "${#workloads[@]}" -gt 0 ] || die "--workloads is empty"
    for w in "${workloads[@]}"; do
        ok=0
        for k in "${ALL_WORKLOADS[@]}"; do [ "$w" = "$k" ] && ok=1; done
        [ "$ok" = 1 ] || die "unknown workload '$w' (known: $(IFS=,; echo "${ALL_WORKLOADS[*]}"))"
    done
else
    workloads=("${ALL_WORKLOADS[@]}")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/alloctrace-bench.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

declare -A prog
selected=()
for w in "${workloads[@]}"; do
    if [ "$w" = rust ]; then
        rustc_bin=$(command -v rustc 2>/dev/null || true)
        if [ -z "$rustc_bin" ] && [ -x "$HOME/.cargo/bin/rustc" ]; then
            rustc_bin=$HOME/.cargo/bin/rustc
        fi
        if [ -z "$rustc_bin" ]; then
            warn "rustc not found (PATH, ~/.cargo/bin): skipping the rust workload"
            continue
        fi
        note "building rust workload with $rustc_bin"
        "$rustc_bin" -O -C force-frame-pointers=yes -g -o "$tmp/rust_work" \
            "$script_dir/rust_work.rs" 2>"$tmp/rustc.log" ||
            die "rustc failed on $script_dir/rust_work.rs: $(tail -n 5 "$tmp/rustc.log")"
        prog[rust]=$tmp/rust_work
    else
        [ -x "$build_dir/bench/$w" ] ||
            die "workload binary not found: $build_dir/bench/$w (run: ninja -C $build, or pick others with --workloads)"
        prog[$w]=$build_dir/bench/$w
    fi
    selected+=("$w")
done
[ "${#selected[@]}" -gt 0 ] || die "no workloads left to run"

# --- helpers ------------------------------------------------------------------

# Runs "$@" under rusage_run; sets r_wall, r_rss, r_code. Stdout goes to
# $out_to ($tmp/out unless set), stderr to $tmp/err.
measure() {
    local rc=0
    "$rusage_run" -o "$tmp/res" -- "$@" >"${out_to:-$tmp/out}" 2>"$tmp/err" </dev/null || rc=$?
    if [ ! -s "$tmp/res" ]; then
        die "could not run: $* (exit $rc): $(tail -n 5 "$tmp/err")"
    fi
    read -r r_wall r_rss r_code _ <"$tmp/res"   # then user s, sys s (unused)
}

file_size() { stat -c %s "$1"; }

# events = totals.allocations + totals.frees from `alloctrace summary --json`
events_from_json() {
    local json totals a f
    json=$(tr -d '\n\r' <"$1")
    [[ $json == *'"totals"'* ]] || return 1
    totals=${json#*\"totals\"}
    totals=${totals%%\}*}
    [[ $totals =~ \"allocations\"[[:space:]]*:[[:space:]]*([0-9]+) ]] || return 1
    a=${BASH_REMATCH[1]}
    [[ $totals =~ \"frees\"[[:space:]]*:[[:space:]]*([0-9]+) ]] || return 1
    f=${BASH_REMATCH[1]}
    echo $((a + f))
}

# ----------------------------------------------------------------------------
declare -A wall rss size ana events events_src

mode_label() {
    case "$1" in
        base) echo "untraced" ;;
        atr) echo "alloctrace" ;;
        fp) echo "alloctrace --unwind=fp" ;;
        ht) echo "heaptrack" ;;
    esac
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)
if awk -v l="${load_start%% *}" 'BEGIN { exit !(l + 0 >= 0.5) }'; then
    warn "machine is busy before starting (load average $load_start): timings will be noisy"
fi
total_start=$(date +%s.%N)
for w in "${selected[@]}"; do
    p=${prog[$w]}
    ref_checksum=""
    ht_calls=""
    for ((i = 1; i <= runs; i++)); do
        for m in "${MODES[@]}"; do
            trace=""
            case "$m" in
                base) cmd=("$p" "$scale") ;;
                atr) trace=$tmp/trace.zst; cmd=("$atr" run -q -o "$trace" -- "$p" "$scale") ;;
                fp) trace=$tmp/trace.zst; cmd=("$atr" run -q --unwind=fp -o "$trace" -- "$p" "$scale") ;;
                ht)
                    [ "$have_ht" = 1 ] || continue
                    cmd=(heaptrack -o "$tmp/ht" "$p" "$scale") ;;
            esac
            rm -f "$tmp/trace.zst" "$tmp"/ht.*
            measure "${cmd[@]}"
            [ "$r_code" = 0 ] ||
                die "$w under $(mode_label "$m") exited with $r_code: $(tail -n 5 "$tmp/err")"
            sum=$(grep -m1 '^checksum ' "$tmp/out" || true)
            [ -n "$sum" ] || die "$w under $(mode_label "$m") printed no checksum line"
            if [ -z "$ref_checksum" ]; then
                ref_checksum=$sum
            elif [ "$sum" != "$ref_checksum" ]; then
                die "$w under $(mode_label "$m") printed '$sum', untraced printed '$ref_checksum'"
            fi
            wall[$w,$m]+="$r_wall "
            rss[$w,$m]+="$r_rss "
            msg=$(printf '[%s] run %d/%d %-24s %8.3f s %8d KiB' "$w" "$i" "$runs" \
                "$(mode_label "$m")" "$r_wall" "$r_rss")

            case "$m" in
                atr|fp)
                    [ -f "$trace" ] || die "alloctrace wrote no trace file $trace for $w"
                    size[$w,$m]+="$(file_size "$trace") "
                    if [ "$m" = atr ] && [ -z "${events[$w]:-}" ]; then
                        if "$atr" summary --json "$trace" >"$tmp/summary.json" 2>"$tmp/err" &&
                            ev=$(events_from_json "$tmp/summary.json"); then
                            events[$w]=$ev
                            events_src[$w]=alloctrace
                        else
                            warn "could not read totals.allocations/frees from 'alloctrace summary --json' for $w"
                        fi
                    fi
                    if [ "$m" = atr ]; then
                        out_to=/dev/null measure "$atr" summary "$trace"
                        [ "$r_code" = 0 ] || die "alloctrace summary failed on the $w trace: $(tail -n 5 "$tmp/err")"
                        ana[$w,atr]+="$r_wall "
                        msg+=$(printf '  summary %.3f s' "$r_wall")
                    fi
                    ;;
                ht)
                    htfile=""
                    for f in "$tmp/ht.zst" "$tmp/ht.gz" "$tmp"/ht.*; do
                        [ -f "$f" ] && { htfile=$f; break; }
                    done
                    [ -n "$htfile" ] || die "heaptrack wrote no data file for $w (looked for $tmp/ht.zst, .gz)"
                    size[$w,ht]+="$(file_size "$htfile") "
                    if [ -z "$ht_calls" ]; then   # heaptrack's own stats, on stderr
                        ht_calls=$(sed -n 's/^[[:space:]]*allocations:[[:space:]]*\([0-9]*\).*/\1/p' "$tmp/err" | head -n 1)
                    fi
                    out_to=/dev/null measure heaptrack_print "$htfile"
                    [ "$r_code" = 0 ] || die "heaptrack_print failed on the $w data: $(tail -n 5 "$tmp/err")"
                    ana[$w,ht]+="$r_wall "
                    msg+=$(printf '  heaptrack_print %.3f s' "$r_wall")
                    ;;
            esac
            note "$msg"
        done
    done
    rm -f "$tmp/trace.zst" "$tmp"/ht.*
    if [ -z "${events[$w]:-}" ] && [ -n "$ht_calls" ]; then
        # Fallback: heaptrack counts allocation calls only; assume one free each.
        events[$w]=$((2 * ht_calls))
        events_src[$w]=heaptrack
        warn "$w: events estimated as 2 x heaptrack's allocation calls"
    fi
done
total_end=$(date +%s.%N)
load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)

# --- tables -------------------------------------------------------------------
# One tab-separated row per workload, computed in awk; "n/a" propagates.
main_tsv=$tmp/main.tsv
ratio_tsv=$tmp/ratio.tsv
printf '%s\t' "workload" "events" "untraced s" "alloctrace s (x)" "fp s (x)" \
    "heaptrack s (x)" "ns/event atr" "ns/event fp" "ns/event heaptrack" \
    "bytes/event atr" "bytes/event heaptrack" "summary ns/event" \
    "heaptrack_print ns/event" >"$main_tsv"
printf '%s\n' "tracer peak RSS over untraced (KiB) atr/fp/heaptrack" >>"$main_tsv"
printf '%s\t%s\t%s\t%s\n' "workload" "overhead ratio (ns/event atr / heaptrack)" \
    "size ratio (bytes/event atr / heaptrack)" \
    "analysis time ratio (summary / heaptrack_print)" >"$ratio_tsv"

for w in "${selected[@]}"; do
    # shellcheck disable=SC2086
    {
        ev=${events[$w]:-n/a}
        [ "${events_src[$w]:-}" = heaptrack ] && ev="~$ev"
        echo "$w" "$ev"
        for m in "${MODES[@]}"; do median ${wall[$w,$m]:-}; done
        for m in "${MODES[@]}"; do median ${rss[$w,$m]:-}; done
        for m in atr fp ht; do median ${size[$w,$m]:-}; done
        for m in atr ht; do median ${ana[$w,$m]:-}; done
    } | tr '\n' ' ' | awk -v main="$main_tsv" -v ratio="$ratio_tsv" '
        function num(x) { return x != "n/a" && x != "" }
        function evstr(e) {
            if (!num(e)) return "n/a"
            return sprintf("%s%.2fM", approx, e / 1e6)
        }
        function secx(t, b) {
            if (!num(t)) return "n/a"
            return sprintf("%.3f (%.1fx)", t, b > 0 ? t / b : 0)
        }
        function per(v, e, f) { return (num(v) && num(e) && e > 0) ? sprintf(f, v / e) : "n/a" }
        function over(t, b, e) { return (num(t) && num(b)) ? per((t - b) * 1e9, e, "%.0f") : "n/a" }
        function drss(r, b) { return (num(r) && num(b)) ? sprintf("%+d", r - b) : "n/a" }
        function rat(a, b) { return (a != "n/a" && b != "n/a" && b + 0 != 0) ? sprintf("%.2f", a / b) : "n/a" }
        {
            w = $1; e = $2; approx = ""
            if (substr(e, 1, 1) == "~") { approx = "~"; e = substr(e, 2) }
            tb = $3; ta = $4; tf = $5; th = $6
            rb = $7; ra = $8; rf = $9; rh = $10
            sa = $11; sf = $12; sh = $13
            aa = $14; ah = $15
            nsa = over(ta, tb, e); nsf = over(tf, tb, e); nsh = over(th, tb, e)
            bpa = per(sa, e, "%.2f"); bph = per(sh, e, "%.2f")
            ana_a = num(aa) ? per(aa * 1e9, e, "%.1f") : "n/a"
            ana_h = num(ah) ? per(ah * 1e9, e, "%.1f") : "n/a"
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/%s/%s\n", \
                w, evstr(e), num(tb) ? sprintf("%.3f", tb) : "n/a", \
                secx(ta, tb), secx(tf, tb), secx(th, tb), nsa, nsf, nsh, \
                bpa, bph, ana_a, ana_h, drss(ra, rb), drss(rf, rb), drss(rh, rb) >> main
            printf "%s\t%s\t%s\t%s\n", w, rat(nsa, nsh), rat(bpa, bph), rat(ana_a, ana_h) >> ratio
        }'
done

# Aligned plain text from a TSV file: numbers right-aligned, text left-aligned.
text_table() {
    awk -F'\t' '
        { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > wd[i]) wd[i] = length($i) }
          if (NF > nf) nf = NF }
        END {
            for (r = 1; r <= NR; r++) {
                line = ""
                for (i = 1; i <= nf; i++) {
                    v = c[r, i]
                    if (i == 1 || r == 1) s = sprintf("%-" wd[i] "s", v)
                    else s = sprintf("%" wd[i] "s", v)
                    line = line (i > 1 ? "  " : "") s
                }
                sub(/ +$/, "", line); print line
                if (r == 1) {
                    line = ""
                    for (i = 1; i <= nf; i++) { d = sprintf("%" wd[i] "s", ""); gsub(/ /, "-", d); line = line (i > 1 ? "  " : "") d }
                    print line
                }
            }
        }' "$1"
}

md_table() {
    awk -F'\t' '
        { line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
          if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line (i == 1 ? " --- |" : " ---: |"); print line } }' "$1"
}

cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
ht_version=n/a
[ "$have_ht" = 1 ] && ht_version=$(heaptrack --version 2>/dev/null | head -n 1 || echo unknown)
elapsed=$(awk -v a="$total_start" -v b="$total_end" 'BEGIN { printf "%.0f", b - a }')
header=(
    "date: $(date '+%Y-%m-%d %H:%M:%S %z')"
    "kernel: $(uname -r)"
    "cpu: ${cpu_model:-unknown}, $cores cores"
    "runs: $runs per configuration (medians), interleaved; scale: $scale; heaptrack: $ht_version; bench time: ${elapsed} s"
    "load average (1/5/15 min): $load_start at start, $load_end at end (anything else running skews the timings)"
)
notes=(
    "events = allocation calls + frees (totals.allocations + totals.frees of alloctrace summary --json; ~ = estimated as 2 x heaptrack's allocation calls)"
    "(x) = traced wall / untraced wall (alloctrace run -q: the end-of-run summary is analysis, timed in the summary column; heaptrack: its interpreter process included); ns/event = (traced wall - untraced wall) / events; bytes/event = trace file size / events"
    "summary / heaptrack_print ns/event = wall time of 'alloctrace summary T' / 'heaptrack_print H' (output to /dev/null) / events"
    "peak RSS = max RSS of any process of the run (heaptrack: includes heaptrack_interpret), minus the untraced program's"
    "ratios < 1 mean alloctrace (libunwind) is cheaper / smaller / faster than heaptrack"
)

{
    printf '%s\n' "${header[@]}"
    echo
    text_table "$main_tsv"
    echo
    text_table "$ratio_tsv"
    echo
    printf '%s\n' "${notes[@]}"
}

results=$script_dir/results.md
{
    echo "# alloctrace benchmark results"
    echo
    printf -- '- %s\n' "${header[@]}"
    echo
    md_table "$main_tsv"
    echo
    echo "## alloctrace (libunwind) as a fraction of heaptrack"
    echo
    md_table "$ratio_tsv"
    echo
    printf -- '- %s\n' "${notes[@]}"
    # the history below the generated tables is kept as it is
    if [ -f "$results" ] && grep -q '^## History' "$results"; then
        echo
        sed -n '/^## History/,$p' "$results"
    fi
} >"$tmp/results.md"
cp "$tmp/results.md" "$results"
note "wrote $results"
