/* test.c - the tiny test harness (see test.h). */
#include "test.h"

#include "support/file.h"

int test_checks_passed, test_checks_failed;

/* stdout line-buffered even into a file or pipe: a test killed by a time limit (the GPU
 * machine's scripts run tests under `timeout`) still leaves the lines it printed */
__attribute__((constructor)) static void line_buffered_stdout(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int test_finish(void) {
    printf("%d passed, %d failed\n", test_checks_passed, test_checks_failed);
    return test_checks_failed ? 1 : 0;
}

char *test_data_path(const char *rel) {
    const char *root = getenv("MLCC_TESTDATA");
    if (!root || !*root) TEST_SKIP("MLCC_TESTDATA is not set (run through ctest / make test)");
    char *path = mlcc_path_join(root, rel);
    if (!mlcc_file_exists(path)) TEST_SKIP("fixture %s is missing (make test unpacks ../shared/testdata)", path);
    return path;
}
