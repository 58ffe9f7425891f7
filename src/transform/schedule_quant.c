/* schedule_quant.c - the default CPU schedule rule for quantized matmuls (DESIGN.md §3.5,
 * docs/quantization.md): a reduction block that computes C[i, j] += A[i, k] * dequantize(q_weight,
 * q_scale)[j, k] (what FuseOps + FuseTIR make of quant.dequantize feeding a matmul) gets the
 * float rule's shape: split the columns j into (jo, ji), reorder jo above the rows i,
 * tensorize (i, ji, k) onto the GEMM_NT_Q intrinsic of the weight's layout (kernels/cpu/
 * gemm_q.c) and run jo in parallel, so decode splits the weight rows evenly over the cores.
 *
 * Column tiles are wider than the float rule's (up to 256): the int8 path quantizes the
 * activations once per intrinsic call, so fewer, larger calls amortize it; 8 tiles or more
 * still keep two threads evenly busy.
 *
 * The activation path: MLCC_QUANT_ACT=f32 (exact: float activations), int8 (quantized per call
 * as llama.cpp does) or unset (the default: int8 for 4-bit weights on hosts with AVX-512 VNNI,
 * where it is several times faster and the weights' own rounding dominates the error; f32 for
 * 8-bit weights, chosen for accuracy, and on other hosts). The choice changes the generated
 * source, so each compiles its own library. */
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "kernels/cpu/intrin.h"
#include "schedule/schedule.h"
#include "support/error.h"
#include "transform/schedule_quant.h"

enum { QUANT_PARALLEL_MIN_WEIGHTS = 1 << 18 };

/* Columns per parallel tile: the widest of 256..4 that divides n with at least 8 tiles, else the
 * widest that divides n, else 0 (no split). */
static int64_t quant_column_tile(int64_t n) {
    static const int64_t widths[] = {256, 128, 64, 32, 16, 8, 4};
    for (int i = 0; i < 7; i++)
        if (n % widths[i] == 0 && n / widths[i] >= 8) return widths[i];
    for (int i = 0; i < 7; i++)
        if (n % widths[i] == 0 && n > widths[i]) return widths[i];
    return 0;
}

/* Whether this host runs the int8 path's vector code (AVX-512 BW/VL + VNNI; the JIT compiles
 * for the host, -march=native): elsewhere that path is plain C, slower than the float one. */
static int host_has_vnni(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

int schedule_quant_int8_activations(int bits) {
    const char *env = getenv("MLCC_QUANT_ACT");
    if (env && !strcmp(env, "f32")) return 0;
    if (env && !strcmp(env, "int8")) return 1;
    return bits == 4 && host_has_vnni();
}

static int64_t const_extent(mlcc_schedule *s, mlcc_expr *loop) {
    mlcc_expr *e = sch_loop_extent(s, loop);
    e = e ? arith_simplify_expr(e) : NULL;
    return e && e->kind == EXPR_INT ? e->int_value : -1;
}

/* Tensorizes loop onto the first quantized intrinsic of the chosen path that matches; a layout
 * with no intrinsic on that path takes the float path. */
static int tensorize_quant(mlcc_schedule *s, mlcc_expr *loop, const char **used) {
    const cpu_intrin *const *all = cpu_intrin_quant_list();
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; all[i]; i++) {
            int path = pass ? 0 : schedule_quant_int8_activations(all[i]->bits);
            if (all[i]->int8_act == path && sch_tensorize(s, loop, all[i]->name) == 0) {
                *used = all[i]->name;
                return 0;
            }
        }
    all = cpu_intrin_kquant_list(); /* k-quant super-blocks (gemm_qk.c): as 4-bit weights choose */
    for (int i = 0; all[i]; i++)
        if (all[i]->int8_act == schedule_quant_int8_activations(4) && sch_tensorize(s, loop, all[i]->name) == 0) {
            *used = all[i]->name;
            return 0;
        }
    return -1;
}

/* The rule on a copy of *s; on success *s becomes the scheduled copy. */
static int apply(mlcc_schedule *s, const char *block, const char **used) {
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops);
    if (n < 3) return mlcc_set_error("block '%s': fewer than 3 loops", block);
    mlcc_expr *i = loops[n - 3], *j = loops[n - 2];
    int64_t cols = const_extent(s, j), red = const_extent(s, loops[n - 1]);
    int64_t tile = cols > 0 ? quant_column_tile(cols) : 0;
    if (!tile || red < 0 || cols * red < QUANT_PARALLEL_MIN_WEIGHTS) return tensorize_quant(s, i, used);
    mlcc_expr *parts[2];
    if (sch_split(s, j, (int64_t[]){SCH_INFER, tile}, 2, parts)) return -1;
    if (sch_reorder(s, (mlcc_expr *[]){parts[0], i}, 2)) return -1;
    if (tensorize_quant(s, i, used)) return -1;
    return sch_parallel(s, parts[0]);
}

int schedule_quant_rule(mlcc_schedule **s, const char *block, const char **used) {
    mlcc_schedule *fork = sch_copy(*s);
    if (apply(fork, block, used)) {
        sch_free(fork);
        return -1;
    }
    sch_free(*s);
    *s = fork;
    return 0;
}
