/* fuzz_file.h - for fuzz targets whose code under test reads a file: the input written as one. */
#ifndef MLCC_TESTS_FUZZ_FILE_H
#define MLCC_TESTS_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The input as the file at path, written plainly (mlcc_write_file_atomic syncs each file to
 * disk) and as a new file (ext4 flushes a file truncated and rewritten): either makes the
 * replay slow on a disk. Aborts when it cannot: the run would test nothing. */
static inline void fuzz_write_input(const char *path, const uint8_t *data, size_t size) {
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif
