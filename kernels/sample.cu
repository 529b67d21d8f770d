/* sample.cu: sampling one token from logits on the GPU: temperature, top-k, top-p, min-p, then
 * one uniform draw; only the token id is written out.
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90.
 * CPU reference: engine/glim-sampler.c glim_sampler_sample, step for step: candidates sorted by
 * scaled logit (ties: lower id first), top-k cut, p = exp(s - max) (double, stored as float)
 * normalised by their double sum, the shortest prefix whose double cumulative sum reaches top_p,
 * the prefix with p >= min_p * p[0], then u * total against the running sum. The uniform is
 * draw number `step` of SplitMix64 seeded with `seed` (glim_splitmix64), so on the same logits
 * the CPU and GPU pick the same token unless u falls within double rounding of a boundary.
 * Cost: one radix sort of V (key, id) pairs (CUB) and one 1024-thread block over the kept
 * prefix (twice over it for top-p). */
#include <cub/device/device_radix_sort.cuh>

#include <limits.h>

#include "common.cuh"

#define SAMPLE_THREADS 1024

/* ---- device helpers ---- */

/* float -> uint32 whose ascending order is the descending order of the floats */
__device__ __forceinline__ uint32_t
desc_key (float f)
{
  uint32_t u = f == 0.0f ? 0u : __float_as_uint (f);      /* -0 ties with +0, as on the CPU */
  uint32_t ord = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ord;
}

__device__ __forceinline__ float
key_value (uint32_t key)
{
  uint32_t ord = ~key;
  return __uint_as_float ((ord & 0x80000000u) ? (ord & 0x7fffffffu) : ~ord);
}

/* Sum over the block; every thread gets it. Fixed order: deterministic. */
__device__ __forceinline__ double
block_sum_d (double v, double *red)
{
  return gk_block_reduce<double, gk_warp_sum<double>> (v, red, 0.0);
}

/* Exclusive prefix sum over threads in thread order. */
__device__ double
block_exclusive_scan_d (double v, double *red)
{
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  double incl = v;
  for (int o = 1; o < 32; o <<= 1) {
    double n = __shfl_up_sync (0xffffffffu, incl, o);
    if (lane >= o)
      incl += n;
  }
  __syncthreads ();
  if (lane == 31)
    red[warp] = incl;
  __syncthreads ();
  if (warp == 0) {
    double w = lane < (int) (blockDim.x >> 5) ? red[lane] : 0.0, wi = w;
    for (int o = 1; o < 32; o <<= 1) {
      double n = __shfl_up_sync (0xffffffffu, wi, o);
      if (lane >= o)
        wi += n;
    }
    red[lane] = wi - w;          /* exclusive over warps */
  }
  __syncthreads ();
  return red[warp] + incl - v;
}

__device__ int
block_min_i (int v, int *red)
{
  for (int o = 16; o > 0; o >>= 1)
    v = min (v, __shfl_xor_sync (0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads ();
  if (lane == 0)
    red[warp] = v;
  __syncthreads ();
  v = lane < (int) (blockDim.x >> 5) ? red[lane] : INT_MAX;
  for (int o = 16; o > 0; o >>= 1)
    v = min (v, __shfl_xor_sync (0xffffffffu, v, o));
  return v;
}

/* ---- kernels ---- */

__global__ void
sample_keys_kernel (uint32_t *keys, int32_t *ids, const float *logits, int V, float temperature)
{
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < V) {
    keys[i] = desc_key (logits[i] / temperature);   /* division, as the CPU does */
    ids[i] = i;
  }
}

/* One block: the filters and the draw over the sorted candidates. */
__global__ void __launch_bounds__ (SAMPLE_THREADS)
sample_pick_kernel (int32_t *out, const uint32_t *keys, const int32_t *ids, float *p, int V,
                    int top_k, float top_p, float min_p, double unit)
{
  __shared__ double red[32];
  __shared__ int ired[32];
  int n = (top_k > 0 && top_k < V) ? top_k : V;
  int nt = blockDim.x, t = threadIdx.x;
  /* thread t owns the contiguous candidates [b, e) of [0, n) */
  int b = (int) ((long long) n * t / nt), e = (int) ((long long) n * (t + 1) / nt);
  float top = key_value (keys[0]);

  double sum = 0.0;
  for (int i = b; i < e; i++) {
    float pf = (float) exp ((double) key_value (keys[i]) - (double) top);   /* in double, as the CPU */
    p[i] = pf;
    sum += pf;
  }
  sum = block_sum_d (sum, red);
  for (int i = b; i < e; i++)
    p[i] = (float) ((double) p[i] / sum);
  __syncthreads ();

  int keep = n;
  if (top_p < 1.0f) {
    double local = 0.0;
    for (int i = b; i < e; i++)
      local += p[i];
    double c = block_exclusive_scan_d (local, red);
    int first = INT_MAX;
    for (int i = b; i < e; i++) {
      c += p[i];
      if (c >= (double) top_p) {
        first = i;
        break;
      }
    }
    first = block_min_i (first, ired);
    if (first != INT_MAX)
      keep = first + 1;
  }
  if (min_p > 0.0f) {
    float floor_p = min_p * p[0];
    /* p is non-increasing along the sorted order, so the kept set is a prefix */
    int cnt = 0;
    for (int i = max (b, 1); i < min (e, keep); i++)
      cnt += p[i] >= floor_p;
    cnt = (int) block_sum_d ((double) cnt, red);
    keep = 1 + cnt;
  }

  double local = 0.0;
  for (int i = b; i < min (e, keep); i++)
    local += p[i];
  double total = block_sum_d (local, red);
  double u = unit * total;
  double c = block_exclusive_scan_d (local, red);
  int first = INT_MAX;
  for (int i = b; i < min (e, keep); i++) {
    c += p[i];
    if (u < c) {
      first = i;
      break;
    }
  }
  first = block_min_i (first, ired);
  if (t == 0)
    out[0] = ids[first != INT_MAX ? first : keep - 1];
}

/* ---- launchers ---- */

/* scratch layout: keys, ids (in and out of the sort), p, then CUB's temporary storage */
static size_t
align256 (size_t n)
{
  return (n + 255) & ~(size_t) 255;
}

static size_t
cub_bytes (int V)
{
  size_t bytes = 0;
  cub::DeviceRadixSort::SortPairs (nullptr, bytes, (const uint32_t *) nullptr, (uint32_t *) nullptr,
                                   (const int32_t *) nullptr, (int32_t *) nullptr, V);
  return bytes;
}

extern "C" size_t
gk_sample_scratch_bytes (int V)
{
  return 5 * align256 ((size_t) V * 4) + align256 (cub_bytes (V));
}

extern "C" uint64_t
gk_sample_draw (uint64_t seed, uint64_t step)
{
  uint64_t z = seed + (step + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

extern "C" cudaError_t
gk_sample (const GkSampleArgs *a, cudaStream_t stream)
{
  if (a->V <= 0 || !(a->temperature > 0.0f))
    return cudaErrorInvalidValue;
  char *s = (char *) a->scratch;
  size_t row = align256 ((size_t) a->V * 4);
  uint32_t *keys_in = (uint32_t *) s, *keys = (uint32_t *) (s + row);
  int32_t *ids_in = (int32_t *) (s + 2 * row), *ids = (int32_t *) (s + 3 * row);
  float *p = (float *) (s + 4 * row);
  void *temp = s + 5 * row;
  size_t temp_bytes = cub_bytes (a->V);

  sample_keys_kernel<<<GK_CEIL_DIV (a->V, 256), 256, 0, stream>>> (keys_in, ids_in, a->logits,
                                                                    a->V, a->temperature);
  cudaError_t e = cub::DeviceRadixSort::SortPairs (temp, temp_bytes, keys_in, keys, ids_in, ids,
                                                   a->V, 0, 32, stream);
  if (e != cudaSuccess)
    return e;
  double unit = (double) (gk_sample_draw (a->seed, a->step) >> 11) * (1.0 / 9007199254740992.0);
  sample_pick_kernel<<<1, SAMPLE_THREADS, 0, stream>>> (a->out, keys, ids, p, a->V, a->top_k,
                                                        a->top_p, a->min_p, unit);
  return gk_check_launch ();
}
