/* SPDX-License-Identifier: MIT */
/*
 * tcp_host: the project's own NVMe/TCP initiator, for end-to-end tests of
 * the target (and, later, a load generator).
 *
 * One struct tcp_host_q is one TCP connection, i.e. one NVMe queue pair.
 * Sockets are blocking with SO_RCVTIMEO/SO_SNDTIMEO, so a test never hangs:
 * a peer that goes quiet shows up as -ETIMEDOUT.
 *
 * It is meant to be a strict host. Everything the controller sends is checked
 * the way the Linux host (drivers/nvme/host/tcp.c) checks it, and where Linux
 * is lenient, the way the NVMe/TCP specification and FreeBSD's host (which
 * validates every PDU field in order) require. A violation is fatal for the
 * queue: the call returns -EPROTO, tcp_host_error() says what was wrong, an
 * H2CTermReq is sent (NVMe/TCP 1.0 7.4.7: a fatal error is reported, then the
 * connection is closed) and every later call on that queue fails at once.
 *
 * Conventions: functions return 0 or a negative errno. A command's NVMe
 * status (the 15-bit status field without the phase tag, NVME_CQE_STATUS())
 * is returned through a "uint16_t *status" argument; when the caller passes
 * NULL there, a non-zero status makes the call return -EREMOTEIO instead
 * (with the status in tcp_host_error()).
 *
 * Everything is little-endian on the wire and this code only runs on
 * little-endian hosts (x86-64, arm64): wire structs are filled directly.
 */
#ifndef TESTS_SUPPORT_TCP_HOST_H
#define TESTS_SUPPORT_TCP_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/cmd.h"
#include "nvme/fabrics.h"
#include "nvme/identify.h"
#include "nvme/tcp.h"

/* Commands in flight per queue; CIDs carry the slot in their low byte. */
#define TCP_HOST_SLOTS 256
/* In-capsule data the host may send on the admin queue (fixed by the
 * spec for admin and Fabrics commands; Linux NVME_TCP_ADMIN_CCSZ). */
#define TCP_HOST_ADMIN_ICD 8192
/* Linux NVME_TCP_MIN_MAXH2CDATA: smaller MAXH2CDATA values are refused. */
#define TCP_HOST_MIN_MAXH2CDATA 4096
#define TCP_HOST_DEFAULT_TIMEOUT_MS 10000

struct tcp_host_opts {
	bool hdgst;                /* request header digests */
	bool ddgst;                /* request data digests */
	uint8_t hpda;              /* host PDU data alignment, 0's based dwords (0..31) */
	uint32_t maxr2t;           /* 0's based; Linux sends 0 (one R2T in flight per command) */
	/* The Linux host refuses any ICResp with CPDA != 0. With this set the
	 * queue accepts it and pads its own data PDUs to the alignment. */
	bool accept_cpda;
	unsigned int timeout_ms;   /* per socket operation; 0 = TCP_HOST_DEFAULT_TIMEOUT_MS */
	bool trace;                /* one line per PDU on stderr */
	/* For a load generator measuring other targets: the deviations from
	 * the specification that do not make the byte stream untrustworthy
	 * (see enum tcp_host_dev) are counted, the first of each kind is
	 * printed to stderr, and the queue goes on. Everything else stays
	 * fatal. Off (strict) for the tests. */
	bool lenient;
};

/* The deviations a lenient queue survives. */
enum tcp_host_dev {
	TCP_HOST_DEV_CQE_SQID = 0,     /* a CQE names another SQ than the command's */
	TCP_HOST_DEV_C2H_SUCCESS_SQFC, /* C2HData SUCCESS while SQ flow control is on */
	TCP_HOST_DEV_SQHD,             /* SQHD out of range or past the SQ tail */
	TCP_HOST_DEV_NR
};

enum tcp_host_dir {
	TCP_HOST_DIR_NONE = 0,
	TCP_HOST_DIR_TO_CTRL,      /* host -> controller (write-like) */
	TCP_HOST_DIR_FROM_CTRL,    /* controller -> host (read-like) */
};

/* tcp_host_submit() flags */
#define TCP_HOST_F_INLINE    (1u << 0) /* send the data in-capsule regardless of the limit */
#define TCP_HOST_F_NO_INLINE (1u << 1) /* never in-capsule: always wait for R2T */
#define TCP_HOST_F_RAW_SGL   (1u << 2) /* leave SQE flags and DPTR exactly as given */

/* One command in flight (private to tcp_host.c; here so queues can live on
 * the stack). */
struct tcp_host_slot {
	bool busy;
	bool done;
	bool synthesized;          /* completed by C2HData SUCCESS, no CapsuleResp */
	bool inline_data;          /* data went in the capsule */
	bool c2h_last;             /* a C2HData with LAST_PDU arrived */
	bool ddgst_err;            /* a C2HData data digest did not match */
	uint8_t opc;
	uint16_t cid;
	enum tcp_host_dir dir;
	uint8_t *buf;
	size_t len;
	size_t xfer;               /* bytes moved so far (C2HData received / R2T data sent) */
	void *ctx;
	struct nvme_cqe cqe;
};

struct tcp_host_cpl {
	uint16_t cid;
	uint16_t status;           /* NVME_CQE_STATUS(&cqe) */
	bool synthesized;          /* no CapsuleResp: C2HData SUCCESS */
	size_t xfer;               /* data bytes moved */
	void *ctx;                 /* as given to tcp_host_submit() */
	struct nvme_cqe cqe;
};

/* What the last DH-HMAC-CHAP on this queue settled on (after Connect) */
struct tcp_host_auth_info {
	bool done;                 /* the queue authenticated */
	bool ctrl_verified;        /* and checked the controller's response */
	uint8_t hash, dhgroup;
};

struct tcp_host_q {
	int fd;
	int dead;                  /* negative errno once the queue failed, else 0 */
	bool trace;
	unsigned int timeout_ms;
	/* negotiated by ICReq/ICResp */
	bool hdgst, ddgst;
	uint8_t hpda, cpda;
	uint32_t maxh2cdata;
	/* set by the Fabrics Connect on this queue */
	uint16_t qid;
	uint16_t cntlid;
	uint16_t qsize;            /* SQSIZE + 1; 0 before Connect (no SQ flow control) */
	bool sqfc_disabled;        /* CATTR.DISSQFC was requested */
	bool connected;
	uint16_t sq_tail;          /* commands sent, mod qsize */
	uint16_t sq_head;          /* last SQHD reported */
	/* in-capsule data limit in bytes for writes (admin: 8 KiB; I/O: from
	 * IOCCSZ, see tcp_host_set_ioccsz(); 0 = only Fabrics commands) */
	uint32_t icd_max;
	/* commands */
	struct tcp_host_slot slot[TCP_HOST_SLOTS];
	uint8_t gen[TCP_HOST_SLOTS];
	unsigned int next_slot;
	unsigned int inflight;     /* busy slots (done ones included until reaped) */
	uint16_t doneq[TCP_HOST_SLOTS];   /* completion order, slot numbers */
	unsigned int done_head, done_count;
	/* counters */
	uint64_t nr_cmds, nr_c2h, nr_r2t, nr_h2c, nr_rsp, nr_ddgst_err;
	/* deviations survived (opts.lenient), by kind */
	bool lenient;
	uint64_t nr_dev[TCP_HOST_DEV_NR];
	unsigned int outstanding;  /* sent, not yet completed */
	struct tcp_host_auth_info auth;
	/* the last C2HTermReq received (fes 0 = none) */
	uint16_t term_fes;
	uint32_t term_fei;
	char err[320];
};

/* --- connection --------------------------------------------------------- */

/* TCP connect + ICReq/ICResp. On failure the queue is closed again. */
int tcp_host_connect(struct tcp_host_q *q, const char *addr, const char *port,
		     const struct tcp_host_opts *o);
/* TCP connect only, for tests that send their own ICReq (or none). */
int tcp_host_connect_raw(struct tcp_host_q *q, const char *addr, const char *port,
			 const struct tcp_host_opts *o);
/* Use an already connected stream socket (e.g. one end of a socketpair, for
 * an in-process fake controller); the queue owns fd from now on. */
int tcp_host_attach(struct tcp_host_q *q, int fd, const struct tcp_host_opts *o);
/* The ICReq/ICResp exchange on a raw connection. */
int tcp_host_icreq(struct tcp_host_q *q, const struct tcp_host_opts *o);
void tcp_host_close(struct tcp_host_q *q);
const char *tcp_host_error(const struct tcp_host_q *q);
/* deviations survived by a lenient queue (all kinds), and a kind's name */
uint64_t tcp_host_deviations(const struct tcp_host_q *q);
const char *tcp_host_dev_name(enum tcp_host_dev d);

/* I/O queue in-capsule data limit from Identify Controller IOCCSZ (16-byte
 * units, including the 64-byte SQE). Admin queues keep 8 KiB. */
void tcp_host_set_ioccsz(struct tcp_host_q *q, uint32_t ioccsz);
/* free SQ entries under SQ flow control (qsize - 1 - outstanding) */
unsigned int tcp_host_sq_space(const struct tcp_host_q *q);

/* --- generic commands --------------------------------------------------- */

/*
 * Send one command. The SQE is copied; CID (and unless TCP_HOST_F_RAW_SGL,
 * the SGL and PSDT) are filled in. buf/len/dir describe the data; write
 * data goes in-capsule when it fits, else it is sent when the controller
 * asks for it (R2T), during tcp_host_reap()/tcp_host_wait(). Returns -EBUSY
 * (nothing sent) when the SQ or the slot table is full: reap first.
 */
int tcp_host_submit(struct tcp_host_q *q, const struct nvme_sqe *sqe, void *buf,
		    size_t len, enum tcp_host_dir dir, unsigned int flags, void *ctx,
		    uint16_t *cid);
/* Wait for the next completion of any command. -ENOENT if none in flight. */
int tcp_host_reap(struct tcp_host_q *q, struct tcp_host_cpl *cpl);
/* Wait for the completion of command cid (others that complete meanwhile are
 * kept for tcp_host_reap()). */
int tcp_host_wait(struct tcp_host_q *q, uint16_t cid, struct tcp_host_cpl *cpl);
/* submit + wait. cqe may be NULL; see the status convention above. */
int tcp_host_exec(struct tcp_host_q *q, const struct nvme_sqe *sqe, void *buf,
		  size_t len, enum tcp_host_dir dir, unsigned int flags,
		  struct nvme_cqe *cqe, uint16_t *status);

/* --- Fabrics ------------------------------------------------------------ */

struct tcp_host_connect_args {
	uint16_t qid;
	uint16_t sqsize;           /* 0's based */
	uint16_t cntlid;           /* 0xFFFF for the admin queue (dynamic model) */
	uint32_t kato_ms;
	bool dissqfc;              /* CATTR.DISSQFC: no SQ flow control */
	const char *subnqn;
	const char *hostnqn;
	uint8_t hostid[16];
	/* DH-HMAC-CHAP when the controller asks for it (AUTHREQ.ATR): the
	 * host's secret, and the controller's to authenticate it too (both
	 * "DHHC-1:..." as nvme gen-dhchap-key prints). Offered like the Linux
	 * host: SHA-256/384/512 and the null group and FFDHE 2048 to 8192,
	 * unless dh_offer (bit per group id) narrows the groups. */
	const char *dhchap_secret;
	const char *dhchap_ctrl_secret;
	uint8_t dh_offer;
	/* tests: leave the queue unauthenticated although asked to */
	bool auth_skip;
};

/* Fabrics Connect. On success the queue knows its qid, size and cntlid
 * (*cntlid, may be NULL: admin connect returns the controller's ID). */
int tcp_host_fabrics_connect(struct tcp_host_q *q, const struct tcp_host_connect_args *a,
			     uint16_t *cntlid, uint16_t *status);
/* One Authentication Send / Receive (SECP E9h, SPSP 01h 01h) with a raw
 * message, for tests that break the protocol on purpose. */
int tcp_host_auth_send(struct tcp_host_q *q, const void *msg, size_t len, uint16_t *status);
int tcp_host_auth_recv(struct tcp_host_q *q, void *buf, size_t al, uint16_t *status);
/* Property Get/Set; size is 4 or 8 bytes. */
int tcp_host_prop_get(struct tcp_host_q *q, uint32_t ofst, unsigned int size,
		      uint64_t *val, uint16_t *status);
int tcp_host_prop_set(struct tcp_host_q *q, uint32_t ofst, unsigned int size,
		      uint64_t val, uint16_t *status);
/* The Linux nvme_enable_ctrl() sequence: Get CAP (8 bytes), Set CC with
 * CSS/MPS/AMS/IOSQES/IOCQES/EN, poll CSTS.RDY for (CAP.TO + 1) * 500 ms,
 * failing on CSTS.CFS. *cap may be NULL. */
int tcp_host_enable(struct tcp_host_q *q, uint64_t *cap);
/* Normal shutdown (CC.SHN = 01b, poll CSTS.SHST = complete), like Linux
 * nvme_shutdown_ctrl() when a controller is deleted. */
int tcp_host_shutdown(struct tcp_host_q *q, unsigned int timeout_ms);

/* --- admin helpers (4 KiB Identify buffers) ----------------------------- */

int tcp_host_identify(struct tcp_host_q *q, uint8_t cns, uint32_t nsid, uint16_t cntid,
		      uint8_t csi, void *buf4k, uint16_t *status);
int tcp_host_identify_ctrl(struct tcp_host_q *q, struct nvme_id_ctrl *id, uint16_t *status);
int tcp_host_identify_ns(struct tcp_host_q *q, uint32_t nsid, struct nvme_id_ns *id,
			 uint16_t *status);
/* Active namespace IDs greater than after: up to 1024, zero-terminated. */
int tcp_host_active_ns_list(struct tcp_host_q *q, uint32_t after, uint32_t list[1024],
			    uint16_t *status);
int tcp_host_ns_desc_list(struct tcp_host_q *q, uint32_t nsid, void *buf4k, uint16_t *status);
/* Linux host's checks on Identify Controller of a fabrics controller
 * (nvme_check_ctrl_fabric_info() plus nvme_tcp_setup_ctrl()). */
int tcp_host_check_id_ctrl(struct tcp_host_q *q, const struct nvme_id_ctrl *id, bool discovery);

/* One Get Log Page command: len bytes (multiple of 4) at byte offset off
 * (dword aligned). lsp is 7 bits; rae = Retain Asynchronous Event. */
int tcp_host_get_log(struct tcp_host_q *q, uint8_t lid, uint8_t lsp, uint32_t nsid,
		     uint64_t off, void *buf, size_t len, bool rae, uint16_t *status);
/* The whole discovery log, read like libnvme/nvme-cli: header, entries in
 * 4 KiB chunks, header again; retried while GENCTR changes. *log is
 * malloc()ed (free() it); *len its size. */
int tcp_host_discovery_log(struct tcp_host_q *q, struct nvmf_disc_log_hdr **log,
			   size_t *len, uint16_t *status);
int tcp_host_set_features(struct tcp_host_q *q, uint8_t fid, uint32_t nsid, uint32_t cdw11,
			  uint32_t cdw12, void *buf, size_t len, uint32_t *result,
			  uint16_t *status);
int tcp_host_get_features(struct tcp_host_q *q, uint8_t fid, uint8_t sel, uint32_t nsid,
			  uint32_t cdw11, void *buf, size_t len, uint32_t *result,
			  uint16_t *status);
int tcp_host_keep_alive(struct tcp_host_q *q, uint16_t *status);

/* NVM Read/Write/... SQE: slba, nlb blocks (1's based here). */
void tcp_host_rw_sqe(struct nvme_sqe *sqe, uint8_t opc, uint32_t nsid, uint64_t slba,
		     uint32_t nlb);

/* --- raw access, for malformed-PDU tests -------------------------------- */

/* Send bytes as they are (no digests added). */
int tcp_host_send_raw(struct tcp_host_q *q, const void *buf, size_t len);
/*
 * Receive the next PDU whole (plen bytes, at most 64 MiB) without
 * interpreting it: the first min(plen, buflen) bytes land in buf, the rest
 * is discarded; *plen (may be NULL) gets the PDU's length. Only CH sanity
 * is checked (plen >= 8, hlen <= plen). A C2HTermReq is also recorded in
 * q->term_fes/term_fei.
 */
int tcp_host_recv_raw(struct tcp_host_q *q, void *buf, size_t buflen, size_t *plen);
/* 0 once the controller closed the connection (EOF or reset) within
 * timeout_ms, discarding anything it sends first; -ETIMEDOUT if it did not. */
int tcp_host_wait_closed(struct tcp_host_q *q, unsigned int timeout_ms);

/* --- helpers ------------------------------------------------------------ */

/* CRC32C as NVMe/TCP digests use it (little-endian on the wire). */
uint32_t tcp_host_digest(const void *buf, size_t len);
const char *tcp_host_pdu_name(uint8_t type);
const char *tcp_host_fes_name(uint16_t fes);
/* "SCT 0 SC 0x80 (LBA out of range) DNR" etc.; a static buffer */
const char *tcp_host_status_str(uint16_t status);
/* hostnqn "nqn.2014-08.org.nvmexpress:uuid:<uuid>" and hostid from a random
 * UUID, like `nvme gen-hostnqn` (hostnqn must hold 256 bytes) */
void tcp_host_gen_hostnqn(char *hostnqn, uint8_t hostid[16]);

#endif
