/* SPDX-License-Identifier: MIT */
/*
 * Raw NVMe/TCP host PDUs, well-formed or not, for tests that drive the
 * target's engine with byte streams (unit test, fuzzer, the hostile-network
 * tool): builders that append to a byte buffer, and a splitter for what the
 * target sends back. No sockets, no state: the caller decides what the
 * stream looks like and how it is cut.
 */
#ifndef TESTS_SUPPORT_PDU_BUILD_H
#define TESTS_SUPPORT_PDU_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/cmd.h"
#include "nvme/fabrics.h"
#include "nvme/tcp.h"

struct pb_buf {
	uint8_t *p;
	size_t len, cap;
};

void pb_free(struct pb_buf *b);
void pb_put(struct pb_buf *b, const void *data, size_t len);

/* the digests a stream carries after its ICReq asked for them */
struct pb_opts {
	bool hdgst, ddgst;
};

void pb_icreq(struct pb_buf *b, const struct pb_opts *o);
/* CapsuleCmd: the SQE, then icd_len bytes of in-capsule data (PDO right
 * after the header, digests as o says) */
void pb_capsule(struct pb_buf *b, const struct pb_opts *o, const struct nvme_sqe *cmd, const void *icd,
		uint32_t icd_len);
void pb_h2c_data(struct pb_buf *b, const struct pb_opts *o, uint16_t cccid, uint16_t ttag, uint32_t datao,
		 const void *data, uint32_t len, bool last);

/* SQEs the way the Linux host fills them (PSDT SGL) */
struct nvme_sqe pb_sqe(uint8_t opc, uint16_t cid, uint32_t nsid);
/* Connect: data in-capsule (an offset data block of 1024 bytes) */
void pb_connect(struct pb_buf *b, const struct pb_opts *o, uint16_t cid, uint16_t qid, uint16_t sqsize,
		uint32_t kato, uint16_t cntlid, const char *subnqn, const char *hostnqn, const uint8_t hostid[16]);
/* Property Set CC (4 bytes) */
void pb_prop_set_cc(struct pb_buf *b, const struct pb_opts *o, uint16_t cid, uint32_t cc);
/* Read/Write of nlb blocks at slba: read data comes by C2HData; write data
 * in-capsule when icd, else by R2T (transport SGL) */
void pb_read(struct pb_buf *b, const struct pb_opts *o, uint16_t cid, uint32_t nsid, uint64_t slba, uint32_t nlb,
	     uint32_t bytes);
void pb_write(struct pb_buf *b, const struct pb_opts *o, uint16_t cid, uint32_t nsid, uint64_t slba, uint32_t nlb,
	      const void *data, uint32_t bytes, bool icd);

/* Length of the complete PDU at the start of buf, 0 if more bytes are
 * needed (or the header is nonsense: plen < 8). */
size_t pb_pdu_len(const uint8_t *buf, size_t len);

/* The CC value the Linux host writes to enable a controller */
#define PB_CC_ENABLE 0x00460001u

#endif
