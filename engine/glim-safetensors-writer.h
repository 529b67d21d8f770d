/* glim-safetensors-writer.h: write .safetensors files, one or a sharded set with
 * model.safetensors.index.json, streaming tensor data straight to disk.
 * SPDX-License-Identifier: MIT
 *
 * Use: declare every tensor (_add), lay the files out (_begin), write each tensor's bytes in
 * any order and from any number of threads (_write), then _finish. Files are written under
 * hidden temporary names and renamed only when complete, the index last, so an interrupted
 * write never leaves something that loads as a model. Output matches the Python `safetensors`
 * library: tensors laid out by dtype (widest first) then name, header padded with spaces to a
 * multiple of 8, so every tensor is aligned to its element size. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "glim-dtype.h"
#include "glim-error.h"

G_BEGIN_DECLS

typedef struct _GlimSafetensorsWriter GlimSafetensorsWriter;

/* A writer into the existing folder `dir`. shard_max_bytes 0: one file, model.safetensors.
 * Otherwise tensors are assigned to shards in declaration order by transformers' rule (a new
 * shard starts when the next tensor would push the current one past the limit; a tensor larger
 * than the limit gets a shard of its own); the files are then model-0000K-of-0000N.safetensors
 * plus model.safetensors.index.json, or model.safetensors alone if everything fits in one. */
GlimSafetensorsWriter *glim_safetensors_writer_new          (const char *dir,
                                                             guint64     shard_max_bytes);
void                   glim_safetensors_writer_free         (GlimSafetensorsWriter *w);

/* A "__metadata__" string entry written into every file (e.g. "format" = "pt"). */
void                   glim_safetensors_writer_set_metadata (GlimSafetensorsWriter *w,
                                                             const char            *key,
                                                             const char            *value);

/* Declare a tensor. Errors: duplicate name, too many dimensions, a negative dimension. */
gboolean               glim_safetensors_writer_add          (GlimSafetensorsWriter *w,
                                                             const char            *name,
                                                             GlimDtype              dtype,
                                                             int                    n_dims,
                                                             const int64_t         *shape,
                                                             GError               **error);

/* Assign shards, create the temporary files and write their headers. No _add afterwards. */
gboolean               glim_safetensors_writer_begin        (GlimSafetensorsWriter *w,
                                                             GError               **error);

/* Write bytes [offset, offset + n_bytes) of tensor `name` (little-endian element data).
 * Thread-safe between _begin and _finish; ranges written by different calls must not overlap.
 * Errors: unknown tensor, range outside the tensor, I/O failure (naming the file). */
gboolean               glim_safetensors_writer_write        (GlimSafetensorsWriter *w,
                                                             const char            *name,
                                                             guint64                offset,
                                                             const void            *data,
                                                             gsize                  n_bytes,
                                                             GError               **error);

/* Check that every byte of every tensor was written, flush the files to disk, rename them to
 * their final names and write the index. Freeing a writer that was not finished removes its
 * temporary files. */
gboolean               glim_safetensors_writer_finish       (GlimSafetensorsWriter *w,
                                                             GError               **error);

/* After _begin: number of files and their tensor-data bytes (the index's total_size). */
guint                  glim_safetensors_writer_n_files      (GlimSafetensorsWriter *w);
guint64                glim_safetensors_writer_total_bytes  (GlimSafetensorsWriter *w);
/* Bytes of one declared tensor, or -1 if there is no such tensor. */
gint64                 glim_safetensors_writer_tensor_bytes (GlimSafetensorsWriter *w,
                                                             const char            *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GlimSafetensorsWriter, glim_safetensors_writer_free)

G_END_DECLS
