/* flash-wgmma.cu: flash-attn.cu's causal flash attention on Hopper's warpgroup MMA
 * (wgmma.mma_async): built for sm_90a alone, taken by gk_flash_attn on compute capability 9.0
 * where the dims allow it; the mma.sync kernel runs everywhere else. Arguments, operand scaling
 * (f16, each scaled into range by a power of two), the flash state across key blocks and the
 * softmax are flash-attn.cu's (shared in flash-common.cuh); what differs is how the products are
 * made. A CTA of two warpgroups takes 128 queries of one head, a warpgroup 64; per tile of 64
 * keys (K and V each double-buffered; copied by the tensor memory accelerator where the dims
 * are whole 64-wide boxes, else by cp.async):
 *   S [64, 64] = Q . K^T    P / 16 wgmma m64n64k16, Q and K from shared memory
 *   softmax of S in the registers, as flash-attn.cu
 *   O [64, P] += P . V      4 wgmma m64nPk16, P from the registers, V from shared memory
 * No ldmatrix; P.V of tile t runs while the softmax of tile t + 1 does (and the other
 * warpgroup's work fills the gaps). Measured step by step in docs/PERFORMANCE.md.
 * Shared memory is in wgmma's 128-byte swizzle: a [rows, P] f16 tile is P / 64 blocks of
 * [rows, 64], a row 128 bytes whose 16-byte chunk c sits at c ^ (row % 8), each block on a
 * 1,024-byte boundary. Q, K and V are K-major for their products except V, read N-major (its
 * dims are the product's N), from the same layout.
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "flash-common.cuh"
#include "wgmma.cuh"

#define FW_BM 128                     /* queries per CTA: two warpgroups of 64 */
#define FW_BN 64                      /* keys per tile */

/* bytes of shared memory: Q, two stages of K and V, 4 mbarriers, and slack to align to 1,024 */
static size_t
fw_smem (int P)
{
  return 1024 + (size_t) FW_BM * P * 2 + (size_t) 2 * 2 * FW_BN * P * 2 + 4 * 8;
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)

/* d (+)= A . B, m64n64k16, A and B K-major in shared memory; acc 0 overwrites d */
__device__ __forceinline__ void
fw_mma_ss64 (float (&d)[8][4], uint64_t da, uint64_t db, int acc)
{
  asm volatile ("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " WG_ACC32
                ", %32, %33, p, 1, 1, 0, 0;\n}\n"
                : WG_T8 (d, 0)
                : "l"(da), "l"(db), "r"(acc));
}

#endif

/* Tensor maps of one launch's K/V rows for the copies by the tensor memory accelerator: boxes of
 * 64 dims x 64 keys, swizzled as the kernel's tiles are; keys past nk read as zeros. */
typedef struct {
  CUtensorMap kn, kpe, v;
} FwMaps;

/* grid (H, ceil(T / 128)), 256 threads, fw_smem (P) bytes; every K/V/Kpe row segment 16-byte
 * aligned and Dn, R, Dv multiples of 8 (gk_flash_attn checks). TMA: Dn, R and Dv are multiples
 * of 64 and maps holds the launch's tensor maps; K and V tiles come by the tensor memory
 * accelerator (thread 0 issues a copy per 64 dims, mbarriers say when they are in). Else each
 * thread copies its share by cp.async. */
template <int P, bool TMA>
__global__ void __launch_bounds__ (256, 1)
flash_wgmma_kernel (GkFlashAttnArgs a, const __grid_constant__ FwMaps maps)
{
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int BM = FW_BM, BN = FW_BN, THREADS = 2 * BM;
  constexpr int NT = P / 8, SN = BN / 8, KS = P / 16, CH = P / 8;
  extern __shared__ __align__ (16) unsigned char smem_raw[];
  uint16_t *qs = (uint16_t *) (smem_raw + ((1024 - (smem_addr (smem_raw) & 1023)) & 1023));
  uint16_t *kv = qs + BM * P;       /* K stages 0, 1, V stages 0, 1: swizzled [BN, P] each */
  uint64_t *bars = (uint64_t *) (kv + 4 * BN * P);  /* TMA: K stages 0, 1, V stages 0, 1 */

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
  const uint32_t dst0 =
    (uint32_t) (((c >> 3) * BN * 64 + r0 * 64 + (((c & 7) ^ (r0 & 7)) << 3)) * 2);
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
      /* a zero-filled chunk still names a valid address (a.kn) */
      cp_async16 (dst + k * RSTEP * 128, src != NULL ? src + (size_t) j * ld : a.kn,
                  j < j_lim && src != NULL);
    }
  };
  auto kst = [&](int tile) { return kv + (size_t) (tile & 1) * BN * P; };
  auto vst = [&](int tile) { return kv + (size_t) (2 + (tile & 1)) * BN * P; };

  /* TMA: K of a tile (Dn / 64 boxes of Kn, R / 64 of Kpe), V (Dv / 64 boxes); dims past them
   * stay zero from the start */
  auto tma_k = [&](int tile) {
    uint64_t *bar = &bars[tile & 1];
    wg_bar_expect (bar, (uint32_t) (Dqk / 64) * BN * 128);
#pragma unroll
    for (int b = 0; b < P / 64; b++)
      if (64 * b < Dqk)
        wg_tma_load (kst (tile) + b * BN * 64, 64 * b < Dn ? &maps.kn : &maps.kpe,
                     64 * b < Dn ? h * a.hkv + 64 * b : 64 * b - Dn, tile * BN, bar);
  };
  auto tma_v = [&](int tile) {
    uint64_t *bar = &bars[2 + (tile & 1)];
    wg_bar_expect (bar, (uint32_t) (Dv / 64) * BN * 128);
#pragma unroll
    for (int b = 0; b < P / 64; b++)
      if (64 * b < Dv)
        wg_tma_load (vst (tile) + b * BN * 64, &maps.v, h * a.hkv + 64 * b, tile * BN, bar);
  };
  /* K of tile t + 2 (into K of t's stage) and V of t + 1 (into V of t - 1's), or with t = -2 the
   * first K and V and the second K */
  auto issue = [&](int kt, int vt) {
    if constexpr (TMA) {
      if (tid == 0) {
        if (kt < n_tiles)
          tma_k (kt);
        if (vt < n_tiles)
          tma_v (vt);
      }
    } else {
      if (kt < n_tiles)
        load (kt, kst (kt), ksrc, kld);
      if (vt < n_tiles)
        load (vt, vst (vt), vsrc, vld);
      cp_async_commit ();
    }
  };
  /* until K of kt and V of vt are in (those past the tiles or unneeded: -1 skips) */
  auto land = [&](int kt, int vt) {
    if constexpr (TMA) {
      if (kt >= 0)
        wg_bar_wait (&bars[kt & 1], (kt >> 1) & 1);
      if (vt >= 0)
        wg_bar_wait (&bars[2 + (vt & 1)], (vt >> 1) & 1);
    }
  };
  if constexpr (TMA) {
    if (tid == 0) {
      for (int i = 0; i < 4; i++)
        wg_bar_init (&bars[i], 1);
      wg_bar_init_fence ();
    }
    /* the dims no box covers, zero in every stage */
    for (int i = tid; i < 2 * BN * (P - Dqk) / 8; i += THREADS) {
      int st = i / (BN * (P - Dqk) / 8), k = i % (BN * (P - Dqk) / 8);
      *(uint4 *) (kst (st) + Dqk * BN + 8 * k) = make_uint4 (0, 0, 0, 0);
    }
    for (int i = tid; i < 2 * BN * (P - Dv) / 8; i += THREADS) {
      int st = i / (BN * (P - Dv) / 8), k = i % (BN * (P - Dv) / 8);
      *(uint4 *) (vst (st) + Dv * BN + 8 * k) = make_uint4 (0, 0, 0, 0);
    }
    __syncthreads ();
  }
  issue (0, 0);
  issue (1, n_tiles);

  float qinv[2], fr[2], vsc;
  fa_stage_q<P> (a, h, i0, warp * 16, Dqk, qinv,
                 [&](int r, int d, uint16_t x) { qs[wg_at (BM, r, d)] = x; });
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
  const uint64_t dq = wg_desc (qs + wg * 64 * 64, 16, 1024);

  /* S = Q . K^T of a tile into s, issued and committed (not waited for). A k-step of 16 dims is
   * 32 bytes into a 128-byte row, 4 of them a block of 64 dims: the descriptors move by their
   * start address (16-byte units). */
  float s[SN][4];
  auto s_product = [&](int tile) {
    const uint64_t dk = wg_desc (kst (tile), 16, 1024);
    wg_fence ();
#pragma unroll
    for (int ks = 0; ks < KS; ks++) {
      const int blk = ks >> 2, off = (ks & 3) * 2;
      fw_mma_ss64 (s, dq + (uint64_t) (blk * BM * 8 + off), dk + (uint64_t) (blk * BN * 8 + off),
                   ks > 0);
    }
    wg_commit ();
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
  if constexpr (!TMA)
    cp_async_wait<1> ();
  wg_fence_smem ();
  __syncthreads ();                                  /* Q (and by cp.async K, V of tile 0) in */
  land (active (0) ? 0 : -1, active (0) ? 0 : -1);
  if (active (0)) {
    float corr[2];
    s_product (0);
    wg_wait<0> ();
    if (softmax_into (0, pa, corr))
      fa_rescale<NT> (o, corr);
  }
  /* One tile's step: P of tile t waits in pc, tile t + 1's goes to pn. Two buffers taking
   * turns (the loop runs two steps a turn), not one copied: ptxas gives a copy's source and
   * destination the same registers, so the softmax would write P.V's operand while it runs. */
  auto step = [&](int t, const uint32_t (&pc)[SN / 2][4], uint32_t (&pn)[SN / 2][4]) {
    if constexpr (!TMA) {
      cp_async_wait<0> ();
      wg_fence_smem ();
    }
    /* every warpgroup is done with K of t (its S was waited for) and V of t - 1: their stages
     * take K of t + 2 and V of t + 1 (by cp.async: K of t + 1 and V of t are in) */
    __syncthreads ();
    issue (t + 2, t + 1);
    if (!active (t))
      return;
    land (active (t + 1) ? t + 1 : -1, t);
    /* O += P . V of tile t: k-steps of 16 keys (16 rows of 128 bytes into V's blocks); N runs
     * over the dims' blocks of 64 (leading offset BN rows) */
    const uint64_t dv = wg_desc (vst (t), BN * 128, 1024);
    auto pv_product = [&]() {
      wg_fence ();
#pragma unroll
      for (int kk = 0; kk < SN / 2; kk++)
        wg_mma_rs_f16<NT, 1> (o, pc[kk], dv + (uint64_t) (kk * 16 * 8));
      wg_commit ();
    };
    /* each path straight, so that ptxas sees which group wait<1> retires (else it serialises
     * every wgmma) */
    if (active (t + 1)) {
      float corr[2];
      s_product (t + 1);
      pv_product ();
      wg_wait<1> ();                                 /* S of t + 1 is in, P.V of t may not be */
      const bool grow = softmax_into (t + 1, pn, corr);
      wg_wait<0> ();
      if (grow)
        fa_rescale<NT> (o, corr);
    } else {
      pv_product ();
      wg_wait<0> ();
    }
  };
  for (int t = 0; t < n_tiles; t += 2) {
    step (t, pa, pb);
    if (t + 1 < n_tiles)
      step (t + 1, pb, pa);
  }
  if constexpr (!TMA)
    cp_async_wait<0> ();

  fa_state_out<NT> (a, h, row0, Dv, vsc, o, m_r, l_r);
#endif
}

/* whether the kernels for padded head dim P run on the current device */
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
  if (cudaFuncGetAttributes (&attr, flash_wgmma_kernel<P, false>) != cudaSuccess ||
      cudaFuncGetAttributes (&attr, flash_wgmma_kernel<P, true>) != cudaSuccess) {
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

/* one map: rows of a 2-d f16 tensor of `inner` elements, `rows` of them `ld` elements apart */
static bool
fw_map (PFN_cuTensorMapEncodeTiled_v12000 encode, CUtensorMap *map, const uint16_t *base,
        int inner, int rows, int ld)
{
  cuuint64_t dim[2] = { (cuuint64_t) inner, (cuuint64_t) rows };
  cuuint64_t stride[1] = { (cuuint64_t) ld * 2 };
  cuuint32_t box[2] = { 64, FW_BN }, step[2] = { 1, 1 };
  return encode (map, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, (void *) base, dim, stride, box, step,
                 CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                 CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) ==
         CUDA_SUCCESS;
}

/* The launch's tensor maps, where its dims are whole boxes: Kn of every head ((H - 1) hkv + Dn
 * values a row), Kpe (R), V ((H - 1) hkv + Dv); nk rows each. FALSE where they do not apply or
 * the driver has no encoder (the cp.async kernel runs then). */
static bool
fw_maps (const GkFlashAttnArgs *a, FwMaps *m)
{
  if (a->Dn % 64 != 0 || a->R % 64 != 0 || a->Dv % 64 != 0 || a->nk <= 0 || a->Dv == 0 ||
      a->Dn + a->R == 0)
    return false;
  PFN_cuTensorMapEncodeTiled_v12000 encode = wg_tensor_map_encoder ();
  if (encode == NULL)
    return false;
  memset (m, 0, sizeof *m);
  int span = (a->H - 1) * a->hkv;
  return (a->Dn == 0 || fw_map (encode, &m->kn, a->kn, span + a->Dn, a->nk, a->ldkv)) &&
         (a->R == 0 || fw_map (encode, &m->kpe, a->kpe, a->R, a->nk, a->ldpe)) &&
         fw_map (encode, &m->v, a->v, span + a->Dv, a->nk, a->ldkv);
}

template <int P, bool TMA>
static cudaError_t
fw_launch (const GkFlashAttnArgs *a, const FwMaps *maps, cudaStream_t stream)
{
  size_t smem = fw_smem (P);
  cudaError_t e = cudaFuncSetAttribute (flash_wgmma_kernel<P, TMA>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  if (e != cudaSuccess)
    return e;
  dim3 grid (a->H, GK_CEIL_DIV (a->T, FW_BM));
  flash_wgmma_kernel<P, TMA><<<grid, 2 * FW_BM, smem, stream>>> (*a, *maps);
  return gk_check_launch ();
}

template <int P>
static cudaError_t
fw_launch_p (const GkFlashAttnArgs *a, cudaStream_t stream)
{
  FwMaps maps;
  if (fw_maps (a, &maps))
    return fw_launch<P, true> (a, &maps, stream);
  memset (&maps, 0, sizeof maps);
  return fw_launch<P, false> (a, &maps, stream);
}

extern "C" cudaError_t
gk_flash_wgmma (const GkFlashAttnArgs *a, int P, cudaStream_t stream)
{
  switch (P) {
  case 64:
    return fw_launch_p<64> (a, stream);
  case 128:
    return fw_launch_p<128> (a, stream);
  case 256:
    return fw_launch_p<256> (a, stream);
  default:
    return cudaErrorInvalidValue;
  }
}
