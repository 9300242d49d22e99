/* The products shared by the C loops (decode.c, lstm.c): out[b, n0:n1] += x[b, :K] @ W with
 * W fp32, bf16, or bf16 in pair layout for AVX-512 BF16 dot products (see matvec_cols), and
 * how threads share a layer's units. Included by each loop's file; everything is static. */
#ifndef MUSICVAE_KERNELS_H
#define MUSICVAE_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Weights come as fp32, or as bf16 (the upper 16 bits of an fp32; loaded by a shift), which
 * halves the bytes a batch-1 step streams from the caches: the step is bound by reading them. */
static inline float from_f32(float w) { return w; }
static inline float from_bf16(uint16_t w) {
    uint32_t bits = (uint32_t)w << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* out[b, n0:n1] += x[b, :K] @ W[:K, n0:n1] for b < batch, W row-major (K, N): the products of a
 * step (a thread's columns of them where threads split a step, decode_split), vectorized along the outputs (one weight row serves every batch row, no horizontal
 * sums). With AVX-512 (BW, VL), 4 batch rows x 64 outputs are kept in 16 registers while K
 * streams by; elsewhere plain loops of the same order, which compilers vectorize. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

static inline __m512 load_f32(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load_bf16(const uint16_t *p, __mmask16 m) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

static inline __mmask16 lanes(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1; }

#define DEFINE_GEMM(NAME, WTYPE, LOAD)                                                          \
    static inline void NAME(const WTYPE *restrict W, int K, int N, int n0, int n1,             \
                     const float *restrict x, int batch, int xstride, float *restrict out,     \
                     int ostride) {                                                            \
        for (int j = n0; j < n1; j += 64) {                                                     \
            __mmask16 m0 = lanes(n1 - j), m1 = lanes(n1 - j - 16), m2 = lanes(n1 - j - 32),     \
                      m3 = lanes(n1 - j - 48);                                                  \
            int b = 0;                                                                          \
            for (; b + 4 <= batch; b += 4) {                                                    \
                __m512 a[4][4];                                                                 \
                for (int r = 0; r < 4; r++)                                                     \
                    for (int q = 0; q < 4; q++) a[r][q] = _mm512_setzero_ps();                  \
                const float *x0 = x + (size_t)b * xstride;                                      \
                for (int k = 0; k < K; k++) {                                                   \
                    const WTYPE *row = W + (size_t)k * N + j;                                   \
                    __m512 w0 = LOAD(row, m0), w1 = LOAD(row + 16, m1);                         \
                    __m512 w2 = LOAD(row + 32, m2), w3 = LOAD(row + 48, m3);                    \
                    for (int r = 0; r < 4; r++) {                                               \
                        __m512 v = _mm512_set1_ps(x0[(size_t)r * xstride + k]);                 \
                        a[r][0] = _mm512_fmadd_ps(v, w0, a[r][0]);                              \
                        a[r][1] = _mm512_fmadd_ps(v, w1, a[r][1]);                              \
                        a[r][2] = _mm512_fmadd_ps(v, w2, a[r][2]);                              \
                        a[r][3] = _mm512_fmadd_ps(v, w3, a[r][3]);                              \
                    }                                                                           \
                }                                                                               \
                for (int r = 0; r < 4; r++) {                                                   \
                    float *o = out + (size_t)(b + r) * ostride + j;                             \
                    __mmask16 mq[4] = {m0, m1, m2, m3};                                         \
                    for (int q = 0; q < 4; q++) {                                               \
                        __m512 cur = _mm512_maskz_loadu_ps(mq[q], o + 16 * q);                  \
                        _mm512_mask_storeu_ps(o + 16 * q, mq[q], _mm512_add_ps(cur, a[r][q]));  \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        /* rows left over: 128 outputs at a time, 8 independent sums to hide FMA latency */    \
        for (int b = batch / 4 * 4; b < batch; b++) {                                           \
            const float *x0 = x + (size_t)b * xstride;                                          \
            float *o = out + (size_t)b * ostride;                                               \
            for (int j = n0; j < n1; j += 128) {                                                \
                __mmask16 m[8];                                                                 \
                __m512 a[8];                                                                    \
                for (int q = 0; q < 8; q++) {                                                   \
                    m[q] = lanes(n1 - j - 16 * q);                                              \
                    a[q] = _mm512_setzero_ps();                                                 \
                }                                                                               \
                for (int k = 0; k < K; k++) {                                                   \
                    const WTYPE *row = W + (size_t)k * N + j;                                   \
                    __m512 v = _mm512_set1_ps(x0[k]);                                           \
                    for (int q = 0; q < 8; q++)                                                 \
                        a[q] = _mm512_fmadd_ps(v, LOAD(row + 16 * q, m[q]), a[q]);              \
                }                                                                               \
                for (int q = 0; q < 8; q++) {                                                   \
                    __m512 cur = _mm512_maskz_loadu_ps(m[q], o + j + 16 * q);                   \
                    _mm512_mask_storeu_ps(o + j + 16 * q, m[q], _mm512_add_ps(cur, a[q]));      \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }
#else
#define DEFINE_GEMM(NAME, WTYPE, LOAD_UNUSED)                                                   \
    static inline void NAME(const WTYPE *restrict W, int K, int N, int n0, int n1,             \
                     const float *restrict x, int batch, int xstride, float *restrict out,     \
                     int ostride) {                                                            \
        for (int b = 0; b < batch; b++) {                                                       \
            float *o = out + (size_t)b * ostride;                                               \
            for (int k = 0; k < K; k++) {                                                       \
                float v = x[(size_t)b * xstride + k];                                           \
                const WTYPE *row = W + (size_t)k * N;                                           \
                for (int n = n0; n < n1; n++) o[n] += v * WEIGHT_##WTYPE(row[n]);               \
            }                                                                                   \
        }                                                                                       \
    }
#define WEIGHT_float(w) (w)
#define WEIGHT_uint16_t(w) from_bf16(w)
#endif

DEFINE_GEMM(gemm_f32, float, load_f32)
DEFINE_GEMM(gemm_bf16, uint16_t, load_bf16)

#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512VL__)
enum { HAVE_BF16_DOT = 1 };

/* bf16 dot products (mode 2): out[b, n0:n1] += bf16(x[b, :K]) @ W, W bf16 in pair layout
 * (ceil(K/2), N, 2): element (k, n) at (k / 2 * N + n) * 2 + k % 2; or, `blocked`, in blocks of
 * 64 outputs (ceil(N/64), ceil(K/2), 64, 2), so that a block's weights are contiguous (for
 * matrices read from memory rather than cache: the plain layout reads 256 bytes per 32 KB row
 * of a large matrix; n0 must then be a multiple of 64). One vdpbf16ps multiplies two inputs by
 * the two weights of 16 outputs and adds both products to fp32 sums: twice the multiply-adds
 * of an fp32 FMA per instruction. `pairs` (batch, ceil(K/2)): scratch for the inputs rounded
 * to bf16. */
static inline void gemm_dot(const uint16_t *restrict W, int K, int N, int n0, int n1,
                            const float *restrict x, int batch, int xstride,
                            float *restrict out, int ostride, uint32_t *restrict pairs,
                            int blocked) {
    const int P = (K + 1) / 2;
    for (int b = 0; b < batch; b++) { /* inputs -> bf16, in order: pair p = (x[2p], x[2p+1]) */
        const float *row = x + (size_t)b * xstride;
        uint16_t *dst = (uint16_t *)(pairs + (size_t)b * P);
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            __m512 lo = _mm512_loadu_ps(row + k), hi = _mm512_loadu_ps(row + k + 16);
            __m512bh v = _mm512_cvtne2ps_pbh(hi, lo); /* lo in the low half: natural order */
            _mm512_storeu_si512(dst + k, (__m512i)v);
        }
        for (; k < K; k++) {
            uint32_t u;
            memcpy(&u, row + k, sizeof u);
            dst[k] = (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16); /* round to nearest even */
        }
        if (K % 2) dst[K] = 0;
    }
    for (int j = n0; j < n1; j += 64) {
        __mmask16 m[4] = {lanes(n1 - j), lanes(n1 - j - 16), lanes(n1 - j - 32), lanes(n1 - j - 48)};
        const uint16_t *base = blocked ? W + (size_t)(j / 64) * P * 128 : W + (size_t)j * 2;
        const size_t stride = blocked ? 128 : (size_t)N * 2; /* from one pair row to the next */
        /* blocked: pairs in chunks of 512 (128 KB of a block), every row before the next chunk,
         * so the rows after the first read the chunk from L2, not memory; plain: one chunk */
        const int chunk = blocked ? 512 : P;
        for (int p0 = 0; p0 < P; p0 += chunk) {
        const int p1 = p0 + chunk < P ? p0 + chunk : P;
        int b = 0;
        for (; b + 4 <= batch; b += 4) {
            __m512 a[4][4];
            for (int r = 0; r < 4; r++)
                for (int q = 0; q < 4; q++) a[r][q] = _mm512_setzero_ps();
            for (int p = p0; p < p1; p++) {
                const uint16_t *row = base + (size_t)p * stride;
                __m512bh w[4];
                for (int q = 0; q < 4; q++)
                    w[q] = (__m512bh)_mm512_maskz_loadu_epi32(m[q], row + 32 * q);
                for (int r = 0; r < 4; r++) {
                    __m512bh v = (__m512bh)_mm512_set1_epi32((int)pairs[(size_t)(b + r) * P + p]);
                    for (int q = 0; q < 4; q++) a[r][q] = _mm512_dpbf16_ps(a[r][q], v, w[q]);
                }
            }
            for (int r = 0; r < 4; r++) {
                float *o = out + (size_t)(b + r) * ostride + j;
                for (int q = 0; q < 4; q++) {
                    __m512 cur = _mm512_maskz_loadu_ps(m[q], o + 16 * q);
                    _mm512_mask_storeu_ps(o + 16 * q, m[q], _mm512_add_ps(cur, a[r][q]));
                }
            }
        }
        for (; b < batch; b++) {
            __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                           _mm512_setzero_ps()};
            for (int p = p0; p < p1; p++) {
                const uint16_t *row = base + (size_t)p * stride;
                __m512bh v = (__m512bh)_mm512_set1_epi32((int)pairs[(size_t)b * P + p]);
                for (int q = 0; q < 4; q++)
                    a[q] = _mm512_dpbf16_ps(
                        a[q], v, (__m512bh)_mm512_maskz_loadu_epi32(m[q], row + 32 * q));
            }
            float *o = out + (size_t)b * ostride + j;
            for (int q = 0; q < 4; q++) {
                __m512 cur = _mm512_maskz_loadu_ps(m[q], o + 16 * q);
                _mm512_mask_storeu_ps(o + 16 * q, m[q], _mm512_add_ps(cur, a[q]));
            }
        }
        }
    }
}
#else
enum { HAVE_BF16_DOT = 0 };
#endif

/* mode 0: fp32 weights; 1: bf16 weights, fp32 inputs and sums; 2: bf16 weights in pair
 * layout, inputs rounded to bf16, fp32 sums (gemm_dot; `pairs` is its scratch). */
static inline void matvec_cols(int mode, const void *W, int K, int N, int n0, int n1, const float *x,
                        int batch, int xstride, float *out, int ostride, uint32_t *pairs) {
#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    if (mode == 2) {
        gemm_dot(W, K, N, n0, n1, x, batch, xstride, out, ostride, pairs, 0);
        return;
    }
#endif
    (void)pairs;
    if (mode)
        gemm_bf16(W, K, N, n0, n1, x, batch, xstride, out, ostride);
    else
        gemm_f32(W, K, N, n0, n1, x, batch, xstride, out, ostride);
}

/* Every column: out[b, :N] += x[b, :K] @ W. */
static inline void matvec_add(int mode, const void *W, int K, int N, const float *x, int batch,
                       int xstride, float *out, int ostride, uint32_t *pairs) {
    matvec_cols(mode, W, K, N, 0, N, x, batch, xstride, out, ostride, pairs);
}

/* Below 2 MIN_ROWS rows the loops' threads split units, not rows (fewer rows per thread do not
 * pay for a thread). */
enum { MIN_ROWS = 8 };

/* Thread `me` of n's share [lo, hi) of `total` items (rows or units), in chunks of a multiple
 * of `multiple`: whole 4-row groups of the products, whole 16-unit vectors of an LSTM update
 * (so a unit takes the same arithmetic whatever the thread count), whole 64-output blocks. */
static inline void share_range(int total, int me, int n, int multiple, int *lo, int *hi) {
    int chunk = ((total + n - 1) / n + multiple - 1) / multiple * multiple;
    *lo = me * chunk < total ? me * chunk : total;
    *hi = *lo + chunk < total ? *lo + chunk : total;
}

#endif
