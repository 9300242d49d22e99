/* Free-running decoding of Magenta's categorical LSTM decoder in one C call.
 *
 * The same function as CoreDecoder.sample in decoders.py (which stays the exact torch path):
 * a stack of LSTM layers (torch gate order [i, f, g, o], forget bias folded into the bias),
 * fed the previous step's one-hot token(s) and a fixed conditioning embedding e (its layer-0
 * part and the initial state are computed here too, so no torch operation runs in between);
 * logits = W_out h_top + b_out; one token per output stream, by argmax or by inverse-CDF
 * sampling of softmax(logits / T) with pre-drawn uniforms. Rows are independent, so threads
 * take blocks of them (decode_rows); below 16 rows threads split each step's units instead
 * (decode_split). Threads are OpenMP's, torch's own pool where the build shares torch's
 * libgomp; pthreads in a build without OpenMP. At batch 1 a step is a few small matrix-vector
 * products, so the whole loop in C removes the per-operation dispatch that dominates a torch
 * loop. With fp32 weights only the summation order differs from torch's fp32 products (~1e-6 relative);
 * the bf16 modes (the bf16 precision, see matvec_add) add bf16 rounding of the weights, and in
 * mode 2 of the products' inputs; state and sums stay fp32.
 *
 * Built at first use by musicvae/models/native_decode.py: cc -O3 -march=native -ffast-math
 * -pthread -fopenmp (or without -fopenmp or -march=native, see TRIES there).
 */
#include <pthread.h>

#include "kernels.h"

/* Whether this build has the bf16 dot-product kernel (mode 2). */
int musicvae_bf16_dot(void) { return HAVE_BF16_DOT; }

/* out[k] += W[r, k] for k in [lo, hi) (rows of n elements). */
static void add_row(int bf16, const void *W, size_t r, int n, int lo, int hi, float *out) {
    if (bf16) {
        const uint16_t *row = (const uint16_t *)W + r * n;
        for (int k = lo; k < hi; k++) out[k] += from_bf16(row[k]);
    } else {
        const float *row = (const float *)W + r * n;
        for (int k = lo; k < hi; k++) out[k] += row[k];
    }
}

/* gates (4H) pre-activations -> units [lo, hi) of c (H, in place) and of h (H): the new h may
 * go to another buffer than the old (decode_split), it is not read here. */
static void lstm_update(const float *restrict g, int H, int lo, int hi, float *restrict h,
                        float *restrict c) {
    for (int k = lo; k < hi; k++) {
        float i = sigmoidf(g[k]), f = sigmoidf(g[H + k]);
        float u = tanhf(g[2 * H + k]), o = sigmoidf(g[3 * H + k]);
        c[k] = f * c[k] + i * u;
        h[k] = o * tanhf(c[k]);
    }
}

/* One stream's token from its logits: argmax (uniform < 0) or inverse-CDF sampling. */
static int choose(const float *restrict logits, int depth, float uniform, float inv_t) {
    int best = 0;
    for (int k = 1; k < depth; k++)
        if (logits[k] > logits[best]) best = k;
    if (uniform < 0.0f) return best;
    float top = logits[best], total = 0.0f;
    float p[depth];
    for (int k = 0; k < depth; k++) {
        p[k] = expf((logits[k] - top) * inv_t);
        total += p[k];
    }
    float target = uniform * total, cum = 0.0f;
    int last = best;
    for (int k = 0; k < depth; k++) {
        cum += p[k];
        if (p[k] > 0.0f) last = k;
        if (cum > target) return k;
    }
    return last; /* rounding left target at the very top of the sum */
}

/* One decode's arguments (see musicvae_decode). */
struct decode {
    int mode, batch, steps, layers;
    const int *hidden;
    const void *w0x;
    const void *const *w;
    float *b0;
    const float *const *b;
    const float *e;
    int esize;
    const void *w_e, *w_init;
    const float *b_init;
    float *const *h, *const *c;
    const void *w_out;
    const float *b_out;
    int streams;
    const int *depths;
    const int *start;
    const float *uniforms;
    float inv_temperature;
    const int *teacher;
    const float *coins;
    float probability;
    int *tokens;
    float *logits;
};

/* Row r's tokens at step t from its logits `out` (D); the `owner` of the row writes them to
 * d->tokens, and the logits to d->logits unless they are there already. prev (S) gets step
 * t + 1's input: these tokens, or under scheduled sampling the teacher's where the row's coin
 * is not below the probability. */
static void pick(const struct decode *d, int r, int t, const float *out, int *prev, int owner) {
    const int S = d->streams;
    int offset = 0;
    for (int s = 0; s < S; offset += d->depths[s], s++) {
        size_t at = ((size_t)r * d->steps + t) * S + s;
        float u = d->uniforms ? d->uniforms[at] : -1.0f;
        prev[s] = choose(out + offset, d->depths[s], u, d->inv_temperature);
        if (owner) d->tokens[at] = prev[s];
    }
    float *dest = d->logits + ((size_t)r * d->steps + t) * offset;
    if (owner && dest != out) memcpy(dest, out, sizeof(float) * offset);
    if (d->teacher && t + 1 < d->steps && !(d->coins[(size_t)r * d->steps + t] < d->probability))
        memcpy(prev, d->teacher + ((size_t)r * d->steps + t + 1) * S, sizeof(int) * S);
}

/* From the embedding rows e[first, first + batch): layer 0's fixed input part b0 = e W_e +
 * b[0] and the initial state tanh(e W_init + b_init), laid out [c_0, h_0, c_1, h_1, ...] as
 * Magenta's z_to_initial_state (lstm_utils.initial_cell_state_from_embedding). */
static int embed(const struct decode *d, int first, int batch, float *b0, float **h, float **c) {
    const int E = d->esize, G0 = 4 * d->hidden[0];
    const float *e = d->e + (size_t)first * E;
    int flat_size = 0;
    for (int l = 0; l < d->layers; l++) flat_size += 2 * d->hidden[l];
    float *flat = malloc(sizeof(float) * (size_t)batch * flat_size);
    if (!flat) return -1;
    for (int bi = 0; bi < batch; bi++) {
        memcpy(b0 + (size_t)bi * G0, d->b[0], sizeof(float) * G0);
        memcpy(flat + (size_t)bi * flat_size, d->b_init, sizeof(float) * flat_size);
    }
    int plain = d->mode ? 1 : 0; /* these two are plain bf16 (or fp32) in every mode */
    matvec_add(plain, d->w_e, E, G0, e, batch, E, b0, G0, NULL);
    matvec_add(plain, d->w_init, E, flat_size, e, batch, E, flat, flat_size, NULL);
    for (int bi = 0; bi < batch; bi++) {
        const float *row = flat + (size_t)bi * flat_size;
        for (int l = 0, k = 0; l < d->layers; k += 2 * d->hidden[l], l++) {
            int H = d->hidden[l];
            for (int u = 0; u < H; u++) {
                c[l][(size_t)bi * H + u] = tanhf(row[k + u]);
                h[l][(size_t)bi * H + u] = tanhf(row[k + H + u]);
            }
        }
    }
    free(flat);
    return 0;
}

/* Decodes rows [first, first + batch) of d: every row is independent of the others, so
 * threads can take disjoint rows with no synchronization but the final join. */
static int decode_rows(const struct decode *d, int first, int batch) {
    const int mode = d->mode, steps = d->steps, layers = d->layers, streams = d->streams;
    const int *hidden = d->hidden, *depths = d->depths;
    const void *w0x = d->w0x, *w_out = d->w_out;
    const void *const *w = d->w;
    const float *const *b = d->b;
    const float *b_out = d->b_out;
    float *h[layers], *c[layers];
    for (int l = 0; l < layers; l++) {
        h[l] = d->h[l] + (size_t)first * hidden[l];
        c[l] = d->c[l] + (size_t)first * hidden[l];
    }
    float *b0 = d->b0 + (size_t)first * 4 * hidden[0];
    if (embed(d, first, batch, b0, h, c)) return -1;
    const int *start = d->start + (size_t)first * streams;
    int depth = 0, hmax = 0, kmax = 0;
    for (int s = 0; s < streams; s++) depth += depths[s];
    for (int l = 0; l < layers; l++) {
        if (hidden[l] > hmax) hmax = hidden[l];
        int k = l == 0 ? hidden[0] : hidden[l - 1] + hidden[l];
        if (k > kmax) kmax = k;
    }
    float *logits = d->logits + (size_t)first * steps * depth;
    float *gates = malloc(sizeof(float) * (size_t)batch * 4 * hmax);
    float *xh = malloc(sizeof(float) * (size_t)batch * kmax);
    int *prev = malloc(sizeof(int) * (size_t)batch * streams);
    uint32_t *pairs = malloc(sizeof(uint32_t) * (size_t)batch * (kmax / 2 + 1));
    if (!gates || !xh || !prev || !pairs) {
        free(gates);
        free(xh);
        free(prev);
        free(pairs);
        return -1;
    }
    memcpy(prev, start, sizeof(int) * (size_t)batch * streams);
    int top = layers - 1, htop = hidden[top];
    for (int t = 0; t < steps; t++) {
        for (int l = 0; l < layers; l++) {
            int H = hidden[l], G = 4 * H;
            for (int bi = 0; bi < batch; bi++) {
                float *g = gates + (size_t)bi * G;
                if (l == 0) {
                    memcpy(g, b0 + (size_t)bi * G, sizeof(float) * G);
                    int offset = 0;
                    for (int s = 0; s < streams; s++) {
                        int token = prev[bi * streams + s];
                        if (token >= 0)
                            add_row(mode != 0, w0x, (size_t)(offset + token), G, 0, G, g);
                        offset += depths[s];
                    }
                } else {
                    memcpy(g, b[l], sizeof(float) * G);
                    float *v = xh + (size_t)bi * kmax;
                    memcpy(v, h[l - 1] + (size_t)bi * hidden[l - 1], sizeof(float) * hidden[l - 1]);
                    memcpy(v + hidden[l - 1], h[l] + (size_t)bi * H, sizeof(float) * H);
                }
            }
            if (l == 0)
                matvec_add(mode, w[0], H, G, h[0], batch, H, gates, G, pairs);
            else
                matvec_add(mode, w[l], hidden[l - 1] + H, G, xh, batch, kmax, gates, G, pairs);
            for (int bi = 0; bi < batch; bi++)
                lstm_update(gates + (size_t)bi * G, H, 0, H, h[l] + (size_t)bi * H,
                            c[l] + (size_t)bi * H);
        }
        for (int bi = 0; bi < batch; bi++) {
            float *out = logits + ((size_t)bi * steps + t) * depth;
            memcpy(out, b_out, sizeof(float) * depth);
        }
        matvec_add(mode, w_out, htop, depth, h[top], batch, htop, logits + (size_t)t * depth,
                   steps * depth, pairs);
        for (int bi = 0; bi < batch; bi++)
            pick(d, first + bi, t, logits + ((size_t)bi * steps + t) * depth,
                 prev + (size_t)bi * streams, 1);
    }
    free(gates);
    free(xh);
    free(prev);
    free(pairs);
    return 0;
}

enum { BLOCK_ROWS = 16 }; /* rows per block of work (whole 4-row groups) */

#ifdef _OPENMP
#include <omp.h>

/* Decodes every row of d (a batch too small to split by rows) with threads splitting each
 * step's units instead: a thread computes its units' gates (its columns of every gate block)
 * and updates them, so each thread reads 1/n of a step's weights, which then stay in its own
 * cache. Each layer's new h goes to the other of two buffers, and a barrier follows each
 * layer; every thread computes the (small) output layer and picks the same tokens. The
 * arithmetic of each unit and logit is the same as decode_rows', so are the results. */
static int decode_split(const struct decode *d, int threads) {
    const int batch = d->batch, steps = d->steps, layers = d->layers, streams = d->streams;
    const int mode = d->mode, *hidden = d->hidden, *depths = d->depths;
    int depth = 0, hmax = 0, kmax = 0, status = 0;
    for (int s = 0; s < streams; s++) depth += depths[s];
    for (int l = 0; l < layers; l++) {
        if (hidden[l] > hmax) hmax = hidden[l];
        int k = l == 0 ? hidden[0] : hidden[l - 1] + hidden[l];
        if (k > kmax) kmax = k;
    }
    float *h[layers][2]; /* [l][t % 2]: h_l before step t; buffer 0 is the caller's */
    float *const *c = d->c;
    for (int l = 0; l < layers; l++) h[l][0] = d->h[l];
    if (embed(d, 0, batch, d->b0, (float **)d->h, (float **)d->c)) return -1;
    /* per thread: gates (B, 4 Hmax), xh (B, Kmax), logits (B, D), pairs, prev tokens (B, S) */
    const size_t per = (size_t)batch * (4 * hmax + kmax + depth + kmax / 2 + 1 + streams);
    float *shared = malloc(sizeof(float) * (size_t)batch * hmax * layers);
    float *scratch = malloc(sizeof(float) * per * threads);
    if (!shared || !scratch) {
        free(shared);
        free(scratch);
        return -1;
    }
    for (int l = 0; l < layers; l++) h[l][1] = shared + (size_t)l * batch * hmax;
#pragma omp parallel num_threads(threads)
    {
        const int me = omp_get_thread_num(), n = omp_get_num_threads();
        float *gates = scratch + per * me, *xh = gates + (size_t)batch * 4 * hmax;
        float *lg = xh + (size_t)batch * kmax;
        uint32_t *pairs = (uint32_t *)(lg + (size_t)batch * depth);
        int *prev = (int *)(pairs + (size_t)batch * (kmax / 2 + 1));
        memcpy(prev, d->start, sizeof(int) * (size_t)batch * streams);
        for (int t = 0; t < steps; t++) {
            for (int l = 0; l < layers; l++) {
                const int H = hidden[l], G = 4 * H, K = l == 0 ? H : hidden[l - 1] + H;
                const float *old = h[l][t % 2];
                float *new = h[l][(t + 1) % 2];
                int lo, hi;
                share_range(H, me, n, 16, &lo, &hi);
                for (int bi = 0; bi < batch; bi++) {
                    float *g = gates + (size_t)bi * G, *v = xh + (size_t)bi * kmax;
                    const float *bias = l == 0 ? d->b0 + (size_t)bi * G : d->b[l];
                    for (int q = 0; q < 4; q++)
                        memcpy(g + q * H + lo, bias + q * H + lo, sizeof(float) * (hi - lo));
                    if (l == 0) {
                        for (int s = 0, offset = 0; s < streams; offset += depths[s], s++) {
                            int token = prev[bi * streams + s];
                            if (token < 0) continue;
                            for (int q = 0; q < 4; q++)
                                add_row(mode != 0, d->w0x, (size_t)(offset + token), G,
                                        q * H + lo, q * H + hi, g);
                        }
                        memcpy(v, old + (size_t)bi * H, sizeof(float) * H);
                    } else {
                        const int P = hidden[l - 1];
                        memcpy(v, h[l - 1][(t + 1) % 2] + (size_t)bi * P, sizeof(float) * P);
                        memcpy(v + P, old + (size_t)bi * H, sizeof(float) * H);
                    }
                }
                for (int q = 0; q < 4; q++)
                    matvec_cols(mode, d->w[l], K, G, q * H + lo, q * H + hi, xh, batch, kmax,
                                gates, G, pairs);
                for (int bi = 0; bi < batch; bi++)
                    lstm_update(gates + (size_t)bi * G, H, lo, hi, new + (size_t)bi * H,
                                c[l] + (size_t)bi * H);
#pragma omp barrier
            }
            const int top = layers - 1, htop = hidden[top];
            for (int bi = 0; bi < batch; bi++)
                memcpy(lg + (size_t)bi * depth, d->b_out, sizeof(float) * depth);
            matvec_add(mode, d->w_out, htop, depth, h[top][(t + 1) % 2], batch, htop, lg, depth,
                       pairs);
            for (int bi = 0; bi < batch; bi++)
                pick(d, bi, t, lg + (size_t)bi * depth, prev + (size_t)bi * streams, me == 0);
        }
    }
    /* the final state where the caller's buffers are (decode_rows leaves it there too) */
    if (steps % 2)
        for (int l = 0; l < layers; l++)
            memcpy(d->h[l], h[l][1], sizeof(float) * (size_t)batch * hidden[l]);
    free(shared);
    free(scratch);
    return status;
}
#endif

#ifndef _OPENMP
struct job {
    const struct decode *d;
    int blocks, per, next, status;
    pthread_mutex_t lock;
};

/* Takes blocks of rows until none is left (the caller's thread and the helpers alike). */
static void *run_blocks(void *arg) {
    struct job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int k = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (k >= j->blocks) return NULL;
        int first = k * j->per, rows = j->d->batch - first < j->per ? j->d->batch - first : j->per;
        if (decode_rows(j->d, first, rows)) {
            pthread_mutex_lock(&j->lock);
            j->status = -1;
            pthread_mutex_unlock(&j->lock);
        }
    }
}
#endif

/* Returns 0, or -1 when scratch memory could not be had.
 *
 * mode (see matvec_add): 0, every weight array fp32; 1, all bf16; 2, all bf16 with
 * w[l] and w_out in pair layout (gemm_dot) and the inputs of their products rounded to bf16.
 * hidden (L,): layer sizes H_l. w0x (D, 4 H_0): layer 0's weights of the one-hot input, one
 * row per token. w[l] (K_l, 4 H_l): layer l's weights of [input ; h], transposed, with
 * K_0 = H_0 (layer 0 reads its tokens through w0x) and K_l = H_{l-1} + H_l; b[l] (4 H_l) their
 * biases. e (B, E): the conditioning embedding (z, or a conductor output); w_e (E, 4 H_0): layer
 * 0's weights of it; w_init (E, 2 sum H), b_init: the initial-state dense. Scratch filled
 * here: b0 (B, 4 H_0) and the state h[l], c[l] (B, H_l).
 * w_out (H_top, D), b_out (D). depths (S,): the streams' sizes (sum D). start (B, S): the
 * tokens before the first step (-1: none, zeros as input). uniforms (B, T, S) in [0, 1), or
 * NULL for argmax. Scheduled sampling: teacher (B, T, S) tokens (-1: none) and coins (B, T)
 * in [0, 1): step t + 1 reads the row's own tokens of step t where coins[b, t] < probability,
 * else teacher[b, t + 1]; teacher NULL: always its own. Out: tokens (B, T, S) and logits (B, T, D). threads: at most this many
 * threads (the caller's included) take blocks of rows (at least MIN_ROWS each), or below
 * 2 MIN_ROWS rows split each step's units (OpenMP builds). The results do not depend on it.
 */
int musicvae_decode(int mode, int batch, int steps, int layers, const int *hidden,
                    const void *w0x, const void *const *w, float *b0, const float *const *b,
                    const float *e, int esize, const void *w_e, const void *w_init,
                    const float *b_init, float *const *h, float *const *c, const void *w_out,
                    const float *b_out, int streams, const int *depths, const int *start,
                    const float *uniforms, float inv_temperature, const int *teacher,
                    const float *coins, float probability, int *tokens, float *logits,
                    int threads) {
    struct decode d = {.mode = mode,         .batch = batch,       .steps = steps,
                       .layers = layers,     .hidden = hidden,     .w0x = w0x,
                       .w = w,               .b0 = b0,             .b = b,
                       .e = e,               .esize = esize,       .w_e = w_e,
                       .w_init = w_init,     .b_init = b_init,     .h = h,
                       .c = c,               .w_out = w_out,       .b_out = b_out,
                       .streams = streams,   .depths = depths,     .start = start,
                       .uniforms = uniforms, .inv_temperature = inv_temperature,
                       .teacher = teacher,   .coins = coins,       .probability = probability,
                       .tokens = tokens,     .logits = logits};
#ifdef _OPENMP
    if (threads > 1 && batch < 2 * MIN_ROWS) return decode_split(&d, threads);
#endif
    if (threads > batch / MIN_ROWS) threads = batch / MIN_ROWS;
    if (threads <= 1) return decode_rows(&d, 0, batch);
    /* Blocks of BLOCK_ROWS rows (at least 4 blocks per thread at large batches would cost
     * weight reads: each block streams every step's weights once), taken dynamically, so a
     * thread that starts late (a busy core) does fewer. */
    int per = (batch + threads - 1) / threads;
    if (per > BLOCK_ROWS) per = BLOCK_ROWS;
    per = (per + 3) / 4 * 4;
    const int blocks = (batch + per - 1) / per;
    int status = 0;
#ifdef _OPENMP
    /* torch's own OpenMP pool where this library shares torch's libgomp (it is loaded after
     * torch, and the loader reuses the loaded libgomp.so.1): its workers are awake, or
     * spinning, right after torch's last parallel operation, where a new thread would have
     * to wait for the core they spin on. */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) reduction(| : status)
    for (int k = 0; k < blocks; k++) {
        int first = k * per;
        status |= decode_rows(&d, first, batch - first < per ? batch - first : per);
    }
#else
    struct job job = {.d = &d, .blocks = blocks, .per = per, .next = 0, .status = 0};
    pthread_mutex_init(&job.lock, NULL);
    pthread_t ids[threads];
    int started[threads];
    for (int k = 1; k < threads; k++)
        started[k] = pthread_create(&ids[k], NULL, run_blocks, &job) == 0;
    run_blocks(&job); /* with no helper to be had, this thread does every block */
    for (int k = 1; k < threads; k++)
        if (started[k]) pthread_join(ids[k], NULL);
    pthread_mutex_destroy(&job.lock);
    status = job.status;
#endif
    return status ? -1 : 0;
}
