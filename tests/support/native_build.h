/* native_build.h - for tests that compile generated C into a program with the system compiler
 * (as the JIT does) and run it, e.g. once per instruction-set variant of the CPU intrinsics. */
#ifndef MLCC_TEST_NATIVE_BUILD_H
#define MLCC_TEST_NATIVE_BUILD_H

/* Writes source to DIR/NAME.c, compiles it with `cc -std=gnu11 -O2 FLAGS` (MLCC_CC overrides
 * cc) and runs it; the compiler's and the program's output into *out (malloc'ed, may be NULL).
 * Returns the shell status (0: compiled and exited 0). */
int test_build_and_run(const char *dir, const char *name, const char *source, const char *flags, char **out);
/* Does /proc/cpuinfo list this CPU flag (e.g. "avx2", "avx512_vnni")? */
int test_host_has_cpu_flag(const char *flag);

/* One build of a test program: its name, compiler flags, the CPU flag the host needs for it to
 * run (NULL: any host), what its output must contain (NULL: nothing), and what it must also
 * contain on hosts with the flag `host_flag` (e.g. that -march=native took the VNNI path). */
typedef struct test_variant {
    const char *name, *flags, *needs, *expect;
    struct {
        const char *host_flag, *expect;
    } also[2];
} test_variant;

/* Builds and runs source in dir once per variant (a note for each the host cannot run); each
 * must exit 0 and print what it must. Prints each output. */
void test_run_variants(const char *dir, const char *source, const test_variant *variants, int n);
/* Removes the temporary folder dir, or keeps it and says so under MLCC_TEST_KEEP. */
void test_remove_dir(const char *dir);

#endif
