/* weight_store.c - writing and reading mlcc's converted weight format (see weight_store.h). */
#include "models/weight_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/progress.h"
#include "ir/dtype.h"
#include "models/fuse_proj.h"
#include "models/gguf_side_files.h"
#include "models/model.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "support/sha256.h"
#include "support/strbuf.h"

enum { ALIGN = 64 };
static const char CONFIG_NAME[] = "mlcc-config.json", INDEX_NAME[] = "params.json";

int weight_store_is_converted(const char *dir) {
    char *f = mlcc_path_join(dir, CONFIG_NAME);
    int yes = mlcc_is_dir(dir) && mlcc_file_exists(f);
    free(f);
    return yes;
}

/* The folder's format, its version (this reader knows 1) and its index (params.json: the one
 * name the writer uses), from mlcc-config.json (f). 0 or -1 + an error naming f and the field. */
static int check_header(json_t *j, const char *f) {
    const char *format = json_string_value(json_object_get(j, "format"));
    json_t *version = json_object_get(j, "version");
    const char *index = json_string_value(json_object_get(j, "index"));
    if (!format || strcmp(format, "mlcc-weights") != 0)
        return mlcc_set_error("%s: field 'format' is not \"mlcc-weights\" (not a folder `mlcc convert` wrote)", f);
    if (!json_is_integer(version) || json_integer_value(version) < 1)
        return mlcc_set_error("%s: field 'version' missing or not a positive integer", f);
    if (json_integer_value(version) > 1)
        return mlcc_set_error("%s: format version %lld is newer than this mlcc reads (1); update mlcc or convert again", f,
                              (long long)json_integer_value(version));
    if (index && strcmp(index, INDEX_NAME) != 0)
        return mlcc_set_error("%s: field 'index' names '%s'; this version reads only '%s'", f, index, INDEX_NAME);
    return 0;
}

int weight_store_scheme(const char *dir, char *out, size_t cap) {
    char *f = mlcc_path_join(dir, CONFIG_NAME);
    json_t *j = mlcc_json_load_file(f);
    int rc = -1;
    if (j && check_header(j, f) == 0) {
        const char *q = json_string_value(json_object_get(j, "quantization"));
        if (!q) mlcc_set_error("%s: field 'quantization' missing or not a string", f);
        else snprintf(out, cap, "%s", q), rc = 0;
    }
    json_decref(j);
    free(f);
    return rc;
}

static size_t param_bytes(const MLCCNDArray *a) {
    size_t n = (size_t)((a->dl.dtype.bits + 7) / 8);
    for (int d = 0; d < a->dl.ndim; d++) n *= (size_t)a->dl.shape[d];
    return n;
}

/* ---- writing ---- */

/* Files of the source folder that travel with the weights: everything but the weights. */
static int is_weight_file(const char *name) {
    static const char *const ends[] = {".safetensors", ".safetensors.index.json", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        size_t e = strlen(ends[i]);
        if (len >= e && !strcmp(name + len - e, ends[i])) return 1;
    }
    return 0;
}

static int copy_side_files(const char *source, const char *out) {
    DIR *d = opendir(source);
    if (!d) return mlcc_set_error("%s: %s", source, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || is_weight_file(e->d_name) || !strcmp(e->d_name, CONFIG_NAME) || !strcmp(e->d_name, INDEX_NAME))
            continue;
        char *from = mlcc_path_join(source, e->d_name);
        struct stat sb;
        if (stat(from, &sb) == 0 && S_ISREG(sb.st_mode)) {
            size_t len;
            char *data = mlcc_read_file(from, &len);
            char *to = mlcc_path_join(out, e->d_name);
            if (!data || mlcc_write_file_atomic(to, data, len)) rc = mlcc_prefix_error("copying %s", from);
            free(data);
            free(to);
        }
        free(from);
    }
    closedir(d);
    return rc;
}

typedef struct shard_writer {
    const char *dir;
    int64_t limit;
    int index;      /* current shard number; -1 before the first */
    FILE *f;
    char name[64];
    int64_t used;
} shard_writer;

static int shard_close(shard_writer *w) {
    if (!w->f) return 0;
    int bad = fflush(w->f) != 0 || fsync(fileno(w->f)) != 0;
    bad |= fclose(w->f) != 0;
    w->f = NULL;
    return bad ? mlcc_set_error("%s/%s: %s", w->dir, w->name, strerror(errno)) : 0;
}

/* Appends data to the current shard (a new one when it would pass the limit); *file and
 * *offset say where it went. */
static int shard_append(shard_writer *w, const void *data, size_t n, const char **file, int64_t *offset) {
    int64_t at = (w->used + ALIGN - 1) / ALIGN * ALIGN;
    if (!w->f || (at > 0 && at + (int64_t)n > w->limit)) {
        if (shard_close(w)) return -1;
        snprintf(w->name, sizeof w->name, "params_shard_%d.bin", ++w->index);
        char *path = mlcc_path_join(w->dir, w->name);
        w->f = fopen(path, "wb");
        free(path);
        if (!w->f) return mlcc_set_error("%s/%s: %s", w->dir, w->name, strerror(errno));
        w->used = at = 0;
    }
    static const char zeros[ALIGN];
    if (at > w->used && fwrite(zeros, 1, (size_t)(at - w->used), w->f) != (size_t)(at - w->used))
        return mlcc_set_error("%s/%s: %s", w->dir, w->name, strerror(errno));
    if (n && fwrite(data, 1, n, w->f) != n) return mlcc_set_error("%s/%s: %s", w->dir, w->name, strerror(errno));
    w->used = at + (int64_t)n;
    *file = w->name;
    *offset = at;
    return 0;
}

static int write_json(json_t *j, const char *dir, const char *name) {
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    char *path = mlcc_path_join(dir, name);
    int rc = mlcc_write_file_atomic(path, s, strlen(s));
    if (rc) mlcc_prefix_error("writing %s", path);
    free(s);
    free(path);
    return rc;
}

/* The sha256 of arrays [begin, end) of a list, as hex: tensors hash on the thread pool, a
 * tensor a task (one hash is sequential; a model's hundreds of tensors are not). */
typedef struct hash_job {
    MLCCNDArray *const *arrays;
    char (*hex)[65];
} hash_job;

static void hash_arrays(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    const hash_job *j = ctx;
    for (int64_t i = begin; i < end; i++) sha256_hex(j->arrays[i]->dl.data, param_bytes(j->arrays[i]), j->hex[i]);
}

static int write_weights(const mlcc_model *m, const char *dir, const weight_store_options *opt, json_t *tensors) {
    shard_writer w = {dir, opt->shard_bytes > 0 ? opt->shard_bytes : (int64_t)512 << 20, -1, NULL, "", 0};
    int64_t total = 0, done = 0;
    for (int i = 0; i < m->params.n; i++) total += (int64_t)param_bytes(m->weights[i]);
    mlcc_progress progress;
    mlcc_progress_begin(&progress, NULL, "writing weights", total, 0, opt->quiet);
    char (*sums)[65] = mlcc_xmalloc(sizeof *sums * (size_t)(m->params.n > 0 ? m->params.n : 1));
    hash_job job = {m->weights, sums};
    mlcc_parallel_for(m->params.n, hash_arrays, &job);
    int rc = 0;
    for (int i = 0; i < m->params.n && rc == 0; i++) {
        const model_param *p = &m->params.items[i];
        const MLCCNDArray *a = m->weights[i];
        size_t n = param_bytes(a);
        const char *file = NULL;
        int64_t offset = 0;
        if ((rc = shard_append(&w, a->dl.data, n, &file, &offset))) break;
        char dt[32];
        const char *hex = sums[i];
        json_t *shape = json_array();
        for (int d = 0; d < p->ndim; d++) json_array_append_new(shape, json_integer(p->shape[d]));
        json_array_append_new(tensors, json_pack("{s:s,s:s,s:o,s:s,s:I,s:I,s:s}", "name", p->name, "dtype", dtype_str(p->dtype, dt),
                                                 "shape", shape, "file", file, "offset", (json_int_t)offset, "nbytes",
                                                 (json_int_t)n, "sha256", hex));
        mlcc_progress_update(&progress, done += (int64_t)n);
    }
    free(sums);
    if (shard_close(&w)) rc = -1;
    mlcc_progress_end(&progress, rc == 0);
    return rc;
}

/* The written folder tmp becomes out_dir. An existing out_dir goes aside first, so out_dir is
 * never half written, and is removed only once tmp is in its place: if that last rename fails,
 * the old folder is put back (or, if even that fails, left where the error says). */
static int move_into_place(const char *tmp, const char *out_dir) {
    mlcc_strbuf old = STRBUF_INIT;
    sb_printf(&old, "%s.old-%ld", out_dir, (long)getpid());
    int rc = 0, aside = 0;
    if (mlcc_file_exists(out_dir)) {
        if (rename(out_dir, sb_cstr(&old))) rc = mlcc_set_error("%s: cannot replace: %s", out_dir, strerror(errno));
        else aside = 1;
    }
    if (rc == 0 && rename(tmp, out_dir)) {
        int why = errno;
        if (aside && rename(sb_cstr(&old), out_dir) != 0)
            rc = mlcc_set_error("%s: cannot rename into place: %s; the previous folder is kept as %s", out_dir, strerror(why),
                                sb_cstr(&old));
        else
            rc = mlcc_set_error("%s: cannot rename into place: %s", out_dir, strerror(why));
        aside = 0;
    }
    if (aside) mlcc_remove_tree_quietly(sb_cstr(&old));
    sb_free(&old);
    return rc;
}

static int is_gguf_file(const char *path) {
    size_t len = strlen(path);
    return len > 5 && !strcmp(path + len - 5, ".gguf") && !mlcc_is_dir(path);
}

/* Under ggml_mixed, each matrix's scheme (its Hugging Face name -> scheme name), which the
 * graph builder asks for when the folder is opened (weight_store_matrix_scheme): a quantized
 * pair's own scheme, a float matrix's by its dtype; a combined matrix's parts under their own
 * names as well. */
static json_t *matrix_schemes(const mlcc_model *m) {
    json_t *o = json_object();
    for (int i = 0; i < m->params.n; i++) {
        const model_param *p = &m->params.items[i];
        const char *q = NULL;
        if (p->role == PARAM_Q_WEIGHT) q = p->quant ? p->quant->name : NULL;
        else if (p->role == PARAM_PLAIN && p->ndim == 2)
            q = dtype_eq(p->dtype, DT_F16) ? "q0f16" : dtype_eq(p->dtype, DT_BF16) ? "q0bf16" : "q0f32";
        if (!q) continue;
        json_object_set_new(o, p->source, json_string(q));
        /* a combined matrix (fuse_proj.h): the graph builder asks for its parts' schemes */
        fuse_part parts[FUSE_PROJ_MAX_PARTS];
        int nparts = p->combined ? fuse_proj_parts(&m->cfg, p->source, parts) : 0;
        for (int k = 0; k < nparts; k++) json_object_set_new(o, parts[k].name, json_string(q));
    }
    return o;
}

void *weight_store_matrix_schemes(const char *dir) {
    char *f = mlcc_path_join(dir, CONFIG_NAME);
    json_t *j = mlcc_json_load_file(f), *o = j ? json_object_get(j, "matrix_schemes") : NULL;
    if (j && !json_is_object(o)) mlcc_set_error("%s: quantization ggml_mixed needs the object 'matrix_schemes'", f);
    else if (o) {
        const char *name;
        json_t *v;
        json_object_foreach(o, name, v) {
            const mlcc_quant_scheme *q = json_is_string(v) ? quant_scheme_find(json_string_value(v)) : NULL;
            if (!q || quant_is_mixed(q)) {
                mlcc_set_error("%s: matrix_schemes: '%s' has no known scheme", f, name);
                o = NULL;
                break;
            }
        }
    }
    json_incref(o);
    json_decref(j);
    free(f);
    return o;
}

const mlcc_quant_scheme *weight_store_matrix_scheme(void *schemes, const char *name) {
    const char *q = json_string_value(json_object_get(schemes, name));
    return q ? quant_scheme_find(q) : NULL;
}

int weight_store_write(const mlcc_model *m, const char *source, const char *out_dir, const weight_store_options *opt) {
    weight_store_options o = opt ? *opt : (weight_store_options){0};
    if (mlcc_file_exists(out_dir) && !o.force) return mlcc_set_error("%s already exists (--force replaces it)", out_dir);
    mlcc_strbuf tmp = STRBUF_INIT;
    sb_printf(&tmp, "%s.tmp-%ld", out_dir, (long)getpid());
    mlcc_remove_tree_quietly(sb_cstr(&tmp));
    int rc = mlcc_mkdirs(sb_cstr(&tmp)) ? mlcc_set_error("%s: cannot create: %s", sb_cstr(&tmp), strerror(errno)) : 0;
    json_t *tensors = json_array();
    if (rc == 0 && mlcc_is_dir(source)) rc = copy_side_files(source, sb_cstr(&tmp));
    if (rc == 0 && is_gguf_file(source)) rc = gguf_side_files_write(source, &m->cfg, &m->spec, sb_cstr(&tmp));
    if (rc == 0) rc = write_weights(m, sb_cstr(&tmp), &o, tensors);
    if (rc == 0) {
        json_t *index = json_pack("{s:s,s:o}", "quantization", m->quant->name, "tensors", tensors);
        tensors = NULL;
        rc = write_json(index, sb_cstr(&tmp), INDEX_NAME);
        json_decref(index);
    }
    if (rc == 0) {
        json_t *cfg = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "format", "mlcc-weights", "version", 1, "quantization", m->quant->name,
                                "model_type", m->cfg.model_type, "source", source, "index", INDEX_NAME);
        if (quant_is_mixed(m->quant)) json_object_set_new(cfg, "matrix_schemes", matrix_schemes(m));
        rc = write_json(cfg, sb_cstr(&tmp), CONFIG_NAME);
        json_decref(cfg);
    }
    json_decref(tensors);
    if (rc == 0) rc = move_into_place(sb_cstr(&tmp), out_dir);
    if (rc) mlcc_remove_tree_quietly(sb_cstr(&tmp));
    sb_free(&tmp);
    return rc;
}

/* ---- reading ---- */

/* Tensors checked against the index (dtype, shape, the shard's size) but not yet read:
 * weight_store_load reads and hashes them all at the end on the thread pool, each thread taking
 * the next tensor, instead of one after another. Reading is mostly the kernel zeroing the
 * arena's fresh pages and copying from the page cache, and hashing is ~1.6 GB/s a core, so both
 * spread over the threads. Session 33, 2-core VM, TinyLlama q4f16_1 (582 MB) to a first token:
 * 0.76-0.79 s against 0.84-0.90 s reading in one thread; the zeroing, most of what is left,
 * does not scale there (the hypervisor backs the pages as they are first touched). */
typedef struct unchecked {
    MLCCNDArray *array;
    const char *sum, *name; /* the index's hex (alive while its JSON is), the parameter's name */
    char *path;             /* the shard it comes from */
    int64_t offset;         /* where its bytes start there */
    int read_errno;         /* set by the task: why reading failed, or 0 */
    int ok;                 /* the bytes were read and their sum matched (set by the task) */
} unchecked;

typedef struct unchecked_list {
    unchecked *items;
    int n, cap;
    int next;           /* the next item a task takes (atomic) */
    int64_t done;       /* bytes read and hashed so far (atomic) */
    mlcc_progress *bar; /* a progress line, or NULL; only task 0 (the calling thread) prints */
} unchecked_list;

/* Loads of this many bytes or more show a progress line (as reading a checkpoint does,
 * models/weights.c), unless the model was opened quiet. */
#define PROGRESS_BYTES ((int64_t)256 << 20)

static int sum_matches(const MLCCNDArray *a, const char *sum) {
    char hex[65];
    sha256_hex(a->dl.data, param_bytes(a), hex);
    return !strcmp(hex, sum);
}

static int sum_mismatch(const char *path, const char *name) {
    return mlcc_set_error("%s: tensor '%s': sha256 mismatch (the file is damaged; convert again)", path, name);
}

/* n bytes at `offset` of the file `path` into dst with pread, so pool tasks share no file
 * position; 0, or the errno (EIO: the file ended early, it shrank since its size was checked). */
static int read_range(const char *path, void *dst, size_t n, int64_t offset) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = 0;
    char *to = dst;
    off_t at = (off_t)offset;
    while (n > 0) {
        ssize_t got = pread(fd, to, n, at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            err = got < 0 ? errno : EIO;
            break;
        }
        to += got, n -= (size_t)got, at += got;
    }
    close(fd);
    return err;
}

/* Reads entry j (of index file `index`) into a new array for param p, checking everything; the
 * checksum now, or later when `later` is not NULL (the array joins it). The array is model m's
 * weight `i` (model_new_weight: in the weight arena) when m is not NULL, else one of its own. */
static int load_tensor(const char *dir, const char *index, json_t *j, const model_param *p, mlcc_model *m, int i,
                       MLCCNDArray **out, unchecked_list *later) {
    const char *file = json_string_value(json_object_get(j, "file")), *sum = json_string_value(json_object_get(j, "sha256"));
    const char *dts = json_string_value(json_object_get(j, "dtype"));
    json_t *shape = json_object_get(j, "shape"), *off = json_object_get(j, "offset"), *nb = json_object_get(j, "nbytes");
    if (!file || !sum || !dts || !json_is_array(shape) || !json_is_integer(off) || !json_is_integer(nb))
        return mlcc_set_error("%s: tensor '%s': file, dtype, shape, offset, nbytes and sha256 are required", index, p->name);
    if (strchr(file, '/') || !strcmp(file, ".."))
        return mlcc_set_error("%s: tensor '%s': file '%s' is not a file name in the folder", index, p->name, file);
    char dt[32];
    dtype_str(p->dtype, dt);
    int same = !strcmp(dts, dt) && (int)json_array_size(shape) == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = json_integer_value(json_array_get(shape, (size_t)d)) == p->shape[d];
    if (!same) return mlcc_set_error("%s: tensor '%s' is %s of another shape than the model needs (%s)", index, p->name, dts, dt);
    DLDataType t = {p->dtype.code, p->dtype.bits, p->dtype.lanes};
    MLCCNDArray *a = m ? model_new_weight(m, i) : mlcc_ndarray_empty(p->ndim, p->shape, t, MLCC_CPU);
    if (!a) return mlcc_prefix_error("%s: tensor '%s'", index, p->name);
    size_t n = param_bytes(a);
    int64_t offset = json_integer_value(off);
    if (json_integer_value(nb) != (json_int_t)n || offset < 0 || offset > INT64_MAX - (int64_t)n) {
        mlcc_ndarray_release(a);
        return mlcc_set_error("%s: tensor '%s': offset %lld / nbytes %lld invalid (the shape needs %zu bytes)", index, p->name,
                              (long long)offset, (long long)json_integer_value(nb), n);
    }
    char *path = mlcc_path_join(dir, file);
    struct stat sb;
    int rc = 0, err;
    if (stat(path, &sb)) rc = mlcc_set_error("%s: %s", path, strerror(errno));
    else if (sb.st_size < offset + (int64_t)n)
        rc = mlcc_set_error("%s: truncated: tensor '%s' needs bytes %lld..%lld, the file has %lld", path, p->name, (long long)offset,
                            (long long)(offset + (int64_t)n), (long long)sb.st_size);
    else if (!later && (err = read_range(path, a->dl.data, n, offset)))
        rc = mlcc_set_error("%s: reading tensor '%s': %s", path, p->name, strerror(err));
    if (rc == 0 && later) {
        if (later->n == later->cap) {
            later->cap = later->cap ? 2 * later->cap : 64;
            later->items = mlcc_xrealloc(later->items, sizeof *later->items * (size_t)later->cap);
        }
        later->items[later->n++] = (unchecked){a, sum, p->name, path, offset, 0, 0};
        *out = a;
        return 0;
    }
    if (rc == 0 && !sum_matches(a, sum)) rc = sum_mismatch(path, p->name);
    free(path);
    if (rc) mlcc_ndarray_release(a);
    else *out = a;
    return rc;
}

typedef struct store_index {
    const char *dir, *index;
    json_t *tensors;
    unchecked_list *later;
} store_index;

static json_t *find_entry(json_t *tensors, const char *name) {
    for (size_t k = 0; k < json_array_size(tensors); k++) {
        const char *n = json_string_value(json_object_get(json_array_get(tensors, k), "name"));
        if (n && !strcmp(n, name)) return json_array_get(tensors, k);
    }
    return NULL;
}

/* Separate parameter p (q_proj, ...) from its rows of the combined tensor `e` of a folder
 * converted with combining (fuse_proj.h). */
static int load_rows_of_combined(const store_index *s, json_t *e, const char *whole, mlcc_model *m, int i, int64_t row,
                                 int64_t rows) {
    const model_param *p = &m->params.items[i];
    MLCCNDArray **out = &m->weights[i];
    model_param w = *p;
    w.name = (char *)whole, w.shape[0] = rows;
    MLCCNDArray *all = NULL;
    if (load_tensor(s->dir, s->index, e, &w, NULL, 0, &all, NULL)) return -1; /* checked now: only its rows stay */
    if (!(*out = model_new_weight(m, i))) {
        mlcc_ndarray_release(all);
        return mlcc_prefix_error("%s: tensor '%s'", s->index, p->name);
    }
    size_t bytes = param_bytes(*out), row_bytes = bytes / (size_t)p->shape[0];
    memcpy((*out)->dl.data, (char *)all->dl.data + (size_t)row * row_bytes, bytes);
    mlcc_ndarray_release(all);
    return 0;
}

static int load_entry(mlcc_model *m, const store_index *s, int i) {
    const model_param *p = &m->params.items[i];
    json_t *e = find_entry(s->tensors, p->name);
    char whole[256];
    int64_t row, rows;
    if (!e && fuse_proj_whole(&m->cfg, p->name, whole, sizeof whole, &row, &rows) && (e = find_entry(s->tensors, whole)))
        return load_rows_of_combined(s, e, whole, m, i, row, rows);
    if (!e) return mlcc_set_error("%s: missing tensor '%s'", s->index, p->name);
    return load_tensor(s->dir, s->index, e, p, m, i, &m->weights[i], s->later);
}

/* A part of a combined parameter (fuse_proj.h) in a folder converted without combining: the
 * part and its quantized partner by their own names. */
static int load_part(mlcc_model *part, int i, void *ctx) {
    store_index now = *(const store_index *)ctx;
    now.later = NULL; /* checked as read: the part is copied into its combined parameter and freed */
    int j = part->params.items[i].partner, rc = load_entry(part, &now, i);
    return rc || j < 0 ? rc : load_entry(part, &now, j);
}

/* Reads u's bytes into its array and checks their sum. */
static void read_and_check(unchecked *u) {
    u->read_errno = read_range(u->path, u->array->dl.data, param_bytes(u->array), u->offset);
    u->ok = !u->read_errno && sum_matches(u->array, u->sum);
}

/* A pool task: the list's tensors one at a time, whichever is next, until none is left (so a
 * task with large ones takes fewer). */
static void read_body(int64_t begin, int64_t end, int task, void *ctx) {
    (void)begin, (void)end;
    unchecked_list *l = ctx;
    for (int k; (k = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED)) < l->n;) {
        read_and_check(&l->items[k]);
        int64_t done = __atomic_add_fetch(&l->done, (int64_t)param_bytes(l->items[k].array), __ATOMIC_RELAXED);
        if (task == 0 && l->bar) mlcc_progress_update(l->bar, done);
    }
}

/* Every deferred tensor read and checked on the thread pool; the first failure in the index's
 * order is the error, as when each was read and checked as it came. */
static int read_later(unchecked_list *l, int quiet) {
    int64_t total = 0;
    for (int k = 0; k < l->n; k++) total += (int64_t)param_bytes(l->items[k].array);
    mlcc_progress bar;
    l->next = 0, l->done = 0, l->bar = total >= PROGRESS_BYTES && !quiet ? &bar : NULL;
    if (l->bar) mlcc_progress_begin(&bar, NULL, "reading weights", total, 0, 0);
    mlcc_parallel_for(mlcc_threadpool_size() < l->n ? mlcc_threadpool_size() : l->n, read_body, l);
    int bad = 0;
    while (bad < l->n && l->items[bad].ok) bad++;
    if (l->bar) mlcc_progress_end(&bar, bad == l->n);
    if (bad == l->n) return 0;
    const unchecked *u = &l->items[bad];
    if (u->read_errno) return mlcc_set_error("%s: reading tensor '%s': %s", u->path, u->name, strerror(u->read_errno));
    return sum_mismatch(u->path, u->name);
}

int weight_store_load(mlcc_model *m, const char *dir) {
    m->weights = mlcc_xcalloc((size_t)m->params.n, sizeof(MLCCNDArray *));
    model_weight_arena_begin(m);
    char *index = mlcc_path_join(dir, INDEX_NAME);
    json_t *j = mlcc_json_load_file(index);
    int rc = j ? 0 : -1;
    unchecked_list later = {NULL, 0, 0, 0, 0, NULL};
    store_index s = {dir, index, j ? json_object_get(j, "tensors") : NULL, &later};
    if (j && !json_is_array(s.tensors)) rc = mlcc_set_error("%s: field 'tensors' missing or not an array", index);
    for (int i = 0; i < m->params.n && rc == 0; i++) {
        const model_param *p = &m->params.items[i];
        if (m->weights[i]) continue; /* a combined pair's other half */
        if (p->combined && !find_entry(s.tensors, p->name)) rc = fuse_proj_load(m, i, load_part, &s);
        else rc = load_entry(m, &s, i);
    }
    if (rc == 0 && later.n) rc = read_later(&later, m->quiet);
    for (int k = 0; k < later.n; k++) free(later.items[k].path); /* (the arrays are the model's now) */
    free(later.items);
    json_decref(j);
    free(index);
    model_weight_arena_end(m);
    return rc;
}
