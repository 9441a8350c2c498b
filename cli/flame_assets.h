/* The flame graph page's own files, embedded at build time by cli/flamegraph/embed.c
 * from cli/flamegraph/{template.html,flame.css,flame.js,table.js}. Read-only; never patched. */
#ifndef ATR_FLAME_ASSETS_H
#define ATR_FLAME_ASSETS_H

#include <stddef.h>

extern const unsigned char atr_asset_template[], atr_asset_css[], atr_asset_js[],
    atr_asset_table_js[];
extern const size_t atr_asset_template_len, atr_asset_css_len, atr_asset_js_len,
    atr_asset_table_js_len;

#endif
