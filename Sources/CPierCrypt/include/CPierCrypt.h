// bcrypt (and the other crypt(3) schemes) from libxcrypt, which every Debian with libc6-dev has.
#ifndef CPIERCRYPT_H
#define CPIERCRYPT_H

#include <stddef.h>

/// Hashes `password` with the scheme, cost and salt of `setting` (a full hash works as its own setting) into `out`.
/// Returns 0 on success, -1 when the setting is not a supported scheme or `out` is too small.
int pier_crypt(const char *password, const char *setting, char *out, size_t out_length);

/// Makes a bcrypt setting ($2b$<cost>$<salt>) from 16 random bytes; returns 0 on success.
int pier_bcrypt_setting(unsigned long cost, const unsigned char *random16, char *out, size_t out_length);

#endif
