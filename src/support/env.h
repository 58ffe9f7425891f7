/* env.h - the integer switches mlcc reads from the environment (MLCC_CUDA_FLASH_WS=0 and the
 * like): diagnostics and measurement knobs, read per call so tests and benchmarks can flip them
 * in one process. */
#ifndef MLCC_SUPPORT_ENV_H
#define MLCC_SUPPORT_ENV_H

/* The variable's value as an integer (atoi), or fallback when it is unset or empty. */
int mlcc_env_int(const char *name, int fallback);

#endif
