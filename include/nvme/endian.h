/* SPDX-License-Identifier: MIT */
/*
 * Little-endian wire and register fields. Every multi-byte field of the
 * structs in include/nvme/ is one of these types, read with leNN_to_cpu()
 * and written with cpu_to_leNN(); on a little-endian CPU both are nothing.
 * sparse (make sparse, in make check) treats the types as distinct
 * ("bitwise"), so a field used without its accessor is reported.
 */
#ifndef NVME_ENDIAN_H
#define NVME_ENDIAN_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

#ifdef __CHECKER__
#define NVME_BITWISE __attribute__((bitwise))
#define NVME_FORCE __attribute__((force))
#else
#define NVME_BITWISE
#define NVME_FORCE
#endif

typedef uint16_t NVME_BITWISE le16;
typedef uint32_t NVME_BITWISE le32;
typedef uint64_t NVME_BITWISE le64;

static inline uint16_t le16_to_cpu(le16 v)
{
	return le16toh((NVME_FORCE uint16_t)v);
}

static inline uint32_t le32_to_cpu(le32 v)
{
	return le32toh((NVME_FORCE uint32_t)v);
}

static inline uint64_t le64_to_cpu(le64 v)
{
	return le64toh((NVME_FORCE uint64_t)v);
}

static inline le16 cpu_to_le16(uint16_t v)
{
	return (NVME_FORCE le16)htole16(v);
}

static inline le32 cpu_to_le32(uint32_t v)
{
	return (NVME_FORCE le32)htole32(v);
}

static inline le64 cpu_to_le64(uint64_t v)
{
	return (NVME_FORCE le64)htole64(v);
}

/* The same at any alignment, for fields in a byte buffer */
static inline uint16_t get_le16(const void *p)
{
	le16 v;

	memcpy(&v, p, sizeof(v));
	return le16_to_cpu(v);
}

static inline uint32_t get_le32(const void *p)
{
	le32 v;

	memcpy(&v, p, sizeof(v));
	return le32_to_cpu(v);
}

static inline uint64_t get_le64(const void *p)
{
	le64 v;

	memcpy(&v, p, sizeof(v));
	return le64_to_cpu(v);
}

static inline void put_le16(void *p, uint16_t v)
{
	le16 w = cpu_to_le16(v);

	memcpy(p, &w, sizeof(w));
}

static inline void put_le32(void *p, uint32_t v)
{
	le32 w = cpu_to_le32(v);

	memcpy(p, &w, sizeof(w));
}

static inline void put_le64(void *p, uint64_t v)
{
	le64 w = cpu_to_le64(v);

	memcpy(p, &w, sizeof(w));
}

#endif
