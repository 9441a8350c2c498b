/* ck_leak: ck_base with one leak at a known function. Must never print.
 * remember's 256-byte block is never freed: leaked 256 B in 1 block at remember; 26 frees.
 * Everything else equals ck_base (27 calls, 42240 B, 16 temporary, peak 41216 B).
 */
#define CK_LEAK 1
#include "ck_base.c"
