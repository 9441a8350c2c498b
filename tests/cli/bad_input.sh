# bad_input: the trace reader never crashes, hangs or trips a sanitizer on damaged input.
# A multi-frame trace cut at many offsets (inside the first frame: one-line error, exit 2;
# on a frame boundary: a shorter valid trace; inside a later frame: decoded with one
# truncation warning, exit 0) and with bytes flipped at many positions (one-line error, or
# a cut-looking last frame, or provably harmless: same output), read through dump and
# summary; plus the command line's own bad flags. bad_input_commands.sh puts every
# command through the same inputs. Also in the asan suite.
. "$TESTS/lib.sh"
. "$TESTS/bad_input_lib.sh"

# ---- the reader, exhaustively, through dump and summary --json
run_atr dump "$T/good.zst"; cp "$OUT_OF" "$T/good.dump"
judge "dump of the undamaged trace" 0 x
run_atr summary --json "$T/good.zst"; cp "$OUT_OF" "$T/good.summary"
judge "summary of the undamaged trace" 0 x
# cuts: inside the first frame -> error; on a frame boundary -> a shorter, valid trace;
# inside a later frame -> that frame is the truncated last one: decoded with a warning.
offsets="1 2 3 4 5 8 13 $((F1 - 1))"
for e in "${ENDS[@]:0:$((NF - 1))}"; do offsets="$offsets $((e - 1)) $e $((e + 1)) $((e + 5)) $((e + 11))"; done
offsets="$offsets $((SIZE - 1)) $((SIZE - 4)) $((SIZE - 5))"
for off in $offsets; do
  cut_at "$T/cut.zst" "$off"
  boundary=0
  for e in "${ENDS[@]}"; do [ "$e" = "$off" ] && boundary=1; done
  cmd=dump; [ $((off % 4)) = 1 ] && cmd=summary
  run_atr "$cmd" "$T/cut.zst"
  if [ "$off" -lt "$F1" ]; then judge "$cmd cut at byte $off (first frame)" 2 "$T/cut.zst"
  elif [ "$boundary" = 1 ]; then judge "$cmd cut at byte $off (frame boundary)" 0 x
  else judge "$cmd cut at byte $off (inside a later frame)" trunc "$T/cut.zst"
  fi
done
# flips: zstd's checksums catch damage to the data; header damage may be harmless.
step=$((SIZE / 40 + 1))
masks=(0x01 0x80 0xff 0x10 0x04)
specs=()
i=0
for ((off = 0; off < SIZE; off += step)); do
  specs+=("$T/flip$i.zst:$off:${masks[$((i % 5))]}")
  i=$((i + 1))
done
flip "${specs[@]}"
for ((i = 0; i < ${#specs[@]}; i++)); do
  f=${specs[$i]%%:*}
  what=${specs[$i]#*:}
  if [ $((i % 4)) != 3 ]; then run_atr dump "$f"; good=$T/good.dump; cmd=dump
  else run_atr summary --json "$f"; good=$T/good.summary; cmd=summary; fi
  judge "$cmd with byte ${what%%:*} xor ${what#*:}" flip "$f" "$good"
done

# a few named damages through summary (the model on top of the reader)
for c in $CASES; do
  run_atr summary "${IN[$c]}"
  judge "summary: $c" "${WANT[$c]}" "${IN[$c]}"
done

# ---- the command line itself
run_atr --no-such-flag
judge "alloctrace --no-such-flag" 2 --no-such-flag
run_atr no-such-command "$T/good.zst"
judge "alloctrace no-such-command" 2 no-such-command
run_atr summary -Z "$T/good.zst"
judge "summary -Z" 2 "-Z"
run_atr summary --top
judge "summary --top without its value" 2 "--top"
run_atr run --no-such-flag -- true
judge "run --no-such-flag" 2 --no-such-flag
run_atr run -o
judge "run -o without its value" 2 "-o"
finish
