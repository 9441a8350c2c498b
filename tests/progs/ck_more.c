/* ck_more: ck_base with more allocations at a known function. Must never print.
 * parse_input takes 24 tokens instead of 16: 35 calls (+8), 42752 B allocated (+512),
 * 24 temporary (+8), all at parse_input; peak (41216 B) and leaks (0) unchanged.
 */
#define CK_TOKENS 24
#include "ck_base.c"
