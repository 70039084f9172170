#include "CPierCrypt.h"
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

int pier_crypt(const char *password, const char *setting, char *out, size_t out_length) {
    struct crypt_data *data = calloc(1, sizeof(struct crypt_data));
    if (data == NULL) return -1;
    const char *result = crypt_r(password, setting, data);
    int status = -1;
    // libxcrypt signals failure with NULL or a string starting with '*'.
    if (result != NULL && result[0] != '*' && strlen(result) < out_length) {
        strcpy(out, result);
        status = 0;
    }
    explicit_bzero(data, sizeof(struct crypt_data));
    free(data);
    return status;
}

int pier_bcrypt_setting(unsigned long cost, const unsigned char *random16, char *out, size_t out_length) {
    return crypt_gensalt_rn("$2b$", cost, (const char *)random16, 16, out, (int)out_length) == NULL ? -1 : 0;
}
