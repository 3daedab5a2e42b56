/* SPDX-License-Identifier: MIT */
/*
 * The unit tests' harness for the target core (test_target.c, test_resv.c):
 * a fake transport that records completions, an environment (a target
 * built from a configuration string, its queues and requests), and
 * commands built as the Linux host builds them. The test thread runs
 * reactor 0.
 */
#ifndef TESTS_UNIT_TGT_HARNESS_H
#define TESTS_UNIT_TGT_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "nvme/regs.h"
#include "target/target.h"

#define NQN1 "nqn.2024-01.org.example:ssd0"
#define NQN2 "nqn.2024-01.org.example:ssd1"
#define HOSTA "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100"
#define HOSTB "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define HOSTC "nqn.2014-08.org.nvmexpress:uuid:99999999-8888-7777-6666-555555555555"
#define TCP(a, s) "'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '" a "', 'trsvcid': '" s "'"
#define ADMIN_ICD 8192u                 /* what the TCP transport accepts before/without Connect */
#define CC_LINUX (NVME_CC_EN | NVME_CC_CSS(NVME_CC_CSS_NVM) | NVME_CC_MPS(0) | NVME_CC_AMS_RR | \
		  NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4))
/* statuses as the core reports them (15-bit, no phase) */
#define ST_OK 0

/* the host IDs of HOSTA, HOSTB, HOSTC (hostid_of) */
extern const uint8_t hostid_a[16], hostid_b[16], hostid_c[16];
/* the configuration's file name for env_up (a PTPL state file lies beside it) */
extern char tgt_cfg_name[256];

/* ---- the fake transport ---- */

struct tq {
	struct nvmf_sq sq;              /* first: the core hands us &sq */
	unsigned completions;
	unsigned disconnects;
	unsigned buf_wakeups;           /* buf_available calls */
	unsigned wake_order;            /* the order of the last one */
	bool destroyed;
	struct nvme_cqe last;
	struct tq *next;
};

struct treq {
	struct nvmf_req req;            /* first: the core hands us &req */
	unsigned completions;
	unsigned drops;                 /* let go by the core unanswered (req_drop) */
	struct treq *next;
};

struct tenv {
	struct config *cfg;
	struct nvmf_tgt t;
	bool tgt_up;
	uint16_t cid;
	struct tq *queues;
	struct treq *reqs;
	struct nvme_cqe last;           /* the CQE of the last xs() */
	unsigned traffic, traffic_errors;       /* keep-alive traffic generator */
};

extern struct tenv E;

struct conn_args {
	uint16_t qid, sqsize, cntlid, recfmt;
	uint8_t cattr;
	uint32_t kato;
	const char *subnqn, *hostnqn;
	const uint8_t *hostid;
	uint32_t data_len;
};

extern const struct nvmf_transport_ops fake_ops;

uint16_t gen(uint8_t sc);
uint16_t spec(uint8_t sc);
void fake_complete(struct nvmf_req *req);
void fake_disconnect(struct nvmf_sq *sq);
void fake_req_drop(struct nvmf_req *req);
void fake_buf_available(struct nvmf_sq *sq);
char *dq(const char *s);
void env_up(const char *json);
void tq_destroy(struct tq *q);
void put(struct treq *r);
int env_down(void **state);
struct nvmf_port *port_by_id(uint16_t portid);
struct tq *tq_on(struct nvmf_port *p, const char *local);
struct tq *tq_new(uint16_t portid);
uint32_t max_icd(const struct tq *q);
/* Receive a command as a transport does: a buffer when it carries data,
 * in-capsule data copied in, prepare, then (data in buf for H2C) execute. */
struct treq *exec_raw(struct tq *q, const struct nvme_sqe *cmd, const void *icd, uint32_t icd_len, const void *h2c, uint32_t h2c_len);
/* the command completed exactly once: its status */
uint16_t status_of(const struct treq *r);
struct nvme_sqe sqe(uint8_t opc, uint32_t nsid);
void sgl_tdb(struct nvme_sqe *c, uint32_t len);
void sgl_icd(struct nvme_sqe *c, uint32_t len);
/* a command without data: its status; the CQE in E.last */
uint16_t xs(struct tq *q, struct nvme_sqe c);
/* a controller-to-host command with len bytes of data */
struct treq *exec_c2h(struct tq *q, struct nvme_sqe c, uint32_t len);
/* a host-to-controller command: in-capsule or through R2T */
struct treq *exec_h2c(struct tq *q, struct nvme_sqe c, const void *data, uint32_t len, bool inline_data);
const uint8_t *hostid_of(const char *hostnqn);
/* an admin Connect as nvme-cli sends it: SQSIZE 31, CNTLID 0xFFFF, KATO 5 s */
struct conn_args conn_admin(const char *subnqn, const char *hostnqn);
/* an I/O Connect: SQSIZE 127, the admin queue's CNTLID, no KATO */
struct conn_args conn_io(const char *subnqn, const char *hostnqn, uint16_t cntlid, uint16_t qid);
struct treq *connect_raw(struct tq *q, const struct conn_args *a);
/* Connect's status; its CQE in E.last */
uint16_t connect_st(struct tq *q, const struct conn_args *a);
uint16_t connect_ok(struct tq *q, const struct conn_args *a);
struct treq *prop(struct tq *q, bool set, uint32_t ofst, bool wide, uint64_t val);
uint16_t prop_get(struct tq *q, uint32_t ofst, bool wide, uint64_t *val);
uint16_t prop_set(struct tq *q, uint32_t ofst, bool wide, uint64_t val);
uint32_t get32(struct tq *q, uint32_t ofst);
void enable(struct tq *q);
/* admin queue connected and enabled; *cntlid its controller */
struct tq *admin_up_kato(uint16_t portid, const char *subnqn, const char *hostnqn, uint32_t kato, uint16_t *cntlid);
struct tq *admin_up(uint16_t portid, const char *subnqn, const char *hostnqn, uint16_t *cntlid);
struct tq *io_up(uint16_t portid, const char *subnqn, const char *hostnqn, uint16_t cntlid, uint16_t qid);
struct nvme_sqe feat(bool set, uint8_t fid, uint32_t cdw11);
struct treq *get_log(struct tq *q, uint8_t lid, uint64_t lpo, uint32_t len);
struct treq *identify(struct tq *q, uint8_t cns, uint32_t nsid);
/* Identify Namespace nsid, which must succeed, into *id */
void identify_ns(struct tq *q, uint32_t nsid, struct nvme_id_ns *id);
struct nvme_sqe rw(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb);
/* a Write as the Linux TCP host sends it: in-capsule when it fits IOCCSZ */
uint16_t io_write(struct tq *q, uint32_t nsid, uint64_t slba, uint32_t nlb, const void *data, uint32_t len);
uint16_t io_read(struct tq *q, uint32_t nsid, uint64_t slba, uint32_t nlb, void *out, uint32_t len);
void stop_cb(void *arg);
/* reactor 0 of the target: our queues live there, so do their
 * controllers' keep-alive timers */
struct reactor *tgt_reactor(void);
/* Run the target's reactor for about ms milliseconds (a one-shot timer
 * stops it); returns the time it ran in ns. */
uint64_t run_reactor_ns(unsigned ms);

#endif
