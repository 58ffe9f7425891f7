/* sha256.h - SHA-256 (FIPS 180-4), for cache keys, download checksums and the weights' checksums:
 * OpenSSL's libcrypto underneath (sha256.c says why). */
#ifndef MLCC_SUPPORT_SHA256_H
#define MLCC_SUPPORT_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* A running hash: sha256_init, any number of sha256_update, then sha256_final, which also
 * releases it (every init needs its final). */
typedef struct mlcc_sha256 {
    void *md; /* OpenSSL's EVP_MD_CTX */
} mlcc_sha256;

void sha256_init(mlcc_sha256 *ctx);
void sha256_update(mlcc_sha256 *ctx, const void *data, size_t len);
void sha256_final(mlcc_sha256 *ctx, unsigned char digest[32]);
/* Starts a running hash over (what it took so far is dropped), as a resumed download that finds
 * its partial file unusable does. */
void sha256_restart(mlcc_sha256 *ctx);
/* Releases a running hash without a digest (an error path); a no-op on one already final. */
void sha256_discard(mlcc_sha256 *ctx);
/* 64 lowercase hex digits + NUL into hex[65]. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
