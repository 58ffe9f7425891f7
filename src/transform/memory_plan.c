/* memory_plan.c - static storage planning under symbolic upper bounds (see memory_plan.h). */
#include "transform/memory_plan.h"

#include <stdlib.h>

#include "arith/analyzer.h"
#include "ir/printer.h"
#include "support/alloc.h"
#include "support/error.h"

static int by_first_use(const void *a, const void *b, void *ctx) {
    const mlcc_mem_request *reqs = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (reqs[x].first_use != reqs[y].first_use) return reqs[x].first_use < reqs[y].first_use ? -1 : 1;
    return x < y ? -1 : x > y;
}

int mlcc_memory_plan(mlcc_mem_request *reqs, int n, mlcc_expr **vars, const int64_t *upper_bounds,
                     int nvars, mlcc_mem_plan *out) {
    out->storage_bytes = NULL;
    out->num_storages = 0;
    out->total_bytes = 0;
    arith_analyzer *a = arith_new();
    for (int i = 0; i < nvars; i++) arith_bind_bounds(a, vars[i], 0, upper_bounds[i]);
    for (int i = 0; i < n; i++) {
        int64_t lo, hi;
        arith_const_bounds(a, reqs[i].bytes, &lo, &hi);
        if (hi == INT64_MAX || hi < 0) {
            char *text = tir_expr_to_string(reqs[i].bytes);
            mlcc_set_error("memory planning: tensor '%s' needs %s bytes, which has no upper bound "
                           "(declare an upper bound for every size var it uses)", reqs[i].name, text);
            free(text);
            arith_free(a);
            return -1;
        }
        reqs[i].upper_bytes = hi;
    }
    arith_free(a);

    int *order = mlcc_xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof(int), by_first_use, reqs);
    int64_t *size = mlcc_xmalloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    int *busy_until = mlcc_xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    int ns = 0;
    for (int k = 0; k < n; k++) {
        mlcc_mem_request *r = &reqs[order[k]];
        /* free storages: the smallest that fits, else the largest (to grow) */
        int best_fit = -1, largest = -1;
        for (int s = 0; s < ns; s++) {
            if (busy_until[s] >= r->first_use) continue;
            if (size[s] >= r->upper_bytes && (best_fit < 0 || size[s] < size[best_fit])) best_fit = s;
            if (largest < 0 || size[s] > size[largest]) largest = s;
        }
        int s = best_fit >= 0 ? best_fit : largest;
        if (s < 0) {
            s = ns++;
            size[s] = 0;
        }
        if (size[s] < r->upper_bytes) size[s] = r->upper_bytes;
        busy_until[s] = r->last_use;
        r->storage = s;
    }
    free(order);
    free(busy_until);
    out->storage_bytes = size;
    out->num_storages = ns;
    for (int s = 0; s < ns; s++) {
        size[s] = (size[s] + 63) / 64 * 64; /* every storage starts 64-byte aligned */
        out->total_bytes += size[s];
    }
    return 0;
}

void mlcc_mem_plan_free(mlcc_mem_plan *plan) {
    free(plan->storage_bytes);
    plan->storage_bytes = NULL;
    plan->num_storages = 0;
}
