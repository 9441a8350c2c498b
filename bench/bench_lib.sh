# Shared by bench/run.sh, bench/real.sh and bench/ab.sh (sourced, never run alone): statistics
# of the timings, the check of a workload scale, finding the build. Prints only through
# the caller's die and warn.

# median of the numbers given as arguments ("n/a" when there are none)
median() {
    [ $# -gt 0 ] || { echo n/a; return; }
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) printf "%.6f\n", v[(NR + 1) / 2];
              else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# smallest of the numbers given as arguments ("n/a" when there are none)
minimum() {
    [ $# -gt 0 ] || { echo n/a; return; }
    printf '%s\n' "$@" | sort -g | awk 'NR == 1 { printf "%.6f\n", $1 }'
}

# is $1 a positive decimal number (a workload scale)?
positive_number() {
    [[ $1 =~ ^[0-9]*\.?[0-9]+$ ]] && awk -v s="$1" 'BEGIN { exit !(s > 0) }'
}

# locate_build: from $build (absolute, or relative to the current or the repository's
# directory $repo_dir) sets build_dir, atr, rusage_run, and have_ht (heaptrack and
# heaptrack_print on PATH); the caller's die and warn report.
locate_build() {
    if [ -d "$build" ]; then
        build_dir=$(cd "$build" && pwd)
    elif [ "${build#/}" = "$build" ] && [ -d "$repo_dir/$build" ]; then
        build_dir=$(cd "$repo_dir/$build" && pwd)
    else
        die "build directory '$build' not found (configure it with: meson setup $build && ninja -C $build)"
    fi
    atr=$build_dir/cli/alloctrace
    rusage_run=$build_dir/bench/rusage_run
    [ -x "$atr" ] || die "alloctrace CLI not found or not executable: $atr (run: ninja -C $build)"
    [ -x "$rusage_run" ] || die "timing helper not found: $rusage_run (run: ninja -C $build)"
    have_ht=1
    if ! command -v heaptrack >/dev/null 2>&1 || ! command -v heaptrack_print >/dev/null 2>&1; then
        have_ht=0
        warn "heaptrack/heaptrack_print not found: heaptrack columns will be n/a"
    fi
}
