/* SPDX-License-Identifier: MIT */
/*
 * The wanted state, read from a JSON file in nvmetcli's schema (the one
 * kernel-nvmet users know: hosts, ports with addr/param/subsystems/
 * referrals, subsystems with attr/allowed_hosts/namespaces), extended only
 * where nvmet has no words: a namespace's "device" may name a PCIe
 * controller namespace {"pcie": BDF, "nsid": N}, a file {"path": P},
 * memory {"mem": "1GiB"} or nothing at all {"null": "1GiB"} (reads return
 * zeroes, writes are discarded), and an optional top-level "bridge" object holds
 * daemon settings. No JSON type leaks out of config.c: this is plain C.
 *
 * Every validation error names the file, the object path
 * (subsystems[0].namespaces[1].device.pcie) and the problem.
 */
#ifndef CONFIG_CONFIG_H
#define CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dhchap.h"
#include "common/tls_psk.h"

#define CFG_NQN_SIZE 224              /* 223 bytes + NUL */
#define CFG_ADDR_SIZE 64
#define CFG_SVCID_SIZE 32
#define CFG_MAX_DIRS 8
#define CFG_DIR_SIZE 256
/* Identify Controller NN: the highest NSID a namespace may have */
#define CFG_MAX_NSID 1024
/* ANA groups 1..CFG_MAX_ANAGRPID (Identify ANAGRPMAX and NANAGRPID, as nvmet) */
#define CFG_MAX_ANAGRPID 128
/* bridge.metrics.listen without a port: outside 9100-9999, the range the
 * Prometheus project hands out to exporters (all taken), and not a port
 * NVMe-oF uses */
#define CFG_METRICS_PORT_DEFAULT 10420
/* bridge.reactors: at most this many */
#define CFG_REACTORS_MAX 64
#define CFG_RDMA_SRQ_SIZE_MIN 64        /* "rdma_srq_size": 0 (automatic) or this .. MAX */
#define CFG_RDMA_SRQ_SIZE_MAX 65536

/* A port's state of an ANA group, as the ANA log page encodes it */
enum cfg_ana_state {
	CFG_ANA_UNSET = 0,            /* not listed on the port: optimized */
	CFG_ANA_OPTIMIZED = 0x1,
	CFG_ANA_NON_OPTIMIZED = 0x2,
	CFG_ANA_INACCESSIBLE = 0x3,
	CFG_ANA_PERSISTENT_LOSS = 0x4,
	CFG_ANA_CHANGE = 0xf,
};

enum cfg_trtype {
	CFG_TRTYPE_TCP = 3,           /* values match the discovery log TRTYPE */
	CFG_TRTYPE_RDMA = 1,
};

enum cfg_adrfam {
	CFG_ADRFAM_IPV4 = 1,
	CFG_ADRFAM_IPV6 = 2,
};

enum cfg_treq {
	CFG_TREQ_NOT_SPECIFIED = 0,
	CFG_TREQ_REQUIRED = 1,
	CFG_TREQ_NOT_REQUIRED = 2,
};

enum cfg_backend {
	CFG_BACKEND_PCIE = 1,
	CFG_BACKEND_FILE,
	CFG_BACKEND_MEM,
	CFG_BACKEND_NULL,             /* no storage: reads zeroes, writes discarded */
};

/* QoS limits (ours, docs/configuration.md "QoS"): per second, 0 =
 * unlimited. read_* count reads and compares, write_* every other I/O
 * command; *_bw the bytes of data the commands carry. */
struct cfg_qos {
	uint64_t read_iops, write_iops;
	uint64_t read_bw, write_bw;   /* bytes per second */
};

/* namespaces[].host_qos[]: one host's limits on that namespace */
struct cfg_host_qos {
	char host[CFG_NQN_SIZE];
	struct cfg_qos qos;
};

struct cfg_namespace {
	uint32_t nsid;                /* 1..0xfffffffe, unique in its subsystem */
	bool enable;                  /* default true */
	enum cfg_backend backend;
	char pcie_bdf[16];            /* "0000:00:02.0", normalised to lower case */
	uint32_t pcie_nsid;           /* the namespace on that controller */
	char path[4096];              /* file backend */
	uint64_t mem_bytes;           /* mem and null backends: the size in bytes */
	uint32_t block_size;          /* file/mem/null: "block_size" in device, default 512 */
	bool has_uuid;
	uint8_t uuid[16];
	bool has_nguid;
	uint8_t nguid[16];
	uint32_t anagrpid;            /* ana_grpid / ana.grpid: 1..CFG_MAX_ANAGRPID, default (and 0) 1 */
	bool no_resv;                 /* "resv": {"enable": 0}: no reservations (default: on) */
	struct cfg_qos qos;           /* "qos": the namespace's total */
	struct cfg_host_qos *host_qos;  /* "host_qos": per host on this namespace */
	unsigned nr_host_qos;
};

struct cfg_subsystem {
	char nqn[CFG_NQN_SIZE];
	bool allow_any_host;          /* attr.allow_any_host, default false */
	char serial[21];              /* attr.serial; empty = generated */
	char model[41];               /* attr.model; default "Linux" */
	uint16_t cntlid_min;          /* attr.cntlid_min, default 1 */
	uint16_t cntlid_max;          /* attr.cntlid_max, default 65519 */
	uint16_t qid_max;             /* attr.qid_max: I/O queues a host may have; 0 = the daemon's maximum */
	uint32_t version;             /* attr.version as the VS register encodes it; 0 = 1.4.0 */
	char firmware[9];             /* attr.firmware: Identify FR; empty = the device's or ours */
	bool has_ieee_oui;
	uint32_t ieee_oui;            /* attr.ieee_oui: Identify IEEE (24 bits) */
	char (*allowed_hosts)[CFG_NQN_SIZE];
	unsigned nr_allowed_hosts;
	bool require_auth;            /* "require_auth" (ours): hosts without a DH-HMAC-CHAP key are refused */
	struct cfg_namespace *namespaces;
	unsigned nr_namespaces;
};

struct cfg_addr {
	enum cfg_trtype trtype;
	enum cfg_adrfam adrfam;
	char traddr[CFG_ADDR_SIZE];   /* numeric address, validated with inet_pton */
	char trsvcid[CFG_SVCID_SIZE]; /* port number 1..65535 as a string */
	enum cfg_treq treq;
	bool tls;                     /* tsas "tls1.3" (TCP): TLS required, or allowed with treq "not required" */
};

struct cfg_referral {
	char name[64];
	bool enable;
	uint16_t portid;              /* addr.portid */
	struct cfg_addr addr;
};

struct cfg_port {
	uint16_t portid;              /* unique */
	struct cfg_addr addr;
	uint32_t inline_data_size;    /* param.inline_data_size, default 8192 */
	char (*subsystems)[CFG_NQN_SIZE];  /* each must name a configured subsystem */
	unsigned nr_subsystems;
	struct cfg_referral *referrals;
	/* ana_groups: [grpid] is the group's state on this port (enum
	 * cfg_ana_state; CFG_ANA_UNSET: not listed, optimized) */
	uint8_t ana_state[CFG_MAX_ANAGRPID + 1];
	unsigned nr_referrals;
};

/* hosts[].dhchap, as nvmetcli saves a host's dhchap_* attributes. A host
 * with a key authenticates with DH-HMAC-CHAP on every subsystem but the
 * discovery one. */
struct cfg_dhchap {
	char key[DHCHAP_SECRET_MAX];      /* "key": DHHC-1 secret; empty = none */
	char ctrl_key[DHCHAP_SECRET_MAX]; /* "ctrl_key": to authenticate the controller too */
	struct dhchap_key host, ctrl;     /* both parsed */
	uint8_t hash;                     /* "hash": "hmac(sha256)" (default), sha384, sha512 */
	uint8_t dhgroup;                  /* "dhgroup": "null" (default), "ffdhe2048".."ffdhe8192" */
};

struct cfg_host {
	char nqn[CFG_NQN_SIZE];
	struct cfg_dhchap dhchap;
	/* "tls_psk" (ours): the configured PSK for NVMe/TCP TLS, as nvme
	 * gen-tls-key prints it; "tls_psk_derivation": how the host's side
	 * turns it into the TLS PSK ("compat", libnvme <= 1.15, the default;
	 * "spec", libnvme >= 1.16) */
	char tls_psk_str[TLS_PSK_SECRET_MAX];
	struct tls_psk tls_psk;
	enum tls_psk_kdf tls_kdf;
	struct cfg_qos qos;           /* "qos": the host's total over everything it reaches */
};

/* Top-level "bridge" object (our extension; every key optional) */
struct cfg_bridge {
	uint16_t discovery_port;      /* "discovery_port": TCP discovery listener, default 8009, 0 = off */
	unsigned reactors;            /* "reactors": I/O threads, default 1 */
	uint32_t rdma_srq_size;       /* "rdma_srq_size": receive buffers per RDMA shared receive queue
	                               * (one per reactor, device and capsule size); 0 = automatic */
	char rpc_socket[108];         /* "rpc_socket", default /run/nvmf-bridge/rpc.sock */
	char rpc_group[64];           /* "rpc_group": group allowed on the socket; empty = root only */
	/* Hostile-network limits (docs/security.md); every one has a default */
	uint32_t icreq_timeout_ms;    /* "icreq_timeout_ms": TCP ICReq due after accept, default 10000 */
	uint32_t connect_timeout_ms;  /* "connect_timeout_ms": Fabrics Connect due after accept, default 10000 */
	uint32_t max_conns_per_port;  /* "max_connections_per_port", default 4096 */
	uint32_t max_conns_per_addr;  /* "max_connections_per_address": per host IP address, default 1024 */
	uint32_t max_ctrls_per_host;  /* "max_controllers_per_host": per host NQN, default 128 */
	/* Least privilege for control-socket clients that are not root */
	char rpc_namespace_dirs[CFG_MAX_DIRS][CFG_DIR_SIZE];  /* "rpc_namespace_dirs": absolute */
	unsigned nr_rpc_namespace_dirs;
	char rpc_save_dir[CFG_DIR_SIZE];  /* "rpc_save_dir": absolute; empty = own file only */
	/* "metrics": {"listen": "ADDR[:PORT]"}: the Prometheus endpoint; off when absent */
	struct cfg_metrics {
		bool enabled;
		char addr[CFG_ADDR_SIZE];  /* numeric IPv4 or IPv6 (without brackets) */
		uint16_t port;             /* default CFG_METRICS_PORT_DEFAULT */
	} metrics;
};

struct config {
	char *file;                   /* as given to config_load */
	struct cfg_host *hosts;
	unsigned nr_hosts;
	struct cfg_port *ports;
	unsigned nr_ports;
	struct cfg_subsystem *subsystems;
	unsigned nr_subsystems;
	struct cfg_bridge bridge;
};

/* The hosts[] entry of a host NQN, or NULL */
const struct cfg_host *cfg_find_host(const struct config *cfg, const char *nqn);

/* Read and validate a file. On error returns -EINVAL (or -errno for I/O)
 * and err holds "FILE: OBJECT.PATH: problem" on one line. */
int config_load(const char *path, struct config **out, char *err, size_t errlen);

/* The same from a string; name stands in for the file in messages. */
int config_parse(const char *json, const char *name, struct config **out, char *err, size_t errlen);

void config_free(struct config *cfg);

/* NQN rules (NVMe Base 2.0 4.5; SPDK nvmf_nqn_is_valid): at most 223
 * bytes; "nqn.2014-08.org.nvmexpress.discovery"; the UUID form
 * "nqn.2014-08.org.nvmexpress:uuid:" + 36-char UUID; otherwise
 * "nqn.yyyy-mm.reverse.domain:anything" with a valid year-month and a
 * domain of labels [A-Za-z0-9-] separated by dots. why gets the reason. */
bool nqn_valid(const char *nqn, char *why, size_t whylen);

/* Parse "1GiB", "512MiB", "1G", "4096" (bytes) etc. Returns 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *bytes);
/* ANA states by nvmetcli's names ("optimized", "non-optimized",
 * "inaccessible", "persistent-loss", "change"): the enum cfg_ana_state
 * value, or 0 for anything else; and back ("optimized" for UNSET) */
unsigned cfg_ana_state_parse(const char *s);
/* "tcp", "rdma" (the configuration's trtype names) */
const char *cfg_trtype_name(enum cfg_trtype t);
const char *cfg_ana_state_name(unsigned state);

/* true when no limit of q is set */
static inline bool cfg_qos_unset(const struct cfg_qos *q)
{
	return !q->read_iops && !q->write_iops && !q->read_bw && !q->write_bw;
}

const struct cfg_subsystem *config_find_subsystem(const struct config *cfg, const char *nqn);

/* The configuration back as JSON in the same schema (nvmetcli's string
 * values, our extensions), parseable by config_parse to an equal config.
 * Returns a malloc'd NUL-terminated string, NULL on allocation failure. */
char *config_to_json(const struct config *cfg);

/* Write config_to_json atomically: a temporary file in the same directory
 * (mode 0600), fsync, rename over path, fsync the directory. Returns 0 or
 * -errno with a one-line reason in err. */
int config_write_file(const struct config *cfg, const char *path, char *err, size_t errlen);

/* Deep equality of two configurations (what config_to_json would write). */
bool config_equal(const struct config *a, const struct config *b);

#endif
