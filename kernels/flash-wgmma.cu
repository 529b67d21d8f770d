/* flash-wgmma.cu: flash-attn.cu's causal flash attention on Hopper's warpgroup MMA
 * (wgmma.mma_async): built for sm_90a alone, taken by gk_flash_attn on compute capability 9.0
 * where the dims allow it; the mma.sync kernel runs everywhere else. Arguments, operand scaling
 * (f16, each scaled into range by a power of two), the flash state across key blocks and the
 * softmax are flash-attn.cu's (shared in flash-common.cuh); what differs is how the products are
 * made. A CTA of two warpgroups takes 128 queries of one head, a warpgroup 64; per tile of 64
 * keys (cp.async, double-buffered):
 *   S [64, 64] = Q . K^T    P / 16 wgmma m64n64k16, Q and K from shared memory
 *   softmax of S in the registers, as flash-attn.cu
 *   O [64, P] += P . V      4 wgmma m64nPk16, P from the registers, V from shared memory
 * No ldmatrix, and a warpgroup's products run while the other's softmax does.
 * Shared memory is in wgmma's 128-byte swizzle: a [rows, P] f16 tile is P / 64 blocks of
 * [rows, 64], a row 128 bytes whose 16-byte chunk c sits at c ^ (row % 8), each block on a
 * 1,024-byte boundary. Q, K and V are K-major for their products except V, read N-major (its
 * dims are the product's N), from the same layout.
 * SPDX-License-Identifier: MIT */
#include "flash-common.cuh"

#define FW_BM 128                     /* queries per CTA: two warpgroups of 64 */
#define FW_BN 64                      /* keys per tile */

/* bytes of shared memory: Q, two stages of K and V, and slack to align to 1,024 */
static size_t
fw_smem (int P)
{
  return 1024 + (size_t) FW_BM * P * 2 + (size_t) 2 * 2 * FW_BN * P * 2;
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)

#define FW_ACC32 "{" \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31" \
  "}"
#define FW_ACC64 "{" \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63" \
  "}"
#define FW_ACC128 "{" \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127" \
  "}"

/* "+f" operands of n-tiles j .. of an accumulator [tiles][4] */
#define FW_T(d, j) "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
#define FW_T4(d, j) FW_T (d, j), FW_T (d, j + 1), FW_T (d, j + 2), FW_T (d, j + 3)
#define FW_T8(d, j) FW_T4 (d, j), FW_T4 (d, j + 4)
#define FW_T16(d, j) FW_T8 (d, j), FW_T8 (d, j + 8)
#define FW_T32(d, j) FW_T16 (d, j), FW_T16 (d, j + 16)

/* element offset of (row, dim) in a swizzled [rows, P] tile */
__device__ __forceinline__ int
fw_at (int rows, int r, int d)
{
  return (d >> 6) * rows * 64 + r * 64 + ((((d >> 3) & 7) ^ (r & 7)) << 3) + (d & 7);
}

/* a shared-memory matrix descriptor, 128-byte swizzle: start, leading and stride byte offsets */
__device__ __forceinline__ uint64_t
fw_desc (const void *p, uint32_t lbo, uint32_t sbo)
{
  uint32_t addr = smem_addr (p);
  return (uint64_t) ((addr & 0x3ffffu) >> 4) | (uint64_t) ((lbo >> 4) & 0x3fffu) << 16 |
         (uint64_t) ((sbo >> 4) & 0x3fffu) << 32 | (uint64_t) 1 << 62;
}

__device__ __forceinline__ void
fw_fence (void)
{
  asm volatile ("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void
fw_commit (void)
{
  asm volatile ("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

/* until at most N committed groups of this warpgroup's products are pending */
template <int N>
__device__ __forceinline__ void
fw_wait (void)
{
  asm volatile ("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

/* the generic proxy's shared-memory writes (cp.async, stores) made visible to wgmma */
__device__ __forceinline__ void
fw_fence_smem (void)
{
  asm volatile ("fence.proxy.async.shared::cta;\n" ::: "memory");
}

/* d (+)= A . B, m64n64k16, A and B K-major in shared memory; acc 0 overwrites d */
__device__ __forceinline__ void
fw_mma_ss64 (float (&d)[8][4], uint64_t da, uint64_t db, int acc)
{
  asm volatile ("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " FW_ACC32
                ", %32, %33, p, 1, 1, 0, 0;\n}\n"
                : FW_T8 (d, 0)
                : "l"(da), "l"(db), "r"(acc));
}

/* d += A . B, m64nNk16 (N = 8 NT), A from registers, B N-major in shared memory */
template <int NT>
__device__ __forceinline__ void fw_mma_rs (float (&d)[NT][4], const uint32_t (&a)[4], uint64_t db);

template <>
__device__ __forceinline__ void
fw_mma_rs<8> (float (&d)[8][4], const uint32_t (&a)[4], uint64_t db)
{
  asm volatile ("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " FW_ACC32
                ", {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                : FW_T8 (d, 0)
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

template <>
__device__ __forceinline__ void
fw_mma_rs<16> (float (&d)[16][4], const uint32_t (&a)[4], uint64_t db)
{
  asm volatile ("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " FW_ACC64
                ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                : FW_T16 (d, 0)
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

template <>
__device__ __forceinline__ void
fw_mma_rs<32> (float (&d)[32][4], const uint32_t (&a)[4], uint64_t db)
{
  asm volatile ("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
                "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 " FW_ACC128
                ", {%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"
                : FW_T32 (d, 0)
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

#endif

/* grid (H, ceil(T / 128)), 256 threads, fw_smem (P) bytes; every K/V/Kpe row segment 16-byte
 * aligned and Dn, R, Dv multiples of 8 (gk_flash_attn checks) */
template <int P>
__global__ void __launch_bounds__ (256, 1)
flash_wgmma_kernel (GkFlashAttnArgs a)
{
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int BM = FW_BM, BN = FW_BN, THREADS = 2 * BM;
  constexpr int NT = P / 8, SN = BN / 8, KS = P / 16, CH = P / 8;
  extern __shared__ __align__ (16) unsigned char smem_raw[];
  uint16_t *qs = (uint16_t *) (smem_raw + ((1024 - (smem_addr (smem_raw) & 1023)) & 1023));
  uint16_t *kv = qs + BM * P;                        /* [2 stages][K, V] swizzled [BN, P] */

  const int qt = gridDim.y - 1 - blockIdx.y;         /* the longest (last) query tiles first */
  const int h = blockIdx.x, i0 = qt * BM;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, wg = warp >> 2;
  const int Dn = a.Dn, Dqk = a.Dn + a.R, Dv = a.Dv;
  const int key_lim = a.k0 + a.nk;                   /* this launch's keys end here */
  const int k_end = min (key_lim, a.p0 + min (i0 + BM, a.T));
  const int n_tiles = k_end > a.k0 ? GK_CEIL_DIV (k_end - a.k0, BN) : 0;

  /* The K/V loader's plan, fixed for the launch: a thread copies chunk column c (dims 8 c ..
   * 8 c + 7) of rows r0, r0 + RSTEP, .. of K and of V; RSTEP is a multiple of 8, so the chunk's
   * swizzled place in a row is the same for all of them. A source of NULL is zeros (past the
   * dims); rows past the keys any of the CTA's queries sees are zero-filled too. Tile t's K sits
   * in K stage t & 1, its V in V stage t & 1. */
  constexpr int RSTEP = THREADS / CH, RN = BN / RSTEP;
  const int c = tid % CH, r0 = tid / CH, d0 = 8 * c;
  const uint32_t dst0 = (uint32_t) (((c >> 3) * BN * 64 + r0 * 64 + (((c & 7) ^ (r0 & 7)) << 3)) * 2);
  const uint16_t *ksrc = fa_kv_chunk (a, h, 0, d0, false, true, Dn, Dqk, Dv);
  const uint16_t *vsrc = fa_kv_chunk (a, h, 0, d0, true, true, Dn, Dqk, Dv);
  const int kld = d0 < Dn ? a.ldkv : a.ldpe, vld = a.ldkv;
  const int j_lim = k_end - a.k0;                    /* keys of this launch the CTA needs */
  auto load = [&](int tile, uint16_t *stage, const uint16_t *src, int ld) {
    unsigned char *dst = (unsigned char *) stage + dst0;
    const int j0 = tile * BN + r0;
#pragma unroll
    for (int k = 0; k < RN; k++) {
      const int j = j0 + k * RSTEP;
      /* a zero-filled chunk still names a valid address: the row's own start */
      cp_async16 (dst + k * RSTEP * 128, src != NULL ? src + (size_t) j * ld : a.kn,
                  j < j_lim && src != NULL);
    }
  };
  auto kst = [&](int tile) { return kv + (size_t) (tile & 1) * BN * P; };
  auto vst = [&](int tile) { return kv + (size_t) (2 + (tile & 1)) * BN * P; };

  if (n_tiles > 0) {
    load (0, kst (0), ksrc, kld);
    load (0, vst (0), vsrc, vld);
  }
  cp_async_commit ();
  if (n_tiles > 1)
    load (1, kst (1), ksrc, kld);
  cp_async_commit ();

  float qinv[2], fr[2], vsc;
  fa_stage_q<P> (a, h, i0, warp * 16, Dqk, qinv,
                 [&](int r, int d, uint16_t x) { qs[fw_at (BM, r, d)] = x; });
  fa_kv_scales (a, qinv, vsc, fr);
  const int row0 = i0 + warp * 16 + (lane >> 2);
  float o[NT][4], m_r[2], l_r[2];
  fa_state_in<NT> (a, h, row0, Dv, vsc, o, m_r, l_r);

  const int qpos0 = a.p0 + row0;
  const int wfirst = a.p0 + i0 + warp * 16;          /* this warp's first row */
  /* this warpgroup's 64 rows end at absolute position wg_last; rows past T compute nothing.
   * A tile wholly past them leaves their state as it is: skipped, warpgroup-uniform (a warp of
   * it past the tile sees every score -inf, changing nothing); once one is, all later are. */
  const int wg_last = a.p0 + i0 + wg * 64 + 63;
  const bool wg_live = i0 + wg * 64 < a.T;
  auto active = [&](int tile) { return tile < n_tiles && wg_live && a.k0 + tile * BN <= wg_last; };
  const uint64_t dq = fw_desc (qs + wg * 64 * 64, 16, 1024);

  /* S = Q . K^T of a tile into s, issued and committed (not waited for). A k-step of 16 dims is
   * 32 bytes into a 128-byte row, 4 of them a block of 64 dims: the descriptors move by their
   * start address (16-byte units). */
  float s[SN][4];
  auto s_product = [&](int tile) {
    const uint64_t dk = fw_desc (kst (tile), 16, 1024);
    fw_fence ();
#pragma unroll
    for (int ks = 0; ks < KS; ks++) {
      const int blk = ks >> 2, off = (ks & 3) * 2;
      fw_mma_ss64 (s, dq + (uint64_t) (blk * BM * 8 + off), dk + (uint64_t) (blk * BN * 8 + off),
                   ks > 0);
    }
    fw_commit ();
  };
  /* the softmax of a tile's scores in s (left as they are: ptxas sinks writes to the registers
   * of a product past the wait for any later product), P packed into pn as the A fragments of
   * P.V; whether O needs corr */
  auto softmax_into = [&](int tile, uint32_t (&pn)[SN / 2][4], float (&corr)[2]) {
    const int kbase = a.k0 + tile * BN;
    int lim[2];
    fa_mask_limits (kbase, qpos0, key_lim, lim);
    auto put = [&](int j, int r, float p0, float p1) {
      pn[j >> 1][((j & 1) << 1) | r] = fa_f16x2 (p0, p1);
    };
    return kbase + BN - 1 > wfirst || kbase + BN > key_lim
             ? fa_softmax_tile<SN, true> (s, m_r, l_r, corr, fr, lim, put)
             : fa_softmax_tile<SN, false> (s, m_r, l_r, corr, fr, lim, put);
  };
#pragma unroll
  for (int j = 0; j < SN; j++)
#pragma unroll
    for (int e = 0; e < 4; e++)
      s[j][e] = 0.0f;

  /* Software-pipelined by one tile: while tile t's P.V runs, tile t + 1's S has been made and its
   * softmax runs; O is rescaled for t + 1 only once P.V of t is in. P of tile t waits in pa. */
  uint32_t pa[SN / 2][4], pb[SN / 2][4];
  cp_async_wait<1> ();
  fw_fence_smem ();
  __syncthreads ();                                  /* Q, K and V of tile 0 landed */
  if (active (0)) {
    float corr[2];
    s_product (0);
    fw_wait<0> ();
    if (softmax_into (0, pa, corr))
      fa_rescale<NT> (o, corr);
  }
  /* One tile's step: P of tile t waits in pc, tile t + 1's goes to pn. Two buffers taking
   * turns (the loop runs two steps a turn), not one copied: ptxas gives a copy's source and
   * destination the same registers, so the softmax would write P.V's operand while it runs. */
  auto step = [&](int t, const uint32_t (&pc)[SN / 2][4], uint32_t (&pn)[SN / 2][4]) {
    cp_async_wait<0> ();
    fw_fence_smem ();
    /* K of t + 1 and V of t landed; every warpgroup is done with K of t (its S was waited for)
     * and V of t - 1: their stages take K of t + 2 and V of t + 1 */
    __syncthreads ();
    if (t + 2 < n_tiles)
      load (t + 2, kst (t + 2), ksrc, kld);
    if (t + 1 < n_tiles)
      load (t + 1, vst (t + 1), vsrc, vld);
    cp_async_commit ();
    if (!active (t))
      return;
    /* O += P . V of tile t: k-steps of 16 keys (16 rows of 128 bytes into V's blocks); N runs
     * over the dims' blocks of 64 (leading offset BN rows) */
    const uint64_t dv = fw_desc (vst (t), BN * 128, 1024);
    auto pv_product = [&]() {
      fw_fence ();
#pragma unroll
      for (int kk = 0; kk < SN / 2; kk++)
        fw_mma_rs<NT> (o, pc[kk], dv + (uint64_t) (kk * 16 * 8));
      fw_commit ();
    };
    /* each path straight, so that ptxas sees which group wait<1> retires (else it serialises
     * every wgmma) */
    if (active (t + 1)) {
      float corr[2];
      s_product (t + 1);
      pv_product ();
      fw_wait<1> ();                                 /* S of t + 1 is in, P.V of t may not be */
      const bool grow = softmax_into (t + 1, pn, corr);
      fw_wait<0> ();
      if (grow)
        fa_rescale<NT> (o, corr);
    } else {
      pv_product ();
      fw_wait<0> ();
    }
  };
  for (int t = 0; t < n_tiles; t += 2) {
    step (t, pa, pb);
    if (t + 1 < n_tiles)
      step (t + 1, pb, pa);
  }
  cp_async_wait<0> ();

  fa_state_out<NT> (a, h, row0, Dv, vsc, o, m_r, l_r);
#endif
}

/* whether the kernel for padded head dim P runs on the current device */
template <int P>
static bool
fw_ready (void)
{
  int dev = 0, major = 0, minor = 0;
  cudaFuncAttributes attr;
  if (cudaGetDevice (&dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute (&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
    return false;
  /* sm_90a machine code runs on compute capability 9.0 alone */
  if (major != 9 || minor != 0 || gk_device_smem_optin () < fw_smem (P))
    return false;
  if (cudaFuncGetAttributes (&attr, flash_wgmma_kernel<P>) != cudaSuccess) {
    (void) cudaGetLastError ();
    return false;
  }
  return true;
}

extern "C" int
gk_flash_wgmma_ready (int P)
{
  switch (P) {
  case 64:
    return fw_ready<64> ();
  case 128:
    return fw_ready<128> ();
  case 256:
    return fw_ready<256> ();
  default:
    return 0;
  }
}

template <int P>
static cudaError_t
fw_launch (const GkFlashAttnArgs *a, cudaStream_t stream)
{
  size_t smem = fw_smem (P);
  cudaError_t e = cudaFuncSetAttribute (flash_wgmma_kernel<P>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid (a->H, GK_CEIL_DIV (a->T, FW_BM));
  flash_wgmma_kernel<P><<<grid, 2 * FW_BM, smem, stream>>> (*a);
  return gk_check_launch ();
}

extern "C" cudaError_t
gk_flash_wgmma (const GkFlashAttnArgs *a, int P, cudaStream_t stream)
{
  switch (P) {
  case 64:
    return fw_launch<64> (a, stream);
  case 128:
    return fw_launch<128> (a, stream);
  case 256:
    return fw_launch<256> (a, stream);
  default:
    return cudaErrorInvalidValue;
  }
}
