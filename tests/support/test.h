/* test.h - a tiny test harness: checks that record failures with file:line, and a summary line
 * "N passed, N failed" that ctest output shows. A test that cannot run (a fixture missing)
 * calls TEST_SKIP with the reason: it prints it and exits 77, which ctest reports as skipped. */
#ifndef MLCC_TEST_H
#define MLCC_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test_checks_passed, test_checks_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) test_checks_passed++;                                                            \
        else {                                                                                     \
            test_checks_failed++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (cond) test_checks_passed++;                                                            \
        else {                                                                                     \
            test_checks_failed++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        CHECK_MSG(check_a_ == check_b_, "%lld != %lld", check_a_, check_b_);                       \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        CHECK_MSG(check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0,                         \
                  "\n--- got:\n%s\n--- expected:\n%s\n---", check_a_ ? check_a_ : "(null)",        \
                  check_b_ ? check_b_ : "(null)");                                                 \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double check_a_ = (a), check_b_ = (b);                                                     \
        CHECK_MSG(fabs(check_a_ - check_b_) <= (tol), "%.9g vs %.9g (tol %g)", check_a_, check_b_, \
                  (double)(tol));                                                                  \
    } while (0)

#define TEST_SKIP(...)                                                                             \
    do {                                                                                           \
        printf("SKIP: ");                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        exit(77);                                                                                  \
    } while (0)

/* Prints the summary; returns the process exit code. */
int test_finish(void);
/* $MLCC_TESTDATA/<rel> (malloc'ed), or skips the test naming what is missing. */
char *test_data_path(const char *rel);

#endif
