/* SPDX-License-Identifier: MIT */
/*
 * In-band authentication on NVMe over Fabrics (NVMe Base 2.0 section 8.13,
 * TP8006): the Authentication Send / Receive fabrics commands and the
 * DH-HMAC-CHAP messages they carry. All multi-byte fields little endian.
 */
#ifndef NVME_AUTH_H
#define NVME_AUTH_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/endian.h"

#include "nvme/cmd.h"

/* Authentication Send (FCTYPE 05h) and Receive (06h): SECP/SPSP name the
 * protocol, TL / AL the length of the message in the data buffer */
struct nvmf_auth_cmd {
	uint8_t opc;
	uint8_t rsvd1;
	le16 cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct nvme_sgl_desc sgl1;
	uint8_t rsvd3;
	uint8_t spsp0;
	uint8_t spsp1;
	uint8_t secp;
	le32 len;                  /* TL (send) or AL (receive) */
	uint8_t rsvd4[16];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_cmd) == 64, "auth cmd size");
static_assert(offsetof(struct nvmf_auth_cmd, sgl1) == 24, "auth sgl1");
static_assert(offsetof(struct nvmf_auth_cmd, spsp0) == 41, "auth spsp0");
static_assert(offsetof(struct nvmf_auth_cmd, spsp1) == 42, "auth spsp1");
static_assert(offsetof(struct nvmf_auth_cmd, secp) == 43, "auth secp");
static_assert(offsetof(struct nvmf_auth_cmd, len) == 44, "auth tl/al");

#define NVMF_AUTH_SECP_DHCHAP 0xe9     /* NVMe-oF in-band authentication */
#define NVMF_AUTH_SPSP 0x01            /* SPSP0 and SPSP1 */

/* Connect response DW0: the host must authenticate the queue */
#define NVMF_CONNECT_AUTHREQ_ATR (1u << 17)
#define NVMF_CONNECT_AUTHREQ_ASCR (1u << 18)

enum nvmf_auth_type {
	NVMF_AUTH_COMMON = 0x00,       /* Negotiate, Failure1, Failure2 */
	NVMF_AUTH_DHCHAP = 0x01,
};

enum nvmf_auth_msg {
	NVMF_AUTH_NEGOTIATE = 0x00,
	NVMF_AUTH_CHALLENGE = 0x01,
	NVMF_AUTH_REPLY = 0x02,
	NVMF_AUTH_SUCCESS1 = 0x03,
	NVMF_AUTH_SUCCESS2 = 0x04,
	NVMF_AUTH_FAILURE2 = 0xf0,     /* host to controller */
	NVMF_AUTH_FAILURE1 = 0xf1,     /* controller to host */
};

/* Failure reason code 01h ("authentication failed") and its explanations */
#define NVMF_AUTH_RESCODE_FAILED 0x01
enum nvmf_auth_fail_exp {
	NVMF_AUTH_FAIL_FAILED = 0x01,
	NVMF_AUTH_FAIL_NOT_USABLE = 0x02,
	NVMF_AUTH_FAIL_CONCAT_MISMATCH = 0x03,
	NVMF_AUTH_FAIL_HASH_UNUSABLE = 0x04,
	NVMF_AUTH_FAIL_DHGROUP_UNUSABLE = 0x05,
	NVMF_AUTH_FAIL_INCORRECT_PAYLOAD = 0x06,
	NVMF_AUTH_FAIL_INCORRECT_PROTOCOL = 0x07,
};

#define NVMF_AUTH_DHCHAP_AUTHID 0x01
#define NVMF_AUTH_MAX_HASH_IDS 30
#define NVMF_AUTH_MAX_DH_IDS 30

struct nvmf_auth_protocol_desc {
	uint8_t authid;                /* 01h: DH-HMAC-CHAP */
	uint8_t rsvd;
	uint8_t halen;                 /* hash identifiers in idlist[0..29] */
	uint8_t dhlen;                 /* DH group identifiers in idlist[30..59] */
	uint8_t idlist[60];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_protocol_desc) == 64, "auth protocol descriptor size");

struct nvmf_auth_negotiate {
	uint8_t auth_type;             /* 00h */
	uint8_t auth_id;               /* 00h */
	le16 rsvd;
	le16 t_id;
	uint8_t sc_c;                  /* secure channel concatenation */
	uint8_t napd;
	struct nvmf_auth_protocol_desc proto[];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_negotiate) == 8, "auth negotiate size");
static_assert(offsetof(struct nvmf_auth_negotiate, t_id) == 4, "auth negotiate t_id");
static_assert(offsetof(struct nvmf_auth_negotiate, napd) == 7, "auth negotiate napd");

struct nvmf_auth_challenge {
	uint8_t auth_type;             /* 01h */
	uint8_t auth_id;               /* 01h */
	le16 rsvd1;
	le16 t_id;
	uint8_t hl;
	uint8_t rsvd2;
	uint8_t hashid;
	uint8_t dhgid;
	le16 dhvlen;
	le32 seqnum;
	uint8_t cval[];                /* hl bytes of C1, then dhvlen of g^x mod p */
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_challenge) == 16, "auth challenge size");
static_assert(offsetof(struct nvmf_auth_challenge, hl) == 6, "auth challenge hl");
static_assert(offsetof(struct nvmf_auth_challenge, hashid) == 8, "auth challenge hashid");
static_assert(offsetof(struct nvmf_auth_challenge, dhvlen) == 10, "auth challenge dhvlen");
static_assert(offsetof(struct nvmf_auth_challenge, seqnum) == 12, "auth challenge seqnum");

struct nvmf_auth_reply {
	uint8_t auth_type;             /* 01h */
	uint8_t auth_id;               /* 02h */
	le16 rsvd1;
	le16 t_id;
	uint8_t hl;
	uint8_t rsvd2;
	uint8_t cvalid;                /* C2 valid: authenticate the controller */
	uint8_t rsvd3;
	le16 dhvlen;
	le32 seqnum;               /* S2, 0 without controller authentication */
	uint8_t rval[];                /* hl of R1, hl of C2, dhvlen of g^y mod p */
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_reply) == 16, "auth reply size");
static_assert(offsetof(struct nvmf_auth_reply, cvalid) == 8, "auth reply cvalid");
static_assert(offsetof(struct nvmf_auth_reply, dhvlen) == 10, "auth reply dhvlen");
static_assert(offsetof(struct nvmf_auth_reply, seqnum) == 12, "auth reply seqnum");

struct nvmf_auth_success1 {
	uint8_t auth_type;             /* 01h */
	uint8_t auth_id;               /* 03h */
	le16 rsvd1;
	le16 t_id;
	uint8_t hl;
	uint8_t rsvd2;
	uint8_t rvalid;                /* R2 follows */
	uint8_t rsvd3[7];
	uint8_t rval[];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_success1) == 16, "auth success1 size");
static_assert(offsetof(struct nvmf_auth_success1, rvalid) == 8, "auth success1 rvalid");

struct nvmf_auth_success2 {
	uint8_t auth_type;             /* 01h */
	uint8_t auth_id;               /* 04h */
	le16 rsvd1;
	le16 t_id;
	uint8_t rsvd2[10];
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_success2) == 16, "auth success2 size");

struct nvmf_auth_failure {
	uint8_t auth_type;             /* 00h (the Linux host also sends 01h in Failure2) */
	uint8_t auth_id;               /* F0h / F1h */
	le16 rsvd1;
	le16 t_id;
	uint8_t rescode;
	uint8_t rescode_exp;
} __attribute__((packed));
static_assert(sizeof(struct nvmf_auth_failure) == 8, "auth failure size");
static_assert(offsetof(struct nvmf_auth_failure, rescode_exp) == 7, "auth failure rescode_exp");

#endif
