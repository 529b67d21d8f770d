/* tp.cu: tensor-parallel helpers: a one-shot all-reduce over peer-to-peer memory for
 * decode-sized messages, and the value behind a rank-local argmax (the distributed argmax).
 * SPDX-License-Identifier: MIT
 * Architectures: sm_80, 86, 89, 90 (16-byte volatile loads/stores, %globaltimer; no multicast).
 * CPU reference: engine/cpu/cpu-forward.c all_reduce (the sum in rank order).
 *
 * One-shot all-reduce with flags inside the data (NCCL's "LL" idea). Call e (a counter every
 * block keeps in device memory, epoch[b], so a captured graph replays correctly) moves the
 * message in lines of two floats; a line is 16 bytes {x0, e, x1, e}, written with one 16-byte
 * store, so the flag travels in the same 8-byte word as each value and no fence is needed:
 *   1. push: every thread stores its lines of this rank's x straight into every peer's exchange
 *      buffer (slot [parity e & 1][this rank]) over NVLink: posted writes, nothing waited on;
 *   2. pull: it polls the same lines of every peer's slot in its own (local) buffer until both
 *      flags read e, then x[i] = p_0[i] + p_1[i] + ... in rank order (its own partial from x).
 * The old kernel instead copied x into its own buffer, fenced at system scope, released a flag,
 * waited for the peers' flags, then read the partials across NVLink: three NVLink latencies and
 * two system fences per call; this one costs one one-way NVLink latency.
 * Two buffers are enough: a rank writes parity p again at call e + 2 only after it received a
 * peer's call e + 1 lines, which that peer writes only after its kernel for call e (its reads
 * of parity p) has finished (stream order). Stale lines carry an older e, so they never pass.
 * Every call launches all GK_ALLREDUCE_BLOCKS blocks (each bumps its counter), so the counters
 * of all blocks and all ranks stay equal whatever n is. e is 32-bit: a line last written exactly
 * 2^32 calls earlier would pass (about 500 days of decode at 94 calls per 4.5 ms step).
 * A wait that lasts more than GK_ALLREDUCE_TIMEOUT_NS gives up (a peer died): the result is then
 * wrong but the GPU is not hung; the engine's tests catch wrong results. */
#include "common.cuh"

#define GK_ALLREDUCE_TIMEOUT_NS 10000000000ull   /* 10 s */
#define GK_ALLREDUCE_THREADS 128

/* ---- device helpers ---- */

__device__ __forceinline__ uint4
ld_volatile_v4 (const uint4 *p)
{
  uint4 v;
  asm volatile ("ld.volatile.global.v4.u32 {%0, %1, %2, %3}, [%4];"
                : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
  return v;
}

__device__ __forceinline__ void
st_volatile_v4 (uint4 *p, uint4 v)
{
  asm volatile ("st.volatile.global.v4.u32 [%0], {%1, %2, %3, %4};"
                : : "l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}

__device__ __forceinline__ uint64_t
global_ns (void)
{
  uint64_t t;
  asm volatile ("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

/* lines per slot for messages of up to n_max floats */
__host__ __device__ __forceinline__ size_t
allreduce_lines (int n_max)
{
  return (size_t) (n_max + 1) / 2;
}

/* ---- kernels ---- */

/* __grid_constant__: a.bufs[q] with a run-time q is read from parameter space, no local copy */
__global__ void __launch_bounds__ (GK_ALLREDUCE_THREADS)
allreduce_one_shot_kernel (const __grid_constant__ GkAllreduceArgs a)
{
  __shared__ uint32_t s_epoch;
  if (threadIdx.x == 0)
    s_epoch = a.epoch[blockIdx.x] + 1u;
  __syncthreads ();
  const uint32_t e = s_epoch;
  const size_t lines = allreduce_lines (a.n_max);
  const size_t par = (size_t) (e & 1u) * GK_TP_MAX * lines;
  const int used = (a.n + 1) / 2;
  const int first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;

  /* 1. push this rank's lines to every peer */
  for (int i = first; i < used; i += stride) {
    float v0 = a.x[2 * i], v1 = 2 * i + 1 < a.n ? a.x[2 * i + 1] : 0.0f;
    uint4 line = make_uint4 (__float_as_uint (v0), e, __float_as_uint (v1), e);
    for (int q = 0; q < a.tp; q++)
      if (q != a.rank)
        st_volatile_v4 ((uint4 *) a.bufs[q] + par + (size_t) a.rank * lines + i, line);
  }

  /* 2. pull every peer's lines from the local buffer, sum in rank order */
  const uint4 *inbox = (const uint4 *) a.bufs[a.rank] + par;
  uint64_t t0 = 0;
  bool dead = false;
  for (int i = first; i < used; i += stride) {
    const bool two = 2 * i + 1 < a.n;
    const float m0 = a.x[2 * i], m1 = two ? a.x[2 * i + 1] : 0.0f;
    float s0 = 0.0f, s1 = 0.0f;
    for (int q = 0; q < a.tp; q++) {
      float r0 = m0, r1 = m1;
      if (q != a.rank) {
        const uint4 *p = inbox + (size_t) q * lines + i;
        uint4 l = ld_volatile_v4 (p);
        while ((l.y != e || l.w != e) && !dead) {
          uint64_t now = global_ns ();
          if (t0 == 0)
            t0 = now;
          else if (now - t0 > GK_ALLREDUCE_TIMEOUT_NS)
            dead = true;
          l = ld_volatile_v4 (p);
        }
        r0 = __uint_as_float (l.x);
        r1 = __uint_as_float (l.z);
      }
      /* out = p_0, out += p_1, ...: the CPU's order and its bits (-0.0 stays -0.0 at tp 1) */
      s0 = q == 0 ? r0 : s0 + r0;
      s1 = q == 0 ? r1 : s1 + r1;
    }
    a.x[2 * i] = s0;
    if (two)
      a.x[2 * i + 1] = s1;
  }
  if (threadIdx.x == 0)
    a.epoch[blockIdx.x] = e;
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
  return (size_t) GK_ALLREDUCE_BLOCKS * sizeof (uint32_t);
}

extern "C" size_t
gk_allreduce_buffer_bytes (int n_max)
{
  return n_max < 1 ? 0 : (size_t) 2 * GK_TP_MAX * allreduce_lines (n_max) * sizeof (uint4);
}

extern "C" cudaError_t
gk_allreduce_p2p (const GkAllreduceArgs *args, cudaStream_t stream)
{
  if (args->n <= 0)
    return cudaSuccess;
  if (args->n > args->n_max || args->tp < 1 || args->tp > GK_TP_MAX || args->rank < 0 ||
      args->rank >= args->tp)
    return cudaErrorInvalidValue;
  allreduce_one_shot_kernel<<<GK_ALLREDUCE_BLOCKS, GK_ALLREDUCE_THREADS, 0, stream>>> (*args);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_take_f32 (float *out, const float *v, const int32_t *idx, cudaStream_t stream)
{
  take_f32_kernel<<<1, 1, 0, stream>>> (out, v, idx);
  return gk_check_launch ();
}
