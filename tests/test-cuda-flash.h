/* test-cuda-flash.h: the prefill flash-attention kernel test of the test-cuda program.
 * SPDX-License-Identifier: MIT */
#pragma once

void test_cuda_flash_register (void);
