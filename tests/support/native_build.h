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

#endif
