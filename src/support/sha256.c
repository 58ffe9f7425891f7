/* sha256.c - SHA-256 (see sha256.h) through OpenSSL's libcrypto.
 *
 * Loading a converted model checks every tensor against its sha256, and `mlcc convert` writes
 * them, so the hash's speed is part of load time. libcrypto picks code for the CPU (the SHA
 * extensions where it has them): on the development VM (AMD EPYC, SHA-NI) 1.6-1.7 GB/s a core,
 * against 260 MB/s for the portable C loop this file held before, which made hashing over half
 * of a 600 MB model's 1.9 s load. The hub's downloads hash with it too (hub/fetch.c).
 *
 * OpenSSL fails these calls only when it cannot allocate, which mlcc treats as fatal
 * (support/alloc.h). */
#include "support/sha256.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>

static void fail(const char *what) {
    fprintf(stderr, "mlcc: OpenSSL's SHA-256 failed (%s): out of memory?\n", what);
    abort();
}

void sha256_init(mlcc_sha256 *ctx) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) fail("init");
    ctx->md = md;
}

void sha256_update(mlcc_sha256 *ctx, const void *data, size_t len) {
    if (len && EVP_DigestUpdate((EVP_MD_CTX *)ctx->md, data, len) != 1) fail("update");
}

void sha256_final(mlcc_sha256 *ctx, unsigned char digest[32]) {
    unsigned int n = 0;
    if (EVP_DigestFinal_ex((EVP_MD_CTX *)ctx->md, digest, &n) != 1 || n != 32) fail("final");
    EVP_MD_CTX_free((EVP_MD_CTX *)ctx->md);
    ctx->md = NULL;
}

void sha256_restart(mlcc_sha256 *ctx) {
    if (EVP_DigestInit_ex((EVP_MD_CTX *)ctx->md, EVP_sha256(), NULL) != 1) fail("restart");
}

void sha256_discard(mlcc_sha256 *ctx) {
    EVP_MD_CTX_free((EVP_MD_CTX *)ctx->md); /* (NULL after sha256_final: nothing to free) */
    ctx->md = NULL;
}

void sha256_hex(const void *data, size_t len, char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    unsigned char d[SHA256_DIGEST_LENGTH];
    static const unsigned char empty = 0;
    /* SHA256() is the one-shot form (not deprecated in OpenSSL 3, unlike SHA256_Init) */
    if (!SHA256(len ? (const unsigned char *)data : &empty, len, d)) fail("one-shot");
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}
