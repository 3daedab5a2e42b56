/* SPDX-License-Identifier: MIT */
/*
 * nvmf-test-host: command line front end of the project's NVMe/TCP test
 * initiator (tests/support/tcp_host.c). It is proven against the Linux
 * kernel's nvmet-tcp first (tests/vm/guest/host_selftest.sh), then used to
 * test our own target.
 *
 *   nvmf-test-host discover -a ADDR [-s PORT]
 *   nvmf-test-host identify -a ADDR [-s PORT] -n SUBNQN
 *   nvmf-test-host selftest -a ADDR [-s PORT] -n SUBNQN [--hdgst] [--ddgst] ...
 *   nvmf-test-host write|read -a ADDR -n SUBNQN --lba L (--file F | --blocks N --file F)
 *   nvmf-test-host malformed -a ADDR [-n SUBNQN] --case NAME [--expect-fes N]
 *
 * Exit status: 0 success, 1 a failure (printed on stderr), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nvme/regs.h"
#include "common/dhchap.h"
#include "tests/support/tcp_host.h"
#include "tests/support/tcp_host_check.h"

#define MAX_IOQ 16

struct cfg {
	const char *cmd;
	const char *addr;
	const char *port;
	const char *subnqn;
	char hostnqn[256];
	uint8_t hostid[16];
	struct tcp_host_opts o;
	bool dissqfc;
	uint32_t kato_ms;
	bool kato_set;
	unsigned int nr_ioq;
	unsigned int qd;
	uint32_t nsid;
	size_t max_size;
	bool no_inline;
	bool r2t_small;
	unsigned int rounds;
	uint64_t seed;
	bool seed_set;
	/* write/read */
	uint64_t lba;
	bool lba_set;
	uint32_t blocks;
	const char *file;
	/* malformed */
	const char *mcase;
	int expect_fes;            /* -1: a C2HTermReq is not required */
	/* DH-HMAC-CHAP */
	const char *dhchap_secret, *dhchap_ctrl_secret;
	uint8_t dh_offer;
	bool auth_skip;
};

static struct cfg cfg;

__attribute__((format(printf, 1, 2)))
static void err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nvmf-test-host %s: ", cfg.cmd ? cfg.cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void qerr(struct tcp_host_q *q, const char *what, int ret)
{
	err("%s: %s (errno %d)", what, tcp_host_error(q), -ret);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nvmf-test-host COMMAND [options]\n"
		"commands:\n"
		"  discover    connect to the discovery controller and print the log\n"
		"  identify    identify the controller and its namespaces\n"
		"  selftest    admin + I/O queues, identify, write/read/verify many sizes\n"
		"  write       write --file to --lba of --nsid (1 I/O queue)\n"
		"  read        read --blocks from --lba into --file\n"
		"  malformed   send a malformed PDU (--case, see below); expect a\n"
		"              C2HTermReq (--expect-fes N) or at least a closed connection\n"
		"  kato-expiry connect with --kato MS, then stay silent: the controller must\n"
		"              end the association (close admin and I/O queue), not before KATO\n"
		"  hostcheck   the initiator's own strictness tests against an in-process\n"
		"              fake controller (no target needed; --case filters by name)\n"
		"options:\n"
		"  -a, --traddr ADDR     target address (default 127.0.0.1)\n"
		"  -s, --trsvcid PORT    target port (default 4420)\n"
		"  -n, --nqn SUBNQN      subsystem NQN (not for discover)\n"
		"      --hostnqn NQN     host NQN (default: random uuid NQN)\n"
		"      --hostid UUID     host identifier (default: the uuid of the hostnqn)\n"
		"      --dhchap-secret S       DH-HMAC-CHAP: the host's DHHC-1 secret\n"
		"      --dhchap-ctrl-secret S  ... and the controller's: authenticate it too\n"
		"      --dhgroups LIST   DH groups to offer, e.g. null,ffdhe2048 (default all)\n"
		"      --auth-skip       do not authenticate though asked to (tests)\n"
		"  -g, --hdgst           request header digests\n"
		"  -G, --ddgst           request data digests\n"
		"      --hpda N          host PDU data alignment (0's based dwords)\n"
		"      --accept-cpda     accept a non-zero CPDA (Linux refuses it)\n"
		"      --dissqfc         set CATTR.DISSQFC (no SQ flow control) in Connect\n"
		"  -k, --kato MS         keep alive timeout in Connect (selftest default 10000)\n"
		"  -q, --queues N        I/O queues (selftest default 2)\n"
		"  -Q, --qd N            commands in flight per I/O queue (default 16)\n"
		"      --nsid N          namespace (default: first active)\n"
		"      --max-size BYTES  largest transfer in selftest (default 1 MiB)\n"
		"      --no-inline       never send write data in-capsule\n"
		"      --r2t-small       selftest: also write sizes that fit in-capsule via R2T\n"
		"                        (Linux nvmet-tcp never sends R2T for those: it hangs)\n"
		"      --rounds N        repeat the selftest data phases N times\n"
		"      --seed N          data pattern seed (default: from the clock)\n"
		"      --lba N, --blocks N, --file PATH   for write/read\n"
		"      --case NAME       malformed: pfv, icreq-plen, icreq-hlen, no-icreq,\n"
		"                        second-icreq, hdgst, hlen, h2cdata-ttag, cmd-plen\n"
		"      --expect-fes N    malformed: require a C2HTermReq with this FES\n"
		"  -t, --timeout MS      socket timeout (default 10000)\n"
		"  -v, --trace           print every PDU on stderr\n");
}

static int parse_uuid(const char *s, uint8_t out[16])
{
	unsigned int i = 0;

	while (*s && i < 16) {
		unsigned int v;

		if (*s == '-') {
			s++;
			continue;
		}
		if (sscanf(s, "%2x", &v) != 1 || !s[1])
			return -1;
		out[i++] = (uint8_t)v;
		s += 2;
	}
	return i == 16 && !*s ? 0 : -1;
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s) {
		fprintf(stderr, "nvmf-test-host: bad number '%s'\n", s);
		exit(2);
	}
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	}
	if (*end) {
		fprintf(stderr, "nvmf-test-host: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

enum {
	OPT_HOSTNQN = 256, OPT_HOSTID, OPT_DHCHAP, OPT_DHCHAP_CTRL, OPT_DHGROUPS, OPT_AUTH_SKIP, OPT_HPDA, OPT_ACCEPT_CPDA, OPT_DISSQFC, OPT_NSID,
	OPT_MAX_SIZE, OPT_NO_INLINE, OPT_ROUNDS, OPT_SEED, OPT_LBA, OPT_BLOCKS, OPT_FILE,
	OPT_CASE, OPT_EXPECT_FES, OPT_R2T_SMALL,
};

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "traddr", required_argument, NULL, 'a' },
		{ "trsvcid", required_argument, NULL, 's' },
		{ "nqn", required_argument, NULL, 'n' },
		{ "hostnqn", required_argument, NULL, OPT_HOSTNQN },
		{ "hostid", required_argument, NULL, OPT_HOSTID },
		{ "dhchap-secret", required_argument, NULL, OPT_DHCHAP },
		{ "dhchap-ctrl-secret", required_argument, NULL, OPT_DHCHAP_CTRL },
		{ "dhgroups", required_argument, NULL, OPT_DHGROUPS },
		{ "auth-skip", no_argument, NULL, OPT_AUTH_SKIP },
		{ "hdgst", no_argument, NULL, 'g' },
		{ "ddgst", no_argument, NULL, 'G' },
		{ "hpda", required_argument, NULL, OPT_HPDA },
		{ "accept-cpda", no_argument, NULL, OPT_ACCEPT_CPDA },
		{ "dissqfc", no_argument, NULL, OPT_DISSQFC },
		{ "kato", required_argument, NULL, 'k' },
		{ "queues", required_argument, NULL, 'q' },
		{ "qd", required_argument, NULL, 'Q' },
		{ "nsid", required_argument, NULL, OPT_NSID },
		{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
		{ "no-inline", no_argument, NULL, OPT_NO_INLINE },
		{ "r2t-small", no_argument, NULL, OPT_R2T_SMALL },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "lba", required_argument, NULL, OPT_LBA },
		{ "blocks", required_argument, NULL, OPT_BLOCKS },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "case", required_argument, NULL, OPT_CASE },
		{ "expect-fes", required_argument, NULL, OPT_EXPECT_FES },
		{ "timeout", required_argument, NULL, 't' },
		{ "trace", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool hostid_set = false;
	int c;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		exit(argc < 2 ? 2 : 0);
	}
	cfg.cmd = argv[1];
	cfg.addr = "127.0.0.1";
	cfg.port = "4420";
	cfg.nr_ioq = 2;
	cfg.qd = 16;
	cfg.max_size = 1u << 20;
	cfg.rounds = 1;
	cfg.expect_fes = -1;
	tcp_host_gen_hostnqn(cfg.hostnqn, cfg.hostid);
	optind = 2;
	while ((c = getopt_long(argc, argv, "a:s:n:gGk:q:Q:t:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'a': cfg.addr = optarg; break;
		case 's': cfg.port = optarg; break;
		case 'n': cfg.subnqn = optarg; break;
		case OPT_HOSTNQN:
			if (strlen(optarg) > NVMF_NQN_MAX_LEN) {
				fprintf(stderr, "nvmf-test-host: hostnqn longer than %d bytes\n",
					NVMF_NQN_MAX_LEN);
				exit(2);
			}
			snprintf(cfg.hostnqn, sizeof(cfg.hostnqn), "%s", optarg);
			break;
		case OPT_DHCHAP:
			cfg.dhchap_secret = optarg;
			break;
		case OPT_DHCHAP_CTRL:
			cfg.dhchap_ctrl_secret = optarg;
			break;
		case OPT_AUTH_SKIP:
			cfg.auth_skip = true;
			break;
		case OPT_DHGROUPS: {
			char *list = strdup(optarg), *save = NULL;

			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int g = dhchap_dhgroup_id(t);

				if (g < 0) {
					fprintf(stderr, "nvmf-test-host: unknown DH group %s\n", t);
					exit(2);
				}
				cfg.dh_offer |= (uint8_t)(1u << g);
			}
			free(list);
			break;
		}
		case OPT_HOSTID:
			if (parse_uuid(optarg, cfg.hostid)) {
				fprintf(stderr, "nvmf-test-host: bad hostid '%s'\n", optarg);
				exit(2);
			}
			hostid_set = true;
			break;
		case 'g': cfg.o.hdgst = true; break;
		case 'G': cfg.o.ddgst = true; break;
		case OPT_HPDA: cfg.o.hpda = (uint8_t)num(optarg); break;
		case OPT_ACCEPT_CPDA: cfg.o.accept_cpda = true; break;
		case OPT_DISSQFC: cfg.dissqfc = true; break;
		case 'k': cfg.kato_ms = (uint32_t)num(optarg); cfg.kato_set = true; break;
		case 'q': cfg.nr_ioq = (unsigned int)num(optarg); break;
		case 'Q': cfg.qd = (unsigned int)num(optarg); break;
		case OPT_NSID: cfg.nsid = (uint32_t)num(optarg); break;
		case OPT_MAX_SIZE: cfg.max_size = num(optarg); break;
		case OPT_NO_INLINE: cfg.no_inline = true; break;
		case OPT_R2T_SMALL: cfg.r2t_small = true; break;
		case OPT_ROUNDS: cfg.rounds = (unsigned int)num(optarg); break;
		case OPT_SEED: cfg.seed = num(optarg); cfg.seed_set = true; break;
		case OPT_LBA: cfg.lba = num(optarg); cfg.lba_set = true; break;
		case OPT_BLOCKS: cfg.blocks = (uint32_t)num(optarg); break;
		case OPT_FILE: cfg.file = optarg; break;
		case OPT_CASE: cfg.mcase = optarg; break;
		case OPT_EXPECT_FES: cfg.expect_fes = (int)num(optarg); break;
		case 't': cfg.o.timeout_ms = (unsigned int)num(optarg); break;
		case 'v': cfg.o.trace = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nvmf-test-host: unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
	/* a hostnqn of the uuid form carries its hostid, as nvme-cli pairs
	 * /etc/nvme/hostnqn and /etc/nvme/hostid */
	if (!hostid_set) {
		const char *u = strstr(cfg.hostnqn, ":uuid:");

		if (u)
			parse_uuid(u + 6, cfg.hostid);
	}
	if (cfg.nr_ioq < 1 || cfg.nr_ioq > MAX_IOQ || cfg.qd < 1 || cfg.qd > 128 ||
	    cfg.rounds < 1 || cfg.max_size < 512) {
		fprintf(stderr, "nvmf-test-host: --queues 1..%d, --qd 1..128, --rounds >= 1, --max-size >= 512\n",
			MAX_IOQ);
		exit(2);
	}
}

/* --- controller bring-up ------------------------------------------------ */

struct ctrl {
	struct tcp_host_q admin;
	struct tcp_host_q io[MAX_IOQ];
	unsigned int nr_io;
	uint16_t cntlid;
	uint64_t cap;
	uint32_t vs;
	struct nvme_id_ctrl id;
	size_t max_xfer;           /* from MDTS, 0 = unlimited */
	bool enabled;
};

static struct ctrl ctrl;

static void auth_args(struct tcp_host_connect_args *a)
{
	a->dhchap_secret = cfg.dhchap_secret;
	a->dhchap_ctrl_secret = cfg.dhchap_ctrl_secret;
	a->dh_offer = cfg.dh_offer;
	a->auth_skip = cfg.auth_skip;
}

static int admin_up(const char *subnqn, uint32_t kato_ms, bool discovery)
{
	struct tcp_host_connect_args a = { 0 };
	struct tcp_host_q *q = &ctrl.admin;
	uint64_t v;
	int ret;

	ret = tcp_host_connect(q, cfg.addr, cfg.port, &cfg.o);
	if (ret) {
		qerr(q, "admin queue", ret);
		return ret;
	}
	a.qid = 0;
	a.sqsize = 31;             /* Linux NVME_AQ_DEPTH - 1 */
	a.cntlid = 0xffff;         /* dynamic controller model */
	a.kato_ms = kato_ms;
	a.dissqfc = cfg.dissqfc;
	a.subnqn = subnqn;
	a.hostnqn = cfg.hostnqn;
	auth_args(&a);
	memcpy(a.hostid, cfg.hostid, 16);
	ret = tcp_host_fabrics_connect(q, &a, &ctrl.cntlid, NULL);
	if (ret) {
		qerr(q, "admin Connect", ret);
		return ret;
	}
	if (q->auth.done)
		printf("authenticated: DH-HMAC-CHAP %s, DH group %s%s\n", dhchap_hash_name(q->auth.hash),
		       dhchap_dhgroup_name(q->auth.dhgroup), q->auth.ctrl_verified ? ", controller verified" : "");
	ret = tcp_host_enable(q, &ctrl.cap);
	if (ret) {
		qerr(q, "enable", ret);
		return ret;
	}
	ctrl.enabled = true;
	ret = tcp_host_prop_get(q, NVME_REG_VS, 4, &v, NULL);
	if (ret) {
		qerr(q, "Property Get VS", ret);
		return ret;
	}
	ctrl.vs = (uint32_t)v;
	ret = tcp_host_identify_ctrl(q, &ctrl.id, NULL);
	if (ret) {
		qerr(q, "Identify Controller", ret);
		return ret;
	}
	ret = tcp_host_check_id_ctrl(q, &ctrl.id, discovery);
	if (ret) {
		qerr(q, "Identify Controller", ret);
		return ret;
	}
	/* MDTS is in units of the minimum page size (CAP.MPSMIN, 4 KiB here) */
	ctrl.max_xfer = ctrl.id.mdts ? (size_t)4096 << ctrl.id.mdts : 0;
	return 0;
}

static int io_up(unsigned int nr, unsigned int qd)
{
	unsigned int mqes = NVME_CAP_MQES(ctrl.cap) + 1;
	unsigned int depth = qd + 1;   /* an SQ of N entries holds N - 1 */
	unsigned int i;
	int ret;

	/* Linux: queue size clamped to MQES + 1 and to MAXCMD */
	if (depth > mqes)
		depth = mqes;
	if (ctrl.id.maxcmd && depth > ctrl.id.maxcmd)
		depth = ctrl.id.maxcmd;
	for (i = 0; i < nr; i++) {
		struct tcp_host_connect_args a = { 0 };
		struct tcp_host_q *q = &ctrl.io[i];

		ret = tcp_host_connect(q, cfg.addr, cfg.port, &cfg.o);
		if (ret) {
			qerr(q, "I/O queue", ret);
			return ret;
		}
		ctrl.nr_io = i + 1;
		a.qid = (uint16_t)(i + 1);
		a.sqsize = (uint16_t)(depth - 1);
		a.cntlid = ctrl.cntlid;
		a.kato_ms = cfg.kato_ms;
		a.dissqfc = cfg.dissqfc;
		a.subnqn = cfg.subnqn;
		a.hostnqn = cfg.hostnqn;
		auth_args(&a);
		memcpy(a.hostid, cfg.hostid, 16);
		ret = tcp_host_fabrics_connect(q, &a, NULL, NULL);
		if (ret) {
			qerr(q, "I/O Connect", ret);
			return ret;
		}
		tcp_host_set_ioccsz(q, ctrl.id.ioccsz);
		if (cfg.no_inline)
			tcp_host_set_ioccsz(q, 0);
	}
	return 0;
}

/* Linux tears down I/O queues first, then shuts the controller down over
 * the admin queue (nvme_tcp_teardown_ctrl(shutdown=true)). */
static int ctrl_down(void)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < ctrl.nr_io; i++)
		tcp_host_close(&ctrl.io[i]);
	ctrl.nr_io = 0;
	if (ctrl.enabled && !ctrl.admin.dead) {
		ret = tcp_host_shutdown(&ctrl.admin, 5000);
		if (ret)
			qerr(&ctrl.admin, "shutdown", ret);
	}
	tcp_host_close(&ctrl.admin);
	return ret;
}

static void trim(char *dst, const char *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = 0;
	while (n && (dst[n - 1] == ' ' || dst[n - 1] == 0))
		dst[--n] = 0;
}

static void print_ctrl(void)
{
	const struct nvme_id_ctrl *id = &ctrl.id;
	char sn[21], mn[41], fr[9], nqn[257];

	trim(sn, id->sn, sizeof(id->sn));
	trim(mn, id->mn, sizeof(id->mn));
	trim(fr, id->fr, sizeof(id->fr));
	memcpy(nqn, id->subnqn, 256);
	nqn[256] = 0;
	printf("controller: cntlid %u, model '%s', serial '%s', firmware '%s'\n", ctrl.cntlid, mn,
	       sn, fr);
	printf("  version %u.%u.%u, CAP %#018" PRIx64 " (MQES %u, TO %u ms), cntrltype %u\n",
	       NVME_VS_MJR(ctrl.vs), NVME_VS_MNR(ctrl.vs), NVME_VS_TER(ctrl.vs), ctrl.cap,
	       NVME_CAP_MQES(ctrl.cap) + 1, NVME_CAP_TO(ctrl.cap) * 500, id->cntrltype);
	printf("  subnqn %s\n", nqn);
	printf("  mdts %u, maxcmd %u, nn %u, kas %u, sgls %#x, oncs %#x, ioccsz %u, iorcsz %u, icdoff %u\n",
	       id->mdts, id->maxcmd, id->nn, id->kas, id->sgls, id->oncs, id->ioccsz, id->iorcsz,
	       id->icdoff);
	printf("  tcp: maxh2cdata %u, cpda %u, hdgst %s, ddgst %s\n", ctrl.admin.maxh2cdata,
	       ctrl.admin.cpda, ctrl.admin.hdgst ? "on" : "off", ctrl.admin.ddgst ? "on" : "off");
}

/* --- discover ----------------------------------------------------------- */

static const char *trtype_str(uint8_t t)
{
	switch (t) {
	case NVMF_TRTYPE_RDMA: return "rdma";
	case NVMF_TRTYPE_FC: return "fc";
	case NVMF_TRTYPE_TCP: return "tcp";
	case NVMF_TRTYPE_LOOP: return "loop";
	default: return "unrecognized";
	}
}

static const char *subtype_str(uint8_t t)
{
	switch (t) {
	case NVMF_SUBTYPE_DISCOVERY_REFERRAL: return "discovery subsystem referral";
	case NVMF_SUBTYPE_NVME: return "nvme subsystem";
	case NVMF_SUBTYPE_DISCOVERY_CURRENT: return "current discovery subsystem";
	default: return "unrecognized";
	}
}

static void field(char *dst, const char *src, size_t n)
{
	/* discovery log strings are space or NUL padded */
	trim(dst, src, n);
}

static int cmd_discover(void)
{
	struct nvmf_disc_log_hdr *log;
	size_t len;
	uint64_t i;
	int ret;

	/* discovery controllers: KATO 0 unless persistent (Linux
	 * nvmf_parse_options / nvme-cli discover) */
	ret = admin_up(NVMF_DISCOVERY_NQN, cfg.kato_set ? cfg.kato_ms : 0, true);
	if (ret)
		goto out;
	print_ctrl();
	ret = tcp_host_discovery_log(&ctrl.admin, &log, &len, NULL);
	if (ret) {
		qerr(&ctrl.admin, "discovery log", ret);
		goto out;
	}
	printf("Discovery Log Number of Records %" PRIu64 ", Generation counter %" PRIu64 "\n",
	       log->numrec, log->genctr);
	for (i = 0; i < log->numrec; i++) {
		const struct nvmf_disc_log_entry *e = (const void *)((uint8_t *)log +
								      (i + 1) * sizeof(*e));
		char svc[33], nqn[257], addr[257];

		field(svc, e->trsvcid, sizeof(e->trsvcid));
		field(nqn, e->subnqn, sizeof(e->subnqn));
		field(addr, e->traddr, sizeof(e->traddr));
		printf("=====Discovery Log Entry %" PRIu64 "======\n", i);
		printf("trtype:  %s\n", trtype_str(e->trtype));
		printf("adrfam:  %s\n", e->adrfam == NVMF_ADRFAM_IPV4 ? "ipv4" :
		       e->adrfam == NVMF_ADRFAM_IPV6 ? "ipv6" : "other");
		printf("subtype: %s\n", subtype_str(e->subtype));
		printf("treq:    %s%s\n",
		       (e->treq & 3) == NVMF_TREQ_REQUIRED ? "required" :
		       (e->treq & 3) == NVMF_TREQ_NOT_REQUIRED ? "not required" : "not specified",
		       (e->treq & NVMF_TREQ_DISABLE_SQFLOW) ?
		       ", sq flow control disable supported" : "");
		printf("portid:  %u\n", e->portid);
		printf("trsvcid: %s\n", svc);
		printf("subnqn:  %s\n", nqn);
		printf("traddr:  %s\n", addr);
		printf("eflags:  %#x\n", e->eflags);
		printf("cntlid:  %#x\n", e->cntlid);
		if (e->cntlid != 0xffff && e->cntlid != 0xfffe)
			/* dynamic model: entries carry FFFFh (PROTOCOL-NOTES 4b.1) */
			printf("warning: entry %" PRIu64 " has CNTLID %#x, expected 0xffff\n", i,
			       e->cntlid);
	}
	printf("discover: %" PRIu64 " records, genctr %" PRIu64 "\n", log->numrec, log->genctr);
	free(log);
out:
	if (ctrl_down() && !ret)
		ret = -EIO;
	return ret ? 1 : 0;
}

/* --- namespaces --------------------------------------------------------- */

struct ns_info {
	uint32_t nsid;
	uint64_t nsze;
	uint32_t bs;
	uint16_t ms;
};

/* The Namespace Identification Descriptor list: Linux
 * nvme_process_ns_desc() refuses wrong lengths ("Target returned bogus
 * EUI64/NGUID/UUID/CSI length"). */
static int check_ns_descs(const uint8_t *buf, uint32_t nsid, bool print)
{
	size_t off = 0;

	while (off + 4 <= 4096) {
		uint8_t nidt = buf[off], nidl = buf[off + 1];
		size_t want;

		if (!nidl || !nidt)
			break;
		switch (nidt) {
		case 1: want = 8; break;      /* EUI64 */
		case 2: want = 16; break;     /* NGUID */
		case 3: want = 16; break;     /* UUID */
		case 4: want = 1; break;      /* CSI */
		default: want = nidl; break;
		}
		if (nidl != want || off + 4 + nidl > 4096) {
			err("ns %u: Target returned bogus descriptor type %u length %u", nsid, nidt,
			    nidl);
			return -EPROTO;
		}
		if (print) {
			printf("  ns %u desc type %u:", nsid, nidt);
			for (unsigned int i = 0; i < nidl; i++)
				printf("%02x", buf[off + 4 + i]);
			printf("\n");
		}
		off += 4 + nidl;
	}
	return 0;
}

static int ns_probe(uint32_t nsid, struct ns_info *ni, bool print)
{
	struct nvme_id_ns *id = NULL;
	uint8_t *desc = NULL;
	const struct nvme_lbaf *f;
	int ret = -ENOMEM;

	if (posix_memalign((void **)&id, 4096, 4096) || posix_memalign((void **)&desc, 4096, 4096))
		goto out;
	ret = tcp_host_identify_ns(&ctrl.admin, nsid, id, NULL);
	if (ret) {
		qerr(&ctrl.admin, "Identify Namespace", ret);
		goto out;
	}
	if (nvme_id_ns_flbas_index(id) > id->nlbaf) {
		err("ns %u: FLBAS index %u > NLBAF %u", nsid, nvme_id_ns_flbas_index(id), id->nlbaf);
		ret = -EPROTO;
		goto out;
	}
	f = &id->lbaf[nvme_id_ns_flbas_index(id)];
	ni->nsid = nsid;
	ni->nsze = id->nsze;
	ni->bs = f->lbads >= 9 && f->lbads < 32 ? 1u << f->lbads : 0;
	ni->ms = f->ms;
	if (!ni->bs || !ni->nsze) {
		err("ns %u: LBADS %u, NSZE %" PRIu64 ": unusable", nsid, f->lbads, id->nsze);
		ret = -EPROTO;
		goto out;
	}
	if (print)
		printf("  ns %u: %" PRIu64 " blocks x %u bytes (ms %u, ncap %" PRIu64 ", nmic %#x)\n",
		       nsid, id->nsze, ni->bs, ni->ms, id->ncap, id->nmic);
	memset(desc, 0, 4096);
	{
		uint16_t st;

		ret = tcp_host_ns_desc_list(&ctrl.admin, nsid, desc, &st);
		if (ret) {
			qerr(&ctrl.admin, "Identify NS descriptors", ret);
			goto out;
		}
		if (st)
			printf("  ns %u: no descriptor list (%s)\n", nsid, tcp_host_status_str(st));
		else
			ret = check_ns_descs(desc, nsid, print);
	}
out:
	free(id);
	free(desc);
	return ret;
}

static int ns_pick(struct ns_info *ni, bool print)
{
	uint32_t *list = NULL;
	unsigned int i;
	int ret;

	if (posix_memalign((void **)&list, 4096, 4096))
		return -ENOMEM;
	ret = tcp_host_active_ns_list(&ctrl.admin, 0, list, NULL);
	if (ret) {
		qerr(&ctrl.admin, "Identify active NS list", ret);
		goto out;
	}
	if (!list[0] && !cfg.nsid) {
		err("the subsystem has no active namespace");
		ret = -ENOENT;
		goto out;
	}
	for (i = 0; i < 1024 && list[i]; i++) {
		struct ns_info tmp;
		bool want = cfg.nsid ? list[i] == cfg.nsid : i == 0;

		if (!print && !want)
			continue;
		ret = ns_probe(list[i], want ? ni : &tmp, print);
		if (ret)
			goto out;
	}
	if (cfg.nsid && ni->nsid != cfg.nsid) {
		err("namespace %u is not active", cfg.nsid);
		ret = -ENOENT;
	}
out:
	free(list);
	return ret;
}

/* --- data pattern ------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	/* splitmix64 */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Every block names itself (LBA, seed) and carries a stream derived from
 * both, so misplaced, stale or mixed-up data cannot verify. */
static void pattern(uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t bs, uint64_t seed)
{
	for (uint32_t b = 0; b < nblocks; b++) {
		uint64_t *w = (uint64_t *)(buf + (size_t)b * bs);
		uint64_t x = mix((lba + b) ^ mix(seed));

		w[0] = lba + b;
		w[1] = seed;
		for (uint32_t i = 2; i < bs / 8; i++) {
			x = mix(x);
			w[i] = x;
		}
	}
}

/* --- selftest ----------------------------------------------------------- */

struct io {
	uint8_t opc;
	uint64_t lba;
	uint32_t nlb;
	size_t len;
	uint8_t *buf;
	unsigned int flags;
};

struct st {
	struct ns_info ns;
	uint64_t seed;
	uint64_t cursor;           /* next LBA handed out */
	uint64_t span;             /* LBAs usable from 0 */
	unsigned long cmds, mismatches, errors;
	unsigned long inline_writes, r2t_writes, synthesized, sq_full;
	size_t icd_max;
};

static struct st st;

static uint64_t take_lbas(uint32_t nlb)
{
	uint64_t lba;

	if (st.cursor + nlb > st.span)
		st.cursor = 0;
	lba = st.cursor;
	st.cursor += nlb;
	return lba;
}

static int io_prepare(struct io *io, uint8_t opc, uint64_t lba, size_t len, unsigned int flags)
{
	memset(io, 0, sizeof(*io));
	io->opc = opc;
	io->lba = lba;
	io->nlb = (uint32_t)(len / st.ns.bs);
	io->len = len;
	io->flags = flags;
	if (posix_memalign((void **)&io->buf, 4096, len))
		return -ENOMEM;
	if (opc == NVME_CMD_WRITE)
		pattern(io->buf, lba, io->nlb, st.ns.bs, st.seed);
	else
		memset(io->buf, 0xa5, len);   /* not what any write leaves behind */
	return 0;
}

static int io_submit(struct tcp_host_q *q, struct io *io)
{
	struct nvme_sqe sqe;
	bool icd = !(io->flags & TCP_HOST_F_NO_INLINE) && io->len <= q->icd_max;
	int ret;

	tcp_host_rw_sqe(&sqe, io->opc, st.ns.nsid, io->lba, io->nlb);
	ret = tcp_host_submit(q, &sqe, io->buf, io->len,
			      io->opc == NVME_CMD_WRITE ? TCP_HOST_DIR_TO_CTRL :
			      TCP_HOST_DIR_FROM_CTRL, io->flags, io, NULL);
	if (ret)
		return ret;
	st.cmds++;
	if (io->opc == NVME_CMD_WRITE) {
		if (icd)
			st.inline_writes++;
		else
			st.r2t_writes++;
	}
	return 0;
}

static void io_verify(struct io *io)
{
	uint8_t *want;

	if (io->opc != NVME_CMD_READ)
		return;
	if (posix_memalign((void **)&want, 4096, io->len)) {
		st.errors++;
		return;
	}
	pattern(want, io->lba, io->nlb, st.ns.bs, st.seed);
	if (memcmp(want, io->buf, io->len)) {
		size_t i = 0;

		while (want[i] == io->buf[i])
			i++;
		err("MISMATCH: read of %u blocks at LBA %" PRIu64 ": first difference at byte %zu (block %zu): got %#04x, want %#04x",
		    io->nlb, io->lba, i, i / st.ns.bs, io->buf[i], want[i]);
		st.mismatches++;
	}
	free(want);
}

static int io_complete(struct tcp_host_q *q, const struct tcp_host_cpl *c)
{
	struct io *io = c->ctx;

	if (c->synthesized)
		st.synthesized++;
	if (c->status) {
		err("q%u: %s of %u blocks at LBA %" PRIu64 " failed: %s", q->qid,
		    io->opc == NVME_CMD_WRITE ? "write" : "read", io->nlb, io->lba,
		    tcp_host_status_str(c->status));
		st.errors++;
		return -EIO;
	}
	io_verify(io);
	return 0;
}

static void io_free(struct io *io)
{
	free(io->buf);
	io->buf = NULL;
}

/* one command, waited for */
static int io_sync(struct tcp_host_q *q, uint8_t opc, uint64_t lba, size_t len,
		   unsigned int flags)
{
	struct tcp_host_cpl c;
	struct io io;
	int ret;

	ret = io_prepare(&io, opc, lba, len, flags);
	if (ret)
		return ret;
	ret = io_submit(q, &io);
	if (!ret)
		ret = tcp_host_reap(q, &c);
	if (ret) {
		qerr(q, opc == NVME_CMD_WRITE ? "write" : "read", ret);
		st.errors++;
	} else {
		ret = io_complete(q, &c);
	}
	io_free(&io);
	return ret;
}

/* write then read back, one at a time */
static int phase_sequential(const size_t *sizes, unsigned int nsizes)
{
	unsigned int i, k = 0;
	int ret;

	for (i = 0; i < nsizes; i++) {
		/*
		 * With --r2t-small, writes that fit in-capsule go both ways:
		 * in-capsule and via R2T. A host may always choose R2T, but
		 * Linux nvmet-tcp (6.1) never answers a write of at most
		 * inline_data_size bytes with an R2T: it waits for in-capsule
		 * data that does not come (nvmet_tcp_queue_response()).
		 */
		for (int pass = 0; pass < (cfg.r2t_small ? 2 : 1); pass++) {
			unsigned int flags = pass ? TCP_HOST_F_NO_INLINE : 0;
			struct tcp_host_q *q = &ctrl.io[k++ % ctrl.nr_io];
			uint32_t nlb = (uint32_t)(sizes[i] / st.ns.bs);
			uint64_t lba;

			if (pass && sizes[i] > q->icd_max)
				break;
			lba = take_lbas(nlb);
			ret = io_sync(q, NVME_CMD_WRITE, lba, sizes[i], flags);
			if (ret)
				return ret;
			/* read back on another queue: the data is in the
			 * namespace, not in a per-connection buffer */
			q = &ctrl.io[k % ctrl.nr_io];
			ret = io_sync(q, NVME_CMD_READ, lba, sizes[i], 0);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* N commands in flight per queue on all queues, reaped in whatever order
 * they complete */
static int phase_inflight(const size_t *sizes, unsigned int nsizes, unsigned int per_q)
{
	unsigned int nq = ctrl.nr_io, total = nq * per_q, i;
	struct io *ios = calloc(total, sizeof(*ios));
	struct tcp_host_cpl c;
	int ret = 0;

	if (!ios)
		return -ENOMEM;
	for (int op = 0; op < 2 && !ret; op++) {
		uint8_t opc = op ? NVME_CMD_READ : NVME_CMD_WRITE;
		unsigned int sent[MAX_IOQ] = { 0 }, done[MAX_IOQ] = { 0 };

		for (i = 0; i < total && !ret; i++) {
			unsigned int qi = i % nq;
			struct tcp_host_q *q = &ctrl.io[qi];
			size_t len = sizes[(i * 7 + op) % nsizes];
			uint64_t lba;

			if (op == 0) {
				lba = take_lbas((uint32_t)(len / st.ns.bs));
			} else {
				lba = ios[i].lba;
				len = ios[i].len;
				io_free(&ios[i]);
			}
			ret = io_prepare(&ios[i], opc, lba, len, 0);
			if (ret)
				break;
			/* a full SQ: make room by reaping one */
			while ((ret = io_submit(q, &ios[i])) == -EBUSY) {
				st.sq_full++;
				ret = tcp_host_reap(q, &c);
				if (ret)
					break;
				done[qi]++;
				ret = io_complete(q, &c);
				if (ret)
					break;
			}
			if (ret) {
				qerr(q, "submit", ret);
				break;
			}
			sent[qi]++;
		}
		for (unsigned int qi = 0; qi < nq && !ret; qi++) {
			while (done[qi] < sent[qi]) {
				ret = tcp_host_reap(&ctrl.io[qi], &c);
				if (ret) {
					qerr(&ctrl.io[qi], "reap", ret);
					break;
				}
				done[qi]++;
				ret = io_complete(&ctrl.io[qi], &c);
				if (ret)
					break;
			}
		}
	}
	for (i = 0; i < total; i++)
		io_free(&ios[i]);
	free(ios);
	return ret;
}

/* Commands that must fail must fail cleanly, and the queue must go on. */
static int phase_errors(void)
{
	struct tcp_host_q *q = &ctrl.io[0];
	struct nvme_sqe sqe;
	uint8_t *buf;
	uint16_t status;
	int ret;

	if (posix_memalign((void **)&buf, 4096, st.ns.bs))
		return -ENOMEM;
	memset(buf, 0, st.ns.bs);
	/* a read past the end of the namespace */
	tcp_host_rw_sqe(&sqe, NVME_CMD_READ, st.ns.nsid, st.ns.nsze, 1);
	st.cmds++;
	ret = tcp_host_exec(q, &sqe, buf, st.ns.bs, TCP_HOST_DIR_FROM_CTRL, 0, NULL, &status);
	if (ret) {
		qerr(q, "read beyond the end", ret);
		goto out;
	}
	printf("  read beyond the end of ns %u: %s\n", st.ns.nsid, tcp_host_status_str(status));
	if (!status) {
		err("a read at LBA %" PRIu64 " (NSZE) succeeded", st.ns.nsze);
		st.errors++;
	}
	/* a command on a namespace that does not exist */
	tcp_host_rw_sqe(&sqe, NVME_CMD_READ, 0xfffffff0u, 0, 1);
	st.cmds++;
	ret = tcp_host_exec(q, &sqe, buf, st.ns.bs, TCP_HOST_DIR_FROM_CTRL, 0, NULL, &status);
	if (ret) {
		qerr(q, "read of an invalid namespace", ret);
		goto out;
	}
	printf("  read of nsid 0xfffffff0: %s\n", tcp_host_status_str(status));
	if (NVME_STATUS_SCT(status) != NVME_SCT_GENERIC ||
	    NVME_STATUS_SC(status) != NVME_SC_INVALID_NS) {
		err("read of nsid 0xfffffff0: %s, expected invalid namespace",
		    tcp_host_status_str(status));
		st.errors++;
	}
	/* flush: no data either way */
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = NVME_CMD_FLUSH;
	sqe.nsid = st.ns.nsid;
	st.cmds++;
	ret = tcp_host_exec(q, &sqe, NULL, 0, TCP_HOST_DIR_NONE, 0, NULL, NULL);
	if (ret)
		qerr(q, "flush", ret);
out:
	free(buf);
	return ret;
}

/* Write Zeroes where the controller supports it, read back zeros */
static int phase_write_zeroes(void)
{
	struct tcp_host_q *q = &ctrl.io[ctrl.nr_io - 1];
	struct nvme_sqe sqe;
	struct io io;
	uint32_t nlb = 16;
	uint64_t lba;
	int ret;

	if (!(ctrl.id.oncs & NVME_ONCS_WRITE_ZEROES))
		return 0;
	lba = take_lbas(nlb);
	ret = io_sync(q, NVME_CMD_WRITE, lba, (size_t)nlb * st.ns.bs, 0);
	if (ret)
		return ret;
	tcp_host_rw_sqe(&sqe, NVME_CMD_WRITE_ZEROES, st.ns.nsid, lba, nlb);
	st.cmds++;
	ret = tcp_host_exec(q, &sqe, NULL, 0, TCP_HOST_DIR_NONE, 0, NULL, NULL);
	if (ret) {
		qerr(q, "write zeroes", ret);
		st.errors++;
		return ret;
	}
	ret = io_prepare(&io, NVME_CMD_READ, lba, (size_t)nlb * st.ns.bs, 0);
	if (ret)
		return ret;
	st.cmds++;
	ret = tcp_host_exec(q, (tcp_host_rw_sqe(&sqe, NVME_CMD_READ, st.ns.nsid, lba, nlb), &sqe),
			    io.buf, io.len, TCP_HOST_DIR_FROM_CTRL, 0, NULL, NULL);
	if (ret) {
		qerr(q, "read after write zeroes", ret);
		st.errors++;
	} else {
		for (size_t i = 0; i < io.len; i++) {
			if (io.buf[i]) {
				err("MISMATCH: byte %zu after Write Zeroes at LBA %" PRIu64 " is %#x",
				    i, lba, io.buf[i]);
				st.mismatches++;
				break;
			}
		}
	}
	io_free(&io);
	return ret;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static unsigned int make_sizes(size_t *out, size_t max)
{
	size_t bs = st.ns.bs, icd = st.icd_max;
	size_t cand[] = {
		512, 1024, 4096, 4096 + 512, 8192, 12288, 16384, 16384 + 512, 32768, 65536,
		65536 + 4096, 131072 - 512, 131072, 262144, 524288 + 1536, 1u << 20,
		icd > bs ? icd - bs : 0, icd, icd + bs,
	};
	unsigned int n = 0;

	for (unsigned int i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		size_t s = (cand[i] + bs - 1) / bs * bs;

		if (!s || s > max)
			continue;
		out[n++] = s;
	}
	qsort(out, n, sizeof(*out), cmp_size);
	{
		unsigned int j = 0;

		for (unsigned int i = 0; i < n; i++)
			if (!j || out[j - 1] != out[i])
				out[j++] = out[i];
		n = j;
	}
	if (!n)
		out[n++] = bs;
	return n;
}

static int cmd_selftest(void)
{
	size_t sizes[32], max;
	unsigned int nsizes, i;
	uint32_t result;
	uint64_t total_c2h = 0, total_r2t = 0, total_h2c = 0, total_rsp = 0;
	uint8_t *smart = NULL;
	int ret;

	if (!cfg.subnqn) {
		err("-n SUBNQN is required");
		return 2;
	}
	st.seed = cfg.seed_set ? cfg.seed : mix((uint64_t)time(NULL) ^ (uint64_t)getpid() << 20);
	ret = admin_up(cfg.subnqn, cfg.kato_set ? cfg.kato_ms : 10000, false);
	if (ret)
		goto out;
	print_ctrl();
	if (strncmp(ctrl.id.subnqn, cfg.subnqn, sizeof(ctrl.id.subnqn))) {
		/* PROTOCOL-NOTES 4b.13: Identify SUBNQN is the exported NQN */
		err("Identify Controller SUBNQN '%.256s' is not the NQN connected to", ctrl.id.subnqn);
		ret = -EPROTO;
		goto out;
	}
	/* Linux nvme_set_queue_count(): NSQR/NCQR 0's based; the grant may be
	 * smaller, never zero */
	ret = tcp_host_set_features(&ctrl.admin, NVME_FEAT_NUM_QUEUES, 0,
				    (cfg.nr_ioq - 1) | (cfg.nr_ioq - 1) << 16, 0, NULL, 0, &result,
				    NULL);
	if (ret) {
		qerr(&ctrl.admin, "Set Features Number of Queues", ret);
		goto out;
	}
	printf("  number of queues: asked %u, granted %u SQs / %u CQs\n", cfg.nr_ioq,
	       (result & 0xffff) + 1, (result >> 16) + 1);
	if ((result & 0xffff) + 1 < cfg.nr_ioq || (result >> 16) + 1 < cfg.nr_ioq) {
		err("controller granted fewer I/O queues than asked for");
		ret = -ENOSPC;
		goto out;
	}
	ret = tcp_host_get_features(&ctrl.admin, NVME_FEAT_KATO, 0, 0, 0, NULL, 0, &result, NULL);
	if (ret) {
		qerr(&ctrl.admin, "Get Features KATO", ret);
		goto out;
	}
	printf("  keep alive timeout: %u ms\n", result);
	ret = tcp_host_keep_alive(&ctrl.admin, NULL);
	if (ret) {
		qerr(&ctrl.admin, "Keep Alive", ret);
		goto out;
	}
	if (posix_memalign((void **)&smart, 4096, 512)) {
		ret = -ENOMEM;
		goto out;
	}
	/* SMART / health information, 512 bytes, global */
	ret = tcp_host_get_log(&ctrl.admin, 0x02, 0, 0xffffffffu, 0, smart, 512, false, NULL);
	if (ret) {
		qerr(&ctrl.admin, "Get Log Page SMART", ret);
		goto out;
	}
	printf("  SMART log: critical warning %#x, data units written %" PRIu64 "\n", smart[0],
	       *(uint64_t *)(smart + 48));
	ret = ns_pick(&st.ns, true);
	if (ret)
		goto out;
	if (st.ns.ms) {
		err("ns %u has %u bytes of metadata per block: not supported here", st.ns.nsid,
		    st.ns.ms);
		ret = -EOPNOTSUPP;
		goto out;
	}
	ret = io_up(cfg.nr_ioq, cfg.qd);
	if (ret)
		goto out;
	st.icd_max = ctrl.io[0].icd_max;
	max = cfg.max_size;
	if (ctrl.max_xfer && max > ctrl.max_xfer)
		max = ctrl.max_xfer;
	if (max > st.ns.nsze * st.ns.bs / 4)
		max = st.ns.nsze * st.ns.bs / 4;
	st.span = st.ns.nsze;
	nsizes = make_sizes(sizes, max);
	printf("selftest: ns %u, %u I/O queues of %u entries, in-capsule up to %zu bytes, MAXH2CDATA %u, seed %#" PRIx64 "\n",
	       st.ns.nsid, ctrl.nr_io, ctrl.io[0].qsize, st.icd_max, ctrl.io[0].maxh2cdata,
	       st.seed);
	printf("selftest: sizes");
	for (i = 0; i < nsizes; i++)
		printf(" %zu", sizes[i]);
	printf("\n");

	for (unsigned int r = 0; r < cfg.rounds && !ret; r++) {
		ret = phase_sequential(sizes, nsizes);
		/* twice what the SQ holds: submissions wait on SQHD progress */
		if (!ret)
			ret = phase_inflight(sizes, nsizes, 2 * cfg.qd);
		if (!ret)
			ret = tcp_host_keep_alive(&ctrl.admin, NULL);
	}
	if (!ret)
		ret = phase_write_zeroes();
	if (!ret)
		ret = phase_errors();
	if (ret)
		goto out;
	for (i = 0; i < ctrl.nr_io; i++) {
		struct tcp_host_q *q = &ctrl.io[i];

		total_c2h += q->nr_c2h;
		total_r2t += q->nr_r2t;
		total_h2c += q->nr_h2c;
		total_rsp += q->nr_rsp;
		if (q->nr_ddgst_err) {
			err("q%u: %" PRIu64 " data digest errors", q->qid, q->nr_ddgst_err);
			st.errors++;
		}
	}
	printf("selftest: PDUs: %" PRIu64 " CapsuleResp, %" PRIu64 " C2HData, %" PRIu64 " R2T, %" PRIu64 " H2CData; %lu reads completed by C2HData SUCCESS; writes: %lu in-capsule, %lu via R2T; SQ full %lu times\n",
	       total_rsp, total_c2h, total_r2t, total_h2c, st.synthesized, st.inline_writes,
	       st.r2t_writes, st.sq_full);
out:
	free(smart);
	if (ctrl_down() && !ret)
		ret = -EIO;
	printf("selftest: %lu commands, %lu mismatches\n", st.cmds, st.mismatches);
	return ret || st.mismatches || st.errors ? 1 : 0;
}

/* --- identify ----------------------------------------------------------- */

static int cmd_identify(void)
{
	struct ns_info ni = { 0 };
	int ret;

	if (!cfg.subnqn) {
		err("-n SUBNQN is required");
		return 2;
	}
	ret = admin_up(cfg.subnqn, cfg.kato_set ? cfg.kato_ms : 10000, false);
	if (!ret) {
		print_ctrl();
		ret = ns_pick(&ni, true);
	}
	if (ctrl_down() && !ret)
		ret = -EIO;
	return ret ? 1 : 0;
}

/* --- write / read ------------------------------------------------------- */

static int write_all_file(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int cmd_rw(bool write)
{
	struct tcp_host_q *q;
	struct nvme_sqe sqe;
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd = -1, ret;

	if (!cfg.subnqn || !cfg.file || !cfg.lba_set || (!write && !cfg.blocks)) {
		err("needs -n SUBNQN --lba N --file PATH%s", write ? "" : " --blocks N");
		return 2;
	}
	ret = admin_up(cfg.subnqn, cfg.kato_set ? cfg.kato_ms : 10000, false);
	if (!ret)
		ret = ns_pick(&st.ns, false);
	if (!ret)
		ret = io_up(1, cfg.qd);
	if (ret)
		goto out;
	q = &ctrl.io[0];
	if (write) {
		struct stat sb;

		fd = open(cfg.file, O_RDONLY);
		if (fd < 0 || fstat(fd, &sb)) {
			err("%s: %s", cfg.file, strerror(errno));
			ret = -errno;
			goto out;
		}
		len = (size_t)sb.st_size;
		if (!len || len % st.ns.bs) {
			err("%s: %zu bytes is not a multiple of the %u-byte block", cfg.file, len,
			    st.ns.bs);
			ret = -EINVAL;
			goto out;
		}
	} else {
		len = (size_t)cfg.blocks * st.ns.bs;
		fd = open(cfg.file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			err("%s: %s", cfg.file, strerror(errno));
			ret = -errno;
			goto out;
		}
	}
	if (posix_memalign((void **)&buf, 4096, len)) {
		ret = -ENOMEM;
		goto out;
	}
	if (write && read(fd, buf, len) != (ssize_t)len) {
		err("%s: short read", cfg.file);
		ret = -EIO;
		goto out;
	}
	/* in pieces no larger than MDTS allows */
	for (size_t off = 0; off < len && !ret;) {
		size_t chunk = len - off;

		if (ctrl.max_xfer && chunk > ctrl.max_xfer)
			chunk = ctrl.max_xfer;
		if (chunk > (65536u * st.ns.bs))
			chunk = 65536u * st.ns.bs;
		tcp_host_rw_sqe(&sqe, write ? NVME_CMD_WRITE : NVME_CMD_READ, st.ns.nsid,
				cfg.lba + off / st.ns.bs, (uint32_t)(chunk / st.ns.bs));
		ret = tcp_host_exec(q, &sqe, buf + off, chunk,
				    write ? TCP_HOST_DIR_TO_CTRL : TCP_HOST_DIR_FROM_CTRL, 0, NULL,
				    NULL);
		if (ret)
			qerr(q, write ? "write" : "read", ret);
		off += chunk;
	}
	if (!ret && !write && write_all_file(fd, buf, len)) {
		err("%s: %s", cfg.file, strerror(errno));
		ret = -EIO;
	}
	if (!ret)
		printf("%s: %zu bytes at LBA %" PRIu64 " of ns %u\n", write ? "write" : "read", len,
		       cfg.lba, st.ns.nsid);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (ctrl_down() && !ret)
		ret = -EIO;
	return ret ? 1 : 0;
}

/* --- keep alive expiry -------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A host that stops talking: after KATO without a command the controller
 * must treat the association as lost (Base 2.0 3.9.5: Keep Alive Timer
 * expiry -> controller fatal status, queues torn down). Targets round KATO
 * up (kernel: whole seconds) and may wait for a second period (traffic
 * based keep alive), so the upper bound is generous; the lower bound is
 * not: ending it before KATO elapsed is a bug.
 */
static int cmd_kato_expiry(void)
{
	uint64_t t0, dt, limit;
	int ret;

	if (!cfg.subnqn || !cfg.kato_set || !cfg.kato_ms) {
		err("needs -n SUBNQN and --kato MS (non-zero)");
		return 2;
	}
	ret = admin_up(cfg.subnqn, cfg.kato_ms, false);
	if (!ret)
		ret = io_up(1, 4);
	if (ret)
		goto out;
	t0 = mono_ms();
	limit = 4ull * cfg.kato_ms + 10000;
	ret = tcp_host_wait_closed(&ctrl.admin, (unsigned int)limit);
	dt = mono_ms() - t0;
	if (ret) {
		err("the controller kept the admin queue open %" PRIu64 " ms without a command (KATO %u ms)",
		    dt, cfg.kato_ms);
		goto out;
	}
	if (dt < cfg.kato_ms) {
		err("the controller ended the association after %" PRIu64 " ms, before KATO (%u ms) expired",
		    dt, cfg.kato_ms);
		ret = -ETIME;
		goto out;
	}
	ret = tcp_host_wait_closed(&ctrl.io[0], 5000);
	if (ret) {
		err("admin queue closed after %" PRIu64 " ms, but the I/O queue stayed open", dt);
		goto out;
	}
	printf("kato-expiry: association ended %" PRIu64 " ms after the last command (KATO %u ms), admin and I/O queue closed\n",
	       dt, cfg.kato_ms);
out:
	ctrl.enabled = false;      /* nothing left to shut down */
	ctrl_down();
	return ret ? 1 : 0;
}

/* --- malformed PDUs ----------------------------------------------------- */

static void fill_icreq(struct nvme_tcp_icreq *r, bool hdgst, bool ddgst)
{
	memset(r, 0, sizeof(*r));
	r->hdr.type = NVME_TCP_ICREQ;
	r->hdr.hlen = sizeof(*r);
	r->hdr.plen = sizeof(*r);
	r->digest = (hdgst ? NVME_TCP_DGST_HDR_ENABLE : 0) | (ddgst ? NVME_TCP_DGST_DATA_ENABLE : 0);
}

/* a Property Get CAP capsule, no data; digest appended when hdgst */
static size_t fill_prop_get(uint8_t *out, bool hdgst)
{
	struct nvme_tcp_cmd_pdu *c = (void *)out;
	struct nvmf_property_cmd *p = (void *)&c->cmd;
	uint32_t dg;

	memset(c, 0, sizeof(*c));
	c->hdr.type = NVME_TCP_CMD;
	c->hdr.flags = hdgst ? NVME_TCP_F_HDGST : 0;
	c->hdr.hlen = sizeof(*c);
	c->hdr.plen = sizeof(*c) + (hdgst ? 4 : 0);
	p->opc = NVME_FABRICS_OPC;
	p->fctype = NVMF_FCTYPE_PROPERTY_GET;
	p->attrib = 1;
	p->ofst = NVME_REG_CAP;
	c->cmd.flags = NVME_SQE_PSDT_SGL;
	c->cmd.dptr.sgl.type = 0x5a;
	if (!hdgst)
		return sizeof(*c);
	dg = tcp_host_digest(c, sizeof(*c));
	memcpy(out + sizeof(*c), &dg, 4);
	return sizeof(*c) + 4;
}

static int cmd_malformed(void)
{
	struct tcp_host_q q;
	struct tcp_host_opts o = cfg.o;
	uint8_t pdu[2048], rx[256];
	size_t len = 0, plen;
	const char *c = cfg.mcase ? cfg.mcase : "";
	bool need_icreq = true, need_connect = false;
	bool got_term = false;
	int ret;

	if (!strcmp(c, "pfv") || !strcmp(c, "icreq-plen") || !strcmp(c, "icreq-hlen") ||
	    !strcmp(c, "no-icreq")) {
		need_icreq = false;
	} else if (!strcmp(c, "hdgst")) {
		o.hdgst = true;
	} else if (!strcmp(c, "ddgst")) {
		o.ddgst = true;
	} else if (!strcmp(c, "h2cdata-ttag")) {
		need_connect = true;
	} else if (strcmp(c, "second-icreq") && strcmp(c, "hlen")) {
		err("unknown --case '%s' (pfv, icreq-plen, icreq-hlen, no-icreq, second-icreq, hdgst, ddgst, hlen, h2cdata-ttag)",
		    c);
		return 2;
	}
	if (need_connect && !cfg.subnqn) {
		err("--case %s needs -n SUBNQN", c);
		return 2;
	}
	ret = need_icreq ? tcp_host_connect(&q, cfg.addr, cfg.port, &o) :
			   tcp_host_connect_raw(&q, cfg.addr, cfg.port, &o);
	if (ret) {
		qerr(&q, "connect", ret);
		return 1;
	}
	if (need_connect) {
		struct tcp_host_connect_args a = { .qid = 0, .sqsize = 31, .cntlid = 0xffff,
						   .subnqn = cfg.subnqn, .hostnqn = cfg.hostnqn };

		memcpy(a.hostid, cfg.hostid, 16);
		ret = tcp_host_fabrics_connect(&q, &a, NULL, NULL);
		if (ret) {
			qerr(&q, "Connect", ret);
			tcp_host_close(&q);
			return 1;
		}
	}

	memset(pdu, 0, sizeof(pdu));
	if (!strcmp(c, "pfv")) {
		/* TCP 1.0 3.6.2.2: only PFV 0 exists */
		fill_icreq((void *)pdu, false, false);
		((struct nvme_tcp_icreq *)pdu)->pfv = 1;
		len = sizeof(struct nvme_tcp_icreq);
	} else if (!strcmp(c, "icreq-plen")) {
		/* ICReq PLEN must be exactly 128 */
		fill_icreq((void *)pdu, false, false);
		((struct nvme_tcp_icreq *)pdu)->hdr.plen = 132;
		len = 132;
	} else if (!strcmp(c, "icreq-hlen")) {
		fill_icreq((void *)pdu, false, false);
		((struct nvme_tcp_icreq *)pdu)->hdr.hlen = 120;
		len = sizeof(struct nvme_tcp_icreq);
	} else if (!strcmp(c, "no-icreq")) {
		/* any PDU before ICReq is a sequence error */
		len = fill_prop_get(pdu, false);
	} else if (!strcmp(c, "second-icreq")) {
		fill_icreq((void *)pdu, false, false);
		len = sizeof(struct nvme_tcp_icreq);
	} else if (!strcmp(c, "hdgst")) {
		uint32_t dg;

		len = fill_prop_get(pdu, true);
		memcpy(&dg, pdu + len - 4, 4);
		dg ^= 0x5a5a5a5a;
		memcpy(pdu + len - 4, &dg, 4);
	} else if (!strcmp(c, "ddgst")) {
		/* a Connect with a wrong data digest on its in-capsule data */
		struct nvme_tcp_cmd_pdu *cp = (void *)pdu;
		struct nvmf_connect_cmd *cc = (void *)&cp->cmd;
		struct nvmf_connect_data *d = (void *)(pdu + sizeof(*cp));
		uint32_t dg;

		cp->hdr.type = NVME_TCP_CMD;
		cp->hdr.flags = NVME_TCP_F_DDGST;
		cp->hdr.hlen = sizeof(*cp);
		cp->hdr.pdo = sizeof(*cp);
		cp->hdr.plen = sizeof(*cp) + sizeof(*d) + 4;
		cc->opc = NVME_FABRICS_OPC;
		cc->fctype = NVMF_FCTYPE_CONNECT;
		cc->sgl1.length = sizeof(*d);
		cc->sgl1.type = 0x01;
		cc->sqsize = 31;
		cp->cmd.flags = NVME_SQE_PSDT_SGL;
		memcpy(d->hostid, cfg.hostid, 16);
		d->cntlid = 0xffff;
		snprintf(d->subnqn, sizeof(d->subnqn), "%s", cfg.subnqn ? cfg.subnqn :
			 NVMF_DISCOVERY_NQN);
		snprintf(d->hostnqn, sizeof(d->hostnqn), "%s", cfg.hostnqn);
		dg = tcp_host_digest(d, sizeof(*d)) ^ 0xa5a5a5a5;
		memcpy(pdu + sizeof(*cp) + sizeof(*d), &dg, 4);
		len = cp->hdr.plen;
	} else if (!strcmp(c, "hlen")) {
		len = fill_prop_get(pdu, false);
		((struct nvme_tcp_hdr *)pdu)->hlen = 80;
		((struct nvme_tcp_hdr *)pdu)->plen = 80;
		len = 80;
	} else if (!strcmp(c, "h2cdata-ttag")) {
		/* data nobody asked for, with a transfer tag never issued */
		struct nvme_tcp_data_pdu *d = (void *)pdu;

		d->hdr.type = NVME_TCP_H2C_DATA;
		d->hdr.flags = NVME_TCP_F_DATA_LAST;
		d->hdr.hlen = sizeof(*d);
		d->hdr.pdo = sizeof(*d);
		d->hdr.plen = sizeof(*d) + 512;
		d->cccid = 0x1234;
		d->ttag = 0xfff0;
		d->datal = 512;
		len = d->hdr.plen;
	}
	ret = tcp_host_send_raw(&q, pdu, len);
	if (ret) {
		/* the controller may already have hung up: that is an answer */
		printf("malformed %s: send failed (%s): connection closed\n", c, tcp_host_error(&q));
	} else {
		q.dead = 0;
		ret = tcp_host_recv_raw(&q, rx, sizeof(rx), &plen);
		if (!ret) {
			const struct nvme_tcp_hdr *h = (void *)rx;

			if (h->type != NVME_TCP_C2H_TERM) {
				err("--case %s: controller answered with %s (plen %zu) instead of a C2HTermReq or closing",
				    c, tcp_host_pdu_name(h->type), plen);
				tcp_host_close(&q);
				return 1;
			}
			got_term = true;
			printf("malformed %s: C2HTermReq FES %#x (%s), FEI %#x, plen %zu\n", c,
			       q.term_fes, tcp_host_fes_name(q.term_fes), q.term_fei, plen);
			ret = tcp_host_wait_closed(&q, q.timeout_ms);
			if (ret) {
				err("--case %s: %s", c, tcp_host_error(&q));
				tcp_host_close(&q);
				return 1;
			}
			printf("malformed %s: connection closed after the C2HTermReq\n", c);
		} else if (ret == -ECONNRESET) {
			printf("malformed %s: connection closed without C2HTermReq\n", c);
		} else {
			err("--case %s: %s", c, tcp_host_error(&q));
			tcp_host_close(&q);
			return 1;
		}
	}
	tcp_host_close(&q);
	if (cfg.expect_fes >= 0 && (!got_term || q.term_fes != cfg.expect_fes)) {
		err("--case %s: expected a C2HTermReq with FES %#x", c, cfg.expect_fes);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	if (!strcmp(cfg.cmd, "discover"))
		return cmd_discover();
	if (!strcmp(cfg.cmd, "identify"))
		return cmd_identify();
	if (!strcmp(cfg.cmd, "selftest"))
		return cmd_selftest();
	if (!strcmp(cfg.cmd, "write"))
		return cmd_rw(true);
	if (!strcmp(cfg.cmd, "read"))
		return cmd_rw(false);
	if (!strcmp(cfg.cmd, "malformed"))
		return cmd_malformed();
	if (!strcmp(cfg.cmd, "kato-expiry"))
		return cmd_kato_expiry();
	if (!strcmp(cfg.cmd, "hostcheck")) {
		unsigned int total, failed = tcp_host_check_run(cfg.mcase, true, &total);

		printf("hostcheck: %u cases, %u failed\n", total, failed);
		return failed ? 1 : 0;
	}
	fprintf(stderr, "nvmf-test-host: unknown command '%s'\n", cfg.cmd);
	usage(stderr);
	return 2;
}
