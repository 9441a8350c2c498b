# heaptrack_artifact: the differences between heaptrack 1.4 and alloctrace that are
# heaptrack's, measured, so heaptrack_crosscheck.sh can account for them:
#  1. libstdc++'s emergency exception pool (72704 B), allocated when heaptrack's own
#     preload library (C++) loads libstdc++: +1 call and +72704 B live from start to exit
#     in every process. It is the first allocation heaptrack sees (AllocationInfo index 0)
#     and heaptrack's reader resets "last allocation" to 0 after each free, so the pool's
#     free at exit counts as temporary whenever the event before it was a free.
#     alloctrace does not load libstdc++: an empty C program shows 0 allocations.
#  2. memalign and pvalloc are not hooked; reallocarray is seen (glibc calls realloc).
#  3. realloc(p, 0) returning NULL is not recorded, so heaptrack keeps p live (leaked).
. "$TESTS/lib.sh"
. "$TESTS/heaptrack_lib.sh"

both empty "$PROGS/empty"
expect_eq "alloctrace: empty program, allocations" "$(jget "$T/empty.json" totals.allocations)" 0
expect_eq "alloctrace: empty program, peak" "$(jget "$T/empty.json" totals.peak_bytes)" 0
expect_eq "heaptrack: empty program, calls (the pool)" "$(jget "$T/empty.ht" calls)" 1
expect_eq "heaptrack: empty program, peak (the pool)" "$(grep -o 'peak heap memory consumption: .*' "$T/empty.hprint")" \
  "peak heap memory consumption: 72.70K"
expect_eq "heaptrack: empty program, temporary (the pool's free matches index 0)" "$(jget "$T/empty.ht" temporary)" 1
expect_eq "heaptrack: empty program, leaked (the pool is freed at exit)" "$(jget "$T/empty.ht" leaked)" 0.0

both unhooked "$PROGS/unhooked"
J=$T/unhooked.json
expect_eq "alloctrace: calls" "$(jget "$J" totals.allocations)" 65
expect_eq "alloctrace: memalign calls" "$(jget "$J" kinds.memalign)" 10
expect_eq "alloctrace: pvalloc calls" "$(jget "$J" kinds.pvalloc)" 10
expect_eq "alloctrace: reallocarray calls" "$(jget "$J" kinds.reallocarray)" 10
expect_eq "alloctrace: temporary (60 freed at once + 5 realloc(p, 0))" "$(jget "$J" totals.temporary)" 65
expect_eq "alloctrace: leaked" "$(jget "$J" totals.leaked_bytes)" 0
# heaptrack: 65 - 20 (memalign, pvalloc) + 1 (pool) calls; the 5 realloc(p, 0) blocks leak;
# 40 temporary: the last event it sees is an allocation, so the pool's free is not one
expect_eq "heaptrack: calls" "$(jget "$T/unhooked.ht" calls)" 46
expect_eq "heaptrack: temporary" "$(jget "$T/unhooked.ht" temporary)" 40
expect_eq "heaptrack: leaked (5 x realloc(p, 0) of 100 B)" "$(jget "$T/unhooked.ht" leaked)" 500.0
expect_eq "heaptrack view of our events: calls" "$(jget "$T/unhooked.view" visible.calls)" 45
expect_eq "heaptrack view of our events: temporary" "$(jget "$T/unhooked.view" visible.temporary)" 40
expect_eq "heaptrack view of our events: leaked" "$(jget "$T/unhooked.view" visible.leaked)" 500
expect_eq "heaptrack view of our events: last event" "$(jget "$T/unhooked.view" last_visible)" alloc
finish
