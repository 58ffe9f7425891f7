/* cuda_sample_topp.c - sampling on the GPU with temperature, top-k, top-p, min-p, penalties and
 * logit bias (cuda_sample_topp.h): one block of 1024 threads per row, no sort.
 *
 * The host sampler (engine/sampler.c) is the reference. It applies logit bias, the repetition
 * penalty and the presence / frequency penalties to the row, then (temperature > 0, top_k != 1)
 * either draws in id order from the whole softmax (no filter) or sorts the candidates (> -inf)
 * by logit descending, ties by id, keeps the first top_k, normalizes, keeps the shortest prefix
 * whose mass reaches top_p, then those of probability >= min_p times the first's, and draws
 * from what is left in that order. Every cut is a position in one of those two orders, so the
 * kernel gives each candidate a 64-bit rank (the value's order key, then its id; or the id)
 * and finds each cut as the least rank whose prefix count or weight reaches a target, by
 * bisection: over the value level, then over the ids tied at that level. Each bisection step
 * is one pass over the elements (8 loads in flight per thread: a pass over the row is bound by
 * L2 latency) and one block reduction. The elements are the row (it stays in
 * L2) or, usually, a list in shared memory: a value floor is searched first (a few passes)
 * that keeps at most 4096 elements and still holds the top-k, the top-p mass or the min-p set;
 * everything after works on that list.
 *
 * Arithmetic: the processors in float32 without contraction (as the host's); the weights
 * exp((l - max) / T) in float32 summed in double (the host: double throughout), so the
 * token is the host's for the same uniform unless a cumulative sum lands within float
 * rounding (~1e-6 relative) of the uniform's target or of top_p at a cut. Ties in value are
 * broken by id exactly as the host's sort. A row whose largest value is +inf takes its first
 * +inf token (the host's arithmetic turns such a row into NaN weights). The reported log
 * probability is the greedy kernel's: float32 log-softmax of the unprocessed row. */
#include "runtime/cuda_sample_topp.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/device.h"
#include "support/alloc.h"
#include "support/error.h"

static const char *const kernel_source =
    "#define NEG_INF __int_as_float(0xff800000)\n"
    "#define ALL 0xffffffffffffffffull\n"
    "#define CAP 4096\n"
    "#define UNROLL 8 /* loads in flight per thread: a pass over the row is bound by L2 latency otherwise */\n"
    "typedef unsigned long long u64;\n"
    "struct row_param {\n"
    "    float temperature, top_p, min_p, repetition, presence, frequency;\n"
    "    int top_k, nbias, bias_off, npen, pen_off, pad;\n"
    "    double uniform;\n"
    "};\n"
    "/* the elements a pass reads: the row (id NULL: the index is the id) or a list in shared memory */\n"
    "struct src_t { const float *v; const int *id; int n; };\n"
    "/* the set a pass counts: candidates (> -inf, not NaN) of rank <= keep, of weight >= wmin, value >= vmin */\n"
    "struct set_t { float lmax, t, wmin, vmin; int sorted; u64 keep; };\n"
    "__device__ __forceinline__ bool is_nan(float v) { return v != v; }\n"
    "__device__ __forceinline__ bool better(float v, int i, float b, int bi) {\n"
    "    if (bi < 0) return i >= 0;\n"
    "    if (i < 0) return false;\n"
    "    if (is_nan(b)) return !is_nan(v) || i < bi;\n"
    "    if (is_nan(v)) return false;\n"
    "    return v > b || (v == b && i < bi);\n"
    "}\n"
    "/* monotone: a larger float gives a larger key (-0 is made +0 first: the host's order ties them) */\n"
    "__device__ __forceinline__ unsigned okey(float v) {\n"
    "    unsigned b = __float_as_uint(v);\n"
    "    return (b >> 31) ? ~b : (b | 0x80000000u);\n"
    "}\n"
    "/* position in the host's order: sorted by value descending then id ascending, or by id */\n"
    "__device__ __forceinline__ u64 rank_of(float v, int id, int sorted) {\n"
    "    return sorted ? ((u64)(~okey(v)) << 32) | (unsigned)id : (u64)(unsigned)id;\n"
    "}\n"
    "__device__ __forceinline__ float weight(const set_t &s, float v) { return expf((v - s.lmax) / s.t); }\n"
    "\n"
    "/* Sums of a count and a weight over the block; every thread gets the same totals (each sums\n"
    " * the warps' parts in the same order). */\n"
    "__device__ void block_sum(int *c, double *m) {\n"
    "    __shared__ int sc[32];\n"
    "    __shared__ double sm[32];\n"
    "    int cc = *c;\n"
    "    double mm = *m;\n"
    "    for (int d = 16; d > 0; d >>= 1) {\n"
    "        cc += __shfl_xor_sync(0xffffffffu, cc, d);\n"
    "        mm += __shfl_xor_sync(0xffffffffu, mm, d);\n"
    "    }\n"
    "    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = (blockDim.x + 31) >> 5;\n"
    "    __syncthreads();\n"
    "    if (lane == 0) sc[warp] = cc, sm[warp] = mm;\n"
    "    __syncthreads();\n"
    "    cc = 0, mm = 0;\n"
    "    for (int w = 0; w < nw; w++) cc += sc[w], mm += sm[w];\n"
    "    *c = cc, *m = mm;\n"
    "}\n"
    "__device__ void block_count_min(int *c, int *mi) {\n"
    "    __shared__ int sc[32], smi[32];\n"
    "    int cc = *c, m = *mi;\n"
    "    for (int d = 16; d > 0; d >>= 1) {\n"
    "        cc += __shfl_xor_sync(0xffffffffu, cc, d);\n"
    "        m = min(m, __shfl_xor_sync(0xffffffffu, m, d));\n"
    "    }\n"
    "    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = (blockDim.x + 31) >> 5;\n"
    "    __syncthreads();\n"
    "    if (lane == 0) sc[warp] = cc, smi[warp] = m;\n"
    "    __syncthreads();\n"
    "    cc = 0, m = 0x7fffffff;\n"
    "    for (int w = 0; w < nw; w++) cc += sc[w], m = min(m, smi[w]);\n"
    "    *c = cc, *mi = m;\n"
    "}\n"
    "\n"
    "/* The count and weight of the set's elements of rank <= cut (weights only when asked). */\n"
    "__device__ void pass(const src_t &src, const set_t &s, u64 cut, bool need_mass, int *cnt, double *mass) {\n"
    "    int c = 0;\n"
    "    double m = 0;\n"
    "    for (int base = threadIdx.x; base < src.n; base += UNROLL * blockDim.x) {\n"
    "        float vs[UNROLL];\n"
    "#pragma unroll\n"
    "        for (int k = 0; k < UNROLL; k++) vs[k] = base + k * (int)blockDim.x < src.n ? src.v[base + k * blockDim.x] : NEG_INF;\n"
    "#pragma unroll\n"
    "        for (int k = 0; k < UNROLL; k++) {\n"
    "            int j = base + k * blockDim.x;\n"
    "            float v = vs[k];\n"
    "            if (!(v > NEG_INF) || v < s.vmin) continue;\n"
    "            if (v == 0.f) v = 0.f;\n"
    "            u64 r = rank_of(v, src.id ? src.id[j] : j, s.sorted);\n"
    "            if (r > s.keep || r > cut) continue;\n"
    "            if (need_mass || s.wmin > 0.f) {\n"
    "                float w = weight(s, v);\n"
    "                if (w < s.wmin) continue;\n"
    "                m += (double)w;\n"
    "            }\n"
    "            c++;\n"
    "        }\n"
    "    }\n"
    "    block_sum(&c, &m);\n"
    "    *cnt = c, *mass = m;\n"
    "}\n"
    "\n"
    "/* How many of the set's elements have the value level h (the rank's high word), and the least id. */\n"
    "__device__ void level(const src_t &src, const set_t &s, unsigned h, int *cnt, int *min_id) {\n"
    "    int c = 0, mi = 0x7fffffff;\n"
    "    for (int base = threadIdx.x; base < src.n; base += UNROLL * blockDim.x) {\n"
    "        float vs[UNROLL];\n"
    "#pragma unroll\n"
    "        for (int k = 0; k < UNROLL; k++) vs[k] = base + k * (int)blockDim.x < src.n ? src.v[base + k * blockDim.x] : NEG_INF;\n"
    "#pragma unroll\n"
    "        for (int k = 0; k < UNROLL; k++) {\n"
    "            int j = base + k * blockDim.x;\n"
    "            float v = vs[k];\n"
    "            if (!(v > NEG_INF) || v < s.vmin) continue;\n"
    "            if (v == 0.f) v = 0.f;\n"
    "            int id = src.id ? src.id[j] : j;\n"
    "            u64 r = rank_of(v, id, 1);\n"
    "            if (r > s.keep || (unsigned)(r >> 32) != h) continue;\n"
    "            if (s.wmin > 0.f && weight(s, v) < s.wmin) continue;\n"
    "            c++, mi = min(mi, id);\n"
    "        }\n"
    "    }\n"
    "    block_count_min(&c, &mi);\n"
    "    *cnt = c, *min_id = mi;\n"
    "}\n"
    "\n"
    "__device__ __forceinline__ bool reached(bool by_mass, bool ge, double target, int c, double m) {\n"
    "    double f = by_mass ? m : (double)c;\n"
    "    return ge ? f >= target : f > target;\n"
    "}\n"
    "\n"
    "/* The least rank whose prefix (the set's elements of rank <= it) has a count or weight that\n"
    " * reaches target (>= when ge, > otherwise), by bisection: over ids in id order; in sorted\n"
    " * order over the value level first (lo..hi of the candidates), then over the ids of the\n"
    " * elements tied at that level. The whole set must reach it. */\n"
    "__device__ u64 search(const src_t &src, const set_t &s, bool by_mass, bool ge, double target, float lmin, int vocab) {\n"
    "    int c;\n"
    "    double m;\n"
    "    if (!s.sorted) {\n"
    "        unsigned lo = 0, hi = (unsigned)vocab - 1;\n"
    "        while (lo < hi) {\n"
    "            unsigned mid = lo + (hi - lo) / 2;\n"
    "            pass(src, s, mid, by_mass, &c, &m);\n"
    "            if (reached(by_mass, ge, target, c, m)) hi = mid;\n"
    "            else lo = mid + 1;\n"
    "        }\n"
    "        return lo;\n"
    "    }\n"
    "    unsigned lo = ~okey(s.lmax == 0.f ? 0.f : s.lmax), hi = ~okey(lmin == 0.f ? 0.f : lmin);\n"
    "    while (lo < hi) {\n"
    "        unsigned mid = lo + (hi - lo) / 2;\n"
    "        pass(src, s, ((u64)mid << 32) | 0xffffffffu, by_mass, &c, &m);\n"
    "        if (reached(by_mass, ge, target, c, m)) hi = mid;\n"
    "        else lo = mid + 1;\n"
    "    }\n"
    "    int ties, first;\n"
    "    level(src, s, lo, &ties, &first);\n"
    "    if (ties <= 1) return ((u64)lo << 32) | (unsigned)first;\n"
    "    unsigned a = (unsigned)first, b = (unsigned)vocab - 1;\n"
    "    while (a < b) {\n"
    "        unsigned mid = a + (b - a) / 2;\n"
    "        pass(src, s, ((u64)lo << 32) | mid, by_mass, &c, &m);\n"
    "        if (reached(by_mass, ge, target, c, m)) b = mid;\n"
    "        else a = mid + 1;\n"
    "    }\n"
    "    return ((u64)lo << 32) | a;\n"
    "}\n"
    "\n"
    "/* The sampled token of a row (not greedy, candidates > 0, finite largest value lmax) in the host\n"
    " * sampler's order: top-k, the weights' total over what is left, top-p, min-p, the draw. */\n"
    "__device__ int draw(const src_t &src, set_t s, const row_param &p, int n, float lmin, int vocab, double total_all) {\n"
    "    int c;\n"
    "    double m, total = total_all;\n"
    "    if (p.top_k > 0 && p.top_k < n) {\n"
    "        s.keep = search(src, s, false, true, (double)p.top_k, lmin, vocab);\n"
    "        pass(src, s, ALL, true, &c, &total);\n"
    "    }\n"
    "    if (p.top_p < 1.f) { /* the target is clamped to what the list holds (equal up to rounding) */\n"
    "        double target = (double)p.top_p * total;\n"
    "        pass(src, s, ALL, true, &c, &m);\n"
    "        s.keep = search(src, s, true, true, target < m ? target : m, lmin, vocab);\n"
    "    }\n"
    "    if (p.min_p > 0.f) s.wmin = p.min_p;\n"
    "    pass(src, s, ALL, true, &c, &m);\n"
    "    double target = p.uniform * m;\n"
    "    u64 r = target < m ? search(src, s, true, false, target, lmin, vocab) : search(src, s, false, true, (double)c, lmin, vocab);\n"
    "    return (int)(unsigned)(r & 0xffffffffu);\n"
    "}\n"
    "\n"
    "struct stats { float best; int idx; float lo; int n; };\n"
    "__device__ __forceinline__ stats merge_stats(stats a, stats b) {\n"
    "    stats r;\n"
    "    if (better(b.best, b.idx, a.best, a.idx)) r.best = b.best, r.idx = b.idx;\n"
    "    else r.best = a.best, r.idx = a.idx;\n"
    "    r.lo = fminf(a.lo, b.lo);\n"
    "    r.n = a.n + b.n;\n"
    "    return r;\n"
    "}\n"
    "/* Over the processed row: the arg-max (the host's: first largest, NaN loses), the candidates'\n"
    " * count and least value. */\n"
    "__device__ stats row_stats(const float *row, long long vocab) {\n"
    "    stats a = {0.f, -1, __int_as_float(0x7f800000), 0};\n"
    "    for (long long base = threadIdx.x; base < vocab; base += UNROLL * blockDim.x) {\n"
    "        float vs[UNROLL];\n"
    "#pragma unroll\n"
    "        for (int k = 0; k < UNROLL; k++) vs[k] = base + k * blockDim.x < vocab ? row[base + k * blockDim.x] : NEG_INF;\n"
    "#pragma unroll\n"
    "        for (int k = 0; k < UNROLL; k++) {\n"
    "                long long i = base + k * blockDim.x;\n"
    "                float v = vs[k];\n"
    "                if (i < vocab && better(v, (int)i, a.best, a.idx)) a.best = v, a.idx = (int)i;\n"
    "                if (v > NEG_INF) a.lo = fminf(a.lo, v), a.n++;\n"
    "        }\n"
    "    }\n"
    "    for (int d = 16; d > 0; d >>= 1) {\n"
    "        stats b;\n"
    "        b.best = __shfl_xor_sync(0xffffffffu, a.best, d);\n"
    "        b.idx = __shfl_xor_sync(0xffffffffu, a.idx, d);\n"
    "        b.lo = __shfl_xor_sync(0xffffffffu, a.lo, d);\n"
    "        b.n = __shfl_xor_sync(0xffffffffu, a.n, d);\n"
    "        a = merge_stats(a, b);\n"
    "    }\n"
    "    __shared__ stats part[32];\n"
    "    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = (blockDim.x + 31) >> 5;\n"
    "    __syncthreads();\n"
    "    if (lane == 0) part[warp] = a;\n"
    "    __syncthreads();\n"
    "    a = part[0];\n"
    "    for (int w = 1; w < nw; w++) a = merge_stats(a, part[w]);\n"
    "    return a;\n"
    "}\n"
    "/* The raw row's log-sum-exp (float, as the greedy kernel), -inf when nothing is finite. */\n"
    "__device__ float row_lse(const float *row, long long vocab) {\n"
    "    float m = NEG_INF, s = 0.f;\n"
    "    for (long long base = threadIdx.x; base < vocab; base += UNROLL * blockDim.x) {\n"
    "        float vs[UNROLL];\n"
    "#pragma unroll\n"
    "        for (int k = 0; k < UNROLL; k++) vs[k] = base + k * blockDim.x < vocab ? row[base + k * blockDim.x] : NEG_INF;\n"
    "#pragma unroll\n"
    "        for (int k = 0; k < UNROLL; k++) {\n"
    "                float v = vs[k];\n"
    "                if (!(v > NEG_INF)) continue;\n"
    "                if (v > m) s = s * expf(m - v) + 1.f, m = v;\n"
    "                else s += expf(v - m);\n"
    "        }\n"
    "    }\n"
    "    __shared__ float pm[32], ps[32];\n"
    "    for (int d = 16; d > 0; d >>= 1) {\n"
    "        float m2 = __shfl_xor_sync(0xffffffffu, m, d), s2 = __shfl_xor_sync(0xffffffffu, s, d);\n"
    "        float mm = fmaxf(m, m2);\n"
    "        s = (s > 0.f ? s * expf(m - mm) : 0.f) + (s2 > 0.f ? s2 * expf(m2 - mm) : 0.f);\n"
    "        m = mm;\n"
    "    }\n"
    "    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = (blockDim.x + 31) >> 5;\n"
    "    __syncthreads();\n"
    "    if (lane == 0) pm[warp] = m, ps[warp] = s;\n"
    "    __syncthreads();\n"
    "    m = NEG_INF, s = 0.f;\n"
    "    for (int w = 0; w < nw; w++) {\n"
    "        float mm = fmaxf(m, pm[w]);\n"
    "        s = (s > 0.f ? s * expf(m - mm) : 0.f) + (ps[w] > 0.f ? ps[w] * expf(pm[w] - mm) : 0.f);\n"
    "        m = mm;\n"
    "    }\n"
    "    return s > 0.f ? m + logf(s) : NEG_INF;\n"
    "}\n"
    "\n"
    "extern \"C\" __global__ void __launch_bounds__(1024)\n"
    "mlcc_sample_rows(float *logits, long long vocab, const row_param *params, const int *bias_ids, const float *bias_values,\n"
    "                 const int *pen_ids, const int *pen_counts, float *bias_orig, float *pen_orig, int *ids, float *logprobs,\n"
    "                 int *drew) {\n"
    "    float *row = logits + (long long)blockIdx.x * vocab;\n"
    "    const row_param p = params[blockIdx.x];\n"
    "    const int *bid = bias_ids + p.bias_off, *pid = pen_ids + p.pen_off, *pcount = pen_counts + p.pen_off;\n"
    "    const float *bval = bias_values + p.bias_off;\n"
    "    float *borig = bias_orig + p.bias_off, *porig = pen_orig + p.pen_off;\n"
    "    float lse = row_lse(row, vocab);\n"
    "    /* the logits processors, in the host's order and float arithmetic (no contraction) */\n"
    "    if (p.nbias > 0 || p.npen > 0) {\n"
    "        for (int j = threadIdx.x; j < p.nbias; j += blockDim.x) borig[j] = row[bid[j]];\n"
    "        for (int j = threadIdx.x; j < p.npen; j += blockDim.x) porig[j] = row[pid[j]];\n"
    "        __syncthreads();\n"
    "        if (threadIdx.x == 0)\n"
    "            for (int j = 0; j < p.nbias; j++) row[bid[j]] = __fadd_rn(row[bid[j]], bval[j]);\n"
    "        __syncthreads();\n"
    "        for (int j = threadIdx.x; j < p.npen; j += blockDim.x) {\n"
    "            float v = row[pid[j]];\n"
    "            if (p.repetition != 1.f) v = v > 0.f ? __fdiv_rn(v, p.repetition) : __fmul_rn(v, p.repetition);\n"
    "            if (pcount[j] > 0 && (p.presence != 0.f || p.frequency != 0.f))\n"
    "                v = __fsub_rn(v, __fadd_rn(__fmul_rn(p.frequency, (float)pcount[j]), p.presence));\n"
    "            row[pid[j]] = v;\n"
    "        }\n"
    "        __syncthreads();\n"
    "    }\n"
    "    stats st = row_stats(row, vocab);\n"
    "    bool sampled = p.temperature > 0.f && p.top_k != 1 && st.n > 0;\n"
    "    int chosen = st.idx < 0 ? 0 : st.idx;\n"
    "    if (sampled && st.best != __int_as_float(0x7f800000)) {\n"
    "        set_t s = {st.best, p.temperature, 0.f, NEG_INF, 0, ALL};\n"
    "        src_t whole = {row, (const int *)0, (int)vocab};\n"
    "        int c;\n"
    "        double total;\n"
    "        bool filtered = p.top_k != 0 || p.top_p < 1.f || p.min_p > 0.f;\n"
    "        pass(whole, s, ALL, true, &c, &total);\n"
    "        if (!filtered) {\n"
    "            double target = p.uniform * total;\n"
    "            u64 r = target < total ? search(whole, s, true, false, target, st.lo, (int)vocab)\n"
    "                                   : search(whole, s, false, true, (double)c, st.lo, (int)vocab);\n"
    "            chosen = (int)(unsigned)r;\n"
    "        } else {\n"
    "            s.sorted = 1;\n"
    "            /* the part of the sorted order that matters (top-k, top-p's mass, min-p's weights)\n"
    "             * fits in shared memory most of the time: find a value floor that keeps it, at most\n"
    "             * CAP elements, and work on that list; else on the whole row */\n"
    "            int need_k = p.top_k > 0 && p.top_k < st.n ? p.top_k : 0, need_minp = 0;\n"
    "            double m;\n"
    "            if (!need_k && p.top_p >= 1.f && p.min_p > 0.f) {\n"
    "                set_t sm = s;\n"
    "                sm.wmin = p.min_p;\n"
    "                pass(whole, sm, ALL, false, &need_minp, &m);\n"
    "            }\n"
    "            float floor_v = NEG_INF;\n"
    "            /* CAP elements weigh at most CAP (the largest weighs 1): no list when more is needed */\n"
    "            bool fits = need_k ? need_k <= CAP : p.top_p < 1.f ? (double)p.top_p * total <= CAP : need_minp ? need_minp <= CAP : false;\n"
    "            if (st.n <= CAP) floor_v = st.lo;\n"
    "            else if (fits) {\n"
    "                float lo = st.lo, hi = st.best; /* more than CAP elements are >= lo */\n"
    "                for (int it = 0; it < 40; it++) {\n"
    "                    float mid = it == 0 ? hi : 0.5f * lo + 0.5f * hi;\n"
    "                    set_t sv = s;\n"
    "                    sv.vmin = mid;\n"
    "                    pass(whole, sv, ALL, !need_k && p.top_p < 1.f, &c, &m);\n"
    "                    bool enough = need_k ? c >= need_k : p.top_p < 1.f ? m >= (double)p.top_p * total : c >= need_minp;\n"
    "                    if (c > CAP) {\n"
    "                        if (it == 0) break; /* more than CAP ties at the top */\n"
    "                        lo = mid;\n"
    "                    } else if (enough) {\n"
    "                        floor_v = mid;\n"
    "                        break;\n"
    "                    } else {\n"
    "                        hi = mid;\n"
    "                    }\n"
    "                    float next = 0.5f * lo + 0.5f * hi;\n"
    "                    if (!(next > lo && next < hi)) break;\n"
    "                }\n"
    "            }\n"
    "            __shared__ float list_v[CAP];\n"
    "            __shared__ int list_id[CAP];\n"
    "            __shared__ int list_n;\n"
    "            src_t src = whole;\n"
    "            if (floor_v != NEG_INF) {\n"
    "                if (threadIdx.x == 0) list_n = 0;\n"
    "                __syncthreads();\n"
    "                for (long long base = threadIdx.x; base < vocab; base += UNROLL * blockDim.x) {\n"
    "                    float vs[UNROLL];\n"
    "#pragma unroll\n"
    "                    for (int k = 0; k < UNROLL; k++) vs[k] = base + k * blockDim.x < vocab ? row[base + k * blockDim.x] : NEG_INF;\n"
    "#pragma unroll\n"
    "                    for (int k = 0; k < UNROLL; k++) {\n"
    "                        float v = vs[k];\n"
    "                        if (v > NEG_INF && v >= floor_v) {\n"
    "                            int at = atomicAdd(&list_n, 1);\n"
    "                            if (at < CAP) list_v[at] = v, list_id[at] = (int)(base + k * blockDim.x);\n"
    "                        }\n"
    "                    }\n"
    "                }\n"
    "                __syncthreads();\n"
    "                src.v = list_v, src.id = list_id, src.n = min(list_n, CAP);\n"
    "            }\n"
    "            chosen = draw(src, s, p, st.n, st.lo, (int)vocab, total);\n"
    "        }\n"
    "    }\n"
    "    if (chosen < 0 || chosen >= vocab) chosen = st.idx < 0 ? 0 : st.idx; /* never: a broken bisection */\n"
    "    /* the reported log probability is the chosen token's under the unprocessed row */\n"
    "    __shared__ float raw;\n"
    "    __syncthreads();\n"
    "    if (threadIdx.x == 0) raw = row[chosen];\n"
    "    __syncthreads();\n"
    "    for (int j = threadIdx.x; j < p.nbias; j += blockDim.x)\n"
    "        if (bid[j] == chosen) raw = borig[j];\n"
    "    for (int j = threadIdx.x; j < p.npen; j += blockDim.x)\n"
    "        if (pid[j] == chosen) raw = porig[j];\n"
    "    __syncthreads();\n"
    "    if (threadIdx.x == 0) {\n"
    "        ids[blockIdx.x] = chosen;\n"
    "        logprobs[blockIdx.x] = lse == NEG_INF ? NEG_INF : raw - lse;\n"
    "        drew[blockIdx.x] = sampled ? 1 : 0;\n"
    "    }\n"
    "}\n";

const char *mlcc_cuda_sample_topp_kernel_source(void) {
    return kernel_source;
}

/* the kernel's per-row parameters (the struct row_param of the source) */
typedef struct row_param {
    float temperature, top_p, min_p, repetition, presence, frequency;
    int32_t top_k, nbias, bias_off, npen, pen_off, pad;
    double uniform;
} row_param;
_Static_assert(sizeof(row_param) == 56, "row_param matches the kernel's layout");

static mlcc_cuda_kernel_once sampling_kernel = {.source = kernel_source, .name = "mlcc_sample_rows"};

/* One buffer, uploaded once: the rows' parameters, then the bias and penalty lists; after
 * them the kernel's scratch (the processed ids' original logits) and its outputs. */
typedef struct layout {
    size_t params, bias_ids, bias_values, pen_ids, pen_counts, upload; /* upload: bytes sent */
    size_t bias_orig, pen_orig, out_ids, out_lps, out_drew, total;
    int nbias, npen;
} layout;

static layout layout_of(const mlcc_cuda_sample_row *p, int64_t rows) {
    layout l = {0};
    for (int64_t r = 0; r < rows; r++) {
        l.nbias += p[r].nbias > 0 ? p[r].nbias : 0;
        l.npen += p[r].npen > 0 ? p[r].npen : 0;
    }
    size_t off = sizeof(row_param) * (size_t)rows;
    l.bias_ids = off, off += 4 * (size_t)l.nbias;
    l.bias_values = off, off += 4 * (size_t)l.nbias;
    l.pen_ids = off, off += 4 * (size_t)l.npen;
    l.pen_counts = off, off += 4 * (size_t)l.npen;
    l.upload = off;
    l.bias_orig = off, off += 4 * (size_t)l.nbias;
    l.pen_orig = off, off += 4 * (size_t)l.npen;
    l.out_ids = off, off += 4 * (size_t)rows;
    l.out_lps = off, off += 4 * (size_t)rows;
    l.out_drew = off, off += 4 * (size_t)rows;
    l.total = off;
    return l;
}

/* Fills the upload part. Ids outside the vocabulary are dropped (the host sampler skips them). */
static void pack(char *buf, const layout *l, const mlcc_cuda_sample_row *p, int64_t rows, int64_t vocab) {
    int nb = 0, np = 0;
    for (int64_t r = 0; r < rows; r++) {
        const mlcc_cuda_sample_row *q = &p[r];
        row_param rp = {q->temperature, q->top_p, q->min_p, q->repetition_penalty, q->presence_penalty, q->frequency_penalty,
                        q->top_k, 0, nb, 0, np, 0, q->uniform};
        for (int i = 0; i < q->nbias; i++) {
            if (q->bias_ids[i] < 0 || q->bias_ids[i] >= vocab) continue;
            memcpy(buf + l->bias_ids + 4 * (size_t)(nb + rp.nbias), &q->bias_ids[i], 4);
            memcpy(buf + l->bias_values + 4 * (size_t)(nb + rp.nbias), &q->bias_values[i], 4);
            rp.nbias++;
        }
        for (int i = 0; i < q->npen; i++) {
            if (q->pen_ids[i] < 0 || q->pen_ids[i] >= vocab) continue;
            memcpy(buf + l->pen_ids + 4 * (size_t)(np + rp.npen), &q->pen_ids[i], 4);
            memcpy(buf + l->pen_counts + 4 * (size_t)(np + rp.npen), &q->pen_counts[i], 4);
            rp.npen++;
        }
        nb += rp.nbias, np += rp.npen;
        memcpy(buf + l->params + sizeof rp * (size_t)r, &rp, sizeof rp);
    }
}

int mlcc_cuda_sample(int device_id, float *logits, int64_t rows, int64_t vocab, const mlcc_cuda_sample_row *p, int32_t *ids,
                     double *logprobs, int *drew) {
    if (rows <= 0 || vocab <= 0 || rows > 0x7fffffff || vocab > 0x7fffffff)
        return mlcc_set_error("sampling: bad shape [%lld, %lld]", (long long)rows, (long long)vocab);
    void *f = mlcc_cuda_kernel_once_get(&sampling_kernel, device_id);
    if (!f) return mlcc_prefix_error("sampling kernel");
    layout l = layout_of(p, rows);
    const mlcc_cuda_library_hooks *h = mlcc_cuda_hooks();
    char *dbuf = h->alloc(device_id, l.total);
    if (!dbuf) return mlcc_prefix_error("sampling: %zu bytes", l.total);
    char *host = mlcc_xcalloc(1, l.total);
    pack(host, &l, p, rows, vocab);
    DLDevice dev = {kDLCUDA, device_id};
    const MLCCDeviceAPI *api = mlcc_copy_api(dev, MLCC_CPU);
    int rc = api ? api->copy(host, MLCC_CPU, dbuf, dev, l.upload, NULL) : -1;
    if (rc == 0) {
        long long v = vocab;
        char *a_params = dbuf + l.params, *a_bid = dbuf + l.bias_ids, *a_bval = dbuf + l.bias_values, *a_pid = dbuf + l.pen_ids,
             *a_pcount = dbuf + l.pen_counts, *a_borig = dbuf + l.bias_orig, *a_porig = dbuf + l.pen_orig,
             *a_ids = dbuf + l.out_ids, *a_lps = dbuf + l.out_lps, *a_drew = dbuf + l.out_drew;
        void *args[] = {&logits, &v, &a_params, &a_bid, &a_bval, &a_pid, &a_pcount, &a_borig, &a_porig, &a_ids, &a_lps, &a_drew};
        uint32_t grid[3] = {(uint32_t)rows, 1, 1}, block[3] = {1024, 1, 1};
        double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
        rc = mlcc_cuda_launch(device_id, f, grid, block, 0, args);
        if (t0 > 0) mlcc_cuda_profile_end(device_id, "sample", t0);
    }
    if (rc == 0) rc = api->copy(dbuf + l.out_ids, dev, host + l.out_ids, MLCC_CPU, l.total - l.out_ids, NULL); /* waits */
    if (rc == 0) {
        for (int64_t r = 0; r < rows; r++) {
            float lp;
            memcpy(&ids[r], host + l.out_ids + 4 * (size_t)r, 4);
            memcpy(&lp, host + l.out_lps + 4 * (size_t)r, 4);
            logprobs[r] = lp;
            int d;
            memcpy(&d, host + l.out_drew + 4 * (size_t)r, 4);
            if (drew) drew[r] = d;
        }
    }
    free(host);
    h->free(device_id, dbuf);
    return rc ? mlcc_prefix_error("sampling on cuda:%d", device_id) : 0;
}
