/* glim-safetensors.h: read-only, mmapped access to .safetensors files and to a model folder
 * holding one file or a sharded set (model.safetensors.index.json).
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "glim-dtype.h"
#include "glim-error.h"

G_BEGIN_DECLS

#define GLIM_TENSOR_MAX_DIMS 8

typedef struct {
  const char *name;                        /* tensor name, e.g. "model.norm.weight" */
  const char *file;                        /* basename of the file it lives in (for messages) */
  GlimDtype   dtype;
  int         n_dims;                      /* 0 for a scalar */
  int64_t     shape[GLIM_TENSOR_MAX_DIMS];
  gsize       n_elements;                  /* product of shape (1 for a scalar) */
  gsize       n_bytes;                     /* n_elements * element size */
  const void *data;                        /* inside the mapping, aligned to the element size */
} GlimTensor;

/* "[2048, 768]" for messages; free with g_free. */
char             *glim_shape_to_string        (const int64_t *shape, int n_dims);

typedef struct _GlimSafetensors GlimSafetensors;

/* Map `path` and validate its header: length in range, JSON well formed, every dtype known,
 * every shape consistent with its byte range, every range inside the file, no overlaps.
 * Errors name the file (and the tensor where there is one). */
GlimSafetensors  *glim_safetensors_open       (const char *path, GError **error);
void              glim_safetensors_free       (GlimSafetensors *st);
guint             glim_safetensors_n_tensors  (GlimSafetensors *st);
const GlimTensor *glim_safetensors_nth        (GlimSafetensors *st, guint i);
const GlimTensor *glim_safetensors_lookup     (GlimSafetensors *st, const char *name);

typedef struct _GlimTensorStore GlimTensorStore;

/* Open the weights of a model folder: model.safetensors.index.json if present (every file it
 * names must exist and hold the tensors it lists), otherwise model.safetensors. */
GlimTensorStore  *glim_tensor_store_open      (const char *dir, GError **error);
void              glim_tensor_store_free      (GlimTensorStore *store);
const GlimTensor *glim_tensor_store_lookup    (GlimTensorStore *store, const char *name);
/* All tensor names, sorted; the array is owned by the store. */
GPtrArray        *glim_tensor_store_names     (GlimTensorStore *store);
gsize             glim_tensor_store_n_bytes   (GlimTensorStore *store);
/* Read every tensor's pages into memory now (the CPU backend computes straight from the
 * mapping, so otherwise the first forward pass pays for the disk), calling progress (bytes
 * done, glim_tensor_store_n_bytes) between 64 MiB pieces. progress returning FALSE stops it
 * with G_IO_ERROR_CANCELLED. */
gboolean          glim_tensor_store_prefault  (GlimTensorStore *store,
                                               gboolean (*progress) (guint64 done, guint64 total,
                                                                     gpointer user_data),
                                               gpointer user_data, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimSafetensors, glim_safetensors_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimTensorStore, glim_tensor_store_free)

G_END_DECLS
