/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the files of config/ and called directly by the unit
 * tests. Not part of the config API: the daemon includes config/config.h.
 */
#ifndef CONFIG_CONFIG_INTERNAL_H
#define CONFIG_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define CFG_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"
#define CFG_UUID_NQN_PREFIX "nqn.2014-08.org.nvmexpress:uuid:"
#define CFG_NQN_MAX_LEN 223

/* far above any real configuration, low enough to refuse a wrong file
 * (a disk image, a log) before parsing it */
#define CFG_MAX_FILE_SIZE (4u << 20)

/* bridge defaults: the parser fills them in, the writer leaves them out */
#define CFG_DISCOVERY_PORT_DEFAULT 8009
#define CFG_REACTORS_DEFAULT 1
#define CFG_RPC_SOCKET_DEFAULT "/run/nvmf-bridge/rpc.sock"
#define CFG_ICREQ_TIMEOUT_MS_DEFAULT 10000
#define CFG_CONNECT_TIMEOUT_MS_DEFAULT 10000
#define CFG_MAX_CONNS_PER_PORT_DEFAULT 4096
#define CFG_MAX_CONNS_PER_ADDR_DEFAULT 1024
#define CFG_MAX_CTRLS_PER_HOST_DEFAULT 128

struct cfg_bridge;

/* Every bridge setting at its default: what a file without "bridge" means */
void cfg_bridge_defaults(struct cfg_bridge *b);

/* Decimal integer, optional leading '-', nothing else (no spaces, no
 * "0x", no '+'). 0, -EINVAL or -ERANGE. */
int cfg_parse_int64(const char *s, int64_t *out);

/* Canonical 8-4-4-4-12 UUID, either case. 0 or -EINVAL. */
int cfg_parse_uuid(const char *s, uint8_t out[16]);

/* 32 hex digits; single dashes between digits are allowed, so both the
 * UUID-style text the kernel shows ("%pUb") and plain hex parse. */
int cfg_parse_nguid(const char *s, uint8_t out[16]);

/* "DDDD:BB:DD.F" or "BB:DD.F" (domain 0000), either case. out gets the
 * lower-case "dddd:bb:dd.f" form and needs 13 bytes. 0 or -EINVAL. */
int cfg_parse_bdf(const char *s, char *out, size_t outlen);

/* Looks for a key that appears twice in one object of a JSON text that
 * json-c already accepted (json-c silently keeps the last duplicate, which
 * would let "allow_any_host": "0" ... "allow_any_host": "1" pass unseen).
 * Returns 1 with path ("subsystems[0].attr.serial") and the byte offset of
 * the second occurrence, 0 when there is none, or -ENOMEM. Keys are
 * compared by what they decode to, as json-c sees them: "a" and "\u0061"
 * are the same key, a surrogate that is not half of a pair is U+FFFD, and
 * a key ends at \u0000. The path shows keys decoded, escaped for printing
 * (control characters and bytes from 0x7f up as \xNN). */
int cfg_json_find_dup_key(const char *text, size_t len, char *path,
			  size_t pathlen, size_t *offset);

#endif
