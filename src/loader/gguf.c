/* gguf.c - the GGUF reader (see gguf.h): a cursor over the mapped bytes that refuses to read
 * past the end, then the header, metadata, tensor infos and the data section layout. */
#include "loader/gguf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/alloc.h"
#include "support/error.h"

typedef struct cursor {
    const uint8_t *p;
    size_t pos, size;
    const char *what;
} cursor;

static int need(cursor *c, uint64_t n, const char *item) {
    if (n > c->size - c->pos)
        return mlcc_set_error("%s: truncated at byte %zu while reading %s (file is %zu bytes)",
                              c->what, c->pos, item, c->size);
    return 0;
}

static int rd(cursor *c, void *out, size_t n, const char *item) {
    if (need(c, n, item)) return -1;
    memcpy(out, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *item) {
    return rd(c, v, 4, item);
}
static int rd_u64(cursor *c, uint64_t *v, const char *item) {
    return rd(c, v, 8, item);
}

static int rd_str(cursor *c, mlcc_gguf_str *s, const char *item) {
    uint64_t len;
    if (rd_u64(c, &len, item) || need(c, len, item)) return -1;
    s->data = (const char *)c->p + c->pos;
    s->len = len;
    c->pos += len;
    return 0;
}

static uint64_t scalar_size(mlcc_gguf_type t) {
    switch (t) {
    case MLCC_GGUF_UINT8:
    case MLCC_GGUF_INT8:
    case MLCC_GGUF_BOOL:
        return 1;
    case MLCC_GGUF_UINT16:
    case MLCC_GGUF_INT16:
        return 2;
    case MLCC_GGUF_UINT32:
    case MLCC_GGUF_INT32:
    case MLCC_GGUF_FLOAT32:
        return 4;
    case MLCC_GGUF_UINT64:
    case MLCC_GGUF_INT64:
    case MLCC_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

const char *mlcc_gguf_type_name(mlcc_gguf_type t) {
    static const char *names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                  "int32",  "float32", "bool",   "string", "array",
                                  "uint64", "int64",   "float64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Reads a scalar of type t at the cursor into kv->v. */
static int rd_scalar(cursor *c, mlcc_gguf_type t, mlcc_gguf_kv *kv, const char *item) {
    uint8_t b[8] = {0};
    uint64_t n = scalar_size(t);
    if (rd(c, b, n, item)) return -1;
    switch (t) {
    case MLCC_GGUF_UINT8:
    case MLCC_GGUF_BOOL:
        kv->v.u = b[0];
        break;
    case MLCC_GGUF_INT8:
        kv->v.i = (int8_t)b[0];
        break;
    case MLCC_GGUF_UINT16: {
        uint16_t x;
        memcpy(&x, b, 2);
        kv->v.u = x;
        break;
    }
    case MLCC_GGUF_INT16: {
        int16_t x;
        memcpy(&x, b, 2);
        kv->v.i = x;
        break;
    }
    case MLCC_GGUF_UINT32: {
        uint32_t x;
        memcpy(&x, b, 4);
        kv->v.u = x;
        break;
    }
    case MLCC_GGUF_INT32: {
        int32_t x;
        memcpy(&x, b, 4);
        kv->v.i = x;
        break;
    }
    case MLCC_GGUF_FLOAT32: {
        float x;
        memcpy(&x, b, 4);
        kv->v.f = x;
        break;
    }
    case MLCC_GGUF_UINT64:
        memcpy(&kv->v.u, b, 8);
        break;
    case MLCC_GGUF_INT64:
        memcpy(&kv->v.i, b, 8);
        break;
    case MLCC_GGUF_FLOAT64:
        memcpy(&kv->v.f, b, 8);
        break;
    default:
        break;
    }
    return 0;
}

/* Skips an array body (for arrays nested in arrays); depth-limited. */
static int skip_array(cursor *c, int depth, const char *item) {
    uint32_t t;
    uint64_t n;
    if (depth > 8) return mlcc_set_error("%s: %s: arrays nested too deeply", c->what, item);
    if (rd_u32(c, &t, item) || rd_u64(c, &n, item)) return -1;
    if (t == MLCC_GGUF_STRING) {
        for (uint64_t i = 0; i < n; i++) {
            mlcc_gguf_str s;
            if (rd_str(c, &s, item)) return -1;
        }
    } else if (t == MLCC_GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++)
            if (skip_array(c, depth + 1, item)) return -1;
    } else {
        uint64_t sz = scalar_size((mlcc_gguf_type)t);
        if (!sz) return mlcc_set_error("%s: %s: unknown array element type %u", c->what, item, t);
        if (n > (c->size - c->pos) / sz) return need(c, (uint64_t)-1, item);
        c->pos += n * sz;
    }
    return 0;
}

static int read_kv(cursor *c, mlcc_gguf_kv *kv, uint64_t index) {
    char item[320];
    snprintf(item, sizeof item, "metadata key %llu", (unsigned long long)index);
    uint32_t t;
    if (rd_str(c, &kv->key, item)) return -1;
    snprintf(item, sizeof item, "metadata '%.*s'", (int)(kv->key.len > 200 ? 200 : kv->key.len),
             kv->key.data);
    if (rd_u32(c, &t, item)) return -1;
    kv->type = (mlcc_gguf_type)t;
    if (t == MLCC_GGUF_STRING) return rd_str(c, &kv->v.s, item);
    if (t != MLCC_GGUF_ARRAY) {
        if (!scalar_size(kv->type))
            return mlcc_set_error("%s: %s: unknown value type %u", c->what, item, t);
        return rd_scalar(c, kv->type, kv, item);
    }
    uint32_t et;
    if (rd_u32(c, &et, item) || rd_u64(c, &kv->arr_n, item)) return -1;
    kv->arr_type = (mlcc_gguf_type)et;
    kv->arr_data = c->p + c->pos;
    if (et == MLCC_GGUF_STRING) {
        /* every string needs at least its 8-byte length: bound the count before allocating */
        if (kv->arr_n > (c->size - c->pos) / 8) return need(c, (uint64_t)-1, item);
        kv->arr_strings =
            mlcc_xmalloc((size_t)(kv->arr_n ? kv->arr_n : 1) * sizeof *kv->arr_strings);
        for (uint64_t i = 0; i < kv->arr_n; i++)
            if (rd_str(c, &kv->arr_strings[i], item)) return -1;
        return 0;
    }
    if (et == MLCC_GGUF_ARRAY) {
        for (uint64_t i = 0; i < kv->arr_n; i++)
            if (skip_array(c, 1, item)) return -1;
        return 0;
    }
    uint64_t sz = scalar_size(kv->arr_type);
    if (!sz) return mlcc_set_error("%s: %s: unknown array element type %u", c->what, item, et);
    if (kv->arr_n > (c->size - c->pos) / sz) return need(c, (uint64_t)-1, item);
    c->pos += kv->arr_n * sz;
    return 0;
}

int mlcc_ggml_type_layout(uint32_t type, uint64_t *block_bytes, uint64_t *block_elems) {
    static const struct {
        uint32_t type;
        uint16_t bytes, elems;
    } layouts[] = {{0, 4, 1},      {1, 2, 1},      {2, 18, 32},    {3, 20, 32},    {6, 22, 32},
                   {7, 24, 32},    {8, 34, 32},    {9, 36, 32},    {10, 84, 256},  {11, 110, 256},
                   {12, 144, 256}, {13, 176, 256}, {14, 210, 256}, {15, 292, 256}, {16, 66, 256},
                   {17, 74, 256},  {18, 98, 256},  {19, 50, 256},  {20, 18, 32},   {21, 110, 256},
                   {22, 82, 256},  {23, 136, 256}, {24, 1, 1},     {25, 2, 1},     {26, 4, 1},
                   {27, 8, 1},     {28, 8, 1},     {29, 56, 256},  {30, 2, 1},     {34, 54, 256},
                   {35, 66, 256},  {39, 17, 32}};
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (layouts[i].type == type) {
            *block_bytes = layouts[i].bytes;
            *block_elems = layouts[i].elems;
            return 1;
        }
    return 0;
}

const char *mlcc_ggml_type_name(uint32_t type) {
    switch (type) {
    case 0:
        return "F32";
    case 1:
        return "F16";
    case 2:
        return "Q4_0";
    case 3:
        return "Q4_1";
    case 6:
        return "Q5_0";
    case 7:
        return "Q5_1";
    case 8:
        return "Q8_0";
    case 9:
        return "Q8_1";
    case 10:
        return "Q2_K";
    case 11:
        return "Q3_K";
    case 12:
        return "Q4_K";
    case 13:
        return "Q5_K";
    case 14:
        return "Q6_K";
    case 15:
        return "Q8_K";
    case 24:
        return "I8";
    case 25:
        return "I16";
    case 26:
        return "I32";
    case 27:
        return "I64";
    case 28:
        return "F64";
    case 30:
        return "BF16";
    default:
        return "other";
    }
}

static int read_tensor(cursor *c, mlcc_gguf_tensor *t, uint64_t index) {
    char item[320];
    snprintf(item, sizeof item, "tensor info %llu", (unsigned long long)index);
    if (rd_str(c, &t->name, item)) return -1;
    snprintf(item, sizeof item, "tensor '%.*s'", (int)(t->name.len > 200 ? 200 : t->name.len),
             t->name.data);
    if (rd_u32(c, &t->n_dims, item)) return -1;
    if (t->n_dims == 0 || t->n_dims > MLCC_GGUF_MAX_DIMS)
        return mlcc_set_error("%s: %s: %u dimensions (1 to %d allowed)", c->what, item, t->n_dims,
                              MLCC_GGUF_MAX_DIMS);
    t->n_elements = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (rd_u64(c, &t->dims[d], item)) return -1;
        if (t->dims[d] > (uint64_t)INT64_MAX ||
            (t->dims[d] && t->n_elements > (uint64_t)INT64_MAX / t->dims[d]))
            return mlcc_set_error("%s: %s: shape overflows", c->what, item);
        t->n_elements *= t->dims[d];
    }
    for (uint32_t d = t->n_dims; d < MLCC_GGUF_MAX_DIMS; d++)
        t->dims[d] = 1;
    if (rd_u32(c, &t->type, item) || rd_u64(c, &t->offset, item)) return -1;
    uint64_t bb, be;
    if (!mlcc_ggml_type_layout(t->type, &bb, &be))
        return mlcc_set_error("%s: %s: unknown ggml type %u", c->what, item, t->type);
    if (t->dims[0] % be)
        return mlcc_set_error(
            "%s: %s: first dimension %llu is not a multiple of the %s block size %llu", c->what,
            item, (unsigned long long)t->dims[0], mlcc_ggml_type_name(t->type),
            (unsigned long long)be);
    t->n_bytes = t->n_elements / be * bb;
    return 0;
}

static mlcc_gguf *parse(mlcc_gguf *g) {
    cursor c = {g->base, 0, g->size, g->path};
    uint32_t magic;
    if (rd_u32(&c, &magic, "the magic number")) goto fail;
    if (memcmp(&magic, "GGUF", 4)) {
        mlcc_set_error("%s: not a GGUF file (bad magic)", g->path);
        goto fail;
    }
    if (rd_u32(&c, &g->version, "the version")) goto fail;
    if (g->version != 2 && g->version != 3) {
        mlcc_set_error("%s: GGUF version %u is not supported (2 and 3 are)", g->path, g->version);
        goto fail;
    }
    if (rd_u64(&c, &g->n_tensors, "the tensor count") || rd_u64(&c, &g->n_kv, "the metadata count"))
        goto fail;
    /* each key/value takes at least 12 bytes and each tensor info at least 28 */
    if (g->n_kv > (c.size - c.pos) / 12 || g->n_tensors > (c.size - c.pos) / 28) {
        mlcc_set_error(
            "%s: header claims %llu metadata entries and %llu tensors, more than the file holds",
            g->path, (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);
        goto fail;
    }
    g->kv = mlcc_xcalloc((size_t)g->n_kv + 1, sizeof *g->kv);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (read_kv(&c, &g->kv[i], i)) goto fail;
    g->alignment = 32;
    const mlcc_gguf_kv *al = mlcc_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != MLCC_GGUF_UINT32 || al->v.u == 0 || (al->v.u & (al->v.u - 1))) {
            mlcc_set_error("%s: metadata 'general.alignment' must be a uint32 power of two",
                           g->path);
            goto fail;
        }
        g->alignment = al->v.u;
    }
    g->tensors = mlcc_xcalloc((size_t)g->n_tensors + 1, sizeof *g->tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (read_tensor(&c, &g->tensors[i], i)) goto fail;
    uint64_t data = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    g->data_offset = data;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        mlcc_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment) {
            mlcc_set_error("%s: tensor '%.*s': offset %llu is not aligned to %llu", g->path,
                           (int)t->name.len, t->name.data, (unsigned long long)t->offset,
                           (unsigned long long)g->alignment);
            goto fail;
        }
        if (data > g->size || t->offset > g->size - data ||
            t->n_bytes > g->size - data - t->offset) {
            mlcc_set_error(
                "%s: tensor '%.*s': data [%llu, +%llu) lies past the end of the file (%zu bytes)",
                g->path, (int)t->name.len, t->name.data, (unsigned long long)(data + t->offset),
                (unsigned long long)t->n_bytes, g->size);
            goto fail;
        }
    }
    return g;
fail:
    mlcc_gguf_close(g);
    return NULL;
}

mlcc_gguf *mlcc_gguf_open_memory(const void *data, size_t size, const char *what) {
    mlcc_gguf *g = mlcc_xcalloc(1, sizeof *g);
    g->path = mlcc_xstrdup(what);
    g->base = data;
    g->size = size;
    return parse(g);
}

mlcc_gguf *mlcc_gguf_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mlcc_set_error("%s: cannot open", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        mlcc_set_error("%s: not a regular file", path);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (size && map == MAP_FAILED) {
        mlcc_set_error("%s: cannot map the file", path);
        return NULL;
    }
    mlcc_gguf *g = mlcc_xcalloc(1, sizeof *g);
    g->path = mlcc_xstrdup(path);
    g->base = map;
    g->size = size;
    g->mapped = size != 0;
    return parse(g);
}

void mlcc_gguf_close(mlcc_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].arr_strings);
    free(g->kv);
    free(g->tensors);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g->path);
    free(g);
}

const mlcc_gguf_kv *mlcc_gguf_find(const mlcc_gguf *g, const char *key) {
    size_t n = strlen(key);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key.len == n && g->kv[i].key.data && memcmp(g->kv[i].key.data, key, n) == 0)
            return &g->kv[i];
    return NULL;
}

static const mlcc_gguf_kv *need_kv(const mlcc_gguf *g, const char *key) {
    const mlcc_gguf_kv *kv = mlcc_gguf_find(g, key);
    if (!kv) mlcc_set_error("%s: metadata '%s' is missing", g->path, key);
    return kv;
}

static int wrong_type(const mlcc_gguf *g, const char *key, const mlcc_gguf_kv *kv,
                      const char *want) {
    return mlcc_set_error("%s: metadata '%s' is %s, expected %s", g->path, key,
                          mlcc_gguf_type_name(kv->type), want);
}

int mlcc_gguf_get_int(const mlcc_gguf *g, const char *key, int64_t *out) {
    const mlcc_gguf_kv *kv = need_kv(g, key);
    if (!kv) return -1;
    switch (kv->type) {
    case MLCC_GGUF_UINT8:
    case MLCC_GGUF_UINT16:
    case MLCC_GGUF_UINT32:
    case MLCC_GGUF_UINT64:
        if (kv->v.u > (uint64_t)INT64_MAX)
            return mlcc_set_error("%s: metadata '%s' is out of range", g->path, key);
        *out = (int64_t)kv->v.u;
        return 0;
    case MLCC_GGUF_INT8:
    case MLCC_GGUF_INT16:
    case MLCC_GGUF_INT32:
    case MLCC_GGUF_INT64:
        *out = kv->v.i;
        return 0;
    default:
        return wrong_type(g, key, kv, "an integer");
    }
}

int mlcc_gguf_get_float(const mlcc_gguf *g, const char *key, double *out) {
    const mlcc_gguf_kv *kv = need_kv(g, key);
    if (!kv) return -1;
    if (kv->type != MLCC_GGUF_FLOAT32 && kv->type != MLCC_GGUF_FLOAT64)
        return wrong_type(g, key, kv, "a float");
    *out = kv->v.f;
    return 0;
}

int mlcc_gguf_get_bool(const mlcc_gguf *g, const char *key, int *out) {
    const mlcc_gguf_kv *kv = need_kv(g, key);
    if (!kv) return -1;
    if (kv->type != MLCC_GGUF_BOOL) return wrong_type(g, key, kv, "bool");
    *out = kv->v.u != 0;
    return 0;
}

int mlcc_gguf_get_str(const mlcc_gguf *g, const char *key, mlcc_gguf_str *out) {
    const mlcc_gguf_kv *kv = need_kv(g, key);
    if (!kv) return -1;
    if (kv->type != MLCC_GGUF_STRING) return wrong_type(g, key, kv, "string");
    *out = kv->v.s;
    return 0;
}

const mlcc_gguf_kv *mlcc_gguf_get_array(const mlcc_gguf *g, const char *key, mlcc_gguf_type elem) {
    const mlcc_gguf_kv *kv = need_kv(g, key);
    if (!kv) return NULL;
    if (kv->type != MLCC_GGUF_ARRAY || kv->arr_type != elem) {
        mlcc_set_error("%s: metadata '%s' is %s%s%s, expected an array of %s", g->path, key,
                       mlcc_gguf_type_name(kv->type), kv->type == MLCC_GGUF_ARRAY ? " of " : "",
                       kv->type == MLCC_GGUF_ARRAY ? mlcc_gguf_type_name(kv->arr_type) : "",
                       mlcc_gguf_type_name(elem));
        return NULL;
    }
    return kv;
}

int64_t mlcc_gguf_arr_int(const mlcc_gguf_kv *kv, uint64_t i) {
    mlcc_gguf_kv tmp = {0};
    cursor c = {kv->arr_data, (size_t)(i * scalar_size(kv->arr_type)),
                (size_t)(kv->arr_n * scalar_size(kv->arr_type)), ""};
    if (i >= kv->arr_n || rd_scalar(&c, kv->arr_type, &tmp, "")) return 0;
    switch (kv->arr_type) {
    case MLCC_GGUF_INT8:
    case MLCC_GGUF_INT16:
    case MLCC_GGUF_INT32:
    case MLCC_GGUF_INT64:
        return tmp.v.i;
    case MLCC_GGUF_FLOAT32:
    case MLCC_GGUF_FLOAT64:
        /* truncated; NaN and values beyond int64 (undefined to convert) give 0 */
        return tmp.v.f > -9.2e18 && tmp.v.f < 9.2e18 ? (int64_t)tmp.v.f : 0;
    default:
        return (int64_t)tmp.v.u;
    }
}

double mlcc_gguf_arr_float(const mlcc_gguf_kv *kv, uint64_t i) {
    mlcc_gguf_kv tmp = {0};
    cursor c = {kv->arr_data, (size_t)(i * scalar_size(kv->arr_type)),
                (size_t)(kv->arr_n * scalar_size(kv->arr_type)), ""};
    if (i >= kv->arr_n || rd_scalar(&c, kv->arr_type, &tmp, "")) return 0;
    switch (kv->arr_type) {
    case MLCC_GGUF_FLOAT32:
    case MLCC_GGUF_FLOAT64:
        return tmp.v.f;
    case MLCC_GGUF_INT8:
    case MLCC_GGUF_INT16:
    case MLCC_GGUF_INT32:
    case MLCC_GGUF_INT64:
        return (double)tmp.v.i;
    default:
        return (double)tmp.v.u;
    }
}

const mlcc_gguf_tensor *mlcc_gguf_find_tensor(const mlcc_gguf *g, const char *name) {
    size_t n = strlen(name);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name.len == n && memcmp(g->tensors[i].name.data, name, n) == 0)
            return &g->tensors[i];
    return NULL;
}

const void *mlcc_gguf_tensor_data(const mlcc_gguf *g, const mlcc_gguf_tensor *t) {
    return g->base + g->data_offset + t->offset;
}
