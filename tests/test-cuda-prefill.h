/* test-cuda-prefill.h: the prefill kernel tests of the test-cuda program (bf16 weights and
 * activations for the GEMMs, MoE grouping).
 * SPDX-License-Identifier: MIT */
#pragma once

void test_cuda_prefill_register (void);
