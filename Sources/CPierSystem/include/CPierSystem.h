// Linux system calls Swift's Glibc module does not import (they need _GNU_SOURCE).
#ifndef CPIERSYSTEM_H
#define CPIERSYSTEM_H

#ifdef __linux__
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>

/// Starts write-back of a file range without waiting for it (sync_file_range with SYNC_FILE_RANGE_WRITE).
static inline int pier_start_writeback(int fd, long long offset, long long length) {
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE);
}
#else
static inline int pier_start_writeback(int fd, long long offset, long long length) {
    (void)fd; (void)offset; (void)length;
    return 0;
}
#endif

#endif
