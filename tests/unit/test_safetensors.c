/* test_safetensors.c - the safetensors reader and writer: the hf-tiny fixtures (names and shapes
 * checked against each config.json, reference logits against meta.json), hand-made malformed
 * files (each must fail with a message naming the file, the tensor and the problem), writer
 * round trips, and sharded checkpoints with a model.safetensors.index.json. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/safetensors.h"
#include "mlcc/mlcc_runtime.h"
#include "support/file.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "test.h"

static char tmpdir[] = "/tmp/mlcc-test-safetensors-XXXXXX";

static char *tmp_path(const char *name) {
    return mlcc_path_join(tmpdir, name);
}

static int64_t config_int(json_t *config, const char *key, int64_t fallback) {
    json_t *v = json_object_get(config, key);
    return json_is_integer(v) ? json_integer_value(v) : fallback;
}

static void check_shape(const mlcc_safetensors *st, const char *name, int64_t d0, int64_t d1) {
    const mlcc_st_tensor *t = safetensors_find(st, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    if (!t) return;
    int ndim = d1 < 0 ? 1 : 2;
    CHECK_MSG(t->ndim == ndim && t->shape[0] == d0 && (ndim == 1 || t->shape[1] == d1),
              "%s: shape [%lld%s%lld] expected [%lld, %lld]", name, (long long)t->shape[0],
              t->ndim > 1 ? ", " : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL, (long long)d0,
              (long long)d1);
}

/* Llama-layout checkpoints: every tensor the architecture has, with the shapes its config implies.
 */
static void check_llama_layout(const char *dir) {
    char *folder = test_data_path(dir);
    char *config_path = mlcc_path_join(folder, "config.json");
    json_t *config = mlcc_json_load_file(config_path);
    CHECK_MSG(config != NULL, "%s", mlcc_last_error());
    mlcc_safetensors *st = safetensors_open(folder);
    CHECK_MSG(st != NULL, "%s", mlcc_last_error());
    if (!st || !config) return;
    int64_t hidden = config_int(config, "hidden_size", 0),
            layers = config_int(config, "num_hidden_layers", 0);
    int64_t heads = config_int(config, "num_attention_heads", 0),
            vocab = config_int(config, "vocab_size", 0);
    int64_t kv = config_int(config, "num_key_value_heads", heads),
            inter = config_int(config, "intermediate_size", 0);
    int64_t head_dim = config_int(config, "head_dim", hidden / heads);
    int tied = json_is_true(json_object_get(config, "tie_word_embeddings"));
    check_shape(st, "model.embed_tokens.weight", vocab, hidden);
    check_shape(st, "model.norm.weight", hidden, -1);
    if (!tied) check_shape(st, "lm_head.weight", vocab, hidden);
    CHECK(tied == (safetensors_find(st, "lm_head.weight") == NULL));
    char name[256];
    for (int64_t i = 0; i < layers; i++) {
        static const char *norms[] = {"input_layernorm", "post_attention_layernorm"};
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "model.layers.%lld.%s.weight", (long long)i, norms[k]);
            check_shape(st, name, hidden, -1);
        }
#define LAYER(suffix, d0, d1)                                                                      \
    snprintf(name, sizeof name, "model.layers.%lld." suffix, (long long)i);                        \
    check_shape(st, name, d0, d1)
        LAYER("self_attn.q_proj.weight", heads * head_dim, hidden);
        LAYER("self_attn.k_proj.weight", kv * head_dim, hidden);
        LAYER("self_attn.v_proj.weight", kv * head_dim, hidden);
        LAYER("self_attn.o_proj.weight", hidden, heads * head_dim);
        LAYER("mlp.gate_proj.weight", inter, hidden);
        LAYER("mlp.up_proj.weight", inter, hidden);
        LAYER("mlp.down_proj.weight", hidden, inter);
#undef LAYER
    }
    CHECK_EQ_INT(safetensors_count(st), 2 + !tied + 9 * layers);
    CHECK_EQ_STR(safetensors_metadata(st, "format"), "pt");
    /* The dtype the config names, for every tensor. */
    const char *want = strcmp(json_string_value(json_object_get(config, "dtype")), "bfloat16") == 0
                           ? "BF16"
                           : "F32";
    int wrong_dtype = 0;
    for (size_t i = 0; i < safetensors_count(st); i++)
        wrong_dtype += strcmp(safetensors_dtype_name(safetensors_at(st, i)->dtype), want) != 0;
    CHECK_MSG(wrong_dtype == 0, "%s: %d tensors are not %s", dir, wrong_dtype, want);
    safetensors_close(st);
    json_decref(config);
    free(config_path);
    free(folder);
}

/* Every hf-tiny checkpoint: opens, tensors tile the data exactly (as the reference writer lays
 * them out), values are finite, the reference logits are [len(tokens), vocab] with the
 * max |logit| that meta.json records. */
static void check_fixture(const char *dir) {
    char rel[256];
    snprintf(rel, sizeof rel, "hf-tiny/%s", dir);
    char *folder = test_data_path(rel);
    char *model = mlcc_path_join(folder, "model.safetensors"),
         *ref = mlcc_path_join(folder, "ref.safetensors");
    char *meta_path = mlcc_path_join(folder, "meta.json"),
         *config_path = mlcc_path_join(folder, "config.json");
    mlcc_safetensors *st = safetensors_open(model);
    CHECK_MSG(st != NULL, "%s", mlcc_last_error());
    if (st) {
        struct stat sb;
        stat(model, &sb);
        const mlcc_st_tensor *last = safetensors_at(st, safetensors_count(st) - 1);
        CHECK_EQ_INT(last->file_offset + last->nbytes, sb.st_size);
        uint64_t expect_offset = safetensors_at(st, 0)->file_offset;
        int gaps = 0, not_finite = 0;
        for (size_t i = 0; i < safetensors_count(st); i++) {
            const mlcc_st_tensor *t = safetensors_at(st, i);
            gaps += t->file_offset != expect_offset;
            expect_offset += t->nbytes;
            CHECK(t->file && strcmp(t->file, model) == 0);
            float *values =
                malloc(t->nbytes / safetensors_dtype_size(t->dtype) * sizeof(float) + 1);
            if (safetensors_read_f32(t, values) == 0)
                for (size_t k = 0; k < t->nbytes / safetensors_dtype_size(t->dtype); k++)
                    not_finite += !isfinite(values[k]);
            free(values);
        }
        CHECK_EQ_INT(gaps, 0);
        CHECK_EQ_INT(not_finite, 0);
        safetensors_close(st);
    }
    json_t *meta = mlcc_json_load_file(meta_path), *config = mlcc_json_load_file(config_path);
    mlcc_safetensors *refs = safetensors_open(ref);
    CHECK_MSG(refs && meta && config, "%s", mlcc_last_error());
    if (refs && meta && config) {
        const mlcc_st_tensor *logits = safetensors_find(refs, "logits");
        int64_t tokens = (int64_t)json_array_size(json_object_get(meta, "tokens"));
        int64_t vocab = config_int(config, "vocab_size", -1);
        CHECK(logits && logits->dtype == ST_F32 && logits->ndim == 2);
        CHECK(logits && logits->shape[0] == tokens && logits->shape[1] == vocab);
        CHECK_EQ_INT(tokens, 50);
        if (logits) {
            size_t n = logits->nbytes / 4;
            float *x = malloc(n * sizeof *x);
            CHECK(safetensors_read_f32(logits, x) == 0);
            double max_abs = 0;
            for (size_t i = 0; i < n; i++) max_abs = fmax(max_abs, fabs(x[i]));
            double want = json_number_value(json_object_get(meta, "max_abs_logit"));
            CHECK_NEAR(max_abs, want, 1e-6 * want);
            free(x);
        }
    }
    safetensors_close(refs);
    json_decref(meta);
    json_decref(config);
    free(model);
    free(ref);
    free(meta_path);
    free(config_path);
    free(folder);
}

/* Malformed files ------------------------------------------------------------------------------ */

/* A file of an 8-byte length (declared_len, or the header's real length when -1) + header + data.
 */
static char *make_file(const char *name, long long declared_len, const char *header,
                       size_t data_len) {
    char *path = tmp_path(name);
    size_t hlen = strlen(header), total = 8 + hlen + data_len;
    uint8_t *buf = calloc(1, total);
    uint64_t n = declared_len < 0 ? hlen : (uint64_t)declared_len;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++) buf[8 + hlen + i] = (uint8_t)i;
    mlcc_write_file_atomic(path, buf, total);
    free(buf);
    return path;
}

static void expect_error(const char *name, long long declared_len, const char *header,
                         size_t data_len, const char *message) {
    char *path = make_file(name, declared_len, header, data_len);
    mlcc_safetensors *st = safetensors_open(path);
    CHECK_MSG(st == NULL, "%s opened", name);
    const char *err = mlcc_last_error();
    CHECK_MSG(strncmp(err, path, strlen(path)) == 0 && strstr(err, message) != NULL,
              "%s: got '%s', want '%s'", name, err, message);
    safetensors_close(st);
    unlink(path);
    free(path);
}

static void test_malformed(void) {
    char *empty = tmp_path("empty.safetensors");
    mlcc_write_file_atomic(empty, "", 0);
    CHECK(safetensors_open(empty) == NULL);
    CHECK(strstr(mlcc_last_error(), "0 bytes, too short for the 8-byte header length") != NULL);
    unlink(empty);
    free(empty);
    CHECK(safetensors_open_memory("abc", 3, "mem") == NULL);
    CHECK_EQ_STR(mlcc_last_error(),
                 "mem: the file is 3 bytes, too short for the 8-byte header length");
    CHECK(safetensors_open("/nonexistent/x.safetensors") == NULL);
    CHECK(strstr(mlcc_last_error(), "/nonexistent/x.safetensors: No such file") != NULL);

    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_error("trunc.st", 200, ok, 8,
                 "header length 200 goes past the end of the file (70 bytes)");
    expect_error("huge.st", 0x7fffffffffffffffll, ok, 8,
                 "header length 9223372036854775807 goes past the end");
    expect_error("nobrace.st", -1, "[1, 2]", 0, "the header does not start with '{'");
    expect_error("zero.st", 0, "", 0, "the header does not start with '{'");
    expect_error("badjson.st", -1, "{\"a\": {\"dtype\": ", 0, "header JSON, line 1 column");
    expect_error("dup.st", -1,
                 "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                 "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                 2, "duplicate object key");
    expect_error("notobj.st", -1, "{\"a\": 3}", 0,
                 "tensor 'a': expected an object with dtype, shape and data_offsets");
    expect_error("dtype.st", -1, "{\"w\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 8, "tensor 'w': unknown dtype 'F33'");
    expect_error("nodtype.st", -1, "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                 "tensor 'w': \"dtype\" is missing");
    expect_error("shape.st", -1, "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}",
                 16, "tensor 'w': \"shape\" is missing or not an array");
    expect_error("negdim.st", -1,
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8,
                 "tensor 'w': shape[1] is not a non-negative integer");
    expect_error("floatdim.st", -1,
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
                 "tensor 'w': shape[0] is not a non-negative integer");
    expect_error("offs.st", -1, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
                 "tensor 'w': \"data_offsets\" must be [begin, end]");
    expect_error("past.st", -1, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                 12, "tensor 'w': data_offsets [0, 16] go past the end of the data (12 bytes)");
    expect_error(
        "far.st", -1,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18446744073709551615,0]}}", 12,
        "header JSON");
    expect_error("backwards.st", -1,
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 12,
                 "tensor 'w': data_offsets [8, 4] end before they begin");
    expect_error("size.st", -1,
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
                 "tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] hold 20");
    expect_error("overflow.st", -1,
                 "{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904,4611686018427387904],"
                 "\"data_offsets\":[0,8]}}",
                 8,
                 "tensor 'w': shape [4611686018427387904, 4611686018427387904] of F64 overflows");
    expect_error(
        "overflow2.st", -1,
        "{\"w\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8,
        "overflows 64-bit sizes");
    expect_error(
        "zero_later.st", -1,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[4611686018427387904,2,0],\"data_offsets\":[0,0]}}", 0,
        "overflows 64-bit sizes");
    expect_error("overlap.st", -1,
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                 20, "tensors 'a' and 'b' overlap");
    expect_error("inside.st", -1,
                 "{\"big\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
                 "\"mid\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
                 "\"late\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]}}",
                 16, "tensors 'big' and 'mid' overlap");
    expect_error("meta.st", -1, "{\"__metadata__\":{\"format\":1}}", 0,
                 "__metadata__ value of 'format' is not a string");
    expect_error("meta2.st", -1, "{\"__metadata__\":[]}", 0, "__metadata__ is not an object");
    expect_error(
        "ndim.st", -1,
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
        "1,1,1,1,1,1,1,1,1,1,"
        "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
        1, "shape has 65 dimensions (at most 64)");

    /* A header length over the 100 MB limit that does fit in the (sparse) file. */
    char *big = tmp_path("big.st");
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint8_t len[8] = {0};
    uint64_t n = 100000001;
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(n >> (8 * i));
    CHECK(write(fd, len, 8) == 8 && write(fd, "{", 1) == 1 && ftruncate(fd, 100000100) == 0);
    close(fd);
    CHECK(safetensors_open(big) == NULL);
    CHECK(strstr(mlcc_last_error(),
                 "header length 100000001 is over the limit of 100000000 bytes") != NULL);
    unlink(big);
    free(big);

    /* What is valid but unusual: empty header object, zero-size tensors anywhere, gaps. */
    mlcc_safetensors *st = safetensors_open_memory("\2\0\0\0\0\0\0\0{}", 10, "empty-object");
    CHECK(st && safetensors_count(st) == 0);
    safetensors_close(st);
    const char *odd = "{\"big\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
                      "\"none\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                      "\"after\":{\"dtype\":\"I16\",\"shape\":[],\"data_offsets\":[20,22]}}";
    char *odd_path = make_file("odd.st", -1, odd, 24);
    st = safetensors_open(odd_path);
    CHECK_MSG(st != NULL, "%s", mlcc_last_error());
    if (st) {
        CHECK_EQ_INT(safetensors_count(st), 3);
        const mlcc_st_tensor *after = safetensors_find(st, "after");
        CHECK(after && after->ndim == 0 && after->nbytes == 2 &&
              ((const uint8_t *)after->data)[0] == 20);
        CHECK(safetensors_find(st, "none")->nbytes == 0);
        CHECK(safetensors_find(st, "nothing") == NULL);
        CHECK(safetensors_metadata(st, "format") == NULL);
        float f;
        CHECK(safetensors_read_f32(after, &f) != 0);
        CHECK(strstr(mlcc_last_error(), "tensor 'after'") && strstr(mlcc_last_error(), "is I16"));
    }
    safetensors_close(st);
    unlink(odd_path);
    free(odd_path);
}

/* Writer --------------------------------------------------------------------------------------- */

static void test_round_trip(void) {
    float f32[6] = {1.5f, -2.25f, 3e-8f, 65504.0f, -0.0f, 1e30f};
    uint16_t f16[3], bf16[3];
    mlcc_f32_to_f16_n(f16, f32, 3);
    mlcc_f32_to_bf16_n(bf16, f32, 3);
    int64_t i64[2] = {-1, INT64_MAX};
    uint8_t flags[5] = {1, 0, 1, 1, 0};
    double f64 = 0.1;
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s2[1] = {2}, s5[1] = {5}, s04[2] = {0, 4};
    mlcc_st_write_tensor in[] = {
        {"flags", ST_BOOL, 1, s5, flags}, {"half", ST_F16, 1, s3, f16},
        {"matrix", ST_F32, 2, s23, f32},  {"brain", ST_BF16, 1, s3, bf16},
        {"ids", ST_I64, 1, s2, i64},      {"scalar", ST_F64, 0, NULL, &f64},
        {"empty", ST_F32, 2, s04, NULL},  {"ünïcode.name", ST_U8, 1, s5, flags},
    };
    size_t n = sizeof in / sizeof in[0];
    const char *meta[] = {"format", "pt", "note", "a \"quoted\" value", NULL};
    char *path = tmp_path("round.safetensors");
    CHECK_MSG(safetensors_write(path, in, n, meta) == 0, "%s", mlcc_last_error());
    mlcc_safetensors *st = safetensors_open(path);
    CHECK_MSG(st != NULL, "%s", mlcc_last_error());
    if (!st) return;
    CHECK_EQ_INT(safetensors_count(st), n);
    for (size_t i = 0; i < n; i++) {
        const mlcc_st_tensor *t = safetensors_find(st, in[i].name);
        CHECK_MSG(t != NULL, "%s missing", in[i].name);
        if (!t) continue;
        CHECK(t->dtype == in[i].dtype && t->ndim == in[i].ndim);
        for (int d = 0; d < t->ndim; d++) CHECK(t->shape[d] == in[i].shape[d]);
        int64_t numel = 1;
        for (int d = 0; d < in[i].ndim; d++) numel *= in[i].shape[d];
        CHECK_EQ_INT(t->nbytes, (size_t)numel * safetensors_dtype_size(in[i].dtype));
        CHECK(t->nbytes == 0 || memcmp(t->data, in[i].data, t->nbytes) == 0);
        /* laid out so each tensor is aligned to its element size */
        CHECK_EQ_INT(t->file_offset % safetensors_dtype_size(t->dtype), 0);
    }
    /* Largest elements first, stable among equals. */
    CHECK_EQ_STR(safetensors_at(st, 0)->name, "ids");
    CHECK_EQ_STR(safetensors_at(st, 1)->name, "scalar");
    CHECK_EQ_STR(safetensors_metadata(st, "note"), "a \"quoted\" value");
    CHECK_EQ_INT(safetensors_metadata_count(st), 2);
    float back[3];
    CHECK(safetensors_read_f32(safetensors_find(st, "half"), back) == 0);
    CHECK(back[0] == 1.5f && back[1] == -2.25f &&
          back[2] == mlcc_f16_to_f32(mlcc_f32_to_f16(3e-8f)));
    CHECK(safetensors_read_f32(safetensors_find(st, "brain"), back) == 0);
    CHECK(back[0] == 1.5f && back[1] == -2.25f);
    CHECK(safetensors_read_f32(safetensors_find(st, "scalar"), back) == 0 && back[0] == 0.1f);
    DLDataType dl;
    CHECK(safetensors_dtype_to_dl(ST_BF16, &dl) == 0 && mlcc_dtype_eq(dl, MLCC_DTYPE_BF16));
    CHECK(safetensors_dtype_to_dl(ST_BOOL, &dl) == 0 && mlcc_dtype_eq(dl, MLCC_DTYPE_BOOL));
    CHECK(safetensors_dtype_to_dl(ST_F8_E4M3, &dl) != 0);
    mlcc_st_dtype sd;
    CHECK(safetensors_dtype_from_dl(MLCC_DTYPE_I32, &sd) == 0 && sd == ST_I32);

    /* As NDArrays: same type copied, float types converted with round-to-nearest-even. */
    MLCCNDArray *m =
        safetensors_load_ndarray(safetensors_find(st, "matrix"), MLCC_DTYPE_F32, MLCC_CPU);
    CHECK(m && m->dl.ndim == 2 && m->dl.shape[1] == 3 && memcmp(m->dl.data, f32, sizeof f32) == 0);
    mlcc_ndarray_release(m);
    m = safetensors_load_ndarray(safetensors_find(st, "matrix"), MLCC_DTYPE_BF16, MLCC_CPU);
    uint16_t want_bf16[6];
    mlcc_f32_to_bf16_n(want_bf16, f32, 6);
    CHECK(m && memcmp(m->dl.data, want_bf16, sizeof want_bf16) == 0);
    mlcc_ndarray_release(m);
    m = safetensors_load_ndarray(safetensors_find(st, "brain"), MLCC_DTYPE_F16, MLCC_CPU);
    CHECK(m && ((uint16_t *)m->dl.data)[0] == mlcc_f32_to_f16(1.5f) &&
          ((uint16_t *)m->dl.data)[1] == 0xc080);
    mlcc_ndarray_release(m);
    m = safetensors_load_ndarray(safetensors_find(st, "ids"), MLCC_DTYPE_I64, MLCC_CPU);
    CHECK(m && ((int64_t *)m->dl.data)[1] == INT64_MAX);
    mlcc_ndarray_release(m);
    m = safetensors_load_ndarray(safetensors_find(st, "empty"), MLCC_DTYPE_F16, MLCC_CPU);
    CHECK(m && mlcc_ndarray_numel(m) == 0);
    mlcc_ndarray_release(m);
    CHECK(safetensors_load_ndarray(safetensors_find(st, "ids"), MLCC_DTYPE_F32, MLCC_CPU) == NULL);
    CHECK(strstr(mlcc_last_error(), "tensor 'ids'") &&
          strstr(mlcc_last_error(), "cannot load I64 as float32"));
    CHECK(safetensors_load_ndarray(safetensors_find(st, "half"), MLCC_DTYPE_F32,
                                   ((DLDevice){kDLCUDA, 0})) == NULL);
    CHECK(strstr(mlcc_last_error(), "tensor 'half'") &&
          strstr(mlcc_last_error(), "cuda:0 is not available"));
    safetensors_close(st);

    /* The header is padded to 8 bytes, and no temporary file is left behind. */
    size_t len;
    char *bytes = mlcc_read_file(path, &len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (uint8_t)bytes[i];
    CHECK_EQ_INT(hlen % 8, 0);
    free(bytes);
    DIR *d = opendir(tmpdir);
    int leftovers = 0;
    struct dirent *e;
    while ((e = readdir(d))) leftovers += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    CHECK_EQ_INT(leftovers, 0);

    /* Overwriting replaces; bad input is refused and leaves the old file. */
    CHECK(safetensors_write(path, in, 1, NULL) == 0);
    st = safetensors_open(path);
    CHECK(st && safetensors_count(st) == 1 && safetensors_metadata_count(st) == 0);
    safetensors_close(st);
    mlcc_st_write_tensor dup[2] = {in[0], in[0]};
    CHECK(safetensors_write(path, dup, 2, NULL) != 0);
    CHECK(strstr(mlcc_last_error(), "tensor 'flags' is given twice") != NULL);
    int64_t neg[1] = {-3};
    mlcc_st_write_tensor bad = {"bad", ST_F32, 1, neg, f32};
    CHECK(safetensors_write(path, &bad, 1, NULL) != 0);
    CHECK(strstr(mlcc_last_error(), "tensor 'bad'") && strstr(mlcc_last_error(), "negative"));
    mlcc_st_write_tensor reserved = {"__metadata__", ST_F32, 1, s2, f32};
    CHECK(safetensors_write(path, &reserved, 1, NULL) != 0);
    st = safetensors_open(path);
    CHECK(st && safetensors_count(st) == 1);
    safetensors_close(st);
    CHECK(safetensors_write("/nonexistent/dir/x.safetensors", in, 1, NULL) != 0);
    unlink(path);
    free(path);
}

/* Sharded checkpoints -------------------------------------------------------------------------- */

static void write_index(const char *name, const char *text) {
    char *path = tmp_path(name);
    mlcc_write_file_atomic(path, text, strlen(text));
    free(path);
}

static void test_sharded(void) {
    char *src = test_data_path("hf-tiny/llama/model.safetensors");
    mlcc_safetensors *orig = safetensors_open(src);
    CHECK_MSG(orig != NULL, "%s", mlcc_last_error());
    if (!orig) return;
    /* Split the tensors over two shards, alternately, and write the index. */
    size_t n = safetensors_count(orig);
    mlcc_st_write_tensor *parts[2];
    size_t counts[2] = {0, 0};
    parts[0] = calloc(n, sizeof(mlcc_st_write_tensor));
    parts[1] = calloc(n, sizeof(mlcc_st_write_tensor));
    static const char *shard_names[2] = {"model-00001-of-00002.safetensors",
                                         "model-00002-of-00002.safetensors"};
    mlcc_strbuf index = STRBUF_INIT;
    sb_append(&index,
              "{\"metadata\": {\"total_size\": 560000, \"note\": \"split\"}, \"weight_map\": {");
    for (size_t i = 0; i < n; i++) {
        const mlcc_st_tensor *t = safetensors_at(orig, i);
        int s = (int)(i % 2);
        parts[s][counts[s]++] =
            (mlcc_st_write_tensor){t->name, t->dtype, t->ndim, t->shape, t->data};
        sb_printf(&index, "%s\"%s\": \"%s\"", i ? ", " : "", t->name, shard_names[s]);
    }
    sb_append(&index, "}}");
    for (int s = 0; s < 2; s++) {
        char *p = tmp_path(shard_names[s]);
        const char *meta[] = {"format", "pt", NULL};
        CHECK(safetensors_write(p, parts[s], counts[s], meta) == 0);
        free(p);
    }
    write_index("model.safetensors.index.json", index.data);
    mlcc_safetensors *st = safetensors_open(tmpdir); /* the folder: the index wins */
    CHECK_MSG(st != NULL, "%s", mlcc_last_error());
    if (st) {
        CHECK_EQ_INT(safetensors_num_files(st), 2);
        CHECK_EQ_INT(safetensors_count(st), n);
        int differ = 0;
        for (size_t i = 0; i < n; i++) {
            const mlcc_st_tensor *a = safetensors_at(orig, i), *b = safetensors_find(st, a->name);
            differ += !b || b->nbytes != a->nbytes || memcmp(a->data, b->data, a->nbytes) != 0 ||
                      strstr(b->file, shard_names[i % 2]) == NULL;
        }
        CHECK_EQ_INT(differ, 0);
        CHECK_EQ_STR(safetensors_metadata(st, "format"), "pt");
        CHECK_EQ_STR(safetensors_metadata(st, "total_size"), "560000");
        CHECK_EQ_STR(safetensors_metadata(st, "note"), "split");
        safetensors_close(st);
    }

    /* Broken indexes. */
    char *index_path = tmp_path("bad.index.json");
    /* Names from the split above: first0 lives in shard 1, first1 in shard 2. */
    const char *first0 = parts[0][0].name, *first1 = parts[1][0].name;
    char wrong_shard[512], wrong_shard_msg[300], dup_text[512], dup_msg[300];
    snprintf(wrong_shard, sizeof wrong_shard, "{\"weight_map\": {\"%s\": \"%s\"}}", first1,
             shard_names[0]);
    snprintf(wrong_shard_msg, sizeof wrong_shard_msg, "weight_map puts tensor '%s' in", first1);
    snprintf(dup_text, sizeof dup_text,
             "{\"weight_map\": {\"%s\": \"%s\", \"x\": \"dup.safetensors\"}}", first0,
             shard_names[0]);
    snprintf(dup_msg, sizeof dup_msg, "tensor '%s' is in both", first0);
    const struct {
        const char *text, *message;
    } cases[] = {
        {"{\"weight_map\": {\"x\": \"missing.safetensors\"}}", "missing.safetensors: No such file"},
        {"{\"weight_map\": {\"x\": \"../etc/passwd\"}}",
         "weight_map entry 'x' must be the file name of a shard"},
        {"{\"weight_map\": {\"x\": 3}}", "weight_map entry 'x' must be the file name"},
        {"{\"metadata\": {}}", "no \"weight_map\" object"},
        {"{\"weight_map\": {\"not.a.tensor\": \"model-00001-of-00002.safetensors\"}}",
         "weight_map puts tensor 'not.a.tensor' in"},
        {wrong_shard, wrong_shard_msg},
        {dup_text, dup_msg},
        {"{\"weight_map\": ", "bad.index.json:1:"},
    };
    /* dup.safetensors holds a tensor that shard 1 also has. */
    char *dup = tmp_path("dup.safetensors");
    CHECK(safetensors_write(dup, parts[0], 1, NULL) == 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_index("bad.index.json", cases[i].text);
        CHECK_MSG(safetensors_open(index_path) == NULL, "case %zu opened", i);
        CHECK_MSG(strstr(mlcc_last_error(), cases[i].message) != NULL, "case %zu: %s", i,
                  mlcc_last_error());
    }
    /* A corrupt shard is reported with the shard's path. */
    char *shard2 = tmp_path(shard_names[1]);
    mlcc_write_file_atomic(shard2, "\x40\0\0\0\0\0\0\0{", 9);
    CHECK(safetensors_open(tmpdir) == NULL);
    CHECK(strstr(mlcc_last_error(), shard2) != NULL &&
          strstr(mlcc_last_error(), "goes past the end") != NULL);
    /* A folder with neither file. */
    char *sub = tmp_path("nothing-here");
    mlcc_mkdirs(sub);
    CHECK(safetensors_open(sub) == NULL);
    CHECK(strstr(mlcc_last_error(), "no model.safetensors or model.safetensors.index.json") !=
          NULL);
    rmdir(sub);

    unlink(shard2);
    unlink(dup);
    unlink(index_path);
    char *p = tmp_path(shard_names[0]);
    unlink(p);
    free(p);
    p = tmp_path("model.safetensors.index.json");
    unlink(p);
    free(p);
    free(sub);
    free(shard2);
    free(dup);
    free(index_path);
    sb_free(&index);
    free(parts[0]);
    free(parts[1]);
    safetensors_close(orig);
    free(src);
}

/* Every float16 bit pattern, 17 times over (1.1M values: the conversion runs on the thread
 * pool and, on x86-64 with F16C, eight at a time, with a scalar tail: the count is not a
 * multiple of 8), read as float32: each value bit for bit the scalar mlcc_f16_to_f32's, NaNs
 * NaN of the same sign (F16C quiets a signaling NaN); bfloat16 likewise. */
static void test_half_conversion(void) {
    enum { COPIES = 17, EXTRA = 5 };
    int64_t n = 65536 * COPIES + EXTRA;
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)n);
    float *got = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) h[i] = (uint16_t)((i * 40503) & 0xffff); /* every pattern in each 65536 */
    for (mlcc_st_dtype dt = ST_F16; ; dt = ST_BF16) {
        mlcc_st_write_tensor in[] = {{"h", dt, 1, &n, h}};
        char *path = tmp_path("halves.safetensors");
        CHECK_MSG(safetensors_write(path, in, 1, NULL) == 0, "%s", mlcc_last_error());
        mlcc_safetensors *st = safetensors_open(path);
        CHECK_MSG(st != NULL, "%s", mlcc_last_error());
        int64_t differ = 0;
        if (st && safetensors_read_f32(safetensors_find(st, "h"), got) == 0) {
            for (int64_t i = 0; i < n; i++) {
                float want = dt == ST_F16 ? mlcc_f16_to_f32(h[i]) : mlcc_bf16_to_f32(h[i]);
                uint32_t a, b;
                memcpy(&a, &got[i], 4), memcpy(&b, &want, 4);
                differ += isnan(want) ? !isnan(got[i]) || signbit(got[i]) != signbit(want) : a != b;
            }
        } else {
            differ = -1;
        }
        CHECK_MSG(differ == 0, "%s: %lld of %lld values differ from the scalar conversion", dt == ST_F16 ? "F16" : "BF16",
                  (long long)differ, (long long)n);
        safetensors_close(st);
        remove(path);
        free(path);
        if (dt == ST_BF16) break;
    }
    free(h), free(got);
}

int main(void) {
    free(test_data_path("hf-tiny")); /* a skip for want of fixtures comes before the folder is made */
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temporary folder");
    setenv("MLCC_NUM_THREADS", "3", 1); /* the large conversion below runs on the pool's threads */
    test_half_conversion();
    check_llama_layout("hf-tiny/llama");
    check_llama_layout("hf-tiny/llama-bf16");
    check_llama_layout("hf-tiny/llama-tied-mqa");
    check_llama_layout("hf-tiny/llama3-rope");
    check_llama_layout("hf-tiny/mistral");
    static const char *fixtures[] = {
        "llama", "llama3-rope",       "llama-tied-mqa", "llama-bf16", "mistral",
        "qwen2", "qwen2-rope-params", "qwen3",          "phi3",       "gemma",
        "gemma2"};
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) check_fixture(fixtures[i]);
    test_malformed();
    test_round_trip();
    test_sharded();
    rmdir(tmpdir);
    return test_finish();
}
