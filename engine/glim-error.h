/* glim-error.h: the error domain for everything that reads a model folder
 * (config.json, hf_quant_config.json, safetensors files, tensor bindings).
 * SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GLIM_MODEL_ERROR (glim_model_error_quark ())

typedef enum {
  GLIM_MODEL_ERROR_NOT_FOUND,       /* a folder or file does not exist */
  GLIM_MODEL_ERROR_IO,              /* a file exists but cannot be read */
  GLIM_MODEL_ERROR_CORRUPT,         /* a file's contents are malformed (JSON, safetensors header) */
  GLIM_MODEL_ERROR_CONFIG,          /* a config key is missing or has an invalid value */
  GLIM_MODEL_ERROR_UNSUPPORTED,     /* a valid setting this engine does not implement */
  GLIM_MODEL_ERROR_TENSOR_MISSING,  /* a tensor the config implies is absent */
  GLIM_MODEL_ERROR_TENSOR_DTYPE,    /* a tensor has an unexpected element type */
  GLIM_MODEL_ERROR_TENSOR_SHAPE,    /* a tensor has an unexpected shape */
  GLIM_MODEL_ERROR_INVALID_ARGUMENT,/* a caller-supplied value is out of range (token id, context) */
} GlimModelError;

GQuark glim_model_error_quark (void);

G_END_DECLS
