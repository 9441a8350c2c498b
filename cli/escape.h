/* What trace bytes may become in each output format: the one place that decides how a
 * function, file, module or argv string from a trace is written as JSON, XML or text.
 * A trace holds whatever bytes the program had (any name, any argv): nothing here may
 * let them make a document invalid or reach a terminal as control sequences.
 * Never cuts a UTF-8 sequence, never drops a string.
 */
#ifndef ATR_ESCAPE_H
#define ATR_ESCAPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length (1-4) of the well-formed UTF-8 sequence at p, with its code point in *cp; 0
 * for a byte that starts none: a stray continuation, an overlong form, a surrogate
 * (U+D800-U+DFFF), a value above U+10FFFF, or a sequence cut short (NUL included). */
int atr_utf8_seq(const unsigned char *p, uint32_t *cp);

/* 1 when all of s is well-formed UTF-8. */
int atr_utf8_valid(const char *s);
/* A malloc'd copy of s with each byte outside a well-formed sequence replaced by U+FFFD
 * (NULL: out of memory). pprof's string table uses it (proto3 strings are UTF-8). */
char *atr_utf8_replace(const char *s);

/* JSON (jansson): a string with every byte that is not part of a well-formed UTF-8
 * sequence replaced by U+FFFD (docs/json.md). Never NULL for a non-NULL s, unlike
 * json_string, which drops the field; NULL s gives JSON null. */
json_t *atr_json_text(const char *s);
/* The same replacement, as a quoted JSON string written directly (the flame graph's
 * writers); also escapes <, >, & and U+2028/9 so the text is safe inside <script>. */
void atr_json_quoted(FILE *out, const char *s);

/* XML 1.0 text of at most max bytes of s (whole characters only): markup escaped, and
 * only XML 1.0 Chars written: C0 controls other than tab, newline and carriage return,
 * U+FFFE, U+FFFF and bytes not in a well-formed sequence each become U+FFFD. attr: also
 * tab and newline as references, as attribute values need. SVG and JUnit use it. */
void atr_xml_text(FILE *out, const char *s, size_t max, int attr);

/* Text reports for a terminal: a stream that writes to fd's file descriptor with
 * newline and tab kept, every other C0 control, DEL and byte outside a well-formed
 * UTF-8 sequence written as \xNN, and C1 controls (U+0080-U+009F), bidirectional
 * overrides and U+2028/9 as \uNNNN; a sequence split across writes is joined first.
 * Flushes `to` first; closing the stream leaves the descriptor open. NULL on error. */
FILE *atr_text_stream(FILE *to);
/* The commands' text paths: stdout itself becomes such a stream (glibc lets a program
 * assign stdout); exit() flushes it. */
void atr_text_stdout(void);

/* Bytes of s that fit in max without cutting a UTF-8 sequence. */
size_t atr_utf8_fit(const char *s, size_t max);
/* After a truncating snprintf into buf: drops a sequence cut at its end. */
void atr_utf8_trim(char *buf);

#endif
