/* SPDX-License-Identifier: MIT */
/*
 * NVMe reservations, kept by the target for every backend (resv.c):
 * Reservation Register, Report, Acquire and Release, the conflict check
 * on I/O commands, the Reservation Notification log page (05h of the I/O
 * command set, log 80h) with its async event, the Reservation
 * Notification Mask (feature 82h) and Reservation Persistence (83h, PTPL)
 * kept in a state file beside the configuration.
 *
 * A namespace's state has its own mutex. The I/O path reads one flag
 * (nvmf_resv_held) and takes the mutex only while a reservation is held.
 * Registrants are hosts, keyed by the 128-bit Host Identifier from
 * Connect: the controllers of one host share its registration.
 * Notification log pages live in the controller, under tgt->lock.
 * Lock order: tgt->lock, then a namespace's reservation mutex; never the
 * other way (notifications are sent after the mutex is released).
 */
#ifndef TARGET_RESV_H
#define TARGET_RESV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define NVMF_RESV_MAX_REGS 64         /* registrants per namespace */
#define NVMF_RESV_LOG_DEPTH 64        /* notification log pages queued per controller */

/* reservation types (RTYPE) */
enum {
	NVMF_RTYPE_NONE = 0,
	NVMF_RTYPE_WE = 1,            /* Write Exclusive */
	NVMF_RTYPE_EA = 2,            /* Exclusive Access */
	NVMF_RTYPE_WE_RO = 3,         /* Write Exclusive - Registrants Only */
	NVMF_RTYPE_EA_RO = 4,         /* Exclusive Access - Registrants Only */
	NVMF_RTYPE_WE_AR = 5,         /* Write Exclusive - All Registrants */
	NVMF_RTYPE_EA_AR = 6,         /* Exclusive Access - All Registrants */
};

/* Reservation Notification log page types */
enum {
	NVMF_RESV_LOG_EMPTY = 0,
	NVMF_RESV_LOG_REG_PREEMPTED = 1,
	NVMF_RESV_LOG_RESV_RELEASED = 2,
	NVMF_RESV_LOG_RESV_PREEMPTED = 3,
};

/* I/O opcodes */
#define NVME_CMD_RESV_REGISTER 0x0d
#define NVME_CMD_RESV_REPORT 0x0e
#define NVME_CMD_RESV_ACQUIRE 0x11
#define NVME_CMD_RESV_RELEASE 0x15
/* generic status 83h */
#define NVME_SC_RESV_CONFLICT 0x83
/* log page, features, ONCS bit, async event */
#define NVME_LOG_RESV_NOTIFY 0x80
#define NVME_FEAT_RESV_MASK 0x82
#define NVME_FEAT_RESV_PERSIST 0x83
#define NVME_ONCS_RESV (1u << 5)

struct nvmf_resv_reg {
	uint8_t hostid[16];
	uint64_t key;
};

/* One namespace's reservation state. */
struct nvmf_resv {
	pthread_mutex_t lock;
	int held;                     /* a reservation exists: read without the lock (atomic) */
	uint8_t rtype;                /* NVMF_RTYPE_*, under lock */
	uint8_t holder[16];           /* the holder's host ID (types 1-4) */
	bool ptpl;                    /* Persist Through Power Loss */
	uint32_t gen;                 /* generation */
	uint32_t mask;                /* Reservation Notification Mask (feature 82h) */
	unsigned nr;
	struct nvmf_resv_reg regs[NVMF_RESV_MAX_REGS];
};

/* A controller's Reservation Notification log pages (under tgt->lock). */
struct nvmf_resv_log_page {
	uint64_t count;
	uint32_t nsid;
	uint8_t type;
};

struct nvmf_resv_log {
	uint64_t counter;             /* Log Page Count of the newest page made */
	unsigned head, nr;
	bool aen_out;                 /* an event was sent; none more until the log is read */
	struct nvmf_resv_log_page q[NVMF_RESV_LOG_DEPTH];
};

struct nvmf_tgt;
struct nvmf_resv_store;
struct nvmf_ns;
struct nvmf_req;
struct nvmf_ctrl;

/* The namespace's state (NULL when the configuration disabled
 * reservations); restores a persisted reservation. 0 or -ENOMEM. */
int nvmf_resv_ns_init(struct nvmf_tgt *t, struct nvmf_ns *ns);
void nvmf_resv_ns_fini(struct nvmf_ns *ns);

/* Load the PTPL state file (<configuration file>.resv) at start. A
 * damaged file is logged, set aside as <file>.damaged and ignored. */
int nvmf_resv_store_open(struct nvmf_tgt *t, const char *cfg_file);
void nvmf_resv_store_close(struct nvmf_tgt *t);

/* The hot path: may the command run? Only call when nvmf_resv_held(). */
static inline bool nvmf_resv_held(const struct nvmf_resv *r)
{
	return r && __atomic_load_n(&r->held, __ATOMIC_ACQUIRE);
}
uint16_t nvmf_resv_check_io(struct nvmf_ns *ns, const struct nvmf_req *req);

static inline bool nvmf_resv_opcode(uint8_t opc)
{
	return opc == NVME_CMD_RESV_REGISTER || opc == NVME_CMD_RESV_REPORT ||
	       opc == NVME_CMD_RESV_ACQUIRE || opc == NVME_CMD_RESV_RELEASE;
}

/* A reservation command (Register, Report, Acquire, Release): executes
 * and completes req (Invalid Opcode when the namespace has reservations
 * disabled). False: not a reservation opcode. */
bool nvmf_resv_exec(struct nvmf_ns *ns, struct nvmf_req *req);

/* admin (tgt->lock held): features 82h and 83h, log page 80h. Return an
 * NVMe status; features set req->rsp.dw0. */
uint16_t nvmf_resv_feature(struct nvmf_req *req, bool set);
/* one 64-byte log page, consumed (rae: keep the event outstanding) */
void nvmf_resv_log_read(struct nvmf_ctrl *c, uint8_t page[64], bool rae);

#endif
