# bad_input_commands: every command that reads a trace -- discovered from `alloctrace
# --help`, so new commands are covered as they land -- in every trace argument position
# (diff BASE NEW, check TRACE --baseline BASE, flamegraph --diff BASE NEW, ...) answers a
# missing, foreign, cut or damaged trace with exactly one stderr line naming the file and
# exit 2, decodes a trace whose last frame was cut off (exit 0, one truncation warning per
# trace argument), and names an unknown flag in one line; flamegraph also with --format
# pprof and speedscope. Also in the asan suite.
. "$TESTS/lib.sh"
. "$TESTS/bad_input_lib.sh"

# Flags that keep a command's successful runs cheap (the contract is about reading
# traces, not about what the command then does): replay under glibc only (the asan build
# cannot preload other allocators into itself), once.
declare -A CHEAP
CHEAP[replay]="--allocator glibc --repeat 1"

# One line per invocation form: the command and its arguments, with @1@, @2@ ... for the
# trace arguments. Usages come from the --help line ("description: CMD USAGE", forms
# separated by " | "); bracketed options taking a trace ([--baseline BASE]) are filled in
# so that position gets tested too; other bracketed options are left out.
"$ATR" --help >"$T/help" 2>&1 || true
"$PY" - "$T/help" >"$T/invocations" <<'PYEOF'
import re, sys
TRACE = re.compile(r'^(TRACE\w*|BASE(LINE)?|NEW|OLD)(\.\.\.)?$')
for line in open(sys.argv[1]):
    m = re.match(r'^  ([a-z][a-z-]*)\s+(.*)$', line)
    if not m:
        continue
    name, text = m.groups()
    u = re.search(r'(?:^|:\s+)(' + re.escape(name) + r'\b.*)$', text)
    if not u:
        continue
    forms = re.split(r'\s+\|\s+', u.group(1))
    for form in forms:
        toks = re.findall(r'\[[^\]]*\]|\S+', form)
        if toks and toks[0] == name:
            toks = toks[1:]
        args, pos = [], 0
        for t in toks:
            if t.startswith('['):
                inner = t[1:-1].replace('=', ' ').split()
                if any(TRACE.match(w) for w in inner):
                    for w in inner:
                        if TRACE.match(w):
                            pos += 1
                            args.append('@%d@' % pos)
                        else:
                            args.append(w)
            elif TRACE.match(t):
                pos += 1
                args.append('@%d@' % pos)
            elif t == '--':
                break
            elif t.startswith('...'):
                continue
            else:
                args.append(t)
        if pos:
            print('\t'.join([name] + args))
PYEOF
# flamegraph's pprof and speedscope writers read the trace their own way (the model alone,
# or with the time view): they get the same inputs as the default format
printf 'flamegraph\t--format\t%s\t@1@\n' pprof speedscope >>"$T/invocations"
NCMD=$(cut -f1 "$T/invocations" | sort -u | wc -l)
[ "$NCMD" -ge 2 ] || not_ok "found the trace-reading commands in --help: $(head -c 600 "$T/help")"
echo "# invocation forms under test:"
sed 's/^/#   /' "$T/invocations"

# fill ARGS...: ARGV[] = ARGS with @k@ replaced ($BADPOS gets $BAD, the others $GOODF)
fill() {
  local a
  ARGV=()
  for a in "$@"; do
    if [[ $a =~ ^@([0-9]+)@$ ]]; then
      if [ "${BASH_REMATCH[1]}" = "$BADPOS" ]; then ARGV+=("$BAD"); else ARGV+=("$GOODF"); fi
    else ARGV+=("$a"); fi
  done
}

# every invocation gets the errors every reader path must handle, plus a rotating share
# of the other damages (bad_input.sh runs them all through dump and summary)
CORE="missing cut_first_frame flip_last_frame"
EXTRA=(directory devnull empty text elf otherzstd short garbage cut_in_header flip_first_frame)
k=0
flagged=" "
while IFS=$'\t' read -r -a inv; do
  name=${inv[0]}
  tmpl=("${inv[@]:1}")
  read -r -a cheap <<<"${CHEAP[$name]:-}"
  NPOS=0
  for a in "${tmpl[@]}"; do [[ $a =~ ^@[0-9]+@$ ]] && NPOS=$((NPOS + 1)); done
  form="$name ${tmpl[*]}"

  # the last frame cut off: still decodes (and shows the template works); every trace
  # position gets the cut trace, so commands comparing two traces compare like with like
  BADPOS=0 GOODF=${IN[cut_last_frame]}
  fill "${tmpl[@]}"
  run_atr "$name" "${ARGV[@]}" "${cheap[@]}"
  judge "$form: cut_last_frame" trunc "${IN[cut_last_frame]}"

  for ((p = 1; p <= NPOS; p++)); do
    for c in $CORE ${EXTRA[$((k % ${#EXTRA[@]}))]} ${EXTRA[$(((k + 5) % ${#EXTRA[@]}))]}; do
      BADPOS=$p BAD=${IN[$c]} GOODF=$T/good.zst
      fill "${tmpl[@]}"
      run_atr "$name" "${ARGV[@]}" "${cheap[@]}"
      judge "$form: trace argument $p: $c" "${WANT[$c]}" "$BAD"
    done
    k=$((k + 1))
  done

  # bad flags, once per command
  [[ $flagged == *" $name "* ]] && continue
  flagged="$flagged$name "
  BADPOS=0 GOODF=$T/good.zst
  fill "${tmpl[@]}"
  run_atr "$name" --no-such-flag "${ARGV[@]}"
  judge "$name --no-such-flag" 2 --no-such-flag
  run_atr "$name"
  if [ "$RC" = 2 ] && [ "${#ERR[@]}" = 1 ] && sanitizer_clean; then ok "$name without arguments: exit 2, one line"
  else not_ok "$name without arguments: exit $RC, ${#ERR[@]} lines: $(err_text)"; fi
done <"$T/invocations"
finish
