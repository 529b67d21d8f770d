/* bench-gemv.c: device time of the decode GEMVs (kernels/gemv.cu, gemv-mma.cu, gemv-dp4a.cu)
 * on the batch-1 shapes of GLM-4.7-Flash at tp 1, one kernel at a time. A decode step's ~14 kernels
 * per layer make whole-step figures move by a few percent run to run; this measures each
 * product alone, for each launch shape, to a fraction of a microsecond.
 * The weights of every call are a different copy out of a pool larger than the L2 cache, so
 * each call reads device memory as a decode step does (every layer's weights are new to it).
 * Each variant's calls are captured in one CUDA graph, launched as the decode step launches
 * them (programmatic dependent launch with static descriptors), so the host's launch rate is
 * not what is measured.
 * Prints, per shape: weight bytes, then per variant (automatic launch shape, 1/2/4/8 warps per
 * row, the tensor-core kernel, and the automatic shape with the weights already in the L2
 * cache: the floor an L2 prefetch could bring a kernel to; then the integer kernel
 * (gemv-dp4a.cu), automatic, 1/2/4 rows per warp, and L2-hot)
 * microseconds per call and GB/s of weights.
 * A benchmark, not a test: run on the GPU machine (tools/gpu/run.sh gemv-bench).
 * SPDX-License-Identifier: MIT */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include <cuda_runtime.h>

#include "../kernels/gk.h"

#define POOL_BYTES ((size_t) 1536 << 20) /* >> L2 (H200: 50 MB), and two copies of lm_head */
#define CALLS 200

typedef struct {
  const char *name;
  int         format;       /* GK_WEIGHT_NVFP4 or GK_WEIGHT_BF16 */
  int         mode;         /* GK_GEMV_PLAIN or GK_GEMV_SWIGLU */
  int         n_groups;
  int         rows[2];      /* group 0's rows, and the others' when they differ */
  int         cols;
  gboolean    norm, accumulate;
} Shape;

/* GLM-4.7-Flash's decode products (engine/cuda/cuda-forward.c), one MoE layer's worth */
static const Shape shapes[] = {
  { "q_a + kv_a (norm)", GK_WEIGHT_NVFP4, GK_GEMV_PLAIN, 2, { 768, 576 }, 2048, TRUE, FALSE },
  { "q_b", GK_WEIGHT_NVFP4, GK_GEMV_PLAIN, 1, { 5120, 5120 }, 768, FALSE, FALSE },
  { "W_UV (20 heads, bf16)", GK_WEIGHT_BF16, GK_GEMV_PLAIN, 20, { 256, 256 }, 512, FALSE, FALSE },
  { "o_proj (+residual)", GK_WEIGHT_NVFP4, GK_GEMV_PLAIN, 1, { 2048, 2048 }, 5120, FALSE, TRUE },
  { "shared gate/up (norm)", GK_WEIGHT_NVFP4, GK_GEMV_SWIGLU, 1, { 1536, 1536 }, 2048, TRUE,
    FALSE },
  { "routed gate/up x4 (norm)", GK_WEIGHT_NVFP4, GK_GEMV_SWIGLU, 4, { 1536, 1536 }, 2048, TRUE,
    FALSE },
  { "down x5", GK_WEIGHT_NVFP4, GK_GEMV_PLAIN, 5, { 2048, 2048 }, 1536, FALSE, FALSE },
  { "lm_head (bf16)", GK_WEIGHT_BF16, GK_GEMV_PLAIN, 1, { 154880, 154880 }, 2048, FALSE, FALSE },
};

#define CHECK(expr)                                                                        \
  do {                                                                                     \
    cudaError_t e_ = (expr);                                                               \
    if (e_ != cudaSuccess) {                                                               \
      g_printerr ("bench-gemv: %s: %s\n", #expr, cudaGetErrorString (e_));                 \
      return 1;                                                                            \
    }                                                                                      \
  } while (0)

/* bytes of one matrix: packed weights (and NVFP4 scales), padded to 256 */
static size_t
matrix_bytes (int format, int rows, int cols, size_t *data, size_t *scales)
{
  size_t n = (size_t) rows * cols;
  *data = format == GK_WEIGHT_NVFP4 ? n / 2 : n * 2;
  *scales = format == GK_WEIGHT_NVFP4 ? n / 16 : 0;
  return ((*data + 255) & ~(size_t) 255) + ((*scales + 255) & ~(size_t) 255);
}

/* One call's groups in the copy at base (matrices back to back: group g's w, then w2). */
static void
fill_groups (const Shape *s, uint8_t *base, const float *x, float *y, const float *norm_w,
             GkGemvGroup *g)
{
  size_t off = 0;
  for (int i = 0; i < s->n_groups; i++) {
    int rows = i == 0 ? s->rows[0] : s->rows[1];
    memset (&g[i], 0, sizeof g[i]);
    for (int m = 0; m < (s->mode == GK_GEMV_SWIGLU ? 2 : 1); m++) {
      size_t data, scales, bytes = matrix_bytes (s->format, rows, s->cols, &data, &scales);
      GkMatrix w = { .data = base + off, .format = s->format, .rows = rows, .cols = s->cols,
                     .scale2 = 1.0f };
      if (s->format == GK_WEIGHT_NVFP4)
        w.scales = base + off + ((data + 255) & ~(size_t) 255);
      off += bytes;
      if (m == 0)
        g[i].w = w;
      else
        g[i].w2 = w;
    }
    g[i].x = x;
    g[i].y = y + (size_t) i * 154880;
    g[i].norm_w = s->norm ? norm_w : NULL;
    g[i].norm_eps = 1e-5f;
    g[i].T = 1;
    g[i].x_stride = s->cols;
    g[i].y_stride = rows;
    g[i].accumulate = s->accumulate;
    g[i].alpha = 1.0f;
  }
}

int
main (void)
{
  int dev = 0;
  struct cudaDeviceProp prop;
  CHECK (cudaGetDevice (&dev));
  CHECK (cudaGetDeviceProperties (&prop, dev));
  printf ("%s (sm_%d%d, %d SMs, L2 %d MB)\n", prop.name, prop.major, prop.minor,
          prop.multiProcessorCount, prop.l2CacheSize >> 20);

  /* the pool: random bytes (weights), scales that are ordinary e4m3 values */
  uint8_t *pool = NULL;
  CHECK (cudaMalloc ((void **) &pool, POOL_BYTES));
  {
    size_t chunk = (size_t) 16 << 20;
    g_autofree uint8_t *h = g_malloc (chunk);
    guint32 state = 12345;
    for (size_t i = 0; i < chunk; i++) {
      state = state * 1664525u + 1013904223u;
      h[i] = (uint8_t) ((state >> 24) & 0x77);      /* no NaN bytes, no huge bf16 */
    }
    for (size_t o = 0; o < POOL_BYTES; o += chunk)
      CHECK (cudaMemcpy (pool + o, h, chunk, cudaMemcpyHostToDevice));
  }
  float *x = NULL, *y = NULL, *norm_w = NULL;
  CHECK (cudaMalloc ((void **) &x, 8192 * sizeof (float)));
  CHECK (cudaMalloc ((void **) &norm_w, 8192 * sizeof (float)));
  CHECK (cudaMalloc ((void **) &y, (size_t) 20 * 154880 * sizeof (float)));
  {
    float h[8192];
    for (int i = 0; i < 8192; i++)
      h[i] = 0.01f * (float) ((i * 37) % 101 - 50);
    CHECK (cudaMemcpy (x, h, sizeof h, cudaMemcpyHostToDevice));
    CHECK (cudaMemcpy (norm_w, h, sizeof h, cudaMemcpyHostToDevice));
  }
  CHECK (cudaMemset (y, 0, (size_t) 20 * 154880 * sizeof (float)));
  cudaStream_t stream;
  cudaEvent_t t0, t1;
  CHECK (cudaStreamCreate (&stream));
  CHECK (cudaEventCreate (&t0));
  CHECK (cudaEventCreate (&t1));

  /* kernel 0 gk_gemv, 1 gk_gemv_mma, 2 gk_gemv_dp4a; wpr: GK_GEMV_WPR (warps per row for
   * gk_gemv, rows per warp for gk_gemv_dp4a), 0 automatic */
  static const struct {
    const char *name;
    int         kernel, wpr;
    gboolean    hot;
  } variants[] = {
    { "auto", 0, 0, FALSE }, { "wpr 1", 0, 1, FALSE }, { "wpr 2", 0, 2, FALSE },
    { "wpr 4", 0, 4, FALSE }, { "wpr 8", 0, 8, FALSE }, { "mma", 1, 0, FALSE },
    { "auto, L2-hot", 0, 0, TRUE }, { "dp4a", 2, 0, FALSE }, { "dp4a rpw 1", 2, 1, FALSE },
    { "dp4a rpw 2", 2, 2, FALSE }, { "dp4a rpw 4", 2, 4, FALSE }, { "dp4a, L2-hot", 2, 0, TRUE },
  };
  printf ("%-26s %9s", "product", "MB");
  for (gsize v = 0; v < G_N_ELEMENTS (variants); v++)
    printf (" | %16s", variants[v].name);
  printf ("\n");
  for (gsize si = 0; si < G_N_ELEMENTS (shapes); si++) {
    const Shape *s = &shapes[si];
    size_t per_call = 0, weight_bytes = 0;
    for (int i = 0; i < s->n_groups; i++) {
      size_t data, scales;
      int rows = i == 0 ? s->rows[0] : s->rows[1];
      per_call += matrix_bytes (s->format, rows, s->cols, &data, &scales) *
                  (s->mode == GK_GEMV_SWIGLU ? 2 : 1);
      weight_bytes += (data + scales) * (s->mode == GK_GEMV_SWIGLU ? 2 : 1);
    }
    int copies = (int) MIN ((size_t) CALLS, POOL_BYTES / per_call);
    if (copies < 1) {
      printf ("%-26s does not fit the pool\n", s->name);
      continue;
    }
    /* one descriptor array per copy */
    GkGemvGroup *d_groups = NULL;
    size_t gb = (size_t) s->n_groups * sizeof (GkGemvGroup);
    CHECK (cudaMalloc ((void **) &d_groups, gb * copies));
    g_autofree GkGemvGroup *h_groups = g_malloc (gb * copies);
    for (int c = 0; c < copies; c++)
      fill_groups (s, pool + (size_t) c * per_call, x, y, norm_w,
                   h_groups + (size_t) c * s->n_groups);
    CHECK (cudaMemcpy (d_groups, h_groups, gb * copies, cudaMemcpyHostToDevice));
    int max_rows = MAX (s->rows[0], s->rows[1]);
    printf ("%-26s %9.2f", s->name, weight_bytes / 1e6);
    for (gsize v = 0; v < G_N_ELEMENTS (variants); v++) {
      /* as the decode step launches them: static descriptors (GK_GEMV_EARLY), in a graph */
      int flags = GK_GEMV_EARLY | (variants[v].wpr ? GK_GEMV_WPR (variants[v].wpr) : 0);
      int kernel = variants[v].kernel;
      gboolean hot = variants[v].hot;
      cudaError_t err = cudaSuccess;
      cudaGraph_t graph = NULL;
      cudaGraphExec_t exec = NULL;
      CHECK (cudaStreamBeginCapture (stream, cudaStreamCaptureModeThreadLocal));
      for (int i = 0; i < CALLS && err == cudaSuccess; i++) {
        /* L2-hot: the same copy every call, so its weights stay in the L2 cache */
        const GkGemvGroup *g = d_groups + (size_t) (hot ? 0 : i % copies) * s->n_groups;
        err = (kernel == 1   ? gk_gemv_mma
               : kernel == 2 ? gk_gemv_dp4a
                             : gk_gemv) (g, s->n_groups, max_rows, s->cols, s->mode, 1, flags,
                                         stream);
      }
      cudaError_t cap = cudaStreamEndCapture (stream, &graph);
      if (err != cudaSuccess || cap != cudaSuccess) {
        if (graph != NULL)
          cudaGraphDestroy (graph);
        cudaGetLastError ();
        printf (" | %16s", err == cudaErrorNotSupported ? "not supported" : "error");
        continue;
      }
      CHECK (cudaGraphInstantiate (&exec, graph, 0));
      CHECK (cudaGraphLaunch (exec, stream));          /* warm-up */
      CHECK (cudaEventRecord (t0, stream));
      CHECK (cudaGraphLaunch (exec, stream));
      CHECK (cudaEventRecord (t1, stream));
      CHECK (cudaEventSynchronize (t1));
      CHECK (cudaGraphExecDestroy (exec));
      CHECK (cudaGraphDestroy (graph));
      float ms = 0.0f;
      CHECK (cudaEventElapsedTime (&ms, t0, t1));
      double us = 1e3 * ms / CALLS;
      printf (" | %7.2f us %4.0f", us, weight_bytes / (us * 1e3));
    }
    printf ("   (GB/s)\n");
    CHECK (cudaFree (d_groups));
  }
  CHECK (cudaFree (pool));
  CHECK (cudaFree (x));
  CHECK (cudaFree (y));
  CHECK (cudaFree (norm_w));
  return 0;
}
