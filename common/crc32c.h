/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by NVMe/TCP
 * digests. crc32c() picks the SSE4.2 instruction when the CPU has it and a
 * slicing-by-8 table otherwise; both are exported so tests can check each
 * against the known vectors.
 */
#ifndef COMMON_CRC32C_H
#define COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc is the running value: start with 0, feed the previous result to
 * continue over more data (pre/post inversion is done inside). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_table(uint32_t crc, const void *buf, size_t len);
/* Returns 0 when the CPU has no SSE4.2 (nothing computed). */
int crc32c_hw_available(void);
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);

#endif
