/* glim.h: the Glimmer engine's public API, the only header front ends include.
 * SPDX-License-Identifier: MIT
 *
 * Load a model folder (glim-model.h), open an inference context on a backend (glim-context.h),
 * and pick tokens from its logits (glim-sampler.h); run a conversation turn by turn
 * (glim-session.h) with tools the model may call (glim-tools.h). */
#pragma once

#include "glim-error.h"
#include "glim-dtype.h"
#include "glim-safetensors.h"
#include "glim-safetensors-writer.h"
#include "glim-config.h"
#include "glim-model.h"
#include "glim-context.h"
#include "glim-sampler.h"
#include "glim-shard.h"
#include "glim-quantize.h"
#include "glim-synth.h"
#include "glim-chat.h"
#include "glim-tokenizer.h"
#include "glim-parser.h"
#include "glim-session.h"
#include "glim-tools.h"
