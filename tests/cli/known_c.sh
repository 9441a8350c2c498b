# known_c: the decoded trace of tests/progs/known matches its documented numbers exactly.
. "$TESTS/lib.sh"
trace known "$PROGS/known" || not_ok "known exits 0"
J=$T/known.json
expect_eq "allocations" "$(jget $J totals.allocations)" 31
expect_eq "frees" "$(jget $J totals.frees)" 25
expect_eq "reallocs" "$(jget $J totals.reallocs)" 3
expect_eq "allocated bytes" "$(jget $J totals.allocated_bytes)" 1575782
expect_eq "temporary" "$(jget $J totals.temporary)" 11
expect_eq "peak" "$(jget $J totals.peak_bytes)" 1573632
expect_eq "blocks live at the peak (3 leaked + 1 MiB + 512 KiB)" "$(jget $J totals.peak_blocks)" 5
expect_eq "leaked bytes" "$(jget $J totals.leaked_bytes)" 768
expect_eq "leaked blocks" "$(jget $J totals.leaked_blocks)" 3
expect_eq "malloc calls" "$(jget $J kinds.malloc)" 24
expect_eq "calloc calls" "$(jget $J kinds.calloc)" 1
expect_eq "realloc calls" "$(jget $J kinds.realloc)" 3
expect_eq "posix_memalign calls" "$(jget $J kinds.posix_memalign)" 1
expect_eq "aligned_alloc calls" "$(jget $J kinds.aligned_alloc)" 1
expect_eq "memalign calls" "$(jget $J kinds.memalign)" 1
expect_eq "top leak function" "$(jget $J top.leaked.0.function)" leak_some
expect_eq "top leak blocks" "$(jget $J top.leaked.0.blocks)" 3
expect_eq "top leak file" "$(jget $J top.leaked.0.file | sed 's|.*/||')" known.c
expect_eq "top peak function" "$(jget $J top.peak.0.function)" build_peak
expect_eq "top peak bytes" "$(jget $J top.peak.0.bytes)" 1048576
expect_eq "second peak bytes" "$(jget $J top.peak.1.bytes)" 524288
expect_eq "top temporary function" "$(jget $J top.temporary.0.function)" temp_work
expect_eq "top temporary count" "$(jget $J top.temporary.0.count)" 5
expect_eq "top allocations function" "$(jget $J top.allocations.0.function)" make_table
expect_eq "leak stack goes through main" "$(jget $J top.leaked.0.stack.1.function)" main
expect_eq "align 64 count" "$(jget $J alignment.0.align)/$(jget $J alignment.0.count)" 64/1
expect_eq "recorder inconsistencies" "$(jget $J recorder.inconsistencies)" 0
expect_eq "trace complete" "$(jget $J recorder.complete)" true
finish
