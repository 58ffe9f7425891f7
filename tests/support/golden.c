/* golden.c - see golden.h. */
#include "golden.h"

#include "support/file.h"
#include "support/strbuf.h"
#include "test.h"

static char *golden_path(const char *source_file, const char *name) {
    const char *src = getenv("MLCC_SOURCE_DIR");
    mlcc_strbuf sb = STRBUF_INIT;
    if (src) {
        sb_printf(&sb, "%s/tests/unit/golden/%s", src, name);
    } else {
        const char *slash = strrchr(source_file, '/');
        sb_printf(&sb, "%.*s/golden/%s", slash ? (int)(slash - source_file) : 1, slash ? source_file : ".", name);
    }
    return sb_detach(&sb);
}

void check_golden_at(const char *source_file, const char *name, const char *text) {
    char *path = golden_path(source_file, name);
    if (getenv("MLCC_UPDATE_GOLDEN")) {
        CHECK_EQ_INT(mlcc_write_file_atomic(path, text, strlen(text)), 0);
        free(path);
        return;
    }
    size_t len = 0;
    char *want = mlcc_read_file(path, &len);
    CHECK_MSG(want != NULL, "cannot read %s: %s", path, mlcc_last_error());
    if (want && strcmp(want, text) != 0) {
        const char *a = want, *b = text;
        int line = 1;
        while (*a && *a == *b) line += *a == '\n', a++, b++;
        const char *la = a, *lb = b;
        while (la > want && la[-1] != '\n') la--;
        while (lb > text && lb[-1] != '\n') lb--;
        CHECK_MSG(0, "%s differs at line %d:\n  want: %.*s\n  got:  %.*s", path, line, (int)strcspn(la, "\n"), la,
                  (int)strcspn(lb, "\n"), lb);
    } else if (want) {
        CHECK(1);
    }
    free(want);
    free(path);
}
