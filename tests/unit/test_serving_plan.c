/* test_serving_plan.c - the serving modes' plan (models/plan.c) against arithmetic written here:
 * the KV bytes per token from the model's shape and the pages' value size, the KV capacity from
 * the memory given (a GPU's free memory) rather than the host's, and the log line naming where
 * the memory was measured. */
#include <stdio.h>
#include <string.h>

#include "models/model.h"
#include "test.h"

/* Llama-3-8B's shape: 32 layers, 8 KV heads of 128. */
static mlcc_model_config llama8b(void) {
    mlcc_model_config c;
    memset(&c, 0, sizeof c);
    c.hidden = 4096, c.layers = 32, c.heads = 32, c.kv_heads = 8, c.head_dim = 128;
    c.intermediate = 14336, c.vocab = 128256, c.max_positions = 8192;
    return c;
}

static void check_server_on_gpu(int kv_value_bytes) {
    mlcc_model_config c = llama8b();
    mlcc_model_options o = {0};
    o.mode = "server";
    o.quantization = "q0f16";
    mlcc_plan_memory mem = {.available_bytes = 40.0 * 1073741824.0, .kv_value_bytes = kv_value_bytes};
    snprintf(mem.where, sizeof mem.where, "cuda:0");
    mlcc_serving_plan p;
    CHECK_EQ_INT(mlcc_plan_serving(&c, &o, &mem, &p), 0);
    double per_token = 2.0 * 32 * 8 * 128 * kv_value_bytes; /* K and V, every layer */
    CHECK_NEAR(p.kv_bytes_per_token, per_token, 1e-9);
    CHECK_NEAR(p.available_bytes, mem.available_bytes, 1e-3);
    /* 80% of what is left after the weights (~16 GB in float16) and a 256 MB margin */
    double budget = 0.8 * (mem.available_bytes - p.param_bytes - 256.0 * 1048576.0);
    CHECK(p.param_bytes > 15.5e9 && p.param_bytes < 16.5e9);
    long long want = (long long)(budget / per_token);
    long long cap = 2048LL * 64; /* 64 windows of 2048 at most */
    CHECK_EQ_INT(p.kv_tokens, want < cap ? want : cap);
    CHECK(p.kv_tokens * p.kv_bytes_per_token <= budget);
    char line[512];
    mlcc_plan_describe(&p, line, sizeof line);
    CHECK_MSG(strstr(line, "of cuda:0 memory free") != NULL, "%s", line);
    printf("%d-byte pages: %s\n", kv_value_bytes, line);
}

int main(void) {
    check_server_on_gpu(4);
    check_server_on_gpu(2);
    /* float16 pages hold twice the tokens of float32 ones in the same memory */
    mlcc_model_config c = llama8b();
    mlcc_model_options o = {0};
    o.mode = "server";
    o.quantization = "q4f16_1";
    mlcc_plan_memory f32 = {.available_bytes = 20.0 * 1073741824.0, .kv_value_bytes = 4};
    mlcc_plan_memory f16 = f32;
    f16.kv_value_bytes = 2;
    mlcc_serving_plan a, b;
    CHECK_EQ_INT(mlcc_plan_serving(&c, &o, &f32, &a), 0);
    CHECK_EQ_INT(mlcc_plan_serving(&c, &o, &f16, &b), 0);
    CHECK(b.kv_tokens >= 2 * a.kv_tokens - 1 && b.kv_tokens <= 2 * a.kv_tokens + 1);
    /* no memory given: the host's, float32 pages, and the log line says host */
    mlcc_serving_plan h;
    o.mode = "interactive";
    CHECK_EQ_INT(mlcc_plan_serving(&c, &o, NULL, &h), 0);
    CHECK_NEAR(h.kv_bytes_per_token, 2.0 * 32 * 8 * 128 * 4, 1e-9);
    char line[512];
    mlcc_plan_describe(&h, line, sizeof line);
    CHECK_MSG(strstr(line, "of host memory free") != NULL, "%s", line);
    /* a mode that does not exist is an error naming it */
    o.mode = "turbo";
    CHECK(mlcc_plan_serving(&c, &o, NULL, &h) != 0);
    return test_finish();
}
