/* testutil.h: helpers shared by the GTest programs in tests/.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "glim.h"

G_BEGIN_DECLS

/* Absolute path of a file under tests/data/ (joined from NULL-terminated parts). */
char   *test_data_path   (const char *first, ...) G_GNUC_NULL_TERMINATED;
/* A fresh temporary folder, removed with test_rmtree(). */
char   *test_make_tmpdir (void);
void    test_rmtree      (const char *path);
/* Read a whole file of little-endian float32; *n gets the element count. */
float  *test_read_f32    (const char *path, gsize *n);
/* ||a - b|| / ||b|| */
double  test_rel_l2      (const float *a, const float *b, gsize n);
/* A standard normal sample (Box-Muller) from r. */
double  test_gauss       (GRand *r);
/* Run glimmer-cli (path from $GLIMMER_CLI) with argv; returns exit status, captures output. */
int     test_run_cli     (const char *const *args, char **out, char **err);
/* The bundled demo model, data/demo-model in the source tree. */
char   *test_demo_model_dir (void);

G_END_DECLS

/* ---- shared test data ---- */

/* Load a model folder; the test fails on any error. */
GlimModel *test_load_model (const char *dir);

/* GLM-4.7-Flash's config.json (docs/model.md §1), verbatim. */
extern const char test_glm_flash_config[];
/* The int32 array under `key` of a JSON object (a json-glib JsonObject *). */
GArray *test_json_int_array (gpointer object, const char *key);

/* ---- safetensors files for error tests ---- */

typedef struct {
  const char *name;
  const char *dtype;     /* "F32", "BF16", "U8", ... */
  int         n_dims;
  gint64      shape[4];
  const void *data;
  gsize       n_bytes;
} TestTensor;

/* Write a .safetensors file with the given tensors, in order. */
void    test_write_safetensors (const char *path, const TestTensor *tensors, gsize n);
/* Write raw bytes: an 8-byte header length, the header text as given, then `data`. */
void    test_write_raw_safetensors (const char *path, const char *header, const void *data,
                                    gsize n_bytes);
/* Copy every file of folder `src` into a new temporary folder and return its path. */
char   *test_copy_dir (const char *src);
/* Rewrite the header of a safetensors file through `edit`, which receives the header's root
 * JSON object (json-glib) and may change or remove entries; data bytes are kept as they are. */
void    test_edit_safetensors_header (const char *path, void (*edit) (gpointer root, gpointer user),
                                      gpointer user);
