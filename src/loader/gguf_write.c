/* gguf_write.c - the GGUF v3 writer (see gguf_write.h): metadata and tensor infos are built in
 * memory, then the file is streamed: header, infos, padding, each tensor's data padded. */
#include "loader/gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/gguf.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/strbuf.h"

typedef struct tensor_info {
    char *name;
    uint32_t type;
    int n_dims;
    uint64_t dims[MLCC_GGUF_MAX_DIMS];
    uint64_t size, offset;
} tensor_info;

struct mlcc_gguf_writer {
    uint32_t alignment;
    mlcc_strbuf kv; /* the encoded key/value pairs */
    uint64_t n_kv;
    tensor_info *tensors;
    int n_tensors, cap_tensors;
    char *path, *tmp_path;
    FILE *f;
    int next;        /* the tensor whose data comes next */
    uint64_t pos;    /* bytes of tensor data written */
};

static void put(mlcc_strbuf *b, const void *p, size_t n) { sb_append_n(b, p, n); }
static void put_u32(mlcc_strbuf *b, uint32_t v) { put(b, &v, 4); } /* GGUF is little-endian, as is every host we build for */
static void put_u64(mlcc_strbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(mlcc_strbuf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void key(mlcc_gguf_writer *w, const char *k, mlcc_gguf_type type) {
    put_str(&w->kv, k);
    put_u32(&w->kv, type);
    w->n_kv++;
}

mlcc_gguf_writer *mlcc_gguf_writer_new(uint32_t alignment) {
    mlcc_gguf_writer *w = mlcc_xcalloc(1, sizeof *w);
    w->alignment = alignment ? alignment : 32;
    return w;
}

void mlcc_gguf_writer_free(mlcc_gguf_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->tmp_path) unlink(w->tmp_path);
    for (int i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    sb_free(&w->kv);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

void mlcc_gguf_writer_kv_str(mlcc_gguf_writer *w, const char *k, const char *value) {
    key(w, k, MLCC_GGUF_STRING);
    put_str(&w->kv, value);
}
void mlcc_gguf_writer_kv_u32(mlcc_gguf_writer *w, const char *k, uint32_t value) {
    key(w, k, MLCC_GGUF_UINT32);
    put_u32(&w->kv, value);
}
void mlcc_gguf_writer_kv_i32(mlcc_gguf_writer *w, const char *k, int32_t value) {
    key(w, k, MLCC_GGUF_INT32);
    put(&w->kv, &value, 4);
}
void mlcc_gguf_writer_kv_f32(mlcc_gguf_writer *w, const char *k, float value) {
    key(w, k, MLCC_GGUF_FLOAT32);
    put(&w->kv, &value, 4);
}
void mlcc_gguf_writer_kv_bool(mlcc_gguf_writer *w, const char *k, int value) {
    key(w, k, MLCC_GGUF_BOOL);
    uint8_t b = value != 0;
    put(&w->kv, &b, 1);
}
void mlcc_gguf_writer_kv_str_array(mlcc_gguf_writer *w, const char *k, const char *const *values, uint64_t n) {
    key(w, k, MLCC_GGUF_ARRAY);
    put_u32(&w->kv, MLCC_GGUF_STRING);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) put_str(&w->kv, values[i]);
}
void mlcc_gguf_writer_kv_i32_array(mlcc_gguf_writer *w, const char *k, const int32_t *values, uint64_t n) {
    key(w, k, MLCC_GGUF_ARRAY);
    put_u32(&w->kv, MLCC_GGUF_INT32);
    put_u64(&w->kv, n);
    put(&w->kv, values, (size_t)n * 4);
}

static uint64_t align_up(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

int mlcc_gguf_writer_add_tensor(mlcc_gguf_writer *w, const char *name, uint32_t type, int n_dims, const uint64_t *dims) {
    if (n_dims < 1 || n_dims > MLCC_GGUF_MAX_DIMS) return mlcc_set_error("gguf writer: tensor '%s' has %d dims", name, n_dims);
    uint64_t block_bytes, block_elems, n = 1;
    if (!mlcc_ggml_type_layout(type, &block_bytes, &block_elems))
        return mlcc_set_error("gguf writer: tensor '%s': unknown ggml type %u", name, type);
    for (int d = 0; d < n_dims; d++) {
        if (dims[d] == 0 || n > UINT64_MAX / dims[d]) return mlcc_set_error("gguf writer: tensor '%s' has a bad shape", name);
        n *= dims[d];
    }
    if (dims[0] % block_elems)
        return mlcc_set_error("gguf writer: tensor '%s': rows of %llu elements are not whole %s blocks of %llu", name,
                              (unsigned long long)dims[0], mlcc_ggml_type_name(type), (unsigned long long)block_elems);
    if (w->n_tensors == w->cap_tensors) {
        w->cap_tensors = w->cap_tensors ? 2 * w->cap_tensors : 64;
        w->tensors = mlcc_xrealloc(w->tensors, sizeof(tensor_info) * (size_t)w->cap_tensors);
    }
    tensor_info *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = mlcc_xstrdup(name);
    t->type = type;
    t->n_dims = n_dims;
    memcpy(t->dims, dims, sizeof(uint64_t) * (size_t)n_dims);
    t->size = n / block_elems * block_bytes;
    t->offset = w->n_tensors ? align_up(t[-1].offset + t[-1].size, w->alignment) : 0;
    return w->n_tensors++;
}

uint64_t mlcc_gguf_writer_tensor_size(const mlcc_gguf_writer *w, int i) {
    return i >= 0 && i < w->n_tensors ? w->tensors[i].size : 0;
}

static int write_all(mlcc_gguf_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n) return mlcc_set_error("%s: write failed: %s", w->path, strerror(errno));
    return 0;
}

static int write_zeros(mlcc_gguf_writer *w, uint64_t n) {
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (write_all(w, zeros, k)) return -1;
        n -= k;
    }
    return 0;
}

int mlcc_gguf_writer_begin(mlcc_gguf_writer *w, const char *path) {
    if (w->alignment != 32) mlcc_gguf_writer_kv_u32(w, "general.alignment", w->alignment);
    free(w->path);
    free(w->tmp_path);
    w->path = mlcc_xstrdup(path);
    size_t len = strlen(path) + 16;
    w->tmp_path = mlcc_xmalloc(len);
    snprintf(w->tmp_path, len, "%s.tmp%ld", path, (long)getpid());
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) {
        int rc = mlcc_set_error("%s: cannot create: %s", w->tmp_path, strerror(errno));
        free(w->tmp_path);
        w->tmp_path = NULL;
        return rc;
    }
    mlcc_strbuf h = STRBUF_INIT;
    put(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, (uint64_t)w->n_tensors);
    put_u64(&h, w->n_kv);
    put(&h, w->kv.data, w->kv.len);
    for (int i = 0; i < w->n_tensors; i++) {
        const tensor_info *t = &w->tensors[i];
        put_str(&h, t->name);
        put_u32(&h, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&h, t->dims[d]);
        put_u32(&h, t->type);
        put_u64(&h, t->offset);
    }
    int rc = write_all(w, h.data, h.len);
    if (rc == 0) rc = write_zeros(w, align_up(h.len, w->alignment) - h.len);
    sb_free(&h);
    w->next = 0;
    w->pos = 0;
    return rc;
}

int mlcc_gguf_writer_tensor_data(mlcc_gguf_writer *w, int i, const void *data, uint64_t nbytes) {
    if (!w->f) return mlcc_set_error("gguf writer: tensor data before begin");
    if (i != w->next || i >= w->n_tensors)
        return mlcc_set_error("%s: tensor %d written out of order (expected %d)", w->path, i, w->next);
    const tensor_info *t = &w->tensors[i];
    if (nbytes != t->size)
        return mlcc_set_error("%s: tensor '%s' has %llu bytes, given %llu", w->path, t->name, (unsigned long long)t->size,
                              (unsigned long long)nbytes);
    if (write_zeros(w, t->offset - w->pos) || write_all(w, data, (size_t)nbytes)) return -1;
    w->pos = t->offset + t->size;
    w->next++;
    return 0;
}

int mlcc_gguf_writer_finish(mlcc_gguf_writer *w) {
    if (!w->f) return mlcc_set_error("gguf writer: finish before begin");
    if (w->next != w->n_tensors)
        return mlcc_set_error("%s: %d of %d tensors written", w->path, w->next, w->n_tensors);
    int rc = write_zeros(w, align_up(w->pos, w->alignment) - w->pos);
    if (rc == 0 && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)) rc = mlcc_set_error("%s: %s", w->path, strerror(errno));
    if (fclose(w->f) != 0 && rc == 0) rc = mlcc_set_error("%s: %s", w->path, strerror(errno));
    w->f = NULL;
    if (rc == 0 && rename(w->tmp_path, w->path) != 0) rc = mlcc_set_error("%s: cannot rename into place: %s", w->path, strerror(errno));
    if (rc == 0) {
        free(w->tmp_path);
        w->tmp_path = NULL;
    }
    return rc;
}
