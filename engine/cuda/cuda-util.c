/* cuda-util.c: CUDA error mapping and device queries.
 * SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "glimmer-cuda"

#include "cuda-util.h"

G_DEFINE_QUARK (glim-cuda-error-quark, glim_cuda_error)

gboolean
glim_cuda_set_error (GError **error, cudaError_t err, const char *expr, const char *func,
                     const char *file, int line)
{
  int code = GLIM_CUDA_ERROR_FAILED;
  if (err == cudaErrorMemoryAllocation)
    code = GLIM_CUDA_ERROR_OUT_OF_MEMORY;
  else if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
           err == cudaErrorInvalidDevice)
    code = GLIM_CUDA_ERROR_UNAVAILABLE;
  cudaGetLastError ();     /* clear a sticky launch error so the message stays about this call */
  if (code == GLIM_CUDA_ERROR_OUT_OF_MEMORY)
    g_set_error (error, GLIM_CUDA_ERROR, code, "out of GPU memory (%s)", expr);
  else
    g_set_error (error, GLIM_CUDA_ERROR, code, "CUDA error: %s (%s) in %s at %s:%d",
                 cudaGetErrorString (err), expr, func, file, line);
  return FALSE;
}

char *
glim_cuda_describe_device (int device, GError **error)
{
  int n = 0, driver = 0, runtime = 0;
  cudaError_t err = cudaGetDeviceCount (&n);
  if (err != cudaSuccess || n == 0) {
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNAVAILABLE, "no usable CUDA device: %s",
                 err != cudaSuccess ? cudaGetErrorString (err) : "none found");
    cudaGetLastError ();
    return NULL;
  }
  if (device < 0 || device >= n) {
    g_set_error (error, GLIM_CUDA_ERROR, GLIM_CUDA_ERROR_UNAVAILABLE,
                 "CUDA device %d does not exist (%d found)", device, n);
    return NULL;
  }
  struct cudaDeviceProp p;
  err = cudaGetDeviceProperties (&p, device);
  if (err != cudaSuccess) {
    glim_cuda_set_error (error, err, "cudaGetDeviceProperties", G_STRFUNC, __FILE__, __LINE__);
    return NULL;
  }
  cudaDriverGetVersion (&driver);
  cudaRuntimeGetVersion (&runtime);
  return g_strdup_printf ("%s (sm_%d%d, %d SMs, %.1f GiB), driver API %d.%d, runtime %d.%d", p.name,
                          p.major, p.minor, p.multiProcessorCount,
                          p.totalGlobalMem / (1024.0 * 1024 * 1024), driver / 1000,
                          (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10);
}

double
glim_cuda_copy_bandwidth (int device, GError **error)
{
  const size_t bytes = (size_t) 1 << 30;
  void *a = NULL, *b = NULL;
  cudaEvent_t e0 = NULL, e1 = NULL;
  double bw = 0.0;
  if (cudaSetDevice (device) != cudaSuccess || cudaMalloc (&a, bytes) != cudaSuccess ||
      cudaMalloc (&b, bytes) != cudaSuccess || cudaEventCreate (&e0) != cudaSuccess ||
      cudaEventCreate (&e1) != cudaSuccess) {
    glim_cuda_set_error (error, cudaGetLastError (), "copy bandwidth setup", G_STRFUNC, __FILE__,
                         __LINE__);
    goto out;
  }
  cudaMemset (a, 1, bytes);
  for (int i = 0; i < 3; i++)
    cudaMemcpy (b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord (e0, 0);
  const int reps = 10;
  for (int i = 0; i < reps; i++)
    cudaMemcpyAsync (i & 1 ? a : b, i & 1 ? b : a, bytes, cudaMemcpyDeviceToDevice, 0);
  cudaEventRecord (e1, 0);
  cudaEventSynchronize (e1);
  float ms = 0;
  cudaEventElapsedTime (&ms, e0, e1);
  bw = 2.0 * bytes * reps / (ms / 1e3);
out:
  if (e0) cudaEventDestroy (e0);
  if (e1) cudaEventDestroy (e1);
  cudaFree (a);
  cudaFree (b);
  return bw;
}
