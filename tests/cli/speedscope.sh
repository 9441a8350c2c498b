# speedscope: `flamegraph --format speedscope` of tests/progs/known and known_cxx. The file's
# five metric profiles weigh exactly summary's totals, the heap-over-time profile holds the
# peak and the exit state in time order; then speedscope's own release build (the npm
# package, fetched once into $BUILD_ROOT/npm) opens it in headless Chromium and
# tests/browser/speedscope_test.py reads what it rendered and what its Export writes back.
# Screenshots in $ATR_ARTEFACTS/speedscope. The browser part is skipped only where npm,
# the npm registry, Chromium, chromedriver or python3-selenium is missing: then the test
# says so and exits 77 (1 if a check of the file failed), never passes without speedscope.
. "$TESTS/lib.sh"
SPEEDSCOPE_VERSION=1.25.0
MAKE=$ATR
[ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ] && MAKE=$ATR_NORMAL
cd "$T" || exit 1
for p in known known_cxx; do
  "$MAKE" run -q -o "$p.zst" -- "$PROGS/$p" >/dev/null 2>"$p.err" ||
    skip "cannot record $p with $MAKE: $(head -c 300 "$p.err")"
  "$ATR" summary --json "$p.zst" >"$p.json" || not_ok "summary of $p"
  "$ATR" flamegraph --format speedscope -o "$p.speedscope.json" "$p.zst" 2>"$p.fgerr" ||
    not_ok "flamegraph --format speedscope $p: $(cat "$p.fgerr")"
done

# check_file FILE SUMMARY: one "ok ..."/"FAIL ..." line per check of the file alone
check_file() {
  "$PY" - "$@" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
summ = json.load(open(sys.argv[2]))
def check(cond, what):
    print(("ok " if cond else "FAIL ") + what)
frames, profiles = d["shared"]["frames"], d["profiles"]
check(d["$schema"] == "https://www.speedscope.app/file-format-schema.json", "speedscope's schema")
check(len(profiles) == 6 and all(p["type"] == "sampled" for p in profiles), "six sampled profiles")
keys = [("peak", "peak_bytes", "bytes"), ("leaked", "leaked_bytes", "bytes"), ("allocated", "allocated_bytes", "bytes"),
        ("allocations", "allocations", "none"), ("temporary", "temporary", "none")]
for (m, key, unit), p in zip(keys, profiles):
    check(p["name"].startswith(m + ": "), "profile %s is named %r" % (m, p["name"]))
    check(p["unit"] == unit, "%s: unit %s" % (m, unit))
    check(sum(p["weights"]) == summ["totals"][key] == p["endValue"] - p["startValue"],
          "%s: weights sum to summary's %s (%d)" % (m, key, summ["totals"][key]))
    check(len(p["samples"]) == len(p["weights"]) and all(w > 0 for w in p["weights"]), "%s: one positive weight per sample" % m)
    check(all(0 <= i < len(frames) for s in p["samples"] for i in s), "%s: every frame index exists" % m)
heap = profiles[5]
check(heap["name"].startswith("heap over time") and heap["unit"] == "bytes", "the heap-over-time profile")
snap = {}
order = []
check(all("@ " in frames[s[0]]["name"] for s in heap["samples"]), "every heap sample starts at its snapshot's frame")
for s, w in zip(heap["samples"], heap["weights"]):
    name = frames[s[0]]["name"]
    if name not in snap:
        order.append(float(name.split("@ ")[1].split(" ")[0]))
    snap[name] = snap.get(name, 0) + w
peak = [k for k in snap if k.startswith("peak @")]
exit_ = [k for k in snap if k.startswith("exit @")]
check(len(peak) == 1 and snap[peak[0]] == summ["totals"]["peak_bytes"], "the peak snapshot weighs peak_bytes")
check(len(exit_) == 1 and snap[exit_[0]] == summ["totals"]["leaked_bytes"], "the exit snapshot weighs leaked_bytes")
check(abs(float(peak[0].split("@ ")[1].split(" ")[0]) - summ["totals"]["peak_time_s"]) < 2e-6, "the peak snapshot is at peak_time_s")
check(order == sorted(order), "snapshots in time order (%d)" % len(order))
check(d["name"].startswith(summ["program"].split("/")[-1] + " (pid "), "the file is named after the program")
print("active %d" % d["activeProfileIndex"])
print("frames " + json.dumps(sorted({f["name"] for f in frames if "@ " not in f["name"]})))
print("files " + json.dumps(sorted({f["name"] + ":" + f["file"].split("/")[-1] for f in frames if "file" in f})))
PYEOF
}
for p in known known_cxx; do
  while read -r line; do
    case $line in
      ok*) ok "$p: ${line#ok }" ;;
      active*) expect_eq "$p: the peak profile is shown first (--metric peak)" "${line#active }" 0 ;;
      frames*) printf '%s\n' "${line#frames }" >"$p.frames" ;;
      files*) printf '%s\n' "${line#files }" >"$p.files" ;;
      *) not_ok "$p: ${line#FAIL }" ;;
    esac
  done < <(check_file "$p.speedscope.json" "$p.json")
done
expect_match "known: frames carry their source file" "$(cat known.files)" '"build_peak:known.c"'
expect_match "known_cxx: demangled C++ frames" "$(cat known_cxx.frames)" '"std::vector<int, std::allocator<int> >::push_back"'
"$ATR" flamegraph --format speedscope --metric allocations -o alloc.json known.zst
expect_eq "--metric allocations: that profile is shown first" "$(jget alloc.json activeProfileIndex)" 3
"$ATR" flamegraph --format speedscope --min-percent 20 -o trimmed.json known.zst
expect_eq "--min-percent 20: allocations still sum exactly" "$("$PY" -c 'import json,sys; print(sum(json.load(open(sys.argv[1]))["profiles"][3]["weights"]))' trimmed.json)" 31
expect_match "--min-percent 20: small callees merge into [other]" "$(tr -d '\n' <trimmed.json)" '"name":"\[other\]"'

# ---- errors: one line, exit 2
expect_exit "--format speedscope --diff" 2 "$ATR" flamegraph --format speedscope --diff known.zst known_cxx.zst
expect_exit "--format speedscope --inverted" 2 "$ATR" flamegraph --format speedscope --inverted known.zst
expect_exit "unwritable output" 2 "$ATR" flamegraph --format speedscope -o /nonexistent/x.json known.zst

# ---- speedscope itself, in Chromium
skip_browser() {
  echo "# SKIP the browser part: $*"
  echo "1..$_n"
  [ "$_failed" = 0 ] || exit 1
  exit 77
}
BPY=/usr/bin/python3
DIST=$BUILD_ROOT/npm/speedscope-$SPEEDSCOPE_VERSION/package/dist/release
if [ ! -f "$DIST/index.html" ]; then
  command -v npm >/dev/null || skip_browser "no npm (apt-get install npm)"
  dir=$BUILD_ROOT/npm/speedscope-$SPEEDSCOPE_VERSION
  rm -rf "$dir" && mkdir -p "$dir"
  # npm pack fetches the package's tarball alone (speedscope's CLI dependency is not needed)
  if ! (cd "$dir" && npm pack --silent --cache "$BUILD_ROOT/npm/cache" "speedscope@$SPEEDSCOPE_VERSION" >pack.log 2>&1 &&
        tar xzf "speedscope-$SPEEDSCOPE_VERSION.tgz"); then
    msg=$(tail -c 300 "$dir/pack.log")
    rm -rf "$dir"
    skip_browser "npm could not fetch speedscope@$SPEEDSCOPE_VERSION: $msg"
  fi
fi
ART=${ATR_ARTEFACTS:-$T}/speedscope
rm -rf "$ART" && mkdir -p "$ART"
cp known.speedscope.json known_cxx.speedscope.json "$ART/"
for p in known known_cxx; do
  funcs=(--expect-func main)
  [ $p = known ] && funcs+=(--expect-func build_peak --expect-func make_table --expect-func leak_some --expect-func temp_work)
  [ $p = known_cxx ] && funcs+=(--expect-func make_widgets --expect-func grow_vector)
  rc=0
  "$BPY" "$TESTS/browser/speedscope_test.py" "$p.speedscope.json" --speedscope "$DIST" --summary "$p.json" \
    "${funcs[@]}" --shots "$ART/$p" >"$p.tap" 2>&1 || rc=$?
  sed 's/^/# /' "$p.tap"
  [ "$rc" = 77 ] && skip_browser "$(grep -m1 SKIP "$p.tap" | sed 's/.*SKIP //')"
  expect_eq "speedscope_test.py on $p ($(grep -c '^ok' "$p.tap") checks)" "$rc $(grep -c '^not ok' "$p.tap")" "0 0"
done
echo "# artefacts in $ART"
finish
