/* test_memory_plan.c - static storage planning: tensors with overlapping lifetimes never share a
 * storage, every storage covers its tensors at the bounds, a chain of temporaries reuses two
 * storages, and a size without an upper bound is an error naming the tensor. Seeded random
 * lifetimes check the invariants. */
#include "support/error.h"
#include "transform/memory_plan.h"
#include "test.h"

static void test_chain(void) {
    mlcc_expr *n = ir_size_var("n");
    /* t0 -> t1 -> t2 -> t3, each used only by the next: two storages suffice */
    mlcc_mem_request reqs[4];
    for (int i = 0; i < 4; i++) {
        reqs[i].name = "t";
        reqs[i].bytes = ir_mul(n, ir_int(4096 * (i + 1)));
        reqs[i].first_use = i;
        reqs[i].last_use = i + 1;
    }
    int64_t ub = 128;
    mlcc_mem_plan plan;
    CHECK(mlcc_memory_plan(reqs, 4, &n, &ub, 1, &plan) == 0);
    CHECK_EQ_INT(plan.num_storages, 2);
    CHECK_EQ_INT(reqs[3].upper_bytes, 128 * 4096 * 4);
    CHECK(plan.storage_bytes[reqs[3].storage] >= 128 * 4096 * 4);
    mlcc_mem_plan_free(&plan);
}

static void test_unbounded(void) {
    mlcc_expr *n = ir_size_var("n"), *m = ir_size_var("m");
    mlcc_mem_request r = {"scores", ir_mul(n, m), 0, 1, 0, 0};
    int64_t ub = 64;
    mlcc_mem_plan plan;
    CHECK(mlcc_memory_plan(&r, 1, &n, &ub, 1, &plan) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "scores") && strstr(mlcc_last_error(), "upper bound"), "%s", mlcc_last_error());
}

static void test_random(void) {
    mlcc_expr *n = ir_size_var("n");
    uint64_t s = 17;
    for (int trial = 0; trial < 300; trial++) {
        enum { N = 24 };
        mlcc_mem_request reqs[N];
        int count = 1 + trial % N;
        for (int i = 0; i < count; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int first = (int)((s >> 33) % 40), len = (int)((s >> 20) % 10);
            reqs[i].name = "t";
            reqs[i].bytes = ir_add(ir_mul(n, ir_int((int64_t)((s >> 8) % 50 + 1))), ir_int((int64_t)(s % 100)));
            reqs[i].first_use = first;
            reqs[i].last_use = first + len;
        }
        int64_t ub = 1 + trial;
        mlcc_mem_plan plan;
        if (mlcc_memory_plan(reqs, count, &n, &ub, 1, &plan) != 0) {
            CHECK_MSG(0, "%s", mlcc_last_error());
            continue;
        }
        int ok = 1;
        for (int i = 0; i < count; i++) {
            if (plan.storage_bytes[reqs[i].storage] < reqs[i].upper_bytes) ok = 0;
            for (int j = i + 1; j < count; j++)
                if (reqs[i].storage == reqs[j].storage && reqs[i].first_use <= reqs[j].last_use &&
                    reqs[j].first_use <= reqs[i].last_use)
                    ok = 0;
        }
        CHECK_MSG(ok, "trial %d violates the plan invariants", trial);
        CHECK(plan.num_storages <= count);
        mlcc_mem_plan_free(&plan);
    }
}

int main(void) {
    ir_scope_begin();
    test_chain();
    test_unbounded();
    test_random();
    ir_scope_end();
    return test_finish();
}
