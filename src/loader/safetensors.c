/* safetensors.c - the .safetensors reader (mmap, validated header) and writer (see
 * safetensors.h). Every number in a header comes from outside, so sizes and offsets are checked
 * with overflow-safe arithmetic before any pointer into the mapping is formed. */
#include "loader/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "mlcc/mlcc_runtime.h"
#include "support/alloc.h"
#include "support/arena.h"
#include "support/error.h"
#include "support/file.h"
#include "support/hashmap.h"
#include "support/json.h"
#include "support/vec.h"

enum {
    MAX_HEADER_BYTES = 100 * 1000 * 1000, /* the reference implementation's limit */
    MAX_NDIM = 64,
};

/* Data types ----------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
    DLDataType dl; /* bits 0 = none */
} dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1, {kDLUInt, 1, 1}},    [ST_U8] = {"U8", 1, {kDLUInt, 8, 1}},
    [ST_I8] = {"I8", 1, {kDLInt, 8, 1}},         [ST_F8_E5M2] = {"F8_E5M2", 1, {0, 0, 0}},
    [ST_F8_E4M3] = {"F8_E4M3", 1, {0, 0, 0}},    [ST_I16] = {"I16", 2, {kDLInt, 16, 1}},
    [ST_U16] = {"U16", 2, {kDLUInt, 16, 1}},     [ST_F16] = {"F16", 2, {kDLFloat, 16, 1}},
    [ST_BF16] = {"BF16", 2, {kDLBfloat, 16, 1}}, [ST_I32] = {"I32", 4, {kDLInt, 32, 1}},
    [ST_U32] = {"U32", 4, {kDLUInt, 32, 1}},     [ST_F32] = {"F32", 4, {kDLFloat, 32, 1}},
    [ST_I64] = {"I64", 8, {kDLInt, 64, 1}},      [ST_U64] = {"U64", 8, {kDLUInt, 64, 1}},
    [ST_F64] = {"F64", 8, {kDLFloat, 64, 1}},
};

const char *safetensors_dtype_name(mlcc_st_dtype t) {
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].name : "?";
}

size_t safetensors_dtype_size(mlcc_st_dtype t) {
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].size : 0;
}

int safetensors_dtype_parse(const char *name, mlcc_st_dtype *out) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) return *out = (mlcc_st_dtype)i, 0;
    return mlcc_set_error("unknown dtype '%.64s'", name);
}

int safetensors_dtype_to_dl(mlcc_st_dtype t, DLDataType *out) {
    if ((unsigned)t >= ST_DTYPE_COUNT || dtypes[t].dl.bits == 0)
        return mlcc_set_error("safetensors dtype %s has no DLPack equivalent",
                              safetensors_dtype_name(t));
    *out = dtypes[t].dl;
    return 0;
}

int safetensors_dtype_from_dl(DLDataType t, mlcc_st_dtype *out) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (dtypes[i].dl.bits && mlcc_dtype_eq(dtypes[i].dl, t)) return *out = (mlcc_st_dtype)i, 0;
    char buf[32];
    return mlcc_set_error("data type %s cannot be stored in safetensors", mlcc_dtype_str(t, buf));
}

/* The open set --------------------------------------------------------------------------------- */

typedef struct st_file {
    const char *path;
    void *map; /* NULL for memory inputs and empty files */
    size_t map_len;
    const uint8_t *bytes;
    size_t len;
} st_file;

struct mlcc_safetensors {
    mlcc_arena arena; /* names, shapes, paths, metadata */
    MLCC_VEC(st_file) files;
    MLCC_VEC(mlcc_st_tensor) tensors;
    mlcc_strmap by_name;             /* name -> index into tensors */
    MLCC_VEC(const char *) metadata; /* key, value, key, value, ... */
};

static mlcc_safetensors *set_new(void) {
    mlcc_safetensors *st = mlcc_xcalloc(1, sizeof *st);
    arena_init(&st->arena);
    strmap_init(&st->by_name);
    return st;
}

void safetensors_close(mlcc_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->files.len; i++)
        if (st->files.data[i].map) munmap(st->files.data[i].map, st->files.data[i].map_len);
    vec_free(&st->files);
    vec_free(&st->tensors);
    vec_free(&st->metadata);
    strmap_free(&st->by_name);
    arena_free(&st->arena);
    free(st);
}

static int map_file(mlcc_safetensors *st, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mlcc_set_error("%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return mlcc_set_error("%s: not a regular file", path);
    }
    st_file f = {arena_strdup(&st->arena, path), NULL, 0, (const uint8_t *)"", 0};
    if (sb.st_size > 0) {
        f.map_len = (size_t)sb.st_size;
        f.map = mmap(NULL, f.map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f.map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return mlcc_set_error("%s: mmap: %s", path, strerror(e));
        }
        f.bytes = f.map;
        f.len = f.map_len;
    }
    close(fd);
    vec_push(&st->files, f);
    return 0;
}

/* Header parsing ------------------------------------------------------------------------------- */

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void add_metadata(mlcc_safetensors *st, const char *key, const char *value) {
    vec_push(&st->metadata, arena_strdup(&st->arena, key));
    vec_push(&st->metadata, arena_strdup(&st->arena, value));
}

static int parse_metadata(mlcc_safetensors *st, json_t *meta, int keep) {
    if (!json_is_object(meta)) return mlcc_set_error("__metadata__ is not an object");
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return mlcc_set_error("__metadata__ value of '%.200s' is not a string", key);
        if (keep) add_metadata(st, key, json_string_value(value));
    }
    return 0;
}

static int parse_nonnegative(json_t *j, uint64_t *out) {
    if (!json_is_integer(j) || json_integer_value(j) < 0) return -1;
    *out = (uint64_t)json_integer_value(j);
    return 0;
}

static void describe_shape(const int64_t *shape, int ndim, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used + 24 < size; i++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    snprintf(buf + used, size - used, "%s]", used + 24 >= size ? ", ..." : "");
}

/* One tensor entry of a header; fills t (name set by the caller). Errors lack the file name. */
static int parse_tensor(mlcc_safetensors *st, const char *name, json_t *value, const uint8_t *data,
                        size_t data_len, mlcc_st_tensor *t) {
    if (!json_is_object(value))
        return mlcc_set_error(
            "tensor '%.200s': expected an object with dtype, shape and data_offsets", name);
    json_t *dtype = json_object_get(value, "dtype"), *shape = json_object_get(value, "shape"),
           *offsets = json_object_get(value, "data_offsets");
    if (!json_is_string(dtype))
        return mlcc_set_error("tensor '%.200s': \"dtype\" is missing or not a string", name);
    if (safetensors_dtype_parse(json_string_value(dtype), &t->dtype) != 0)
        return mlcc_prefix_error("tensor '%.200s'", name);
    if (!json_is_array(shape))
        return mlcc_set_error("tensor '%.200s': \"shape\" is missing or not an array", name);
    if (json_array_size(shape) > MAX_NDIM)
        return mlcc_set_error("tensor '%.200s': shape has %zu dimensions (at most %d)", name,
                              json_array_size(shape), MAX_NDIM);
    t->ndim = (int)json_array_size(shape);
    int64_t *dims = ARENA_ARRAY(&st->arena, int64_t, t->ndim ? t->ndim : 1);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (parse_nonnegative(json_array_get(shape, (size_t)i), &d) != 0)
            return mlcc_set_error("tensor '%.200s': shape[%d] is not a non-negative integer", name,
                                  i);
        dims[i] = (int64_t)d;
        /* Every partial product must fit in int64, as mlcc_shape_numel demands later, even when
         * a zero further on would make the total small. */
        if (numel != UINT64_MAX && (__builtin_mul_overflow(numel, d, &numel) || numel > INT64_MAX))
            numel = UINT64_MAX;
    }
    t->shape = dims;
    uint64_t begin, end;
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        parse_nonnegative(json_array_get(offsets, 0), &begin) != 0 ||
        parse_nonnegative(json_array_get(offsets, 1), &end) != 0)
        return mlcc_set_error(
            "tensor '%.200s': \"data_offsets\" must be [begin, end] with non-negative integers",
            name);
    if (begin > end)
        return mlcc_set_error("tensor '%.200s': data_offsets [%llu, %llu] end before they begin",
                              name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_len)
        return mlcc_set_error(
            "tensor '%.200s': data_offsets [%llu, %llu] go past the end of the data (%zu bytes)",
            name, (unsigned long long)begin, (unsigned long long)end, data_len);
    uint64_t need;
    if (numel == UINT64_MAX ||
        __builtin_mul_overflow(numel, (uint64_t)safetensors_dtype_size(t->dtype), &need))
        need = UINT64_MAX;
    if (need != end - begin) {
        char sbuf[256];
        describe_shape(dims, t->ndim, sbuf, sizeof sbuf);
        if (need == UINT64_MAX)
            return mlcc_set_error("tensor '%.200s': shape %s of %s overflows 64-bit sizes", name,
                                  sbuf, safetensors_dtype_name(t->dtype));
        return mlcc_set_error("tensor '%.200s': shape %s of %s needs %llu bytes but data_offsets "
                              "[%llu, %llu] hold %llu",
                              name, sbuf, safetensors_dtype_name(t->dtype),
                              (unsigned long long)need, (unsigned long long)begin,
                              (unsigned long long)end, (unsigned long long)(end - begin));
    }
    t->nbytes = (size_t)(end - begin);
    t->data = data + begin;
    return 0;
}

static int compare_by_offset(const void *pa, const void *pb) {
    const mlcc_st_tensor *a = pa, *b = pb;
    if (a->file_offset != b->file_offset) return a->file_offset < b->file_offset ? -1 : 1;
    if (a->nbytes != b->nbytes) return a->nbytes < b->nbytes ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Tensors [first, len) of one file, sorted by offset: no byte may belong to two of them. */
static int check_overlaps(mlcc_safetensors *st, size_t first) {
    size_t n = st->tensors.len - first;
    if (n < 2) return 0;
    mlcc_st_tensor *t = st->tensors.data + first;
    qsort(t, n, sizeof *t, compare_by_offset);
    const mlcc_st_tensor *reach = NULL; /* the tensor ending furthest so far */
    for (size_t i = 0; i < n; i++) {
        if (t[i].nbytes == 0) continue;
        if (reach && t[i].file_offset < reach->file_offset + reach->nbytes)
            return mlcc_set_error("tensors '%.200s' and '%.200s' overlap (bytes %llu..%llu and "
                                  "%llu..%llu of the file)",
                                  reach->name, t[i].name, (unsigned long long)reach->file_offset,
                                  (unsigned long long)(reach->file_offset + reach->nbytes),
                                  (unsigned long long)t[i].file_offset,
                                  (unsigned long long)(t[i].file_offset + t[i].nbytes));
        if (!reach || t[i].file_offset + t[i].nbytes > reach->file_offset + reach->nbytes)
            reach = &t[i];
    }
    return 0;
}

/* Parses file fi and appends its tensors. Errors lack the file name (the caller adds it). */
static int parse_file_header(mlcc_safetensors *st, size_t fi) {
    const st_file *f = &st->files.data[fi];
    if (f->len < 8)
        return mlcc_set_error("the file is %zu bytes, too short for the 8-byte header length",
                              f->len);
    uint64_t n = read_le64(f->bytes);
    if (n > f->len - 8)
        return mlcc_set_error("header length %llu goes past the end of the file (%zu bytes)",
                              (unsigned long long)n, f->len);
    if (n > MAX_HEADER_BYTES)
        return mlcc_set_error("header length %llu is over the limit of %d bytes",
                              (unsigned long long)n, MAX_HEADER_BYTES);
    const char *header = (const char *)f->bytes + 8;
    if (n == 0 || header[0] != '{') return mlcc_set_error("the header does not start with '{'");
    json_error_t err;
    json_t *root = json_loadb(header, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return mlcc_set_error("header JSON, line %d column %d: %s", err.line, err.column, err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return mlcc_set_error("the header is not a JSON object");
    }
    const uint8_t *data = f->bytes + 8 + n;
    size_t data_len = f->len - 8 - (size_t)n, first = st->tensors.len;
    const char *key;
    json_t *value;
    int rc = 0;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = parse_metadata(st, value, fi == 0)) != 0) break;
            continue;
        }
        mlcc_st_tensor t = {0};
        t.name = arena_strdup(&st->arena, key);
        t.file = f->path;
        if ((rc = parse_tensor(st, t.name, value, data, data_len, &t)) != 0) break;
        t.file_offset = (uint64_t)((const uint8_t *)t.data - f->bytes);
        vec_push(&st->tensors, t);
    }
    json_decref(root);
    if (rc != 0) return rc;
    return check_overlaps(st, first);
}

/* After every file is parsed: the name index, and no name in two shards. */
static int index_names(mlcc_safetensors *st) {
    for (size_t i = 0; i < st->tensors.len; i++) {
        const mlcc_st_tensor *t = &st->tensors.data[i];
        int inserted;
        mlcc_strmap_entry *e = strmap_upsert(&st->by_name, t->name, strlen(t->name), &inserted);
        if (!inserted)
            return mlcc_set_error("tensor '%.200s' is in both %s and %s", t->name,
                                  st->tensors.data[e->value.i].file, t->file);
        e->value.i = (int64_t)i;
    }
    return 0;
}

static int open_single(mlcc_safetensors *st, const char *path) {
    if (map_file(st, path) != 0) return -1;
    if (parse_file_header(st, st->files.len - 1) != 0) return mlcc_prefix_error("%s", path);
    return 0;
}

/* A plain file name inside the index's folder: no folders, no way out of it. */
static int valid_shard_name(const char *s) {
    return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int open_index(mlcc_safetensors *st, const char *index_path) {
    json_t *root = mlcc_json_load_file(index_path);
    if (!root) return -1;
    int rc = -1;
    char *dir = mlcc_xstrdup(index_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    mlcc_strmap shards; /* shard file name -> file index */
    strmap_init(&shards);
    json_t *map = json_object_get(root, "weight_map");
    const char *name;
    json_t *value;
    if (!json_is_object(map)) {
        mlcc_set_error("%s: no \"weight_map\" object", index_path);
        goto done;
    }
    json_object_foreach(map, name, value) {
        const char *shard = json_string_value(value);
        if (!shard || !valid_shard_name(shard)) {
            mlcc_set_error(
                "%s: weight_map entry '%.200s' must be the file name of a shard in the same folder",
                index_path, name);
            goto done;
        }
        int inserted;
        mlcc_strmap_entry *e = strmap_upsert(&shards, shard, strlen(shard), &inserted);
        if (!inserted) continue;
        char *path = mlcc_path_join(dir, shard);
        int failed = open_single(st, path);
        free(path);
        if (failed) goto done;
        e->value.i = (int64_t)st->files.len - 1;
    }
    if (index_names(st) != 0) {
        mlcc_prefix_error("%s", index_path);
        goto done;
    }
    json_object_foreach(map, name, value) {
        const mlcc_st_tensor *t = safetensors_find(st, name);
        const st_file *f = &st->files.data[strmap_find(&shards, json_string_value(value),
                                                       strlen(json_string_value(value)))
                                               ->value.i];
        if (!t || t->file != f->path) {
            mlcc_set_error("%s: weight_map puts tensor '%.200s' in %s, which has no such tensor",
                           index_path, name, f->path);
            goto done;
        }
    }
    json_t *meta = json_object_get(root, "metadata");
    json_object_foreach(meta, name, value) { /* a no-op when meta is not an object */
        char buf[32];
        if (json_is_string(value))
            add_metadata(st, name, json_string_value(value));
        else if (json_is_integer(value)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(value));
            add_metadata(st, name, buf);
        }
    }
    rc = 0;
done:
    strmap_free(&shards);
    free(dir);
    json_decref(root);
    return rc;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

mlcc_safetensors *safetensors_open(const char *path) {
    mlcc_safetensors *st = set_new();
    int rc;
    if (mlcc_is_dir(path)) {
        char *index = mlcc_path_join(path, "model.safetensors.index.json");
        char *single = mlcc_path_join(path, "model.safetensors");
        if (mlcc_file_exists(index))
            rc = open_index(st, index);
        else if (mlcc_file_exists(single))
            rc = open_single(st, single) || index_names(st);
        else
            rc = mlcc_set_error(
                "%s: no model.safetensors or model.safetensors.index.json in this folder", path);
        free(index);
        free(single);
    } else if (ends_with(path, ".json")) {
        rc = open_index(st, path);
    } else {
        rc = open_single(st, path) || index_names(st);
    }
    if (rc != 0) {
        safetensors_close(st);
        return NULL;
    }
    return st;
}

mlcc_safetensors *safetensors_open_memory(const void *data, size_t len, const char *name) {
    mlcc_safetensors *st = set_new();
    st_file f = {arena_strdup(&st->arena, name), NULL, 0, data ? data : (const uint8_t *)"",
                 data ? len : 0};
    vec_push(&st->files, f);
    if (parse_file_header(st, 0) != 0 || index_names(st) != 0) {
        mlcc_prefix_error("%s", name);
        safetensors_close(st);
        return NULL;
    }
    return st;
}

size_t safetensors_count(const mlcc_safetensors *st) {
    return st->tensors.len;
}

const mlcc_st_tensor *safetensors_at(const mlcc_safetensors *st, size_t i) {
    return i < st->tensors.len ? &st->tensors.data[i] : NULL;
}

const mlcc_st_tensor *safetensors_find(const mlcc_safetensors *st, const char *name) {
    mlcc_strmap_entry *e = strmap_find(&st->by_name, name, strlen(name));
    return e ? &st->tensors.data[e->value.i] : NULL;
}

size_t safetensors_num_files(const mlcc_safetensors *st) {
    return st->files.len;
}

size_t safetensors_metadata_count(const mlcc_safetensors *st) {
    return st->metadata.len / 2;
}

void safetensors_metadata_at(const mlcc_safetensors *st, size_t i, const char **key,
                             const char **value) {
    *key = st->metadata.data[2 * i];
    *value = st->metadata.data[2 * i + 1];
}

const char *safetensors_metadata(const mlcc_safetensors *st, const char *key) {
    for (size_t i = 0; i + 1 < st->metadata.len; i += 2)
        if (strcmp(st->metadata.data[i], key) == 0) return st->metadata.data[i + 1];
    return NULL;
}

/* Values [begin, end) of a 16-bit float tensor as float32 (a range, so large tensors convert on
 * the thread pool: a model's conversion reads every weight through here). */
typedef struct half_job {
    const uint8_t *src;
    float *dst;
    int bf16, f16c; /* bfloat16 values; float16 ones through F16C */
} half_job;

#if defined(__x86_64__) && defined(__GNUC__)
/* float16 to float32 eight at a time with the F16C instruction (exact, as the scalar
 * conversion, except that a signaling NaN comes out quiet); x86-64 CPUs have it since 2012,
 * and safetensors_read_f32 asks the CPU before it is used. */
__attribute__((target("avx,f16c"))) static int64_t f16_to_f32_f16c(const uint8_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    return i;
}

/* F16C is CPUID.1:ECX bit 29, read directly: clang's __builtin_cpu_supports does not know
 * "f16c" (clang 14: "invalid cpu feature string") */
static int has_f16c(void) {
    unsigned a, b, c, d;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
}
#else
static int has_f16c(void) {
    return 0;
}
#endif

static void halves_to_f32(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    const half_job *j = ctx;
#if defined(__x86_64__) && defined(__GNUC__)
    if (j->f16c) begin += f16_to_f32_f16c(j->src + 2 * begin, j->dst + begin, end - begin);
#endif
    for (int64_t i = begin; i < end; i++) {
        uint16_t h;
        memcpy(&h, j->src + 2 * i, 2);
        j->dst[i] = j->bf16 ? mlcc_bf16_to_f32(h) : mlcc_f16_to_f32(h);
    }
}

int safetensors_read_f32(const mlcc_st_tensor *t, float *dst) {
    size_t n = t->nbytes / safetensors_dtype_size(t->dtype);
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(dst, p, t->nbytes); return 0;
    case ST_F16:
    case ST_BF16: {
        half_job job = {p, dst, t->dtype == ST_BF16, t->dtype == ST_F16 && has_f16c()};
        if (n < (1u << 20)) halves_to_f32(0, (int64_t)n, 0, &job);
        else mlcc_parallel_for((int64_t)n, halves_to_f32, &job);
        return 0;
    }
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        return mlcc_set_error(
            "tensor '%.200s' in %s is %s; only F32, F16, BF16 and F64 convert to float32", t->name,
            t->file, safetensors_dtype_name(t->dtype));
    }
}

static int is_float_type(mlcc_st_dtype t) {
    return t == ST_F32 || t == ST_F16 || t == ST_BF16 || t == ST_F64;
}

/* Converts t into dst (a CPU array of t's element count and a float dtype). */
static int convert_into(const mlcc_st_tensor *t, MLCCNDArray *dst) {
    size_t n = (size_t)mlcc_ndarray_numel(dst);
    DLDataType want = dst->dl.dtype;
    if (mlcc_dtype_eq(want, MLCC_DTYPE_F32)) return safetensors_read_f32(t, dst->dl.data);
    float *tmp = mlcc_xmalloc(n ? n * sizeof(float) : 1);
    int rc = safetensors_read_f32(t, tmp);
    if (rc == 0 && mlcc_dtype_eq(want, MLCC_DTYPE_F16))
        mlcc_f32_to_f16_n(dst->dl.data, tmp, n);
    else if (rc == 0)
        mlcc_f32_to_bf16_n(dst->dl.data, tmp, n);
    free(tmp);
    return rc;
}

MLCCNDArray *safetensors_load_ndarray(const mlcc_st_tensor *t, DLDataType dtype, DLDevice dev) {
    mlcc_st_dtype want;
    char buf[32];
    if (safetensors_dtype_from_dl(dtype, &want) != 0 ||
        (want != t->dtype &&
         !(is_float_type(t->dtype) && (want == ST_F32 || want == ST_F16 || want == ST_BF16)))) {
        mlcc_set_error("tensor '%.200s' in %s: cannot load %s as %s", t->name, t->file,
                       safetensors_dtype_name(t->dtype), mlcc_dtype_str(dtype, buf));
        return NULL;
    }
    MLCCNDArray *host = mlcc_ndarray_empty(t->ndim, t->shape, dtype, MLCC_CPU);
    if (!host) {
        mlcc_prefix_error("tensor '%.200s' in %s", t->name, t->file);
        return NULL;
    }
    int rc =
        want == t->dtype ? (memcpy(host->dl.data, t->data, t->nbytes), 0) : convert_into(t, host);
    if (rc == 0 && dev.device_type != kDLCPU) {
        MLCCNDArray *on_dev = mlcc_ndarray_empty(t->ndim, t->shape, dtype, dev);
        rc = on_dev ? mlcc_ndarray_copy(on_dev, host) : -1;
        mlcc_ndarray_release(host);
        host = on_dev;
        if (rc != 0) mlcc_prefix_error("tensor '%.200s' in %s", t->name, t->file);
    }
    if (rc != 0) {
        mlcc_ndarray_release(host);
        return NULL;
    }
    return host;
}

/* Writer --------------------------------------------------------------------------------------- */

typedef struct {
    const mlcc_st_write_tensor *t;
    size_t index, nbytes;
} write_entry;

static int compare_for_layout(const void *pa, const void *pb) {
    const write_entry *a = pa, *b = pb;
    size_t sa = safetensors_dtype_size(a->t->dtype), sb = safetensors_dtype_size(b->t->dtype);
    if (sa != sb) return sa > sb ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int check_write_tensor(const mlcc_st_write_tensor *t, mlcc_strmap *names, size_t *nbytes) {
    if (!t->name || strcmp(t->name, "__metadata__") == 0)
        return mlcc_set_error("a tensor needs a name other than __metadata__");
    int inserted;
    strmap_upsert(names, t->name, strlen(t->name), &inserted);
    if (!inserted) return mlcc_set_error("tensor '%.200s' is given twice", t->name);
    if ((unsigned)t->dtype >= ST_DTYPE_COUNT)
        return mlcc_set_error("tensor '%.200s': bad dtype %d", t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > MAX_NDIM)
        return mlcc_set_error("tensor '%.200s': ndim %d", t->name, t->ndim);
    int64_t numel;
    if (mlcc_shape_numel(t->ndim, t->shape, &numel) != 0)
        return mlcc_prefix_error("tensor '%.200s'", t->name);
    if (__builtin_mul_overflow((uint64_t)numel, safetensors_dtype_size(t->dtype), nbytes))
        return mlcc_set_error("tensor '%.200s': size overflows", t->name);
    if (*nbytes && !t->data) return mlcc_set_error("tensor '%.200s' has no data", t->name);
    return 0;
}

/* The header JSON for entries in layout order; NULL with an error. */
static char *build_header(const write_entry *entries, size_t n, const char *const *metadata,
                          size_t *len) {
    json_t *root = json_object();
    if (metadata && metadata[0]) {
        json_t *meta = json_object();
        for (size_t i = 0; metadata[i]; i += 2) {
            if (!metadata[i + 1]) {
                json_decref(meta);
                json_decref(root);
                mlcc_set_error("metadata key '%.200s' has no value", metadata[i]);
                return NULL;
            }
            json_object_set_new(meta, metadata[i], json_string(metadata[i + 1]));
        }
        json_object_set_new(root, "__metadata__", meta);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const mlcc_st_write_tensor *t = entries[i].t;
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *info = json_pack("{s:s, s:o, s:[I,I]}", "dtype", safetensors_dtype_name(t->dtype),
                                 "shape", shape, "data_offsets", (json_int_t)offset,
                                 (json_int_t)(offset + entries[i].nbytes));
        if (!info || json_object_set_new(root, t->name, info) != 0) {
            json_decref(root);
            mlcc_set_error("tensor name '%.200s' is not valid UTF-8", t->name);
            return NULL;
        }
        offset += entries[i].nbytes;
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) {
        mlcc_set_error("cannot encode the header (invalid UTF-8 in metadata?)");
        return NULL;
    }
    *len = strlen(text);
    return text;
}

static int write_all(FILE *out, const void *data, size_t len) {
    return len == 0 || fwrite(data, 1, len, out) == len ? 0 : -1;
}

int safetensors_write(const char *path, const mlcc_st_write_tensor *tensors, size_t n,
                      const char *const *metadata) {
    write_entry *entries = mlcc_xcalloc(n ? n : 1, sizeof *entries);
    mlcc_strmap names;
    strmap_init(&names);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        entries[i].t = &tensors[i];
        entries[i].index = i;
        rc = check_write_tensor(&tensors[i], &names, &entries[i].nbytes);
    }
    strmap_free(&names);
    size_t header_len = 0;
    char *header = NULL;
    if (rc == 0) {
        qsort(entries, n, sizeof *entries, compare_for_layout);
        header = build_header(entries, n, metadata, &header_len);
        if (!header) rc = -1;
    }
    if (rc != 0) {
        free(entries);
        return mlcc_prefix_error("writing %s", path);
    }
    static int counter;
    size_t tmp_len = strlen(path) + 64;
    char *tmp = mlcc_xmalloc(tmp_len);
    snprintf(tmp, tmp_len, "%s.tmp.%ld.%d", path, (long)getpid(),
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        rc = mlcc_set_error("writing %s: %s", tmp, strerror(errno));
    } else {
        size_t padded = (header_len + 7) / 8 * 8;
        uint8_t len_bytes[8];
        for (int i = 0; i < 8; i++) len_bytes[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        rc |= write_all(out, len_bytes, 8) | write_all(out, header, header_len);
        for (size_t i = header_len; i < padded; i++) rc |= fputc(' ', out) == EOF ? -1 : 0;
        for (size_t i = 0; i < n; i++) rc |= write_all(out, entries[i].t->data, entries[i].nbytes);
        rc |= fflush(out) != 0 || fsync(fileno(out)) != 0 ? -1 : 0;
        rc |= fclose(out) != 0 ? -1 : 0;
        if (rc != 0)
            mlcc_set_error("writing %s: %s", path, strerror(errno));
        else if (rename(tmp, path) != 0)
            rc = mlcc_set_error("renaming %s to %s: %s", tmp, path, strerror(errno));
        if (rc != 0) unlink(tmp);
    }
    free(tmp);
    free(header);
    free(entries);
    return rc;
}
