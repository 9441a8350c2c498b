# chromium: Chromium headless --dump-dom of a page under `alloctrace run` gives the same
# DOM and exit status as untraced; every process of the browser (the browser itself,
# its zygotes, the renderer, the crashpad handlers, and what else it starts) is in the
# run's trace and decodes, the browser's own allocator (PartitionAlloc, which defines
# malloc in the executable) is seen, and no process of the run is left behind.
# Skips only where Chromium cannot run here at all (untraced).
. "$TESTS/lib.sh"
CHROME=$(command -v chromium || true)
[ -n "$CHROME" ] || skip "chromium is not installed"

cat >"$T/page.html" <<'EOF'
<html><body><h1 id="t">alloctrace</h1><ul id="l"></ul><script>
const l = document.getElementById("l");
let sum = 0;
for (let i = 0; i < 200; i++) {
  const li = document.createElement("li");
  li.textContent = "item " + i + " " + "x".repeat(i % 17);
  l.appendChild(li);
  sum += i;
}
document.getElementById("t").textContent = "items " + l.children.length + " sum " + sum;
</script></body></html>
EOF
flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-breakpad-uploads)
rc=0
timeout 90 "$CHROME" "${flags[@]}" --user-data-dir="$T/native-profile" --dump-dom \
  "file://$T/page.html" >"$T/native.out" 2>"$T/native.err" || rc=$?
grep -q "items 200 sum 19900" "$T/native.out" ||
  skip "chromium does not run here (exit $rc): $(tail -c 300 "$T/native.err")"

trc=0
timeout 180 "$ATR" run -q -o "$T/c.zst" -- "$CHROME" "${flags[@]}" --user-data-dir="$T/profile" \
  --dump-dom "file://$T/page.html" >"$T/traced.out" 2>"$T/traced.err" || trc=$?
expect_eq "same exit status as untraced" "$trc" "$rc"
expect_eq "same DOM as untraced ($(wc -c <"$T/native.out") bytes)" "$(md5sum <"$T/traced.out")" \
  "$(md5sum <"$T/native.out")"

# the run's images: pid, image, allocations, layers seen, type (--type=..., browser, or
# the program's name), and whether its own summary decodes
"$PY" - "$ATR" "$T/c.zst" >"$T/images" <<'PYEOF'
import json, subprocess, sys
atr, trace = sys.argv[1], sys.argv[2]
d = json.loads(subprocess.run([atr, "summary", "--json", trace], capture_output=True,
                              text=True, check=True).stdout)
kinds = {}
for p in d["processes"]:
    cmd = p["command"].split(" ")
    kinds[p["pid"]] = next((a[7:] for a in cmd if a.startswith("--type=")), None)
for p in d["processes"]:
    cmd = p["command"].split(" ")
    exe = cmd[0].rsplit("/", 1)[-1]
    kind = next((a[7:] for a in cmd if a.startswith("--type=")), None)
    if kind is None:
        kind = "browser" if exe == "chromium" else exe
    # the zygote's fork children (renderers, and the utility or GPU processes it forks)
    # keep its command line: Chromium renames them by rewriting argv in place
    if kind == "zygote" and kinds.get(p["ppid"]) == "zygote":
        kind = "zygote-child"
    name = "%s@%d%s" % (trace, p["pid"], ".%d" % p["image"] if p["image"] else "")
    r = subprocess.run([atr, "summary", "--json", name], capture_output=True, text=True)
    ok = r.returncode == 0 and json.loads(r.stdout)["recorder"]["complete"]
    layers = ",".join(json.loads(r.stdout)["layers"]) if r.returncode == 0 else "-"
    print(p["pid"], p["image"], p["allocations"], kind, "decodes" if ok else "BROKEN",
          layers.replace(" ", "_") or "none")
PYEOF
cat "$T/images" | sed 's/^/# /'
expect_eq "every image decodes" "$(awk '$5 != "decodes"' "$T/images" | wc -l)" 0
for kind in browser zygote zygote-child chrome_crashpad_handler; do
  expect_match "a $kind image is in the trace" "$(awk '{print $4}' "$T/images")" "^$kind\$"
done
# PartitionAlloc's malloc in the executable is detoured: the browser and the zygote's
# children (the renderer among them) allocate through it
for kind in browser zygote-child; do
  n=$(awk -v k="$kind" '$4 == k && $3 > 0' "$T/images" | wc -l)
  expect_eq "$kind: allocations seen" "$([ "$n" -gt 0 ] && echo yes)" yes
done
expect_match "the zygote children's allocations come through the executable's own malloc" \
  "$(awk '$4 == "zygote-child" {print $6}' "$T/images")" "own_malloc"

# nothing of the run is left: every image's pid is gone (or a zombie) within 10 s
left=""
for _ in $(seq 100); do
  left=""
  for pid in $(awk '{print $1}' "$T/images" | sort -u); do
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    [ -n "$st" ] && [ "$st" != Z ] && left="$left $pid"
  done
  [ -z "$left" ] && break
  sleep 0.1
done
expect_eq "no process of the run left running" "$left" ""
[ -n "$left" ] && kill -9 $left 2>/dev/null
finish
