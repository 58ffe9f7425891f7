/* test_support.c - arena, vectors, hash maps, string builder, interning, sha256, atomic writes,
 * folder removal. */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/arena.h"
#include "support/error.h"
#include "support/file.h"
#include "support/hashmap.h"
#include "support/sha256.h"
#include "support/strbuf.h"
#include "support/vec.h"
#include "test.h"

static void test_arena(void) {
    mlcc_arena a;
    arena_init(&a);
    char *big = arena_alloc(&a, 1 << 20);
    CHECK(big && big[12345] == 0);
    for (int i = 0; i < 10000; i++) {
        int *p = arena_alloc(&a, sizeof(int) * 3);
        CHECK(((uintptr_t)p & 15) == 0);
        p[2] = i;
    }
    CHECK_EQ_STR(arena_strdup(&a, "hello"), "hello");
    arena_free(&a);
}

static void test_vec(void) {
    MLCC_VEC(int) v = {0};
    for (int i = 0; i < 1000; i++) vec_push(&v, i * i);
    CHECK_EQ_INT(v.len, 1000);
    CHECK_EQ_INT(v.data[999], 999 * 999);
    CHECK_EQ_INT(vec_pop(&v), 999 * 999);
    CHECK_EQ_INT(vec_last(&v), 998 * 998);
    vec_free(&v);
}

/* The map against a plain array model under seeded random inserts and removals. */
static void test_strmap(void) {
    mlcc_strmap m;
    strmap_init(&m);
    enum { N = 500 };
    int64_t model[N];
    for (int i = 0; i < N; i++) model[i] = -1;
    uint64_t s = 42;
    for (int step = 0; step < 20000; step++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((s >> 33) % N);
        char key[32];
        int len = snprintf(key, sizeof key, "k%d", k);
        if ((s >> 20) % 3 == 0) {
            CHECK_EQ_INT(strmap_remove(&m, key, (size_t)len), model[k] >= 0);
            model[k] = -1;
        } else {
            strmap_upsert(&m, key, (size_t)len, NULL)->value.i = step;
            model[k] = step;
        }
    }
    size_t count = 0;
    for (int k = 0; k < N; k++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", k);
        int64_t got = -1;
        int found = strmap_get_i(&m, key, &got);
        CHECK_EQ_INT(found, model[k] >= 0);
        if (found) CHECK_EQ_INT(got, model[k]);
        count += model[k] >= 0;
    }
    CHECK_EQ_INT(m.count, count);
    /* keys with NUL bytes */
    strmap_upsert(&m, "a\0b", 3, NULL)->value.i = 7;
    CHECK(strmap_find(&m, "a\0b", 3) != NULL);
    CHECK(strmap_find(&m, "a", 1) == NULL);
    strmap_free(&m);
}

static void test_u64map(void) {
    mlcc_u64map m;
    u64map_init(&m);
    for (uint64_t i = 0; i < 3000; i++) u64map_upsert(&m, i * 7919, NULL)->value.i = (int64_t)i;
    for (uint64_t i = 0; i < 3000; i += 2) CHECK(u64map_remove(&m, i * 7919));
    int ok = 1;
    for (uint64_t i = 0; i < 3000; i++) {
        mlcc_u64map_entry *e = u64map_find(&m, i * 7919);
        if ((i % 2 == 0) != (e == NULL) || (e && e->value.i != (int64_t)i)) ok = 0;
    }
    CHECK(ok);
    CHECK_EQ_INT(m.count, 1500);
    u64map_free(&m);
}

static void test_strbuf_intern(void) {
    mlcc_strbuf sb = STRBUF_INIT;
    CHECK_EQ_STR(sb_cstr(&sb), "");
    sb_printf(&sb, "%d-%s", 42, "x");
    sb_indent(&sb, 2);
    sb_append_char(&sb, '!');
    CHECK_EQ_STR(sb_cstr(&sb), "42-x  !");
    sb_free(&sb);
    char buf[] = "name";
    CHECK(mlcc_intern("name") == mlcc_intern(buf));
    CHECK(mlcc_intern("name") != mlcc_intern("other"));
}

static void test_sha256(void) {
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m, strlen(m), hex);
    CHECK_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* FIPS 180-4's million 'a's, one-shot and streamed in uneven pieces (and an empty one) */
    size_t n = 1000000, piece = 1;
    char *a = malloc(n);
    CHECK(a != NULL);
    memset(a, 'a', n);
    const char *million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    sha256_hex(a, n, hex);
    CHECK_EQ_STR(hex, million);
    mlcc_sha256 h;
    unsigned char digest[32];
    sha256_init(&h);
    sha256_update(&h, NULL, 0);
    for (size_t off = 0; off < n; off += piece, piece = piece * 3 % 1021 + 1)
        sha256_update(&h, a + off, piece < n - off ? piece : n - off);
    sha256_final(&h, digest);
    CHECK(h.md == NULL);
    char streamed[65];
    for (int i = 0; i < 32; i++) snprintf(streamed + 2 * i, 3, "%02x", digest[i]);
    CHECK_EQ_STR(streamed, million);
    free(a);
    /* a restart drops what was hashed (a resumed download starting over): then "abc" alone */
    sha256_init(&h);
    sha256_update(&h, "not part of it", 14);
    sha256_restart(&h);
    sha256_update(&h, "abc", 3);
    sha256_final(&h, digest);
    for (int i = 0; i < 32; i++) snprintf(streamed + 2 * i, 3, "%02x", digest[i]);
    CHECK_EQ_STR(streamed, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_discard(&h); /* after the final: nothing to release */
    sha256_init(&h);    /* an error path: released without a digest (ASan's leak check sees it) */
    sha256_update(&h, "x", 1);
    sha256_discard(&h);
    CHECK(h.md == NULL);
}

static void test_atomic_write(void) {
    char dir[] = "/tmp/mlcc-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *sub = mlcc_path_join(dir, "a/b/c");
    CHECK(mlcc_mkdirs(sub) == 0);
    char *path = mlcc_path_join(sub, "f.txt");
    CHECK(mlcc_write_file_atomic(path, "one", 3) == 0);
    CHECK(mlcc_write_file_atomic(path, "second", 6) == 0);
    size_t len;
    char *got = mlcc_read_file(path, &len);
    CHECK(got && len == 6 && strcmp(got, "second") == 0);
    free(got);
    CHECK(mlcc_read_file("/nonexistent/x", &len) == NULL);
    CHECK(mlcc_remove_tree(dir) == 0);
    free(path);
    free(sub);
}

static char *put_file(const char *dir, const char *name, const char *text) {
    char *path = mlcc_path_join(dir, name);
    CHECK(mlcc_write_file_atomic(path, text, strlen(text)) == 0);
    return path;
}

static int gone(const char *path) {
    struct stat st;
    return lstat(path, &st) != 0 && errno == ENOENT;
}

/* mlcc_remove_tree on a folder holding links that point outside it: the links go, their
 * targets stay (a followed link would empty the outside folder). */
static void test_remove_tree(void) {
    char base[] = "/tmp/mlcc-test-XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char *outside = mlcc_path_join(base, "outside");
    CHECK(mlcc_mkdirs(outside) == 0);
    char *kept = put_file(outside, "kept.txt", "stays");
    char *tree = mlcc_path_join(base, "tree");
    char *deep = mlcc_path_join(tree, "sub/deeper");
    CHECK(mlcc_mkdirs(deep) == 0);
    free(put_file(tree, "a.txt", "a"));
    free(put_file(tree, "sub/b.txt", "b"));
    char *file_link = mlcc_path_join(tree, "sub/file_link");
    char *dir_link = mlcc_path_join(tree, "dir_link");
    CHECK(symlink(kept, file_link) == 0);
    CHECK(symlink(outside, dir_link) == 0);

    CHECK(mlcc_remove_tree(tree) == 0);
    CHECK(gone(tree));
    char *got = mlcc_read_file(kept, NULL);
    CHECK(got && strcmp(got, "stays") == 0);
    free(got);
    /* missing is done: the same path again, and one under a missing folder */
    CHECK(mlcc_remove_tree(tree) == 0);
    CHECK(mlcc_remove_tree(deep) == 0);
    /* a path that is a plain file, or a link to a folder, is removed like rm -rf removes it */
    char *plain = put_file(base, "plain.txt", "p");
    CHECK(mlcc_remove_tree(plain) == 0 && gone(plain));
    CHECK(symlink(outside, tree) == 0);
    CHECK(mlcc_remove_tree(tree) == 0 && gone(tree) && !gone(kept));

    /* Failures. Permissions cannot make one here when the tests run as root, as they do in CI
     * containers, so the cases are ones that fail for anyone: rmdir refuses a path ending in
     * "." (EINVAL), after the walk has removed what is under it; and a path through a plain
     * file is an error (ENOTDIR), not a missing path (rm -rf would ignore it). */
    char *dot = mlcc_path_join(base, "dot");
    CHECK(mlcc_mkdirs(dot) == 0);
    char *inside = put_file(dot, "x.txt", "x");
    char *dot_path = mlcc_path_join(dot, ".");
    mlcc_clear_error();
    errno = 0;
    CHECK(mlcc_remove_tree(dot_path) == -1);
    CHECK_EQ_INT(errno, EINVAL);
    char want[512]; /* the message `mlcc cache rm` shows: the entry that stayed, and why */
    snprintf(want, sizeof want, "removing %s: %s", dot_path, strerror(EINVAL));
    CHECK_EQ_STR(mlcc_last_error(), want);
    CHECK(gone(inside) && mlcc_is_dir(dot));
    /* quietly (a clean-up after another failure): the same walk, the earlier error kept */
    char *again = put_file(dot, "y.txt", "y");
    mlcc_set_error("the failure that led here");
    mlcc_remove_tree_quietly(dot_path);
    CHECK_EQ_STR(mlcc_last_error(), "the failure that led here");
    CHECK(gone(again) && mlcc_is_dir(dot));
    free(again);
    free(plain);
    plain = put_file(base, "plain.txt", "p");
    char *through = mlcc_path_join(plain, "x");
    errno = 0;
    CHECK(mlcc_remove_tree(through) == -1);
    CHECK_EQ_INT(errno, ENOTDIR);
    CHECK(!gone(plain));
    if (geteuid() != 0) { /* the ordinary failure: an entry in a folder that cannot be written */
        char *ro = mlcc_path_join(base, "ro");
        CHECK(mlcc_mkdirs(ro) == 0);
        char *f = put_file(ro, "f.txt", "f");
        CHECK(chmod(ro, 0555) == 0);
        errno = 0;
        CHECK(mlcc_remove_tree(ro) == -1);
        CHECK_EQ_INT(errno, EACCES);
        snprintf(want, sizeof want, "removing %s: %s", f, strerror(EACCES));
        CHECK_EQ_STR(mlcc_last_error(), want);
        CHECK(!gone(f));
        CHECK(chmod(ro, 0755) == 0);
        free(f);
        free(ro);
    }

    CHECK(mlcc_remove_tree(base) == 0 && gone(base));
    free(through);
    free(dot_path);
    free(inside);
    free(dot);
    free(plain);
    free(dir_link);
    free(file_link);
    free(deep);
    free(tree);
    free(kept);
    free(outside);
}

int main(void) {
    test_arena();
    test_vec();
    test_strmap();
    test_u64map();
    test_strbuf_intern();
    test_sha256();
    test_atomic_write();
    test_remove_tree();
    return test_finish();
}
