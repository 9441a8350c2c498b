# Shared by bench/run.sh and bench/ab.sh (sourced, never run alone): statistics of the
# timings and the check of a workload scale. Must never print anything but results.

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
