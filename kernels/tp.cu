/* tp.cu: tensor-parallel helpers: a one-shot all-reduce over peer-to-peer memory for
 * decode-sized messages, and the value behind a rank-local argmax (the distributed argmax).
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (ld.acquire / st.release at system scope need sm_70+).
 * CPU reference: engine/cpu/cpu-forward.c all_reduce (the sum in rank order).
 *
 * One-shot all-reduce, per block b of GK_ALLREDUCE_BLOCKS (each owns a contiguous chunk):
 *   1. copy this rank's chunk of x into its exchange buffer (parity e & 1 of call e);
 *   2. tell every rank (itself included) "block b of call e is written": a release store of e
 *      into inbox[peer][rank][b];
 *   3. wait until inbox[rank][q][b] >= e for every rank q (acquire loads);
 *   4. x[i] = buf_0[i] + buf_1[i] + ... in rank order, read from the peers' buffers.
 * The call counter e lives in device memory (epoch[b]), so a captured graph replays correctly.
 * Two buffers are enough: a rank writes parity p again at call e + 2 only after every peer has
 * signalled call e + 1, which each starts after finishing its reads of call e (stream order).
 * A wait that lasts more than GK_ALLREDUCE_TIMEOUT_NS gives up (a peer died): the result is then
 * wrong but the GPU is not hung; the engine's tests catch wrong results. */
#include "common.cuh"

#define GK_ALLREDUCE_TIMEOUT_NS 10000000000ull   /* 10 s */

/* ---- device helpers ---- */

__device__ __forceinline__ uint32_t
ld_acquire_sys (const uint32_t *p)
{
  uint32_t v;
  asm volatile ("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

__device__ __forceinline__ void
st_release_sys (uint32_t *p, uint32_t v)
{
  asm volatile ("st.release.sys.global.u32 [%1], %0;" : : "r"(v), "l"(p) : "memory");
}

__device__ __forceinline__ uint64_t
global_ns (void)
{
  uint64_t t;
  asm volatile ("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

/* ---- kernels ---- */

__global__ void __launch_bounds__ (256)
allreduce_one_shot_kernel (GkAllreduceArgs a)
{
  const int b = blockIdx.x, nb = gridDim.x;
  __shared__ uint32_t s_epoch;
  if (threadIdx.x == 0)
    s_epoch = a.epoch[b] + 1u;
  __syncthreads ();
  const uint32_t e = s_epoch;
  const size_t par = (size_t) (e & 1u) * (size_t) a.n_max;
  const int chunk = GK_CEIL_DIV (a.n, nb);
  const int lo = b * chunk, hi = min (a.n, lo + chunk);

  float *mine = a.bufs[a.rank] + par;
  for (int i = lo + threadIdx.x; i < hi; i += blockDim.x)
    mine[i] = a.x[i];
  __syncthreads ();
  if (threadIdx.x < a.tp) {
    int peer = threadIdx.x;
    __threadfence_system ();
    st_release_sys (a.inbox[peer] + (size_t) a.rank * GK_ALLREDUCE_BLOCKS + b, e);
    const uint32_t *flag = a.inbox[a.rank] + (size_t) peer * GK_ALLREDUCE_BLOCKS + b;
    uint64_t t0 = global_ns ();
    while ((int32_t) (ld_acquire_sys (flag) - e) < 0)
      if (global_ns () - t0 > GK_ALLREDUCE_TIMEOUT_NS)
        break;
  }
  __syncthreads ();
  for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    float s = 0.0f;
    for (int q = 0; q < a.tp; q++)
      s += __ldcv (a.bufs[q] + par + i);
    a.x[i] = s;
  }
  if (threadIdx.x == 0)
    a.epoch[b] = e;
}

__global__ void
take_f32_kernel (float *out, const float *v, const int32_t *idx)
{
  out[0] = v[idx[0]];
}

/* ---- launchers ---- */

extern "C" size_t
gk_allreduce_flag_bytes (void)
{
  return (size_t) (GK_TP_MAX + 1) * GK_ALLREDUCE_BLOCKS * sizeof (uint32_t);
}

extern "C" cudaError_t
gk_allreduce_p2p (const GkAllreduceArgs *args, cudaStream_t stream)
{
  if (args->n <= 0)
    return cudaSuccess;
  if (args->n > args->n_max || args->tp < 1 || args->tp > GK_TP_MAX || args->rank < 0 ||
      args->rank >= args->tp)
    return cudaErrorInvalidValue;
  allreduce_one_shot_kernel<<<GK_ALLREDUCE_BLOCKS, 256, 0, stream>>> (*args);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_take_f32 (float *out, const float *v, const int32_t *idx, cudaStream_t stream)
{
  take_f32_kernel<<<1, 1, 0, stream>>> (out, v, idx);
  return gk_check_launch ();
}
