# processes: fork (while another thread allocates), fork+exec, posix_spawn, system(),
# dlopen/dlclose, --no-follow, and a symlink planted at a child's trace name
# (tests/progs/procs.c documents each mode). Every process gets its own trace holding
# exactly its own allocations; none lands in another's file; files are 0600.
. "$TESTS/lib.sh"
P=$PROGS/procs

# facts TRACE...: for each trace, TRACE.f with "name value" lines from its summary and
# events (one Python start for all: under load a start costs more than a trace): pid,
# argv, totals, recorder state, and per size "a<size> N" (allocations), "f<size> N" (frees)
facts() {
  "$PY" - "$ATR" "$@" <<'PYEOF'
import json, subprocess, sys
atr = sys.argv[1]
for path in sys.argv[2:]:
  out = open(path + ".f", "w")
  def print(*a):
    out.write(" ".join(str(x) for x in a) + "\n")
  j = json.loads(subprocess.run([atr, "summary", "--json", "--top", "50", path], check=True,
                                capture_output=True, text=True).stdout)
  print("pid", j["pid"])
  print("argv", " ".join(j["argv"][1:]))
  for k in ("allocations", "frees", "leaked_bytes", "leaked_blocks", "unknown_frees",
            "inherited_frees"):
      print(k, j["totals"][k])
  r = j["recorder"]
  print("complete", "true" if r["complete"] else "false")
  print("inconsistencies", r["inconsistencies"])
  for metric in ("allocations", "leaked"):
      for e in j["top"][metric]:
          key = "%s:%s@%s" % (metric, e["function"], e["module"])
          print(key, " ".join(str(e[k]) for k in ("count", "bytes", "blocks") if k in e))
  sizes = {}
  dump = subprocess.run([atr, "dump", path], check=True, capture_output=True, text=True).stdout
  for line in dump.splitlines():
      e = json.loads(line)
      if e.get("event") == "alloc":
          k = "a%d" % e["size"]
      elif e.get("event") == "free":
          k = "f%d" % e["old_size"]
      else:
          continue
      sizes[k] = sizes.get(k, 0) + 1
  for k, v in sorted(sizes.items()):
      print(k, v)
PYEOF
}
# f FACTS NAME: the value, or 0 when absent
f() { local v; v=$(awk -v k="$2" '$1 == k { sub(/^[^ ]+ /, ""); print; exit }' "$1"); echo "${v:-0}"; }
# traces_of STEM: the run's other process images, STEM.zst@PID[.N] (the run's one trace
# holds them all; summary --json lists them, the root first)
traces_of() {
  "$ATR" summary --json "$1.zst" 2>/dev/null | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
for p in d.get("processes", [])[1:]:
    print("%s@%d%s" % (sys.argv[1], p["pid"], ".%d" % p["image"] if p["image"] else ""))' "$1.zst"
}
mode_of() { stat -c %a "${1%@*}"; }

# ---- fork while a second thread hammers malloc: 4 children, each with its own trace ----
rc=0; timeout 60 "$ATR" run -q -o "$T/fork.zst" -- "$P" fork 4 >"$T/fork.out" 2>"$T/fork.err" || rc=$?
expect_eq "fork: exit status" "$rc" 0
expect_match "fork: children ok" "$(cat "$T/fork.out")" 'forks 4 bad 0'
facts "$T/fork.zst" $(traces_of "$T/fork")
R=$T/fork.zst.f
hammer=$(sed -n 's/^hammer //p' "$T/fork.out")
expect_eq "fork: parent's hammer allocations" "$(f "$R" a1616)" "$hammer"
expect_eq "fork: parent's hammer frees" "$(f "$R" f1616)" "$hammer"
expect_eq "fork: parent_before blocks (leaked)" "$(f "$R" a5005)/$(f "$R" f5005)" 5/0
expect_eq "fork: parent_after blocks (freed)" "$(f "$R" a6006)/$(f "$R" f6006)" 6/6
expect_eq "fork: no child allocation in the parent's trace" "$(f "$R" a7007)" 0
expect_eq "fork: parent unknown frees" "$(f "$R" unknown_frees)" 0
expect_eq "fork: parent complete" "$(f "$R" complete)" true
expect_eq "fork: parent trace mode" "$(mode_of "$T/fork.zst")" 600
n=0
for c in $(traces_of "$T/fork"); do
  n=$((n + 1))
  C=$c.f
  name=${c##*/}
  expect_eq "fork: $name is named after its pid" "$name" "fork.zst@$(f "$C" pid)"
  expect_eq "fork: $name holds child_work exactly" \
    "$(f "$C" allocations) $(f "$C" frees) $(f "$C" a7007) $(f "$C" f7007)" "7 3 7 3"
  expect_eq "fork: $name leaks" "$(f "$C" leaked_blocks)/$(f "$C" leaked_bytes)" 4/28028
  expect_eq "fork: $name has nothing of the parent" "$(f "$C" a1616)$(f "$C" a5005)$(f "$C" a6006)" 000
  expect_eq "fork: $name unknown frees" "$(f "$C" unknown_frees)" 0
  expect_eq "fork: $name complete" "$(f "$C" complete)" true
  expect_eq "fork: $name mode" "$(mode_of "$c")" 600
done
expect_eq "fork: child traces" "$n" 4

# ---- frees of blocks the parent had live at the fork: inherited, not unknown; each
# child's set is its own fork's (child 2 frees 2 blocks made after child 1's fork) ----
for round in 1 2 3; do
  rc=0; timeout 60 "$ATR" run -q -o "$T/inh$round.zst" -- "$P" inherit >"$T/inh.out" 2>"$T/inh.err" || rc=$?
  expect_eq "inherit $round: exit status and output" "$rc $(cat "$T/inh.out")" "0 inherit bad 0"
  kids=$(traces_of "$T/inh$round")
  facts "$T/inh$round.zst" $kids
  R=$T/inh$round.zst.f
  expect_eq "inherit $round: parent frees: inherited, unknown (3 untraced blocks)" \
    "$(f "$R" inherited_frees) $(f "$R" unknown_frees)" "0 3"
  expect_eq "inherit $round: parent's 3131 and 3535 blocks" "$(f "$R" a3131)/$(f "$R" f3131) $(f "$R" a3535)/$(f "$R" f3535)" "20/20 2/2"
  # images are listed in the order they reached the recorder, which under load need not
  # be the fork order: sorted. A child given the other's set would show it anyway (child
  # 2 with child 1's set: 12 inherited and 5 unknown frees)
  got=$(for c in $kids; do
    echo "$(f "$c.f" inherited_frees)/$(f "$c.f" unknown_frees)/$(f "$c.f" a3434)/$(f "$c.f" f3434)/$(f "$c.f" a3333)"
  done | sort | sed 's/^/ /' | tr -d '\n')
  expect_eq "inherit $round: children (inherited/unknown frees, 3434 made/freed, reallocs)" "$got" \
    " 12/3/5/2/4 14/3/5/2/4"
done
# TRACE@PID selects for that file only: the other side of a diff is the run's root
kid=$(traces_of "$T/inh1" | head -1)
got=$("$ATR" diff --json "$kid" "$T/inh1.zst" | "$PY" -c 'import json, sys
m = {x["metric"]: x for x in json.load(sys.stdin)["metrics"]}
print(m["leaked"]["base"], m["leaked"]["new"])')
expect_eq "diff KID ROOT: leaked bytes of each side" "$got" "23634 304"
expect_match "inherit: summary names the inherited frees" \
  "$("$ATR" summary "$(traces_of "$T/inh1" | head -1)")" \
  "frees of inherited blocks: +12 \(allocated by parent [0-9]+ before the fork\)"

# ---- fork + exec: the pre-exec child and the exec'd image each have a trace ----
rc=0; timeout 60 "$ATR" run -q -o "$T/fx.zst" -- "$P" forkexec >"$T/fx.out" 2>&1 || rc=$?
expect_eq "forkexec: exit status" "$rc" 0
facts "$T/fx.zst" $(traces_of "$T/fx")
expect_eq "forkexec: parent allocated nothing" "$(f "$T/fx.zst.f" allocations)" 0
pre=""; post=""
for c in $(traces_of "$T/fx"); do
  case "$(f "$c.f" argv)" in
    forkexec) pre=$c; cp "$c.f" "$T/pre.f" ;;
    exec-child) post=$c; cp "$c.f" "$T/post.f" ;;
  esac
done
expect_match "forkexec: pre-exec child trace" "$pre" 'fx\.zst@[0-9]+$'
expect_eq "forkexec: pre-exec allocations exactly" "$(f "$T/pre.f" allocations)/$(f "$T/pre.f" a2002)" 2/2
expect_eq "forkexec: pre-exec trace complete (flushed before exec)" "$(f "$T/pre.f" complete)" true
expect_eq "forkexec: exec'd image is the pid's second image" "${post##*/}" "fx.zst@$(f "$T/pre.f" pid).1"
expect_eq "forkexec: exec'd allocations exactly" "$(f "$T/post.f" allocations)/$(f "$T/post.f" a3003)" 3/3
expect_eq "forkexec: exec'd leaks" "$(f "$T/post.f" leaked_bytes)" 9009
expect_eq "forkexec: exec'd complete" "$(f "$T/post.f" complete)" true

# ---- posix_spawn and system() ----
rc=0; timeout 60 "$ATR" run -q -o "$T/sp.zst" -- "$P" spawn >"$T/sp.out" 2>&1 || rc=$?
expect_eq "spawn: exit status" "$rc" 0
found=0
facts $(traces_of "$T/sp")
for c in $(traces_of "$T/sp"); do
  cp "$c.f" "$T/c.f"
  [ "$(f "$T/c.f" argv)" = spawn-child ] || continue
  found=1
  expect_eq "spawn: child allocations/frees exactly" \
    "$(f "$T/c.f" allocations)/$(f "$T/c.f" frees)/$(f "$T/c.f" a4114)" 4/1/4
  expect_eq "spawn: child complete" "$(f "$T/c.f" complete)" true
done
expect_eq "spawn: the spawned program has a trace" "$found" 1
rc=0; timeout 60 "$ATR" run -q -o "$T/sy.zst" -- "$P" system >"$T/sy.out" 2>&1 || rc=$?
expect_eq "system: exit status" "$rc" 0
found=0; shell=0
facts $(traces_of "$T/sy")
for c in $(traces_of "$T/sy"); do
  cp "$c.f" "$T/c.f"
  case "$(f "$T/c.f" argv)" in
    system-child)
      found=1
      expect_eq "system: command allocations exactly" \
        "$(f "$T/c.f" allocations)/$(f "$T/c.f" a5115)/$(f "$T/c.f" leaked_bytes)" 5/5/25575
      expect_eq "system: command complete" "$(f "$T/c.f" complete)" true ;;
    -c*) shell=1 ;;
  esac
done
expect_eq "system: the command has a trace" "$found" 1
expect_eq "system: the shell has a trace" "$shell" 1

# ---- --no-follow: children are not traced, the root still is ----
for m in "fork 2" spawn system forkexec; do
  tag=nf${m%% *}
  rc=0; timeout 60 "$ATR" run -q --no-follow -o "$T/$tag.zst" -- "$P" $m >"$T/$tag.out" 2>&1 || rc=$?
  expect_eq "--no-follow $m: exit status" "$rc" 0
  expect_eq "--no-follow $m: no child traces" "$(traces_of "$T/$tag" | wc -l)" 0
done
facts "$T/nffork.zst"
cp "$T/nffork.zst.f" "$T/nf.f"
expect_eq "--no-follow fork: root still traced" "$(f "$T/nf.f" a5005)/$(f "$T/nf.f" a6006)" 5/6

# ---- a symlink at the child's derived trace name is never followed ----
printf 'victim\n' >"$T/victim"
rc=0; timeout 60 "$ATR" run -q -o "$T/sym.zst" -- "$P" symlink "$T/sym" "$T/victim" >"$T/sym.out" 2>&1 || rc=$?
expect_eq "symlink: exit status" "$rc" 0
expect_eq "symlink: victim untouched" "$(cat "$T/victim")" victim
links=$(find "$T" -maxdepth 1 -name 'sym.*.zst' -type l)
expect_match "symlink: the planted link is still a link" "$links" 'sym\.[0-9]+\.zst$'
other=$(traces_of "$T/sym" | tail -1)
expect_match "symlink: the child is traced in the run's trace" "${other##*/}" '^sym\.zst@[0-9]+'
if [ -n "$other" ]; then
  facts "$other"
  cp "$other.f" "$T/c.f"
  expect_eq "symlink: child allocations exactly" "$(f "$T/c.f" allocations)/$(f "$T/c.f" a9009)" 3/3
  expect_eq "symlink: child trace mode" "$(mode_of "$other")" 600
fi

# ---- dlopen/dlclose: allocations attributed to the library's functions, after dlclose ----
rc=0; timeout 60 "$ATR" run -q -o "$T/dl.zst" -- "$P" dlopen "$PROGS/libdlt.so" >"$T/dl.out" 2>&1 || rc=$?
expect_eq "dlopen: exit status" "$rc" 0
facts "$T/dl.zst"
D=$T/dl.zst.f
expect_eq "dlopen: constructor blocks (2 loads x 4)" "$(f "$D" a4001)/$(f "$D" f4001)" 8/2
expect_eq "dlopen: dlt_work blocks, freed after dlclose" "$(f "$D" a4002)/$(f "$D" f4002)" 10/10
expect_eq "dlopen: constructor site in libdlt.so" "$(f "$D" 'allocations:dlt_ctor_alloc@libdlt.so')" 8
expect_eq "dlopen: dlt_work site in libdlt.so" "$(f "$D" 'allocations:dlt_work@libdlt.so')" 10
expect_eq "dlopen: leaked by the constructor (6 x 4001)" "$(f "$D" 'leaked:dlt_ctor_alloc@libdlt.so')" "24006 6"
expect_eq "dlopen: unknown frees" "$(f "$D" unknown_frees)" 0
expect_eq "dlopen: complete" "$(f "$D" complete)" true
finish
