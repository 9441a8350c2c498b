/* ck_peak: ck_base with a higher peak at a known function. Must never print.
 * build_index holds two 32 KiB blocks instead of two 16 KiB ones: peak 73984 B (+32768,
 * build_index's share 65536 B), 75008 B allocated (+32768), both at build_index; 27 calls,
 * 16 temporary and no leak, as in ck_base.
 */
#define CK_INDEX 32768
#include "ck_base.c"
