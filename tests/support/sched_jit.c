/* sched_jit.c - compiled comparison of a schedule with its unscheduled kernel (see sched_jit.h). */
#include "sched_jit.h"

#include <dlpack/dlpack.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/jit.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"

enum { MAX_PARAMS = 8, MAX_DIMS = 8 };

/* Shapes of the test kernels are built from immediates, n and + / *. */
static int64_t shape_value(const mlcc_expr *e, int64_t n) {
    switch (e->kind) {
    case EXPR_INT: return e->int_value;
    case EXPR_VAR: return n;
    case EXPR_ADD: return shape_value(e->bin.a, n) + shape_value(e->bin.b, n);
    case EXPR_MUL: return shape_value(e->bin.a, n) * shape_value(e->bin.b, n);
    default: return -1;
    }
}

static float next_float(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2 - 1);
}

typedef struct {
    DLTensor t[MAX_PARAMS];
    int64_t shapes[MAX_PARAMS][MAX_DIMS];
    int64_t sizes[MAX_PARAMS];
    float *data[MAX_PARAMS];
    int n;
} arg_set;

static int make_args(const mlcc_prim_func *f, int64_t n, uint64_t seed, arg_set *a) {
    memset(a, 0, sizeof *a);
    if (f->nparams > MAX_PARAMS) return mlcc_set_error("jit_compare: too many parameters");
    uint64_t state = seed;
    a->n = f->nparams;
    for (int i = 0; i < f->nparams; i++) {
        const mlcc_buffer *b = f->params[i].buffer;
        if (!b || !dtype_eq(b->dtype, DT_F32) || b->ndim > MAX_DIMS)
            return mlcc_set_error("jit_compare: parameter %d is not a float32 buffer", i);
        a->sizes[i] = 1;
        for (int d = 0; d < b->ndim; d++) {
            a->shapes[i][d] = shape_value(b->shape[d], n);
            a->sizes[i] *= a->shapes[i][d];
        }
        a->data[i] = mlcc_xmalloc(sizeof(float) * (size_t)(a->sizes[i] + 1));
        for (int64_t e = 0; e < a->sizes[i]; e++) a->data[i][e] = i == f->nparams - 1 ? NAN : next_float(&state);
        DLTensor *t = &a->t[i];
        t->data = a->data[i];
        t->device.device_type = kDLCPU;
        t->ndim = b->ndim;
        t->dtype.code = kDLFloat;
        t->dtype.bits = 32;
        t->dtype.lanes = 1;
        t->shape = a->shapes[i];
    }
    return 0;
}

static void free_args(arg_set *a) {
    for (int i = 0; i < MAX_PARAMS; i++) free(a->data[i]);
}

static int call(MLCCPackedCFunc fn, arg_set *a) {
    MLCCValue args[MAX_PARAMS];
    int codes[MAX_PARAMS];
    for (int i = 0; i < a->n; i++) {
        args[i].v_tensor = &a->t[i];
        codes[i] = MLCC_TYPE_DLTENSOR;
    }
    MLCCValue ret;
    int ret_code;
    return fn(args, codes, a->n, &ret, &ret_code, NULL);
}

int jit_compare(const mlcc_prim_func *ref, const mlcc_prim_func *got, const int64_t *sizes, int nsizes, uint64_t seed) {
    return jit_compare_tol(ref, got, sizes, nsizes, seed, 1e-5);
}

int jit_compare_tol(const mlcc_prim_func *ref, const mlcc_prim_func *got, const int64_t *sizes, int nsizes,
                    uint64_t seed, double rtol) {
    mlcc_prim_func *r = prim_func_copy(ref), *g = prim_func_copy(got);
    r->name = mlcc_intern("jit_ref");
    g->name = mlcc_intern("jit_got");
    mlcc_jit_module *mod = mlcc_jit_build((mlcc_prim_func *[]){r, g}, 2);
    if (!mod) return mlcc_prefix_error("jit_compare: build");
    MLCCPackedCFunc fr = mlcc_jit_get_function(mod, "jit_ref"), fg = mlcc_jit_get_function(mod, "jit_got");
    int rc = fr && fg ? 0 : -1;
    for (int k = 0; rc == 0 && k < nsizes; k++) {
        arg_set a, b;
        rc = make_args(ref, sizes[k], seed + (uint64_t)k, &a);
        if (!rc) rc = make_args(got, sizes[k], seed + (uint64_t)k, &b);
        if (!rc && call(fr, &a)) rc = mlcc_prefix_error("jit_compare: reference n=%lld", (long long)sizes[k]);
        if (!rc && call(fg, &b)) rc = mlcc_prefix_error("jit_compare: scheduled n=%lld", (long long)sizes[k]);
        for (int i = 0; rc == 0 && i < a.n; i++)
            for (int64_t e = 0; rc == 0 && e < a.sizes[i]; e++) {
                double x = a.data[i][e], y = b.data[i][e];
                if (!(fabs(x - y) <= rtol * (1 + fabs(x))) && !(rtol == 0 && isnan(x) && isnan(y)))
                    rc = mlcc_set_error("jit_compare: n=%lld: parameter %d element %lld differs: %.9g (reference) vs %.9g",
                                        (long long)sizes[k], i, (long long)e, x, y);
            }
        free_args(&a);
        free_args(&b);
    }
    mlcc_jit_free(mod);
    return rc;
}

int jit_compare_at_sizes(const mlcc_prim_func *ref, const mlcc_prim_func *got, uint64_t seed) {
    static const int64_t sizes[] = {1, 5, 16, 33};
    return jit_compare(ref, got, sizes, 4, seed);
}
