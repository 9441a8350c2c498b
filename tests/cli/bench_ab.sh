# bench/ab.sh, the interleaved A/B of liballoctrace builds: its table has one line per
# library with 0 < min <= median for wall and CPU; bad arguments and a library that does
# not load get one line and exit 2.
. "$TESTS/lib.sh"
AB=$SRCDIR/bench/ab.sh
[ -x "$BUILD_ROOT/bench/churn1" ] && [ -x "$BUILD_ROOT/bench/rusage_run" ] ||
  skip "bench programs not built in $BUILD_ROOT"
cp "$ATR_LIB" "$T/a.so"
cp "$ATR_LIB" "$T/b.so"
cd "$T"
expect_exit "two libraries, 2 rounds" 0 "$AB" --build "$BUILD_ROOT" --runs 2 --scale 0.01 \
  --unwind fp churn1 "$T/a.so" "$T/b.so"
expect_eq "header" "$(printf '%s\n' "$OUT" | head -1)" "churn1 0.01, 2 interleaved rounds, unwind=fp"
expect_eq "one line per library" "$(printf '%s\n' "$OUT" | grep -c 'wall min')" 2
for lib in a b; do
  line=$(printf '%s\n' "$OUT" | grep "^$T/$lib.so ")
  expect_match "$lib: wall and cpu figures" "$line" \
    "wall min [0-9]+\.[0-9]{3} median [0-9]+\.[0-9]{3} +cpu min [0-9]+\.[0-9]{3} median [0-9]+\.[0-9]{3}$"
  expect_eq "$lib: 0 < min <= median" "$(printf '%s\n' "$line" |
    awk '{ print ($4 > 0 && $4 <= $6 && $9 > 0 && $9 <= $11) ? "yes" : "no" }')" yes
done
expect_eq "nothing left behind" "$(ls "$T" | grep -cv '\.so$')" 0

expect_exit "unknown workload" 2 "$AB" --build "$BUILD_ROOT" nosuch "$T/a.so" "$T/b.so"
expect_match "unknown workload: named" "$OUT" "^bench/ab.sh: no workload program nosuch"
expect_exit "missing library" 2 "$AB" --build "$BUILD_ROOT" churn1 "$T/a.so" "$T/none.so"
expect_match "missing library: named" "$OUT" "no library $T/none.so$"
printf 'not a library\n' >"$T/bad.so"
expect_exit "a library that does not load" 2 "$AB" --build "$BUILD_ROOT" --runs 1 --scale 0.01 \
  churn1 "$T/a.so" "$T/bad.so"
expect_match "a library that does not load: named" "$OUT" "^bench/ab.sh: $T/bad.so: "
expect_exit "--runs 0" 2 "$AB" --build "$BUILD_ROOT" --runs 0 churn1 "$T/a.so" "$T/b.so"
expect_exit "one library only" 2 "$AB" --build "$BUILD_ROOT" churn1 "$T/a.so"
finish
