/* glim-json.h: JSON text the way Python writes it, so files Glimmer produces (config.json,
 * hf_quant_config.json, safetensors headers and indexes) look like the ones transformers,
 * ModelOpt and the safetensors library write.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Append `s` (UTF-8) as a quoted JSON string. ensure_ascii TRUE escapes everything outside
 * printable ASCII as \uXXXX (Python's json.dumps default); FALSE keeps UTF-8 bytes as they are
 * and escapes only '"', '\\' and control characters (serde_json, used by safetensors). */
void  glim_json_append_string (GString *out, const char *s, gboolean ensure_ascii);

/* Append a double as Python's repr() does: the shortest text that reads back to the same
 * value, "1e-05", "1.8", "1000000.0". Non-finite values are written as Python does (NaN,
 * Infinity), which is not strict JSON. */
void  glim_json_append_double (GString *out, double v);

/* Serialise `node` as Python's json.dumps(node, indent=indent, sort_keys=sort_keys) does
 * (ensure_ascii on). indent 0 writes the compact form with ", " and ": " separators. */
char *glim_json_to_string     (JsonNode *node, guint indent, gboolean sort_keys);

G_END_DECLS
