/* SPDX-License-Identifier: MIT */
/*
 * nvmf-bridgectl: manage a running nvmf-bridged through its control socket
 * (JSON-RPC 2.0, docs/rpc.md), and give PCIe NVMe controllers to vfio-pci
 * and back (setup, release; no daemon needed). See nvmf-bridgectl(8).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/cli.h"
#include "config/config.h"
#include "ctl/ctl.h"

struct opts {
	const char *socket;
	int timeout_s;
	bool json;
};

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg("nvmf-bridgectl", fmt, ap);
	va_end(ap);
}

void ctl_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg("nvmf-bridgectl: warning", fmt, ap);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nvmf-bridgectl [--socket PATH] [--json] [--timeout SECS] COMMAND [ARGS]\n"
		"\n"
		"Commands talking to nvmf-bridged (its control socket):\n"
		"  status                          version, pid, uptime, counts of ports, subsystems, controllers\n"
		"  list                            ports, subsystems, namespaces, allowed hosts, controllers, queues\n"
		"  stats                           per namespace and per queue: commands, bytes, errors, latency;\n"
		"                                  per reactor: busy and idle time; per QoS limit: delayed, waiting\n"
		"  add-namespace SUBNQN --device pcie=BDF[,nsid=N] | path=FILE | mem=SIZE | null=SIZE\n"
		"                [--nsid N] [--block-size 512|4096] [--uuid UUID]\n"
		"                                  export a namespace (nsid: the lowest free one by default)\n"
		"  remove-namespace SUBNQN NSID    stop exporting a namespace\n"
		"  add-host SUBNQN HOSTNQN         allow a host to connect to a subsystem\n"
		"  remove-host SUBNQN HOSTNQN      disallow it (its controllers there are disconnected)\n"
		"  add-port --portid N --traddr ADDR [--trsvcid PORT] [--trtype tcp|rdma] [--adrfam ipv4|ipv6]\n"
		"           [--subsystem NQN]... [--inline-data-size BYTES]\n"
		"                                  listen on a new port (trsvcid 4420, trtype tcp and the\n"
		"                                  address family of ADDR by default)\n"
		"  remove-port PORTID              close a port and its connections\n"
		"  set-ana-state PORTID GRPID STATE\n"
		"                                  set ANA group GRPID's state on a port: optimized,\n"
		"                                  non-optimized, inaccessible, persistent-loss or change\n"
		"  set-qos [--host NQN] [--subsystem NQN --nsid N] [--read-iops N] [--write-iops N]\n"
		"          [--read-bw SIZE] [--write-bw SIZE]\n"
		"                                  set QoS limits live (per second; 0: unlimited; others kept):\n"
		"                                  a host's total, a namespace's total, or both: the host on it\n"
		"  reset-controller BDF            reset a PCIe controller the daemon drives (commands in flight\n"
		"                                  are retried by the hosts) and wait until it is live again\n"
		"  reload                          re-read the configuration file and apply the difference\n"
		"  save-config [PATH]              write the running configuration (default: the daemon's file)\n"
		"\n"
		"Commands on PCIe devices (as root, no daemon needed):\n"
		"  setup BDF... [--force]          give NVMe controllers to vfio-pci (checks IOMMU, IOMMU group,\n"
		"                                  mounted filesystems, swap, RLIMIT_MEMLOCK, hugepages)\n"
		"  setup --config FILE [--force]   the same for every PCIe controller FILE names\n"
		"  release BDF... [--force]        give controllers back to the kernel nvme driver\n"
		"\n"
		"Options:\n"
		"  -S, --socket PATH    control socket (default " CTL_DEFAULT_SOCKET ")\n"
		"  -j, --json           print the daemon's result as JSON instead of text\n"
		"  -t, --timeout SECS   give up on the daemon after SECS seconds (default %d)\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 success, 1 refused or failed, 2 usage error, 3 the daemon cannot be reached.\n",
		CTL_DEFAULT_TIMEOUT_S);
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* --- one daemon call, printed --------------------------------------------- */

typedef void (*printer_fn)(struct json_object *res, void *arg);

static int call(const struct opts *o, const char *method, struct json_object *params, printer_fn print, void *arg)
{
	struct json_object *res = NULL;
	int rc = ctl_rpc_call(o->socket, o->timeout_s, method, params, &res);

	if (rc == CTL_OK) {
		if (o->json)
			ctl_print_json(res);
		else if (print)
			print(res, arg);
		json_object_put(res);
	}
	return rc;
}

static void print_status(struct json_object *res, void *arg)
{
	(void)arg;
	ctl_print_status(res);
}

static void print_list(struct json_object *res, void *arg)
{
	(void)arg;
	ctl_print_list(res);
}

static void print_stats(struct json_object *res, void *arg)
{
	(void)arg;
	ctl_print_stats(res);
}

/* a fixed line, arg */
static void print_line(struct json_object *res, void *arg)
{
	printf("%s\n", (const char *)arg);
	(void)res;
}

/* --- argument parsing shared by the daemon commands ------------------------ */

#define COMMON_LONG_OPTS                                                        \
	{ "socket", required_argument, NULL, 'S' }, { "json", no_argument, NULL, 'j' }, \
	{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' }
#define COMMON_SHORT_OPTS "S:jt:h"

/* handles a common option; 1 handled, 0 not common, -1 bad value */
static int common_opt(struct opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'h':       /* --help, anywhere: the usage, and done */
		usage(stdout);
		exit(0);
	case 'S':
		o->socket = arg;
		return 1;
	case 'j':
		o->json = true;
		return 1;
	case 't':
		if (!parse_u64(arg, 3600, &v) || !v) {
			ctl_err("--timeout %s: expected a number of seconds, 1..3600", arg);
			return -1;
		}
		o->timeout_s = (int)v;
		return 1;
	}
	return 0;
}

/* parse argv (argv[0] is the command) for commands with only positional
 * arguments; returns the index of the first positional or -1 */
static int parse_plain(struct opts *o, int argc, char **argv, const char *cmd, int min, int max)
{
	static const struct option lo[] = { COMMON_LONG_OPTS, { NULL, 0, NULL, 0 } };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTS, lo, NULL)) != -1) {
		int r = common_opt(o, c, optarg);

		if (r < 0)
			return -1;
		if (r == 0) {
			ctl_err("%s: unknown option (see nvmf-bridgectl --help)", cmd);
			return -1;
		}
	}
	if (argc - optind < min || argc - optind > max) {
		if (min == max && min == 0)
			ctl_err("%s takes no arguments", cmd);
		else
			ctl_err("%s: expected %d%s argument%s (see nvmf-bridgectl --help)", cmd, min,
				max > min ? " or more" : "", max == 1 && min == 1 ? "" : "s");
		return -1;
	}
	return optind;
}

static bool nsid_arg(const char *s, uint64_t *out, const char *what)
{
	if (!parse_u64(s, 0xfffffffeu, out) || !*out) {
		ctl_err("%s %s: expected a namespace ID, 1..4294967294", what, s);
		return false;
	}
	return true;
}

/* --- commands ----------------------------------------------------------------- */

static int cmd_simple(struct opts *o, int argc, char **argv, const char *method, printer_fn print)
{
	if (parse_plain(o, argc, argv, method, 0, 0) < 0)
		return CTL_USAGE;
	return call(o, method, NULL, print, NULL);
}

/* "pcie=BDF[,nsid=N]", "path=FILE", "mem=SIZE", "null=SIZE" into a device object */
static struct json_object *parse_device(const char *spec)
{
	struct json_object *dev = json_object_new_object();

	if (!strncmp(spec, "pcie=", 5)) {
		char bdf[16], buf[64];
		const char *rest = spec + 5, *comma = strchr(rest, ',');
		size_t len = comma ? (size_t)(comma - rest) : strlen(rest);

		if (len >= sizeof(buf)) {
			ctl_err("--device %s: not a PCI address", spec);
			goto fail;
		}
		memcpy(buf, rest, len);
		buf[len] = 0;
		if (!ctl_normalise_bdf(buf, bdf)) {
			ctl_err("--device %s: '%s' is not a PCI address (DDDD:BB:DD.F or BB:DD.F, see lspci -D)", spec,
				buf);
			goto fail;
		}
		json_object_object_add(dev, "pcie", json_object_new_string(bdf));
		if (comma) {
			uint64_t n;

			if (strncmp(comma + 1, "nsid=", 5)) {
				ctl_err("--device %s: after the PCI address only ',nsid=N' may follow", spec);
				goto fail;
			}
			if (!nsid_arg(comma + 6, &n, "--device ...,nsid="))
				goto fail;
			json_object_object_add(dev, "nsid", json_object_new_int64((int64_t)n));
		}
	} else if (!strncmp(spec, "path=", 5)) {
		const char *p = spec + 5;
		char cwd[PATH_MAX], *abs = NULL;

		if (!*p) {
			ctl_err("--device path=: the file name is missing");
			goto fail;
		}
		/* the daemon runs elsewhere: send an absolute path */
		if (*p != '/') {
			if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, p) < 0) {
				ctl_err("--device %s: cannot make the path absolute: %s", spec, strerror(errno));
				goto fail;
			}
			p = abs;
		}
		json_object_object_add(dev, "path", json_object_new_string(p));
		free(abs);
	} else if (!strncmp(spec, "mem=", 4)) {
		if (!spec[4]) {
			ctl_err("--device mem=: the size is missing (e.g. mem=1GiB)");
			goto fail;
		}
		json_object_object_add(dev, "mem", json_object_new_string(spec + 4));
	} else if (!strncmp(spec, "null=", 5)) {
		if (!spec[5]) {
			ctl_err("--device null=: the size is missing (e.g. null=1GiB)");
			goto fail;
		}
		json_object_object_add(dev, "null", json_object_new_string(spec + 5));
	} else {
		ctl_err("--device %s: expected pcie=BDF[,nsid=N], path=FILE, mem=SIZE or null=SIZE", spec);
		goto fail;
	}
	return dev;
fail:
	json_object_put(dev);
	return NULL;
}

/* "added namespace 3 to NQN", "added port 2 (tcp 192.0.2.1:4420)": the
 * daemon's answer names the identifier it gave (key) */
struct added {
	const char *what, *key;
	char where[512];
};

static void print_added(struct json_object *res, void *arg)
{
	const struct added *a = arg;
	struct json_object *v;

	if (json_object_object_get_ex(res, a->key, &v))
		printf("added %s %s %s\n", a->what, json_object_get_string(v), a->where);
	else
		printf("added %s %s\n", a->what, a->where);
}

static int cmd_add_namespace(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_LONG_OPTS,
		{ "device", required_argument, NULL, 'd' },
		{ "nsid", required_argument, NULL, 'n' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "uuid", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	const char *device = NULL, *uuid = NULL;
	uint64_t nsid = 0, bs = 0;
	struct json_object *dev, *ns, *params;
	struct added added = { .what = "namespace", .key = "nsid" };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTS "d:n:b:u:", lo, NULL)) != -1) {
		int r = common_opt(o, c, optarg);

		if (r < 0)
			return CTL_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'd':
			device = optarg;
			break;
		case 'n':
			if (!nsid_arg(optarg, &nsid, "--nsid"))
				return CTL_USAGE;
			break;
		case 'b':
			if (!parse_u64(optarg, UINT32_MAX, &bs) || !bs) {
				ctl_err("--block-size %s: expected a number of bytes (512 or 4096)", optarg);
				return CTL_USAGE;
			}
			break;
		case 'u':
			uuid = optarg;
			break;
		default:
			ctl_err("add-namespace: unknown option (see nvmf-bridgectl --help)");
			return CTL_USAGE;
		}
	}
	if (argc - optind != 1) {
		ctl_err("add-namespace: expected SUBNQN and --device SPEC (see nvmf-bridgectl --help)");
		return CTL_USAGE;
	}
	if (!device) {
		ctl_err("add-namespace: --device pcie=BDF[,nsid=N] | path=FILE | mem=SIZE | null=SIZE is required");
		return CTL_USAGE;
	}
	dev = parse_device(device);
	if (!dev)
		return CTL_USAGE;
	if (bs)
		json_object_object_add(dev, "block_size", json_object_new_int64((int64_t)bs));
	if (uuid)
		json_object_object_add(dev, "uuid", json_object_new_string(uuid));
	ns = json_object_new_object();
	if (nsid)
		json_object_object_add(ns, "nsid", json_object_new_int64((int64_t)nsid));
	json_object_object_add(ns, "device", dev);
	params = json_object_new_object();
	json_object_object_add(params, "subsystem", json_object_new_string(argv[optind]));
	json_object_object_add(params, "namespace", ns);
	snprintf(added.where, sizeof(added.where), "to %s", argv[optind]);
	return call(o, "add-namespace", params, print_added, &added);
}

static int cmd_remove_namespace(struct opts *o, int argc, char **argv)
{
	struct json_object *params;
	uint64_t nsid;
	char line[512];
	int i = parse_plain(o, argc, argv, "remove-namespace", 2, 2);

	if (i < 0)
		return CTL_USAGE;
	if (!nsid_arg(argv[i + 1], &nsid, "remove-namespace: NSID"))
		return CTL_USAGE;
	params = json_object_new_object();
	json_object_object_add(params, "subsystem", json_object_new_string(argv[i]));
	json_object_object_add(params, "nsid", json_object_new_int64((int64_t)nsid));
	snprintf(line, sizeof(line), "removed namespace %llu from %s", (unsigned long long)nsid, argv[i]);
	return call(o, "remove-namespace", params, print_line, line);
}

static int cmd_host(struct opts *o, int argc, char **argv, bool add)
{
	const char *method = add ? "add-host" : "remove-host";
	struct json_object *params;
	char line[600];
	int i = parse_plain(o, argc, argv, method, 2, 2);

	if (i < 0)
		return CTL_USAGE;
	params = json_object_new_object();
	json_object_object_add(params, "subsystem", json_object_new_string(argv[i]));
	json_object_object_add(params, "host", json_object_new_string(argv[i + 1]));
	snprintf(line, sizeof(line), add ? "allowed %s on %s" : "disallowed %s on %s", argv[i + 1], argv[i]);
	return call(o, method, params, print_line, line);
}

static int cmd_add_port(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_LONG_OPTS,
		{ "portid", required_argument, NULL, 'p' },
		{ "trtype", required_argument, NULL, 'T' },
		{ "adrfam", required_argument, NULL, 'F' },
		{ "traddr", required_argument, NULL, 'a' },
		{ "trsvcid", required_argument, NULL, 's' },
		{ "subsystem", required_argument, NULL, 'n' },
		{ "inline-data-size", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *trtype = "tcp", *adrfam = NULL, *traddr = NULL, *trsvcid = "4420";
	struct json_object *subs = json_object_new_array(), *port, *addr, *params;
	uint64_t portid = 0, inl = 0;
	bool have_portid = false, have_inl = false;
	struct added added = { .what = "port", .key = "portid" };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTS "p:T:F:a:s:n:i:", lo, NULL)) != -1) {
		int r = common_opt(o, c, optarg);

		if (r < 0)
			goto usage;
		if (r > 0)
			continue;
		switch (c) {
		case 'p':
			if (!parse_u64(optarg, 65535, &portid) || !portid) {
				ctl_err("--portid %s: expected 1..65535", optarg);
				goto usage;
			}
			have_portid = true;
			break;
		case 'T':
			trtype = optarg;
			break;
		case 'F':
			adrfam = optarg;
			break;
		case 'a':
			traddr = optarg;
			break;
		case 's':
			trsvcid = optarg;
			break;
		case 'n':
			json_object_array_add(subs, json_object_new_string(optarg));
			break;
		case 'i':
			if (!parse_u64(optarg, UINT32_MAX, &inl)) {
				ctl_err("--inline-data-size %s: expected a number of bytes", optarg);
				goto usage;
			}
			have_inl = true;
			break;
		default:
			ctl_err("add-port: unknown option (see nvmf-bridgectl --help)");
			goto usage;
		}
	}
	if (optind != argc) {
		ctl_err("add-port: unexpected argument '%s' (subsystems go in --subsystem NQN)", argv[optind]);
		goto usage;
	}
	if (!have_portid || !traddr) {
		ctl_err("add-port: --portid N and --traddr ADDR are required");
		goto usage;
	}
	if (!adrfam)
		adrfam = strchr(traddr, ':') ? "ipv6" : "ipv4";
	addr = json_object_new_object();
	json_object_object_add(addr, "trtype", json_object_new_string(trtype));
	json_object_object_add(addr, "adrfam", json_object_new_string(adrfam));
	json_object_object_add(addr, "traddr", json_object_new_string(traddr));
	json_object_object_add(addr, "trsvcid", json_object_new_string(trsvcid));
	port = json_object_new_object();
	json_object_object_add(port, "portid", json_object_new_int64((int64_t)portid));
	json_object_object_add(port, "addr", addr);
	if (have_inl) {
		struct json_object *param = json_object_new_object();

		json_object_object_add(param, "inline_data_size", json_object_new_int64((int64_t)inl));
		json_object_object_add(port, "param", param);
	}
	json_object_object_add(port, "subsystems", subs);
	params = json_object_new_object();
	json_object_object_add(params, "port", port);
	snprintf(added.where, sizeof(added.where), "(%s %s%s%s:%s)", trtype, strchr(traddr, ':') ? "[" : "", traddr,
		 strchr(traddr, ':') ? "]" : "", trsvcid);
	return call(o, "add-port", params, print_added, &added);
usage:
	json_object_put(subs);
	return CTL_USAGE;
}

static int cmd_remove_port(struct opts *o, int argc, char **argv)
{
	struct json_object *params;
	uint64_t portid;
	char line[64];
	int i = parse_plain(o, argc, argv, "remove-port", 1, 1);

	if (i < 0)
		return CTL_USAGE;
	if (!parse_u64(argv[i], 65535, &portid) || !portid) {
		ctl_err("remove-port %s: expected a port ID, 1..65535", argv[i]);
		return CTL_USAGE;
	}
	params = json_object_new_object();
	json_object_object_add(params, "portid", json_object_new_int64((int64_t)portid));
	snprintf(line, sizeof(line), "removed port %llu", (unsigned long long)portid);
	return call(o, "remove-port", params, print_line, line);
}

static int cmd_set_ana_state(struct opts *o, int argc, char **argv)
{
	struct json_object *params;
	uint64_t portid, grpid;
	char line[128];
	int i = parse_plain(o, argc, argv, "set-ana-state", 3, 3);

	if (i < 0)
		return CTL_USAGE;
	if (!parse_u64(argv[i], 65535, &portid) || !portid) {
		ctl_err("set-ana-state %s: expected a port ID, 1..65535", argv[i]);
		return CTL_USAGE;
	}
	if (!parse_u64(argv[i + 1], CFG_MAX_ANAGRPID, &grpid) || !grpid) {
		ctl_err("set-ana-state %s: expected an ANA group, 1..%d", argv[i + 1], CFG_MAX_ANAGRPID);
		return CTL_USAGE;
	}
	if (!cfg_ana_state_parse(argv[i + 2])) {     /* the configuration's names */
		ctl_err("set-ana-state %s: expected optimized, non-optimized, inaccessible, persistent-loss or change",
			argv[i + 2]);
		return CTL_USAGE;
	}
	params = json_object_new_object();
	json_object_object_add(params, "portid", json_object_new_int64((int64_t)portid));
	json_object_object_add(params, "grpid", json_object_new_int64((int64_t)grpid));
	json_object_object_add(params, "state", json_object_new_string(argv[i + 2]));
	snprintf(line, sizeof(line), "port %llu: ANA group %llu is %s", (unsigned long long)portid,
		 (unsigned long long)grpid, argv[i + 2]);
	return call(o, "set-ana-state", params, print_line, line);
}

/* set-qos [--host NQN] [--subsystem NQN --nsid N] --read-iops N --write-iops N
 *         --read-bw SIZE --write-bw SIZE (each optional; 0: unlimited) */
static int cmd_set_qos(struct opts *o, int argc, char **argv)
{
	enum { O_HOST = 1000, O_SUBSYS, O_NSID, O_RIOPS, O_WIOPS, O_RBW, O_WBW };
	static const struct option lo[] = {
		COMMON_LONG_OPTS,
		{ "host", required_argument, NULL, O_HOST },
		{ "subsystem", required_argument, NULL, O_SUBSYS },
		{ "nsid", required_argument, NULL, O_NSID },
		{ "read-iops", required_argument, NULL, O_RIOPS },
		{ "write-iops", required_argument, NULL, O_WIOPS },
		{ "read-bw", required_argument, NULL, O_RBW },
		{ "write-bw", required_argument, NULL, O_WBW },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const keys[] = { "read_iops", "write_iops", "read_bw", "write_bw" };
	struct json_object *params = json_object_new_object();
	const char *host = NULL, *subsys = NULL;
	uint64_t nsid = 0, v;
	unsigned limits = 0;
	char line[700];
	int c, n;

	optind = 0;
	while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTS, lo, NULL)) != -1) {
		int r = common_opt(o, c, optarg);

		if (r < 0)
			goto usage;
		if (r > 0)
			continue;
		switch (c) {
		case O_HOST:
			host = optarg;
			break;
		case O_SUBSYS:
			subsys = optarg;
			break;
		case O_NSID:
			if (!nsid_arg(optarg, &nsid, "set-qos --nsid"))
				goto usage;
			break;
		case O_RIOPS:
		case O_WIOPS:
			if (!parse_u64(optarg, UINT32_MAX, &v)) {
				ctl_err("--%s %s: expected operations per second (0: unlimited)",
					c == O_RIOPS ? "read-iops" : "write-iops", optarg);
				goto usage;
			}
			json_object_object_add(params, keys[c - O_RIOPS], json_object_new_int64((int64_t)v));
			limits++;
			break;
		case O_RBW:
		case O_WBW:
			if (parse_size(optarg, &v)) {
				ctl_err("--%s %s: expected bytes per second, e.g. 100MiB (0: unlimited)",
					c == O_RBW ? "read-bw" : "write-bw", optarg);
				goto usage;
			}
			json_object_object_add(params, keys[c - O_RIOPS], json_object_new_string(optarg));
			limits++;
			break;
		default:
			ctl_err("set-qos: unknown option (see nvmf-bridgectl --help)");
			goto usage;
		}
	}
	if (optind != argc) {
		ctl_err("set-qos: unexpected argument '%s'", argv[optind]);
		goto usage;
	}
	if (!host && !subsys) {
		ctl_err("set-qos: name a host (--host NQN), a namespace (--subsystem NQN --nsid N) or both");
		goto usage;
	}
	if (!!subsys != !!nsid) {
		ctl_err("set-qos: --subsystem and --nsid go together");
		goto usage;
	}
	if (!limits) {
		ctl_err("set-qos: give at least one of --read-iops, --write-iops, --read-bw, --write-bw");
		goto usage;
	}
	if (host)
		json_object_object_add(params, "host", json_object_new_string(host));
	if (subsys) {
		json_object_object_add(params, "subsystem", json_object_new_string(subsys));
		json_object_object_add(params, "nsid", json_object_new_int64((int64_t)nsid));
	}
	n = snprintf(line, sizeof(line), "set QoS of ");
	if (host)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "host %s%s", host, subsys ? " on " : "");
	if (subsys)
		snprintf(line + n, sizeof(line) - (size_t)n, "namespace %llu of %s", (unsigned long long)nsid, subsys);
	return call(o, "set-qos", params, print_line, line);
usage:
	json_object_put(params);
	return CTL_USAGE;
}

static void print_reload(struct json_object *res, void *arg)
{
	struct json_object *ch = NULL;
	size_t n = 0;

	(void)arg;
	if (json_object_object_get_ex(res, "changes", &ch) && json_object_is_type(ch, json_type_array))
		n = json_object_array_length(ch);
	if (!n) {
		printf("reloaded: no changes\n");
		return;
	}
	printf("reloaded: %zu change%s\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		printf("  %s\n", json_object_get_string(json_object_array_get_idx(ch, i)));
}

static void print_saved(struct json_object *res, void *arg)
{
	struct json_object *v;

	(void)arg;
	if (json_object_object_get_ex(res, "path", &v))
		printf("saved the running configuration to %s\n", json_object_get_string(v));
	else
		printf("saved the running configuration\n");
}

static int cmd_save_config(struct opts *o, int argc, char **argv)
{
	struct json_object *params = NULL;
	char cwd[PATH_MAX], *abs = NULL;
	int rc, i = parse_plain(o, argc, argv, "save-config", 0, 1);

	if (i < 0)
		return CTL_USAGE;
	if (i < argc) {
		const char *p = argv[i];

		if (!*p) {
			ctl_err("save-config: empty path");
			return CTL_USAGE;
		}
		/* the daemon's working directory is not ours */
		if (*p != '/') {
			if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, p) < 0) {
				ctl_err("save-config %s: cannot make the path absolute: %s", p, strerror(errno));
				return CTL_FAILED;
			}
			p = abs;
		}
		params = json_object_new_object();
		json_object_object_add(params, "path", json_object_new_string(p));
	}
	rc = call(o, "save-config", params, print_saved, NULL);
	free(abs);
	return rc;
}

/* The controller's entry in status ("pcie": [{"pcie", "state", "resets"}]) */
static bool pcie_status(const struct opts *o, const char *bdf, char state[16], int64_t *resets)
{
	struct json_object *res = NULL, *arr, *e, *v;
	bool found = false;

	if (ctl_rpc_call(o->socket, o->timeout_s, "status", NULL, &res) != CTL_OK)
		return false;
	if (json_object_object_get_ex(res, "pcie", &arr) && json_object_is_type(arr, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(arr) && !found; i++) {
			e = json_object_array_get_idx(arr, i);
			if (!json_object_object_get_ex(e, "pcie", &v) || strcmp(json_object_get_string(v), bdf))
				continue;
			found = true;
			snprintf(state, 16, "%s",
				 json_object_object_get_ex(e, "state", &v) ? json_object_get_string(v) : "unknown");
			*resets = json_object_object_get_ex(e, "resets", &v) ? json_object_get_int64(v) : 0;
		}
	}
	json_object_put(res);
	return found;
}

/* reset-controller BDF: ask for the reset, then follow status until the
 * controller is live again (or failed, or --timeout passed) */
static int cmd_reset_controller(struct opts *o, int argc, char **argv)
{
	struct json_object *params, *res = NULL, *v;
	struct timespec t0, now, nap = { 0, 20 * 1000 * 1000 };
	char bdf[16], state[16] = "";
	int64_t resets = 0, after = 0;
	int rc, i = parse_plain(o, argc, argv, "reset-controller", 1, 1);
	double ms;

	if (i < 0)
		return CTL_USAGE;
	if (!ctl_normalise_bdf(argv[i], bdf)) {
		ctl_err("reset-controller %s: not a PCI address (DDDD:BB:DD.F or BB:DD.F, see lspci -D)", argv[i]);
		return CTL_USAGE;
	}
	params = json_object_new_object();
	json_object_object_add(params, "pcie", json_object_new_string(bdf));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = ctl_rpc_call(o->socket, o->timeout_s, "reset-controller", params, &res);
	if (rc != CTL_OK)
		return rc;
	if (json_object_object_get_ex(res, "resets", &v))
		resets = json_object_get_int64(v);
	json_object_put(res);
	for (;;) {
		if (!pcie_status(o, bdf, state, &after)) {
			ctl_err("reset-controller %s: the daemon no longer lists the controller", bdf);
			return CTL_FAILED;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (double)(now.tv_sec - t0.tv_sec) * 1e3 + (double)(now.tv_nsec - t0.tv_nsec) / 1e6;
		if (after >= resets && strcmp(state, "resetting"))
			break;
		if (ms > o->timeout_s * 1000.0) {
			ctl_err("reset-controller %s: still %s after %d s", bdf, state, o->timeout_s);
			return CTL_FAILED;
		}
		nanosleep(&nap, NULL);
	}
	if (o->json) {
		res = json_object_new_object();
		json_object_object_add(res, "pcie", json_object_new_string(bdf));
		json_object_object_add(res, "state", json_object_new_string(state));
		json_object_object_add(res, "resets", json_object_new_int64(after));
		json_object_object_add(res, "ms", json_object_new_double(ms));
		ctl_print_json(res);
		json_object_put(res);
	}
	if (strcmp(state, "live")) {
		ctl_err("reset-controller %s: the controller is %s after the reset (see the daemon's log)", bdf, state);
		return CTL_FAILED;
	}
	if (!o->json)
		printf("%s: reset, live again after %.0f ms (resets since start: %lld)\n", bdf, ms, (long long)after);
	return CTL_OK;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONG_OPTS, { NULL, 0, NULL, 0 } };
	struct opts o = { .socket = CTL_DEFAULT_SOCKET, .timeout_s = CTL_DEFAULT_TIMEOUT_S };
	const char *cmd;
	int c, cargc;
	char **cargv;

	/* options before the command; '+': stop at the command */
	while ((c = getopt_long(argc, argv, "+" COMMON_SHORT_OPTS, lo, NULL)) != -1) {
		int r = common_opt(&o, c, optarg);

		if (r < 0)
			return CTL_USAGE;
		if (r == 0) {
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	cmd = argv[optind];
	cargc = argc - optind;
	cargv = argv + optind;
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "status"))
		return cmd_simple(&o, cargc, cargv, "status", print_status);
	if (!strcmp(cmd, "list"))
		return cmd_simple(&o, cargc, cargv, "list", print_list);
	if (!strcmp(cmd, "stats"))
		return cmd_simple(&o, cargc, cargv, "stats", print_stats);
	if (!strcmp(cmd, "reload"))
		return cmd_simple(&o, cargc, cargv, "reload", print_reload);
	if (!strcmp(cmd, "add-namespace"))
		return cmd_add_namespace(&o, cargc, cargv);
	if (!strcmp(cmd, "remove-namespace"))
		return cmd_remove_namespace(&o, cargc, cargv);
	if (!strcmp(cmd, "add-host"))
		return cmd_host(&o, cargc, cargv, true);
	if (!strcmp(cmd, "remove-host"))
		return cmd_host(&o, cargc, cargv, false);
	if (!strcmp(cmd, "add-port"))
		return cmd_add_port(&o, cargc, cargv);
	if (!strcmp(cmd, "remove-port"))
		return cmd_remove_port(&o, cargc, cargv);
	if (!strcmp(cmd, "set-ana-state"))
		return cmd_set_ana_state(&o, cargc, cargv);
	if (!strcmp(cmd, "set-qos"))
		return cmd_set_qos(&o, cargc, cargv);
	if (!strcmp(cmd, "save-config"))
		return cmd_save_config(&o, cargc, cargv);
	if (!strcmp(cmd, "reset-controller"))
		return cmd_reset_controller(&o, cargc, cargv);
	if (!strcmp(cmd, "setup"))
		return ctl_setup_main(cargc, cargv);
	if (!strcmp(cmd, "release"))
		return ctl_release_main(cargc, cargv);
	ctl_err("unknown command '%s' (see nvmf-bridgectl --help)", cmd);
	return CTL_USAGE;
}
