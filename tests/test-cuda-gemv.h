/* test-cuda-gemv.h: the GEMV kernel test of the test-cuda program.
 * SPDX-License-Identifier: MIT */
#pragma once

void test_cuda_gemv_register (void);
