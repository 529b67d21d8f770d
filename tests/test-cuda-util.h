/* test-cuda-util.h: what several CUDA test files ask of the device.
 * SPDX-License-Identifier: MIT */
#pragma once

#include <cuda_runtime.h>

/* the current device's compute capability as 10 major + minor (0 if it cannot be asked): the
 * sm_90a (wgmma) kernels run on 90 alone */
static inline int
test_cuda_cc (void)
{
  int dev = 0, major = 0, minor = 0;
  if (cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
    return 0;
  return 10 * major + minor;
}
