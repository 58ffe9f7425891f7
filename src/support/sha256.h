/* sha256.h - SHA-256 (FIPS 180-4), for cache keys and download checksums. */
#ifndef MLCC_SUPPORT_SHA256_H
#define MLCC_SUPPORT_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct mlcc_sha256 {
    uint32_t state[8];
    uint64_t total_len;
    unsigned char block[64];
    size_t block_len;
} mlcc_sha256;

void sha256_init(mlcc_sha256 *ctx);
void sha256_update(mlcc_sha256 *ctx, const void *data, size_t len);
void sha256_final(mlcc_sha256 *ctx, unsigned char digest[32]);
/* 64 lowercase hex digits + NUL into hex[65]. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
