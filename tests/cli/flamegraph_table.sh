# flamegraph_table: the call-tree table beside the flame graph of the HTML page, for
# tests/progs/known and known_cxx, used in headless Chromium by tests/browser/table_test.py:
# it sits beside the flame graph; its root row holds summary --json's totals for every metric
# (cells and exact hover text) and bottom-up's allocating functions add up to them again;
# every row's self and total equal those recomputed from the page's data; a column click
# sorts (again: reverses), the filter keeps the matches and their callers, ▾/▸ fold and open,
# a row's click zooms the flame graph on it (bottom-up: inverted), the page's metric switch
# re-sorts. Screenshots and pages in $ATR_ARTEFACTS/table. Skipped (77) only where Chromium,
# chromedriver or python3-selenium are missing.
. "$TESTS/lib.sh"
BPY=/usr/bin/python3 # Debian's python3-selenium lives here, whatever python3 is on PATH
[ -x "$BPY" ] || skip "no /usr/bin/python3 for Selenium"
MAKE=$ATR
[ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ] && MAKE=$ATR_NORMAL
ART=${ATR_ARTEFACTS:-$T}/table
rm -rf "$ART"
mkdir -p "$ART"

# program, a function main calls (filtered, focused and checked)
for pf in known:make_table known_cxx:grow_vector; do
  p=${pf%%:*} func=${pf#*:}
  "$MAKE" run -q -o "$T/$p.zst" -- "$PROGS/$p" >/dev/null 2>"$T/$p.err" ||
    skip "cannot record $p: $(head -c 300 "$T/$p.err")"
  "$ATR" summary --json "$T/$p.zst" >"$T/$p.json" || not_ok "summary of $p"
  "$ATR" flamegraph -o "$ART/$p.html" "$T/$p.zst" || not_ok "flamegraph html of $p"
  rc=0
  "$BPY" "$TESTS/browser/table_test.py" "$ART/$p.html" --summary "$T/$p.json" --func "$func" \
    --shots "$ART/$p" >"$T/$p.tap" 2>&1 || rc=$?
  sed 's/^/# /' "$T/$p.tap"
  [ "$rc" = 77 ] && skip "$(grep -m1 SKIP "$T/$p.tap" | sed 's/.*SKIP //')"
  expect_eq "table_test.py on $p.html ($(grep -c '^ok' "$T/$p.tap") checks)" \
    "$rc $(grep -c '^not ok' "$T/$p.tap")" "0 0"
  expect_eq "$p: five screenshots kept" "$(ls "$ART/$p"/*.png 2>/dev/null | wc -l | tr -d ' ')" 5
done
echo "# artefacts in $ART"
finish
