/* The recurrences of one LSTM layer in training's bf16 precision (models/fused_lstm.py), in C.
 *
 * fused_lstm computes a layer's input products for all steps at once and then runs the
 * recurrence, one (B, H) x (H, 4H) product per step in the forward and one (B, 4H) x (4H, H)
 * in the backward, each wrapped in a handful of elementwise torch operations. At small batches
 * those per-step calls, and oneDNN re-packing the weight matrix at every call, cost more than
 * the products. Here each recurrence is one call: the weights arrive once in pair layout for
 * AVX-512 BF16 dot products (kernels.h, gemm_dot: inputs rounded to bf16, fp32 sums, as in
 * torch's bf16 products), state and elementwise work stay fp32. Gate order [i, f, g, o].
 *
 * Threads (OpenMP, torch's own pool, see decode.c): from 2 * MIN_ROWS rows they take blocks
 * of rows (rows are independent through a whole sequence); below, they split each step's
 * units and meet once per step. Denormals are flushed to zero on every thread (saturated gates
 * make them common in the backward, where they are 10-100x slower).
 */
#include "kernels.h"

#if defined(__SSE__)
#include <xmmintrin.h>
/* Flushes denormals to zero on this thread (FTZ | DAZ); returns the previous control word. */
static inline unsigned int flush_denormals(void) {
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040);
    return csr;
}
static inline void restore_csr(unsigned int csr) { _mm_setcsr(csr); }
#else
static inline unsigned int flush_denormals(void) { return 0; }
static inline void restore_csr(unsigned int csr) { (void)csr; }
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* Whether this build has the recurrences (they need the bf16 dot products). */
int musicvae_lstm_available(void) { return HAVE_BF16_DOT; }

#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512VL__)

/* One row's units [lo, hi): pre-activations a (4H) -> activations in place, c, tanh c, h.
 * Disjoint arrays (restrict), so that the loop vectorizes, with vector expf and tanhf. */
static void forward_row(int H, int lo, int hi, float *restrict a, const float *restrict cp,
                        float *restrict c, float *restrict tc, float *restrict h) {
    for (int k = lo; k < hi; k++) {
        float i = sigmoidf(a[k]), f = sigmoidf(a[H + k]);
        float g = tanhf(a[2 * H + k]), o = sigmoidf(a[3 * H + k]);
        a[k] = i, a[H + k] = f, a[2 * H + k] = g, a[3 * H + k] = o;
        c[k] = f * cp[k] + i * g;
        tc[k] = tanhf(c[k]);
        h[k] = o * tc[k];
    }
}

/* Rows [r0, r1) and units [lo, hi) of step t's forward; acts_t (B, 4H), the rest (B, H). */
static void forward_units(int H, int r0, int r1, int lo, int hi, float *acts_t,
                          const float *c_prev, float *cells_t, float *tanh_c_t, float *outs_t) {
    for (int b = r0; b < r1; b++)
        forward_row(H, lo, hi, acts_t + (size_t)b * 4 * H, c_prev + (size_t)b * H,
                    cells_t + (size_t)b * H, tanh_c_t + (size_t)b * H, outs_t + (size_t)b * H);
}

/* One row's units [lo, hi) of a step's backward elementwise part, from the forward's
 * activations a (4H: i, f, g, o), c_{t-1} and tanh(c_t): dh += grad_out; dc += dh o (1 -
 * tanh^2 c_t); d_gates = [g i (1 - i) dc, c_{t-1} f (1 - f) dc, i (1 - g^2) dc, tanh c_t o (1 -
 * o) dh], also rounded to bf16 into dg16 (the weight gradients' products read those); dc *= f. */
static void backward_row(int H, int lo, int hi, const float *restrict a,
                         const float *restrict cp, const float *restrict tc,
                         const float *restrict go, float *restrict dg, uint16_t *restrict dg16,
                         const float *restrict dh, float *restrict dc) {
    for (int k = lo; k < hi; k++) {
        const float i = a[k], f = a[H + k], g = a[2 * H + k], o = a[3 * H + k], t = tc[k];
        const float h = dh[k] + go[k];
        const float c = dc[k] + h * o * (1.0f - t * t);
        dg[k] = g * i * (1.0f - i) * c;
        dg[H + k] = cp[k] * f * (1.0f - f) * c;
        dg[2 * H + k] = i * (1.0f - g * g) * c;
        dg[3 * H + k] = t * o * (1.0f - o) * h;
        dc[k] = c * f;
    }
    for (int q = 0; q < 4; q++) { /* bf16 bits, round to nearest even */
        const uint32_t *restrict bits = (const uint32_t *)(dg + q * H);
        uint16_t *restrict out = dg16 + q * H;
        for (int k = lo; k < hi; k++)
            out[k] = (uint16_t)((bits[k] + 0x7FFFu + ((bits[k] >> 16) & 1u)) >> 16);
    }
}

static void backward_units(int H, int r0, int r1, int lo, int hi, const float *acts_t,
                           const float *c_prev, const float *tanh_c_t, const float *grad_t,
                           float *d_gates_t, uint16_t *d16_t, const float *dh, float *dc) {
    for (int b = r0; b < r1; b++) {
        size_t r = (size_t)b * H, r4 = (size_t)b * 4 * H;
        backward_row(H, lo, hi, acts_t + r4, c_prev + r, tanh_c_t + r, grad_t + r,
                     d_gates_t + r4, d16_t + r4, dh + r, dc + r);
    }
}

/* A thread's share: rows [r0, r1) and units [lo, hi) of every step. */
struct share {
    int r0, r1, lo, hi;
};

static struct share share_of(int B, int H, int me, int n, int by_rows) {
    struct share s = {0, B, 0, H};
    if (by_rows)
        share_range(B, me, n, 4, &s.r0, &s.r1);
    else /* whole blocks of 64 units: the weights' blocks (gemm_dot, blocked) */
        share_range(H, me, n, 64, &s.lo, &s.hi);
    return s;
}

static int thread_count(int B, int threads, int *by_rows) {
    *by_rows = B >= 2 * MIN_ROWS;
    if (*by_rows && threads > B / MIN_ROWS) threads = B / MIN_ROWS;
    return threads < 1 ? 1 : threads;
}

#ifdef _OPENMP
#define PARALLEL _Pragma("omp parallel num_threads(threads)")
#define BARRIER()                                                                               \
    do {                                                                                        \
        if (!by_rows) {                                                                         \
            _Pragma("omp barrier")                                                              \
        }                                                                                       \
    } while (0)
#define ME omp_get_thread_num()
#define TEAM omp_get_num_threads()
#else
#define PARALLEL
#define BARRIER() ((void)0)
#define ME 0
#define TEAM 1
#endif

/* The threads a recurrence of B rows takes (at most *threads), whether they split rows, and
 * their scratch for the products' inputs (B rows x pair_stride per thread), or NULL. */
static uint32_t *setup(int B, int *threads, int *by_rows, size_t pair_stride) {
    *threads = thread_count(B, *threads, by_rows);
    return malloc(sizeof(uint32_t) * (size_t)B * pair_stride * *threads);
}

/* One thread's part of a recurrence: its share of rows or units, its scratch, and the control
 * word to restore (denormals are flushed while it works). */
struct worker {
    struct share s;
    uint32_t *scratch;
    int rows;
    unsigned int csr;
};

static struct worker worker_of(int B, int H, int by_rows, uint32_t *pairs, size_t pair_stride) {
    const int me = ME;
    struct worker w = {share_of(B, H, me, TEAM, by_rows), pairs + (size_t)B * pair_stride * me, 0,
                       flush_denormals()};
    w.rows = w.s.r1 - w.s.r0;
    return w;
}

/* Forward: acts (T, B, 4H) holds x_t W_ih^T + bias on entry; per step adds bf16(h_{t-1})
 * W_hh^T, with w_hh_t the gates' blocks of W_hh^T (H, 4H), each (H, H) in gemm_dot's blocked
 * pair layout: (4, ceil(H/64), ceil(H/2), 64, 2). It leaves the activations [sig i, sig f, tanh g, sig o] there; writes cells (T, B, H) = c_t, tanh_c = tanh
 * c_t and outs = h_t. h0, c0 (B, H). Returns 0, or -1 without scratch memory. */
int musicvae_lstm_forward(int T, int B, int H, const uint16_t *w_hh_t, float *acts,
                          const float *h0, const float *c0, float *cells, float *tanh_c,
                          float *outs, int threads) {
    int by_rows;
    const size_t pair_stride = (size_t)H / 2 + 1;
    const size_t gate_size = (size_t)((H + 63) / 64) * ((H + 1) / 2) * 128; /* one gate's block */
    uint32_t *pairs = setup(B, &threads, &by_rows, pair_stride);
    if (!pairs) return -1;
    PARALLEL
    {
        const struct worker w = worker_of(B, H, by_rows, pairs, pair_stride);
        const struct share s = w.s;
        for (int t = 0; t < T; t++) {
            const float *h_prev = t == 0 ? h0 : outs + (size_t)(t - 1) * B * H;
            const float *c_prev = t == 0 ? c0 : cells + (size_t)(t - 1) * B * H;
            float *a = acts + (size_t)t * B * 4 * H;
            if (w.rows > 0 && s.hi > s.lo)
                for (int q = 0; q < 4; q++)
                    gemm_dot(w_hh_t + (size_t)q * gate_size, H, H, s.lo, s.hi,
                             h_prev + (size_t)s.r0 * H, w.rows, H,
                             a + (size_t)s.r0 * 4 * H + (size_t)q * H, 4 * H, w.scratch, 1);
            forward_units(H, s.r0, s.r1, s.lo, s.hi, a, c_prev, cells + (size_t)t * B * H,
                          tanh_c + (size_t)t * B * H, outs + (size_t)t * B * H);
            BARRIER();
        }
        restore_csr(w.csr);
    }
    free(pairs);
    return 0;
}

/* Backward of the recurrence, steps T-1 .. 0, from the forward's acts (T, B, 4H; activations),
 * cells (T, B, H), c0 (B, H), tanh_c (T, B, H) and grad_out (T, B, H): per step backward_row,
 * then dh = bf16(d_gates[t]) W_hh, w_hh in gemm_dot's blocked pair layout of W_hh (4H, H):
 * (ceil(H/64), 2H, 64, 2). Out: d_gates (T, B, 4H) and its bf16 bits d_gates16.
 * dh, dc (B, H): the final state's gradients in, h0's and c0's out. */
int musicvae_lstm_backward(int T, int B, int H, const uint16_t *w_hh, const float *acts,
                           const float *cells, const float *c0, const float *tanh_c,
                           const float *grad_out, float *d_gates, uint16_t *d_gates16,
                           float *dh, float *dc, int threads) {
    int by_rows;
    const size_t pair_stride = (size_t)2 * H + 1;
    uint32_t *pairs = setup(B, &threads, &by_rows, pair_stride);
    if (!pairs) return -1;
    PARALLEL
    {
        const struct worker w = worker_of(B, H, by_rows, pairs, pair_stride);
        const struct share s = w.s;
        for (int t = T - 1; t >= 0; t--) {
            const size_t at = (size_t)t * B;
            float *dg = d_gates + at * 4 * H;
            const float *c_prev = t == 0 ? c0 : cells + (at - B) * H;
            backward_units(H, s.r0, s.r1, s.lo, s.hi, acts + at * 4 * H, c_prev, tanh_c + at * H,
                           grad_out + at * H, dg, d_gates16 + at * 4 * H, dh, dc);
            BARRIER(); /* every unit's d_gates of step t, before the product reads them */
            if (w.rows > 0 && s.hi > s.lo) {
                for (int b = s.r0; b < s.r1; b++) /* dh = d_gates W_hh: replaced, not added */
                    memset(dh + (size_t)b * H + s.lo, 0, sizeof(float) * (s.hi - s.lo));
                gemm_dot(w_hh, 4 * H, H, s.lo, s.hi, dg + (size_t)s.r0 * 4 * H, w.rows, 4 * H,
                         dh + (size_t)s.r0 * H, H, w.scratch, 1);
            }
            /* no second barrier: the next step reads only this thread's own units of dh */
        }
        restore_csr(w.csr);
    }
    free(pairs);
    return 0;
}

#else /* no bf16 dot products: the torch loop runs instead (musicvae_lstm_available() is 0) */

int musicvae_lstm_forward(int T, int B, int H, const uint16_t *w_hh_t, float *acts,
                          const float *h0, const float *c0, float *cells, float *tanh_c,
                          float *outs, int threads) {
    (void)T, (void)B, (void)H, (void)w_hh_t, (void)acts, (void)h0, (void)c0, (void)cells;
    (void)tanh_c, (void)outs, (void)threads;
    return -1;
}

int musicvae_lstm_backward(int T, int B, int H, const uint16_t *w_hh, const float *acts,
                           const float *cells, const float *c0, const float *tanh_c,
                           const float *grad_out, float *d_gates, uint16_t *d_gates16,
                           float *dh, float *dc, int threads) {
    (void)T, (void)B, (void)H, (void)w_hh, (void)acts, (void)cells, (void)c0, (void)tanh_c;
    (void)grad_out, (void)d_gates, (void)d_gates16, (void)dh, (void)dc, (void)threads;
    return -1;
}

#endif
