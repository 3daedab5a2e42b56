/* SPDX-License-Identifier: MIT */
/* The configuration parser: every accepted spelling of every key, the
 * defaults, files as nvmetcli writes them, NQN rules, the value parsers,
 * and one case per refusal with the object path of the message checked.
 * Every configuration accepted here, and every shipped example, also goes
 * through config_to_json() and back (test_config_write.c tests the writer
 * itself).
 *
 * JSON in this file is written with single quotes, turned into double
 * quotes before parsing, so that the cases stay readable. */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/config_internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NQN1 "nqn.2024-01.org.example:ssd0"
#define NQN2 "nqn.2024-01.org.example:ssd1"
#define HOSTA "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100"
/* DH-HMAC-CHAP secrets: 32 and 64 bytes counting up from 0, 30 bytes (too short) */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"
#define KEY_B64_TAIL "AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"
#define KEY256 "DHHC-1:01:" KEY_B64
#define KEY512 "DHHC-1:03:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P4zODhA=:"
#define KEY30 "DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdWF9mxQ==:"
#define HOSTB "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define UUID1 "d592cdf3-5d1c-44e0-8412-3fcf7d99df27"

/* building blocks for small files */
#define NS_MEM "{'nsid': 1, 'device': {'mem': '1MiB'}}"
#define SUBSYS(nqn, attr, nss) "{'nqn': '" nqn "', 'attr': {" attr "}, 'namespaces': [" nss "]}"
#define ONE_SUBSYS(attr, nss) "{'subsystems': [" SUBSYS(NQN1, attr, nss) "]}"
#define ONE_NS(ns) ONE_SUBSYS("'allow_any_host': 1", ns)
#define DEV(dev) ONE_NS("{'nsid': 1, 'device': {" dev "}}")
#define TWO_SUBSYS(ns1, ns2) "{'subsystems': [" SUBSYS(NQN1, "", ns1) ", " SUBSYS(NQN2, "", ns2) "]}"
#define TCP4 "'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '4420'"
#define WITH_PORTS(ports) "{'subsystems': [" SUBSYS(NQN1, "'allow_any_host': 1", NS_MEM) "], 'ports': [" ports "]}"
#define PORT_EXTRA(extra) WITH_PORTS("{'portid': 1, 'addr': {" TCP4 "}, 'subsystems': ['" NQN1 "']" extra "}")
#define PORT_ADDR(addr) WITH_PORTS("{'portid': 1, 'addr': {" addr "}}")
#define REFERRAL(ref) PORT_EXTRA(", 'referrals': [" ref "]")
#define REF_ADDR "'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '192.0.2.11', 'trsvcid': '8009'"

#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10

/* single quotes to double quotes (no case needs an apostrophe) */
static char *dq(const char *s)
{
	char *r = strdup(s), *p;

	assert_non_null(r);
	for (p = r; *p; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return r;
}

/* What config_to_json() makes of an accepted configuration must parse
 * back to an equal one, and be written identically again: "save-config"
 * followed by a restart must not change anything. */
static void check_round_trip(const struct config *cfg)
{
	struct config *again = NULL;
	char err[512] = "";
	char *text = config_to_json(cfg), *text2;

	assert_non_null(text);
	if (config_parse(text, "round-trip.json", &again, err, sizeof(err)))
		fail_msg("written text refused: %s\n%s", err, text);
	if (!config_equal(cfg, again))
		fail_msg("written text parses to another configuration:\n%s", text);
	text2 = config_to_json(again);
	assert_non_null(text2);
	assert_string_equal(text, text2);
	free(text2);
	free(text);
	config_free(again);
}

static struct config *parse_ok(const char *json)
{
	struct config *cfg = NULL;
	char err[512] = "";
	char *j = dq(json);
	int ret = config_parse(j, "t.json", &cfg, err, sizeof(err));

	free(j);
	if (ret)
		fail_msg("unexpected error %d: %s", ret, err);
	assert_non_null(cfg);
	check_round_trip(cfg);
	return cfg;
}

/* json must be refused with "t.json: PATH: ...WORD..." on one line */
static void parse_fails(const char *json, const char *path, const char *word)
{
	struct config *cfg = (struct config *)&cfg;
	char err[512] = "", prefix[300];
	char *j = dq(json);
	int ret = config_parse(j, "t.json", &cfg, err, sizeof(err));

	free(j);
	if (ret != -EINVAL)
		fail_msg("expected -EINVAL for %s, got %d (%s)", path, ret, err);
	assert_null(cfg);
	snprintf(prefix, sizeof(prefix), "t.json: %s: ", path);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, word))
		fail_msg("message \"%s\"\n wanted prefix \"%s\" and \"%s\"", err, prefix, word);
	assert_null(strchr(err, '\n'));
}

/* ---- accepted forms and defaults ---- */

static void test_empty_object(void **state)
{
	struct config *cfg = parse_ok("{}");

	(void)state;
	assert_string_equal(cfg->file, "t.json");
	assert_int_equal(cfg->nr_hosts, 0);
	assert_int_equal(cfg->nr_ports, 0);
	assert_int_equal(cfg->nr_subsystems, 0);
	assert_null(cfg->subsystems);
	assert_int_equal(cfg->bridge.discovery_port, 8009);
	assert_int_equal(cfg->bridge.reactors, 1);
	assert_string_equal(cfg->bridge.rpc_socket, "/run/nvmf-bridge/rpc.sock");
	assert_string_equal(cfg->bridge.rpc_group, "");
	/* the hostile-network limits are never absent */
	assert_int_equal(cfg->bridge.icreq_timeout_ms, 10000);
	assert_int_equal(cfg->bridge.connect_timeout_ms, 10000);
	assert_int_equal(cfg->bridge.max_conns_per_port, 4096);
	assert_int_equal(cfg->bridge.max_conns_per_addr, 1024);
	assert_int_equal(cfg->bridge.max_ctrls_per_host, 128);
	assert_int_equal(cfg->bridge.nr_rpc_namespace_dirs, 0);
	assert_string_equal(cfg->bridge.rpc_save_dir, "");
	config_free(cfg);
}

static void test_defaults(void **state)
{
	struct config *cfg = parse_ok("{'subsystems': [{'nqn': '" NQN1 "', 'namespaces': [" NS_MEM "]}],"
				      " 'ports': [{'portid': 7, 'addr': {" TCP4 "}}]}");
	const struct cfg_subsystem *s = &cfg->subsystems[0];
	const struct cfg_namespace *ns = &s->namespaces[0];
	const struct cfg_port *p = &cfg->ports[0];

	(void)state;
	assert_string_equal(s->nqn, NQN1);
	assert_false(s->allow_any_host);
	assert_string_equal(s->serial, "");
	assert_string_equal(s->model, "Linux");
	assert_int_equal(s->cntlid_min, 1);
	assert_int_equal(s->cntlid_max, 65519);
	assert_int_equal(s->nr_allowed_hosts, 0);
	assert_int_equal(s->nr_namespaces, 1);
	assert_int_equal(ns->nsid, 1);
	assert_true(ns->enable);
	assert_int_equal(ns->backend, CFG_BACKEND_MEM);
	assert_int_equal(ns->mem_bytes, 1 << 20);
	assert_int_equal(ns->block_size, 512);
	assert_false(ns->has_uuid);
	assert_false(ns->has_nguid);
	assert_int_equal(p->portid, 7);
	assert_int_equal(p->addr.trtype, CFG_TRTYPE_TCP);
	assert_int_equal(p->addr.adrfam, CFG_ADRFAM_IPV4);
	assert_string_equal(p->addr.traddr, "127.0.0.1");
	assert_string_equal(p->addr.trsvcid, "4420");
	assert_int_equal(p->addr.treq, CFG_TREQ_NOT_SPECIFIED);
	assert_int_equal(p->inline_data_size, 8192);
	assert_int_equal(p->nr_subsystems, 0);
	assert_int_equal(p->nr_referrals, 0);
	config_free(cfg);
}

/* nvmetcli writes strings, people write numbers: both give one result */
static void check_typed(const struct config *cfg)
{
	const struct cfg_subsystem *s = &cfg->subsystems[0];
	const struct cfg_port *p = &cfg->ports[0];

	assert_int_equal(cfg->bridge.discovery_port, 0);
	assert_int_equal(cfg->bridge.reactors, 4);
	assert_true(s->allow_any_host);
	assert_int_equal(s->cntlid_min, 10);
	assert_int_equal(s->cntlid_max, 20);
	assert_int_equal(s->namespaces[0].nsid, 5);
	assert_false(s->namespaces[0].enable);
	assert_int_equal(s->namespaces[0].backend, CFG_BACKEND_PCIE);
	assert_int_equal(s->namespaces[0].pcie_nsid, 2);
	assert_int_equal(s->namespaces[1].mem_bytes, 4096);
	assert_int_equal(s->namespaces[1].block_size, 4096);
	assert_true(s->namespaces[1].enable);
	assert_int_equal(p->portid, 3);
	assert_string_equal(p->addr.trsvcid, "4420");
	assert_int_equal(p->inline_data_size, 16384);
	assert_false(p->referrals[0].enable);
	assert_int_equal(p->referrals[0].portid, 2);
}

static void test_strings_and_numbers(void **state)
{
	static const char *const files[] = {
		/* as nvmetcli writes them */
		"{'bridge': {'discovery_port': '0', 'reactors': '4'},"
		" 'subsystems': [" SUBSYS(NQN1, "'allow_any_host': '1', 'cntlid_min': '10', 'cntlid_max': '20'",
					  "{'nsid': '5', 'enable': '0', 'device': {'pcie': '00:02.0', 'nsid': '2'}},"
					  "{'nsid': '6', 'enable': '1', 'device': {'mem': '4096', 'block_size': '4096'}}") "],"
		" 'ports': [{'portid': '3', 'addr': {" TCP4 "}, 'param': {'inline_data_size': '16384'},"
		" 'referrals': [{'name': 'r', 'enable': '0', 'addr': {" REF_ADDR ", 'portid': '2'}}]}]}",
		/* native JSON numbers */
		"{'bridge': {'discovery_port': 0, 'reactors': 4},"
		" 'subsystems': [" SUBSYS(NQN1, "'allow_any_host': 1, 'cntlid_min': 10, 'cntlid_max': 20",
					  "{'nsid': 5, 'enable': 0, 'device': {'pcie': '00:02.0', 'nsid': 2}},"
					  "{'nsid': 6, 'enable': 1, 'device': {'mem': 4096, 'block_size': 4096}}") "],"
		" 'ports': [{'portid': 3, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': 4420},"
		" 'param': {'inline_data_size': 16384},"
		" 'referrals': [{'name': 'r', 'enable': 0, 'addr': {" REF_ADDR ", 'portid': 2}}]}]}",
		/* booleans, and the words as strings */
		"{'bridge': {'discovery_port': 0, 'reactors': 4},"
		" 'subsystems': [" SUBSYS(NQN1, "'allow_any_host': true, 'cntlid_min': 10, 'cntlid_max': 20",
					  "{'nsid': 5, 'enable': false, 'device': {'pcie': '0000:00:02.0', 'nsid': 2}},"
					  "{'nsid': 6, 'enable': 'true', 'device': {'mem': '4K', 'block_size': 4096}}") "],"
		" 'ports': [{'portid': 3, 'addr': {" TCP4 "}, 'param': {'inline_data_size': 16384},"
		" 'referrals': [{'name': 'r', 'enable': 'false', 'addr': {" REF_ADDR ", 'portid': 2}}]}]}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		struct config *cfg = parse_ok(files[i]);

		check_typed(cfg);
		config_free(cfg);
	}
}

/* PROTOCOL-NOTES B.2's example, with our device extension */
static void test_nvmetcli_file(void **state)
{
	struct config *cfg = parse_ok(
		"{"
		"  'hosts': [ { 'nqn': '" HOSTA "' } ],"
		"  'ports': ["
		"    {"
		"      'portid': 1,"
		"      'addr': { 'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '192.0.2.10',"
		"                'trsvcid': '4420', 'treq': 'not specified' },"
		"      'param': { 'inline_data_size': '16384', 'pi_enable': '0' },"
		"      'ana_groups': [ { 'grpid': 1, 'ana': { 'state': 'optimized' } } ],"
		"      'referrals': ["
		"        { 'name': 'ref-b', 'enable': 1,"
		"          'addr': { 'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '192.0.2.11',"
		"                    'trsvcid': '8009', 'treq': 'not specified', 'portid': '2' } }"
		"      ],"
		"      'subsystems': [ '" NQN1 "' ]"
		"    },"
		"    {"
		"      'portid': 2,"
		"      'addr': { 'trtype': 'rdma', 'adrfam': 'ipv4', 'traddr': '192.0.2.10',"
		"                'trsvcid': '4420', 'treq': 'not specified' },"
		"      'referrals': [], 'subsystems': [ '" NQN1 "' ]"
		"    }"
		"  ],"
		"  'subsystems': ["
		"    {"
		"      'nqn': '" NQN1 "',"
		"      'attr': { 'allow_any_host': '0', 'serial': '0123456789abcdef', 'model': 'Linux',"
		"                'version': '1.3', 'cntlid_min': '1', 'cntlid_max': '65519', 'pi_enable': '0' },"
		"      'allowed_hosts': [ '" HOSTA "' ],"
		"      'namespaces': ["
		"        { 'nsid': 1, 'enable': 1, 'ana_grpid': 1,"
		"          'device': { 'pcie': '0000:01:00.0', 'nsid': 1,"
		"                      'uuid': '" UUID1 "',"
		"                      'nguid': '00000000-0000-0000-0000-000000000000' } }"
		"      ]"
		"    }"
		"  ]"
		"}");
	const struct cfg_subsystem *s = &cfg->subsystems[0];
	const struct cfg_namespace *ns = &s->namespaces[0];
	const struct cfg_port *p;
	static const uint8_t uuid[16] = {
		0xd5, 0x92, 0xcd, 0xf3, 0x5d, 0x1c, 0x44, 0xe0,
		0x84, 0x12, 0x3f, 0xcf, 0x7d, 0x99, 0xdf, 0x27,
	};

	(void)state;
	assert_int_equal(cfg->nr_hosts, 1);
	assert_string_equal(cfg->hosts[0].nqn, HOSTA);
	assert_int_equal(cfg->nr_subsystems, 1);
	assert_false(s->allow_any_host);
	assert_string_equal(s->serial, "0123456789abcdef");
	assert_string_equal(s->model, "Linux");
	assert_int_equal(s->nr_allowed_hosts, 1);
	assert_string_equal(s->allowed_hosts[0], HOSTA);
	assert_int_equal(ns->backend, CFG_BACKEND_PCIE);
	assert_string_equal(ns->pcie_bdf, "0000:01:00.0");
	assert_int_equal(ns->pcie_nsid, 1);
	assert_true(ns->has_uuid);
	assert_memory_equal(ns->uuid, uuid, 16);
	assert_false(ns->has_nguid);            /* all zero: not set */

	assert_int_equal(cfg->nr_ports, 2);
	p = &cfg->ports[0];
	assert_int_equal(p->portid, 1);
	assert_string_equal(p->addr.traddr, "192.0.2.10");
	assert_int_equal(p->inline_data_size, 16384);
	assert_int_equal(p->nr_subsystems, 1);
	assert_string_equal(p->subsystems[0], NQN1);
	assert_int_equal(p->nr_referrals, 1);
	assert_string_equal(p->referrals[0].name, "ref-b");
	assert_true(p->referrals[0].enable);
	assert_int_equal(p->referrals[0].portid, 2);
	assert_int_equal(p->referrals[0].addr.trtype, CFG_TRTYPE_TCP);
	assert_string_equal(p->referrals[0].addr.traddr, "192.0.2.11");
	assert_string_equal(p->referrals[0].addr.trsvcid, "8009");
	p = &cfg->ports[1];
	assert_int_equal(p->addr.trtype, CFG_TRTYPE_RDMA);
	assert_int_equal(p->nr_referrals, 0);
	assert_ptr_equal(config_find_subsystem(cfg, NQN1), s);
	config_free(cfg);
}

/* What "nvmetcli save" writes on a recent kernel, attributes we cannot
 * honour included, all at their "off" values. */
static void test_kernel_dump_extras(void **state)
{
	struct config *cfg = parse_ok(
		"{"
		"  'discovery': { 'nqn': 'nqn.2014-08.org.nvmexpress.discovery' },"
		"  'hosts': [ { 'nqn': '" HOSTA "', 'dhchap': { 'ctrl_key': '', 'dhgroup': 'null',"
		"               'hash': 'hmac(sha256)', 'key': '' } },"
		"             { 'nqn': '" HOSTB "', 'dhchap': {} } ],"
		"  'ports': ["
		"    { 'portid': 1,"
		"      'addr': { 'adrfam': 'ipv4', 'traddr': '0.0.0.0', 'treq': 'not specified',"
		"                'trsvcid': '4420', 'trtype': 'tcp', 'tsas': 'none' },"
		"      'param': { 'inline_data_size': '-1', 'max_queue_size': '-1', 'pi_enable': '0' },"
		"      'ana_groups': [ { 'ana': { 'state': 'optimized' }, 'grpid': 1 } ],"
		"      'referrals': [], 'subsystems': [ '" NQN1 "' ] },"
		"    { 'portid': 2,"
		"      'addr': { 'adrfam': 'ipv6', 'traddr': '::', 'treq': 'not required',"
		"                'trsvcid': '4420', 'trtype': 'rdma', 'tsas': 'connected' },"
		"      'param': { 'inline_data_size': '-1', 'pi_enable': '0' },"
		"      'ana_groups': [ { 'ana': { 'state': 'optimized' }, 'grpid': 1 } ],"
		"      'referrals': [], 'subsystems': [] },"
		"    { 'portid': 3,"
		"      'addr': { 'adrfam': 'ipv6', 'traddr': 'fe80::1', 'treq': 'not specified',"
		"                'trsvcid': '4421', 'trtype': 'tcp', 'tsas': 'reserved' } }"
		"  ],"
		"  'subsystems': ["
		"    { 'nqn': '" NQN1 "',"
		"      'attr': { 'allow_any_host': '0', 'cntlid_max': '65519', 'cntlid_min': '1',"
		"                'firmware': '6.1.0-18', 'ieee_oui': '0x000000', 'model': '',"
		"                'pi_enable': '0', 'qid_max': '128', 'serial': '', 'version': '2.0' },"
		"      'allowed_hosts': [ '" HOSTA "', '" HOSTB "' ],"
		"      'passthru': [ { 'admin_timeout': 0, 'clear_ids': 1, 'device': { 'path': '' },"
		"                      'enable': 0, 'io_timeout': 0 } ],"
		"      'namespaces': ["
		"        { 'ana': { 'grpid': '1' }, 'ana_grpid': 1, 'enable': 1, 'nsid': 1,"
		"          'resv': { 'enable': '0' },"
		"          'device': { 'path': '/dev/nvme0n1', 'nguid': '', 'uuid': '" UUID1 "' } },"
		"        { 'ana_grpid': 0, 'enable': 1, 'nsid': 2, 'resv': {},"
		"          'device': { 'pcie': '0000:00:04.0', 'nsid': 1, 'uuid': null, 'eui64': '0011223344556677' } }"
		"      ]"
		"    }"
		"  ]"
		"}");
	const struct cfg_subsystem *s = &cfg->subsystems[0];

	(void)state;
	assert_int_equal(cfg->nr_hosts, 2);
	assert_string_equal(s->model, "Linux");   /* "" = default */
	assert_string_equal(s->serial, "");
	assert_int_equal(s->nr_allowed_hosts, 2);
	assert_int_equal(s->namespaces[0].backend, CFG_BACKEND_FILE);
	assert_string_equal(s->namespaces[0].path, "/dev/nvme0n1");
	assert_false(s->namespaces[0].has_nguid);
	assert_true(s->namespaces[0].has_uuid);
	assert_false(s->namespaces[1].has_uuid);
	/* "resv": {"enable": "0"} turns reservations off; {} leaves them on */
	assert_true(s->namespaces[0].no_resv);
	assert_false(s->namespaces[1].no_resv);
	assert_int_equal(cfg->ports[0].inline_data_size, 8192);
	assert_int_equal(cfg->ports[1].addr.adrfam, CFG_ADRFAM_IPV6);
	assert_int_equal(cfg->ports[1].addr.treq, CFG_TREQ_NOT_REQUIRED);
	assert_int_equal(cfg->ports[2].addr.treq, CFG_TREQ_NOT_SPECIFIED);
	assert_int_equal(cfg->ports[1].nr_subsystems, 0);
	config_free(cfg);
}

static void test_bridge(void **state)
{
	struct config *cfg = parse_ok("{'bridge': {'discovery_port': 18009, 'reactors': 64,"
				      " 'rpc_socket': '/tmp/nvmfb.sock'}}");

	(void)state;
	assert_int_equal(cfg->bridge.discovery_port, 18009);
	assert_int_equal(cfg->bridge.reactors, 64);
	assert_string_equal(cfg->bridge.rpc_socket, "/tmp/nvmfb.sock");
	assert_int_equal(cfg->bridge.rdma_srq_size, 0);         /* automatic */
	config_free(cfg);
	cfg = parse_ok("{'bridge': {'rdma_srq_size': '64'}}");
	assert_int_equal(cfg->bridge.rdma_srq_size, 64);
	config_free(cfg);
	cfg = parse_ok("{'bridge': {'rdma_srq_size': 65536}}");
	assert_int_equal(cfg->bridge.rdma_srq_size, 65536);
	config_free(cfg);

	/* 107 bytes is the longest sun_path that keeps its NUL */
	cfg = parse_ok("{'bridge': {'rpc_socket': '/" X100 "xxxxxx'}}");
	assert_int_equal(strlen(cfg->bridge.rpc_socket), 107);
	config_free(cfg);
}

static void syntax_fails(const char *json, const char *want);

/* the hostile-network limits and the directories of least privilege:
 * read in both forms, written back only when not the default */
static void test_bridge_limits(void **state)
{
	struct config *cfg = parse_ok("{'bridge': {'icreq_timeout_ms': 100, 'connect_timeout_ms': '600000',"
				      " 'max_connections_per_port': 1, 'max_connections_per_address': '1000000',"
				      " 'max_controllers_per_host': 65535,"
				      " 'rpc_namespace_dirs': ['/srv/nvmf', '/var/lib/nvmf-bridge/exports'],"
				      " 'rpc_save_dir': '/etc/nvmf-bridge/saved'}}");
	char *js;

	(void)state;
	assert_int_equal(cfg->bridge.icreq_timeout_ms, 100);
	assert_int_equal(cfg->bridge.connect_timeout_ms, 600000);
	assert_int_equal(cfg->bridge.max_conns_per_port, 1);
	assert_int_equal(cfg->bridge.max_conns_per_addr, 1000000);
	assert_int_equal(cfg->bridge.max_ctrls_per_host, 65535);
	assert_int_equal(cfg->bridge.nr_rpc_namespace_dirs, 2);
	assert_string_equal(cfg->bridge.rpc_namespace_dirs[0], "/srv/nvmf");
	assert_string_equal(cfg->bridge.rpc_namespace_dirs[1], "/var/lib/nvmf-bridge/exports");
	assert_string_equal(cfg->bridge.rpc_save_dir, "/etc/nvmf-bridge/saved");
	/* the rest keeps its defaults */
	assert_int_equal(cfg->bridge.discovery_port, 8009);
	assert_int_equal(cfg->bridge.reactors, 1);
	js = config_to_json(cfg);
	assert_non_null(js);
	assert_non_null(strstr(js, "\"icreq_timeout_ms\": 100,"));
	assert_non_null(strstr(js, "\"max_connections_per_address\": 1000000,"));
	assert_non_null(strstr(js, "\"rpc_save_dir\": \"/etc/nvmf-bridge/saved\""));
	free(js);
	config_free(cfg);

	/* the other ends of the ranges */
	cfg = parse_ok("{'bridge': {'icreq_timeout_ms': '600000', 'connect_timeout_ms': 100,"
		       " 'max_connections_per_port': 1000000, 'max_connections_per_address': 1,"
		       " 'max_controllers_per_host': '1'}}");
	assert_int_equal(cfg->bridge.icreq_timeout_ms, 600000);
	assert_int_equal(cfg->bridge.connect_timeout_ms, 100);
	assert_int_equal(cfg->bridge.max_conns_per_port, 1000000);
	assert_int_equal(cfg->bridge.max_conns_per_addr, 1);
	assert_int_equal(cfg->bridge.max_ctrls_per_host, 1);
	config_free(cfg);

	/* defaults are not written; unset ("", null, []) means the default */
	cfg = parse_ok("{'bridge': {'icreq_timeout_ms': 10000, 'connect_timeout_ms': '10000',"
		       " 'max_connections_per_port': 4096, 'max_connections_per_address': 1024,"
		       " 'max_controllers_per_host': 128, 'rpc_namespace_dirs': [], 'rpc_save_dir': ''}}");
	js = config_to_json(cfg);
	assert_non_null(js);
	assert_null(strstr(js, "bridge"));
	free(js);
	config_free(cfg);
	cfg = parse_ok("{'bridge': {'icreq_timeout_ms': null, 'max_controllers_per_host': '',"
		       " 'rpc_namespace_dirs': null, 'rpc_save_dir': null}}");
	assert_int_equal(cfg->bridge.icreq_timeout_ms, 10000);
	assert_int_equal(cfg->bridge.max_ctrls_per_host, 128);
	assert_int_equal(cfg->bridge.nr_rpc_namespace_dirs, 0);
	config_free(cfg);
}

/* Directories: absolute, normalised, not "/"; names that merely contain
 * dots are names */
static void test_bridge_dirs(void **state)
{
	static const char *const good[] = {
		"/srv", "/srv/.hidden", "/srv/a..b", "/srv/...", "/srv/x.", "/srv/..x", "/a b/c",
		/* 255 characters, the most that fits */
		"/" X100 X100 X10 X10 X10 X10 X10 "xxxx",
	};
	struct config *cfg;
	char json[1024];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(json, sizeof(json), "{'bridge': {'rpc_namespace_dirs': ['%s'], 'rpc_save_dir': '%s'}}",
			 good[i], good[i]);
		cfg = parse_ok(json);
		assert_int_equal(cfg->bridge.nr_rpc_namespace_dirs, 1);
		assert_string_equal(cfg->bridge.rpc_namespace_dirs[0], good[i]);
		assert_string_equal(cfg->bridge.rpc_save_dir, good[i]);
		config_free(cfg);
	}
	/* as many as fit, nested ones included */
	cfg = parse_ok("{'bridge': {'rpc_namespace_dirs': ['/a','/b','/c','/d','/e','/f','/g','/a/b']}}");
	assert_int_equal(cfg->bridge.nr_rpc_namespace_dirs, CFG_MAX_DIRS);
	assert_string_equal(cfg->bridge.rpc_namespace_dirs[7], "/a/b");
	config_free(cfg);
}

/* cfg_json_find_dup_key on t: want is the path of the duplicate, or NULL */
static void dup_key_is(const char *t, const char *want)
{
	char path[128] = "";
	size_t off = 0;
	int ret = cfg_json_find_dup_key(t, strlen(t), path, sizeof(path), &off);

	if (ret != (want ? 1 : 0))
		fail_msg("%s: returned %d (path \"%s\")", t, ret, path);
	if (want && strcmp(path, want))
		fail_msg("%s: path \"%s\", wanted \"%s\"", t, path, want);
}

/* Objects and arrays with nothing in them: no key has been stored yet,
 * and the scanner must not offset its NULL key array (clang's UBSan:
 * "applying zero offset to null pointer") */
static void test_dup_key_empty(void **state)
{
	static const char *const none[] = {
		"{}", "[]", " { } ", "{\"a\":{}}", "{\"a\":[]}", "[{}]", "[[]]", "[{},[],{}]",
		"{\"a\":{},\"b\":{\"c\":{}}}", "[{\"a\":{}},{}]", "{\"a\":[{}],\"b\":{}}",
	};
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(none); i++)
		dup_key_is(none[i], NULL);
	/* empty objects around a real duplicate */
	dup_key_is("{\"a\":{},\"b\":{},\"a\":{}}", "a");
	dup_key_is("[{},{\"x\":{},\"x\":[]}]", "[1].x");
	cfg = parse_ok("{'bridge': {}, 'hosts': [], 'subsystems': [], 'ports': [], 'discovery': {}}");
	config_free(cfg);
}

/* Keys compare by what they decode to: an escaped spelling is the same
 * key for json-c, so a second "allow_any_hos\u0074" must not win unseen. */
static void test_dup_key_escaped(void **state)
{
	(void)state;
	syntax_fails("{\"subsystems\": [{\"nqn\": \"" NQN1 "\",\n \"attr\": {\"allow_any_host\": \"0\",\n"
		     " \"allow_any_hos\\u0074\": \"1\"}}]}",
		     "s.json: subsystems[0].attr.allow_any_host: duplicate key (line 3 column 2)");
	/* either one escaped, upper-case hex, and the other way round */
	syntax_fails("{\"subsystems\": [{\"nqn\": \"" NQN1 "\", \"attr\": {\"\\u0061llow_any_host\": \"1\","
		     " \"allow_any_host\": \"0\"}}]}",
		     "s.json: subsystems[0].attr.allow_any_host: duplicate key");
	dup_key_is("{\"a\":1,\"\\u0061\":2}", "a");
	dup_key_is("{\"\\u00E9\":1,\"\xc3\xa9\":2}", "\\xc3\\xa9");
	/* the path is decoded too, parents included */
	dup_key_is("{\"sub\\u0073ystems\":[{\"n\\/q\":1,\"n/q\":2}]}", "subsystems[0].n/q");
	/* a surrogate pair is one character */
	dup_key_is("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", "\\xf0\\x9f\\x98\\x80");
	dup_key_is("{\"\\uD83D\\uDE00\":1,\"\\ud83d\\ude00\":2}", "\\xf0\\x9f\\x98\\x80");
	/* json-c turns a surrogate that is not half of a pair into U+FFFD:
	 * every lone one is the same key, and the same as U+FFFD itself */
	dup_key_is("{\"\\ud800\":1,\"\\udbff\":2}", "\\xef\\xbf\\xbd");
	dup_key_is("{\"\\udc00x\":1,\"\xef\xbf\xbdx\":2}", "\\xef\\xbf\\xbdx");
	dup_key_is("{\"\\ud800\\ud83d\\ude00\":1,\"\xef\xbf\xbd\xf0\x9f\x98\x80\":2}",
		   "\\xef\\xbf\\xbd\\xf0\\x9f\\x98\\x80");
	dup_key_is("{\"\\ud800\\n\":1,\"\xef\xbf\xbd\\u000a\":2}", "\\xef\\xbf\\xbd\\x0a");
	/* json-c keeps keys as C strings: a key ends at \u0000 */
	syntax_fails("{\"subsystems\": [{\"nqn\": \"" NQN1 "\", \"attr\": {\"allow_any_host\": \"0\","
		     " \"allow_any_host\\u0000x\": \"1\"}}]}",
		     "s.json: subsystems[0].attr.allow_any_host: duplicate key");
	dup_key_is("{\"a\\u0000b\":1,\"a\\u0000c\":2}", "a");
	/* escapes of different characters stay different keys */
	dup_key_is("{\"a\\n\":1,\"a\\t\":2,\"a\\\"\":3,\"a\\\\\":4,\"a\\b\":5,\"a\\f\":6,\"a\\r\":7}", NULL);
	dup_key_is("{\"a\\n\":1,\"a\\t\":2,\"a\\\"\":3,\"a\\/\":4,\"a/\":5}", "a/");
	dup_key_is("{\"a\\\\\":1,\"a\\u005c\":2}", "a\\\\");
	dup_key_is("{\"\\ud83d\\ude00\":1,\"\\ud83d\\ude01\":2,\"\\ud83d\":3,\"\\ude00\\ud83d\":4}", NULL);
	/* a key decoding to control characters is printed escaped */
	dup_key_is("{\"x\\ny\":1,\"x\\u000ay\":2}", "x\\x0ay");
	syntax_fails("{\"a\\u0001\\u001b[2J\":1,\"a\\u0001\\u001b[2J\":2}",
		     "s.json: a\\x01\\x1b[2J: duplicate key (line 1 column 23)");
}

/* Keys that only look alike are different keys, to json-c and to us: not
 * a duplicate (and here not a key of the schema either) */
static void test_dup_key_lookalike(void **state)
{
	(void)state;
	/* Cyrillic a; e + combining acute against precomposed e acute; case */
	dup_key_is("{\"a\":1,\"\\u0430\":2,\"\xd0\xb1\":3,\"A\":4,\"\\u0041\\u0301\":5,\"\\u00c1\":6}", NULL);
	dup_key_is("{\"e\\u0301\":1,\"\xc3\xa9\":2,\"\\u00e9 \":3,\"e\":4}", NULL);
	dup_key_is("{\"allow_any_host\":1,\"allow_any_host \":2,\"allow_any_hosT\":3,"
		   "\"allow_any_h\\u043est\":4,\"allow_any_host\\u200b\":5}", NULL);
	syntax_fails("{\"subsystems\": [{\"nqn\": \"" NQN1 "\", \"attr\": {\"allow_any_host\": \"0\","
		     " \"allow_any_h\\u043est\": \"1\"}}]}",
		     "s.json: subsystems[0].attr.allow_any_h\xd0\xbest: unknown key");
}

/* NSIDs stop at Identify Controller NN (CFG_MAX_NSID) */
static void test_nsid_limit(void **state)
{
	struct config *cfg;
	char err[256] = "";
	char *j;

	(void)state;
	cfg = parse_ok(ONE_NS("{'nsid': 1024, 'device': {'mem': '1M'}}, {'nsid': '1023', 'device': {'mem': '1M'}}"));
	assert_int_equal(cfg->subsystems[0].namespaces[0].nsid, CFG_MAX_NSID);
	assert_int_equal(cfg->subsystems[0].namespaces[1].nsid, 1023);
	config_free(cfg);
	j = dq(ONE_NS("{'nsid': 1025, 'device': {'mem': '1M'}}"));
	assert_int_equal(config_parse(j, "FILE", &cfg, err, sizeof(err)), -EINVAL);
	free(j);
	assert_null(cfg);
	assert_string_equal(err, "FILE: subsystems[0].namespaces[0].nsid: 1025 is above 1024, the highest NSID "
				 "this target reports (Identify Controller NN)");
}

static void test_rpc_group(void **state)
{
	static const char *const good[] = {
		"nvmf-admins", "a", "_x.y-z", "Storage.Ops_2", "0",
		/* 63 characters, the most */
		X10 X10 X10 X10 X10 X10 "xxx",
	};
	struct config *cfg;
	char json[200];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(json, sizeof(json), "{'bridge': {'rpc_group': '%s'}}", good[i]);
		cfg = parse_ok(json);
		assert_string_equal(cfg->bridge.rpc_group, good[i]);
		config_free(cfg);
	}
	/* not checked against the group database: the daemon does that */
	cfg = parse_ok("{'bridge': {'rpc_group': 'no-such-group-here'}}");
	assert_string_equal(cfg->bridge.rpc_group, "no-such-group-here");
	config_free(cfg);
	/* "" and null are unset, like every other value: root only */
	cfg = parse_ok("{'bridge': {'rpc_group': '', 'rpc_socket': null}}");
	assert_string_equal(cfg->bridge.rpc_group, "");
	config_free(cfg);
	cfg = parse_ok("{'bridge': {'rpc_group': null}}");
	assert_string_equal(cfg->bridge.rpc_group, "");
	config_free(cfg);
}

static void test_pcie_forms(void **state)
{
	struct config *cfg = parse_ok(
		"{'subsystems': ["
		SUBSYS(NQN1, "", "{'nsid': 1, 'device': {'pcie': '0A:1F.7'}},"
				 "{'nsid': 2, 'device': {'pcie': '0000:0a:1f.7', 'nsid': 2}}") ","
		SUBSYS(NQN2, "", "{'nsid': 1, 'device': {'pcie': 'ABCD:EF:00.0', 'nsid': 4294967294}},"
				 "{'nsid': 1024, 'device': {'pcie': '0000:0A:1F.7', 'nsid': 3}}")
		"]}");
	const struct cfg_subsystem *s = cfg->subsystems;

	(void)state;
	/* one controller, different namespaces, two subsystems: fine */
	assert_string_equal(s[0].namespaces[0].pcie_bdf, "0000:0a:1f.7");
	assert_int_equal(s[0].namespaces[0].pcie_nsid, 1);
	assert_string_equal(s[0].namespaces[1].pcie_bdf, "0000:0a:1f.7");
	assert_int_equal(s[0].namespaces[1].pcie_nsid, 2);
	assert_string_equal(s[1].namespaces[0].pcie_bdf, "abcd:ef:00.0");
	assert_int_equal(s[1].namespaces[0].pcie_nsid, 0xfffffffe);
	assert_int_equal(s[1].namespaces[1].nsid, 1024);
	assert_int_equal(s[1].namespaces[1].pcie_nsid, 3);
	config_free(cfg);
}

static void test_file_and_mem(void **state)
{
	struct config *cfg = parse_ok(ONE_NS(
		"{'nsid': 1, 'device': {'path': '/var/lib/nvmfb/a.img'}},"
		"{'nsid': 2, 'device': {'path': '/dev/sdb', 'block_size': '4096'}},"
		"{'nsid': 3, 'device': {'mem': '256MiB'}},"
		"{'nsid': 4, 'device': {'mem': '1G', 'block_size': 4096}},"
		"{'nsid': 5, 'device': {'mem': '1 GiB'}},"
		"{'nsid': 6, 'device': {'mem': 1048576}}"));
	const struct cfg_namespace *ns = cfg->subsystems[0].namespaces;

	(void)state;
	assert_int_equal(ns[0].backend, CFG_BACKEND_FILE);
	assert_string_equal(ns[0].path, "/var/lib/nvmfb/a.img");
	assert_int_equal(ns[0].block_size, 512);
	assert_int_equal(ns[1].block_size, 4096);
	assert_int_equal(ns[2].backend, CFG_BACKEND_MEM);
	assert_int_equal(ns[2].mem_bytes, 256ull << 20);
	assert_int_equal(ns[3].mem_bytes, 1ull << 30);
	assert_int_equal(ns[3].block_size, 4096);
	assert_int_equal(ns[4].mem_bytes, 1ull << 30);
	assert_int_equal(ns[5].mem_bytes, 1 << 20);
	config_free(cfg);
}

/* null: sized like mem, with the same optional keys; only the backend
 * differs */
static void test_null_device(void **state)
{
	struct config *cfg = parse_ok(ONE_NS(
		"{'nsid': 1, 'device': {'null': '1GiB'}},"
		"{'nsid': 2, 'device': {'null': 8192, 'block_size': 4096, 'uuid': '" UUID1 "',"
		" 'nguid': '0123456789abcdef0123456789abcdef', 'eui64': '0011223344556677'}},"
		"{'nsid': 3, 'device': {'null': '512', 'block_size': '512'}},"
		/* an unset mem beside it does not count as a second device */
		"{'nsid': 4, 'device': {'null': '3 MiB', 'mem': ''}}"));
	const struct cfg_namespace *ns = cfg->subsystems[0].namespaces;

	(void)state;
	assert_int_equal(ns[0].backend, CFG_BACKEND_NULL);
	assert_int_equal(ns[0].mem_bytes, 1ull << 30);
	assert_int_equal(ns[0].block_size, 512);
	assert_false(ns[0].has_uuid);
	assert_int_equal(ns[1].backend, CFG_BACKEND_NULL);
	assert_int_equal(ns[1].mem_bytes, 8192);
	assert_int_equal(ns[1].block_size, 4096);
	assert_true(ns[1].has_uuid);
	assert_int_equal(ns[1].uuid[0], 0xd5);
	assert_true(ns[1].has_nguid);
	assert_int_equal(ns[1].nguid[15], 0xef);
	assert_int_equal(ns[2].backend, CFG_BACKEND_NULL);
	assert_int_equal(ns[2].mem_bytes, 512);
	assert_int_equal(ns[3].backend, CFG_BACKEND_NULL);
	assert_int_equal(ns[3].mem_bytes, 3ull << 20);
	config_free(cfg);
}

/* hosts[].dhchap as nvmetcli saves it with keys set; require_auth */
static void test_dhchap(void **state)
{
	struct config *cfg = parse_ok(
		"{ 'hosts': [ { 'nqn': '" HOSTA "', 'dhchap': { 'key': '" KEY256 "', 'ctrl_key': '" KEY512 "',"
		"               'hash': 'hmac(sha512)', 'dhgroup': 'ffdhe4096' } },"
		"             { 'nqn': '" HOSTB "', 'dhchap': { 'key': '" KEY256 "' } } ],"
		"  'subsystems': [ { 'nqn': '" NQN1 "', 'require_auth': true, 'allowed_hosts': [ '" HOSTA "', '" HOSTB "' ] } ] }");
	const struct cfg_dhchap *a = &cfg->hosts[0].dhchap, *b = &cfg->hosts[1].dhchap;

	(void)state;
	assert_string_equal(a->key, KEY256);
	assert_int_equal(a->host.len, 32);
	assert_int_equal(a->host.hash, DHCHAP_SHA256);
	assert_int_equal(a->host.key[31], 31);
	assert_int_equal(a->ctrl.len, 64);
	assert_int_equal(a->ctrl.hash, DHCHAP_SHA512);
	assert_int_equal(a->ctrl.key[63], 63);
	assert_int_equal(a->hash, DHCHAP_SHA512);
	assert_int_equal(a->dhgroup, DHCHAP_FFDHE4096);
	/* defaults, as nvmet shows them */
	assert_int_equal(b->hash, DHCHAP_SHA256);
	assert_int_equal(b->dhgroup, DHCHAP_DH_NULL);
	assert_string_equal(b->ctrl_key, "");
	assert_true(cfg->subsystems[0].require_auth);
	assert_ptr_equal(cfg_find_host(cfg, HOSTB), &cfg->hosts[1]);
	assert_null(cfg_find_host(cfg, "nqn.2014-08.org.example:nobody"));
	config_free(cfg);
}

/* TLS: a port with tsas tls1.3 (required unless "not required"), a
 * host's PSK and its derivation */
static void test_tls(void **state)
{
	struct config *cfg = parse_ok(
		"{'hosts': [{'nqn': '" HOSTA "', 'tls_psk': 'NVMeTLSkey-1:01:KI0kE4hVRuRk7cIbb6/zFjH17CYYDFxxB56ivclWbTziEdvn:'},"
		"           {'nqn': '" HOSTB "', 'tls_psk_derivation': 'spec'}],"
		" 'ports': [{'portid': 1, 'addr': {" TCP4 ", 'tsas': 'tls1.3'}},"
		"           {'portid': 2, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '4421',"
		"            'tsas': 'tls1.3', 'treq': 'not required'}},"
		"           {'portid': 3, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '4422',"
		"            'tsas': 'none', 'treq': 'not required'}}]}");

	(void)state;
	assert_int_equal(cfg->hosts[0].tls_psk.len, 32);
	assert_int_equal(cfg->hosts[0].tls_kdf, TLS_PSK_KDF_COMPAT);
	assert_int_equal(cfg->hosts[1].tls_psk.len, 0);
	assert_int_equal(cfg->hosts[1].tls_kdf, TLS_PSK_KDF_SPEC);
	assert_true(cfg->ports[0].addr.tls);
	assert_int_equal(cfg->ports[0].addr.treq, CFG_TREQ_REQUIRED);
	assert_true(cfg->ports[1].addr.tls);
	assert_int_equal(cfg->ports[1].addr.treq, CFG_TREQ_NOT_REQUIRED);
	assert_false(cfg->ports[2].addr.tls);
	config_free(cfg);
}

static void test_uuid_nguid(void **state)
{
	struct config *cfg = parse_ok(ONE_NS(
		"{'nsid': 1, 'device': {'mem': '1M', 'uuid': 'D592CDF3-5D1C-44E0-8412-3FCF7D99DF27',"
		" 'nguid': '0123456789abcdef0123456789ABCDEF'}},"
		"{'nsid': 2, 'device': {'mem': '1M', 'nguid': '01234567-89ab-cdef-0123-456789abcdee'}},"
		/* the all-zero values mean unset, so they never collide */
		"{'nsid': 3, 'device': {'mem': '1M', 'uuid': '00000000-0000-0000-0000-000000000000',"
		" 'nguid': '00000000-0000-0000-0000-000000000000'}},"
		"{'nsid': 4, 'device': {'mem': '1M', 'uuid': '00000000-0000-0000-0000-000000000000'}}"));
	const struct cfg_namespace *ns = cfg->subsystems[0].namespaces;
	static const uint8_t nguid[16] = {
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	};

	(void)state;
	assert_true(ns[0].has_uuid);
	assert_int_equal(ns[0].uuid[0], 0xd5);
	assert_true(ns[0].has_nguid);
	assert_memory_equal(ns[0].nguid, nguid, 16);
	assert_true(ns[1].has_nguid);
	assert_int_equal(ns[1].nguid[15], 0xee);
	assert_false(ns[2].has_uuid);
	assert_false(ns[2].has_nguid);
	assert_false(ns[3].has_uuid);
	config_free(cfg);
}

static void test_ports_accepted(void **state)
{
	struct config *cfg = parse_ok(WITH_PORTS(
		/* same address, other service or other transport: no conflict */
		"{'portid': 1, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '0.0.0.0', 'trsvcid': 4420}},"
		"{'portid': 2, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': 4421}},"
		"{'portid': 3, 'addr': {'trtype': 'rdma', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': 4420}},"
		"{'portid': 4, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv6', 'traddr': '::1', 'trsvcid': 4420}},"
		"{'portid': 65535, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv6', 'traddr': '2001:db8::10', 'trsvcid': 65535},"
		" 'param': {'inline_data_size': 0}}"));

	(void)state;
	assert_int_equal(cfg->nr_ports, 5);
	assert_int_equal(cfg->ports[3].addr.adrfam, CFG_ADRFAM_IPV6);
	assert_string_equal(cfg->ports[3].addr.traddr, "::1");
	assert_int_equal(cfg->ports[4].portid, 65535);
	assert_string_equal(cfg->ports[4].addr.trsvcid, "65535");
	assert_int_equal(cfg->ports[4].inline_data_size, 0);
	config_free(cfg);

	cfg = parse_ok(PORT_EXTRA(", 'param': {'inline_data_size': 131072}"));
	assert_int_equal(cfg->ports[0].inline_data_size, 131072);
	config_free(cfg);
}

static void test_referral_defaults(void **state)
{
	struct config *cfg = parse_ok(REFERRAL("{'name': 'a', 'addr': {" REF_ADDR "}},"
					       "{'name': 'b', 'enable': 0, 'addr': {'trtype': 'rdma',"
					       " 'adrfam': 'ipv6', 'traddr': '2001:db8::1', 'trsvcid': 4420,"
					       " 'treq': 'required', 'portid': 9}}"));
	const struct cfg_referral *r = cfg->ports[0].referrals;

	(void)state;
	assert_int_equal(cfg->ports[0].nr_referrals, 2);
	assert_true(r[0].enable);
	assert_int_equal(r[0].portid, 0);
	assert_int_equal(r[0].addr.treq, CFG_TREQ_NOT_SPECIFIED);
	assert_false(r[1].enable);
	assert_int_equal(r[1].portid, 9);
	assert_int_equal(r[1].addr.trtype, CFG_TRTYPE_RDMA);
	assert_int_equal(r[1].addr.treq, CFG_TREQ_REQUIRED);
	config_free(cfg);
}

static void test_find_subsystem(void **state)
{
	struct config *cfg = parse_ok(TWO_SUBSYS(NS_MEM, ""));

	(void)state;
	assert_ptr_equal(config_find_subsystem(cfg, NQN1), &cfg->subsystems[0]);
	assert_ptr_equal(config_find_subsystem(cfg, NQN2), &cfg->subsystems[1]);
	assert_int_equal(cfg->subsystems[1].nr_namespaces, 0);
	assert_null(config_find_subsystem(cfg, "nqn.2024-01.org.example:ssd2"));
	assert_null(config_find_subsystem(cfg, NULL));
	assert_null(config_find_subsystem(NULL, NQN1));
	config_free(cfg);
	config_free(NULL);
}

/* ---- JSON syntax ---- */

static void syntax_fails(const char *json, const char *want)
{
	struct config *cfg = (struct config *)&cfg;
	char err[256] = "";
	int ret = config_parse(json, "s.json", &cfg, err, sizeof(err));

	assert_int_equal(ret, -EINVAL);
	assert_null(cfg);
	if (strncmp(err, "s.json: ", 8) || !strstr(err, want))
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
	assert_null(strchr(err, '\n'));
}

static void test_json_syntax(void **state)
{
	(void)state;
	syntax_fails("{\n  \"hosts\": [],\n  \"ports\": [],\n}\n", "line 4 column 1: invalid JSON");
	syntax_fails("{\"hosts\": [}", "line 1 column 12: invalid JSON");
	syntax_fails("/* comment */ {}", "line 1 column 1: invalid JSON");
	syntax_fails("{\n 'hosts': []}", "line 2 column 2: invalid JSON: single quotes");
	syntax_fails("{\"a\": 'x'}", "line 1 column 7: invalid JSON");
	syntax_fails("{\n\"hosts\": [\n", "line 3 column 1: invalid JSON: unexpected end of file");
	syntax_fails("{} {}", "invalid JSON");
	syntax_fails("{} x", "line 1 column 4: invalid JSON");
	syntax_fails("", "empty file");
	syntax_fails(" \n\t ", "empty file");
	/* a duplicated key would silently win in json-c: refused with its path */
	syntax_fails("{\"subsystems\": [{\"nqn\": \"" NQN1 "\",\n \"attr\": {\"allow_any_host\": 0,\n"
		     " \"allow_any_host\": 1}}]}",
		     "s.json: subsystems[0].attr.allow_any_host: duplicate key (line 3 column 2)");
	/* a UTF-8 byte order mark is skipped */
	{
		struct config *cfg = NULL;

		assert_int_equal(config_parse("\xef\xbb\xbf{}", "bom.json", &cfg, NULL, 0), 0);
		config_free(cfg);
	}
}

static void test_dup_key_scanner(void **state)
{
	static const char *const ok[] = {
		"{}", "[]", "{\"a\":1,\"b\":{\"a\":2},\"c\":[{\"a\":1},{\"a\":1}]}",
		"{\"a\\\"\":1,\"a\":2}", "{\"k\":\"{\\\"k\\\":1,\\\"k\\\":2}\"}",
		"[{\"x\":[1,{\"y\":2}],\"y\":3}]",
	};
	char path[128];
	size_t off = 0, i;
	const char *t;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ok); i++)
		assert_int_equal(cfg_json_find_dup_key(ok[i], strlen(ok[i]), path, sizeof(path), &off), 0);
	t = "{\"a\":[0,{\"b\":[{}, {\"c\":1,\"d\":2,\"c\":3}]}]}";
	assert_int_equal(cfg_json_find_dup_key(t, strlen(t), path, sizeof(path), &off), 1);
	assert_string_equal(path, "a[1].b[1].c");
	assert_int_equal(off, (size_t)(strstr(t, "\"c\":3") - t));
	t = "{\"x\":1,\"y\":2,\"x\":3}";
	assert_int_equal(cfg_json_find_dup_key(t, strlen(t), path, sizeof(path), &off), 1);
	assert_string_equal(path, "x");
	/* a short path buffer truncates, it does not overflow */
	t = "{\"aaaaaaaaaa\":{\"bbbbbbbbbb\":1,\"bbbbbbbbbb\":1}}";
	assert_int_equal(cfg_json_find_dup_key(t, strlen(t), path, 8, &off), 1);
	assert_string_equal(path, "aaaaaaa");
}

static void test_error_buffer(void **state)
{
	struct config *cfg = NULL;
	char small[12];

	(void)state;
	/* truncated, still terminated; and no buffer at all is fine */
	assert_int_equal(config_parse("{\"x\": 1}", "long-name.json", &cfg, small, sizeof(small)), -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(config_parse("{\"x\": 1}", "f", &cfg, NULL, 0), -EINVAL);
	assert_int_equal(config_parse(NULL, "f", &cfg, small, sizeof(small)), -EINVAL);
	assert_null(cfg);
	/* name stands in for the file; NULL gets a placeholder */
	assert_int_equal(config_parse("[]", NULL, &cfg, small, sizeof(small)), -EINVAL);
}

/* ---- refusals: one case each, path and key word checked ---- */

struct err_case {
	const char *name;
	const char *json;
	const char *path;
	const char *word;
};

static const struct err_case err_cases[] = {
	/* top level */
	{ "top_not_object", "[]", "top level", "expected an object, got an array" },
	{ "top_unknown_key", "{'subsystem': []}", "subsystem", "unknown key" },
	{ "hosts_not_array", "{'hosts': {}}", "hosts", "expected an array" },
	{ "discovery_not_object", "{'discovery': 'x'}", "discovery", "expected an object" },
	{ "dup_key", ONE_SUBSYS("'allow_any_host': '0', 'allow_any_host': '1'", ""),
	  "subsystems[0].attr.allow_any_host", "duplicate key" },
	{ "nul_in_string", "{'hosts': [{'nqn': 'nqn.2024-01.org.example:a\\u0000b'}]}",
	  "hosts[0].nqn", "NUL" },

	/* bridge */
	{ "bridge_reactors_0", "{'bridge': {'reactors': 0}}", "bridge.reactors", "out of range (1..64)" },
	{ "bridge_srq_small", "{'bridge': {'rdma_srq_size': 63}}", "bridge.rdma_srq_size",
	  "63 receive buffers; 0 (automatic) or 64 to 65536" },
	{ "bridge_srq_big", "{'bridge': {'rdma_srq_size': 65537}}", "bridge.rdma_srq_size", "out of range (0..65536)" },
	{ "bridge_reactors_65", "{'bridge': {'reactors': '65'}}", "bridge.reactors", "out of range" },
	{ "bridge_reactors_word", "{'bridge': {'reactors': 'two'}}", "bridge.reactors", "expected an integer" },
	{ "bridge_reactors_fraction", "{'bridge': {'reactors': 1.5}}", "bridge.reactors", "expected an integer" },
	{ "bridge_discovery_port", "{'bridge': {'discovery_port': 65536}}", "bridge.discovery_port", "out of range" },
	{ "metrics_no_listen", "{'bridge': {'metrics': {}}}", "bridge.metrics.listen", "missing" },
	{ "metrics_name", "{'bridge': {'metrics': {'listen': 'localhost:9'}}}", "bridge.metrics.listen",
	  "expected a numeric IPv4 or IPv6 address" },
	{ "metrics_port_0", "{'bridge': {'metrics': {'listen': '127.0.0.1:0'}}}", "bridge.metrics.listen",
	  "the port must be 1..65535" },
	{ "metrics_port_word", "{'bridge': {'metrics': {'listen': '127.0.0.1:http'}}}", "bridge.metrics.listen",
	  "the port must be 1..65535" },
	{ "metrics_v6_unbracketed_port", "{'bridge': {'metrics': {'listen': '[::1'}}}", "bridge.metrics.listen",
	  "expected [IPv6]:PORT" },
	{ "metrics_unknown_key", "{'bridge': {'metrics': {'listen': '127.0.0.1', 'path': '/m'}}}", "bridge.metrics.path",
	  "unknown key" },
	{ "bridge_rpc_socket_long", "{'bridge': {'rpc_socket': '/" X100 "xxxxxxx'}}", "bridge.rpc_socket",
	  "shorter than 108" },
	{ "bridge_rpc_socket_type", "{'bridge': {'rpc_socket': 5}}", "bridge.rpc_socket", "expected a string" },
	{ "bridge_unknown_key", "{'bridge': {'reactor': 2}}", "bridge.reactor", "unknown key" },
	{ "bridge_icreq_timeout_low", "{'bridge': {'icreq_timeout_ms': 99}}", "bridge.icreq_timeout_ms",
	  "out of range (100..600000)" },
	{ "bridge_connect_timeout_word", "{'bridge': {'connect_timeout_ms': 'soon'}}", "bridge.connect_timeout_ms",
	  "expected an integer" },
	{ "bridge_conns_port_0", "{'bridge': {'max_connections_per_port': 0}}", "bridge.max_connections_per_port",
	  "out of range (1..1000000)" },
	{ "bridge_conns_addr_big", "{'bridge': {'max_connections_per_address': 1000001}}",
	  "bridge.max_connections_per_address", "out of range" },
	{ "bridge_ctrls_host_0", "{'bridge': {'max_controllers_per_host': '0'}}", "bridge.max_controllers_per_host",
	  "out of range (1..65535)" },
	{ "bridge_ns_dirs_string", "{'bridge': {'rpc_namespace_dirs': '/srv'}}", "bridge.rpc_namespace_dirs",
	  "expected an array" },
	{ "bridge_ns_dirs_relative", "{'bridge': {'rpc_namespace_dirs': ['/srv', 'srv']}}",
	  "bridge.rpc_namespace_dirs[1]", "not an absolute path" },
	{ "bridge_ns_dirs_root", "{'bridge': {'rpc_namespace_dirs': ['/']}}", "bridge.rpc_namespace_dirs[0]",
	  "would allow every file" },
	{ "bridge_ns_dirs_dotdot", "{'bridge': {'rpc_namespace_dirs': ['/srv/../etc']}}",
	  "bridge.rpc_namespace_dirs[0]", "not a normalised path" },
	{ "bridge_ns_dirs_trailing", "{'bridge': {'rpc_namespace_dirs': ['/srv/']}}",
	  "bridge.rpc_namespace_dirs[0]", "not a normalised path" },
	{ "bridge_ns_dirs_many", "{'bridge': {'rpc_namespace_dirs': ['/a','/b','/c','/d','/e','/f','/g','/h','/i']}}",
	  "bridge.rpc_namespace_dirs", "at most 8" },
	{ "bridge_save_dir_dot", "{'bridge': {'rpc_save_dir': '/etc/nvmf/.'}}", "bridge.rpc_save_dir",
	  "not a normalised path" },
	{ "bridge_save_dir_type", "{'bridge': {'rpc_save_dir': 1}}", "bridge.rpc_save_dir", "expected a string" },
	{ "bridge_icreq_timeout_high", "{'bridge': {'icreq_timeout_ms': '600001'}}", "bridge.icreq_timeout_ms",
	  "600001 is out of range (100..600000)" },
	{ "bridge_icreq_timeout_bool", "{'bridge': {'icreq_timeout_ms': true}}", "bridge.icreq_timeout_ms",
	  "expected an integer, got a boolean" },
	{ "bridge_connect_timeout_low", "{'bridge': {'connect_timeout_ms': 99}}", "bridge.connect_timeout_ms",
	  "99 is out of range (100..600000)" },
	{ "bridge_connect_timeout_high", "{'bridge': {'connect_timeout_ms': 600001}}", "bridge.connect_timeout_ms",
	  "out of range (100..600000)" },
	{ "bridge_connect_timeout_fraction", "{'bridge': {'connect_timeout_ms': 1000.5}}",
	  "bridge.connect_timeout_ms", "expected an integer, got a fractional number" },
	{ "bridge_conns_port_high", "{'bridge': {'max_connections_per_port': '1000001'}}",
	  "bridge.max_connections_per_port", "1000001 is out of range (1..1000000)" },
	{ "bridge_conns_port_array", "{'bridge': {'max_connections_per_port': [1]}}",
	  "bridge.max_connections_per_port", "expected an integer, got an array" },
	{ "bridge_conns_addr_0", "{'bridge': {'max_connections_per_address': '0'}}",
	  "bridge.max_connections_per_address", "0 is out of range (1..1000000)" },
	{ "bridge_conns_addr_hex", "{'bridge': {'max_connections_per_address': '0x10'}}",
	  "bridge.max_connections_per_address", "expected an integer, got \"0x10\"" },
	{ "bridge_ctrls_host_big", "{'bridge': {'max_controllers_per_host': 65536}}",
	  "bridge.max_controllers_per_host", "65536 is out of range (1..65535)" },
	{ "bridge_ctrls_host_negative", "{'bridge': {'max_controllers_per_host': -1}}",
	  "bridge.max_controllers_per_host", "-1 is out of range (1..65535)" },
	{ "bridge_ctrls_host_object", "{'bridge': {'max_controllers_per_host': {}}}",
	  "bridge.max_controllers_per_host", "expected an integer, got an object" },
	{ "bridge_limits_unknown_key", "{'bridge': {'max_connections_per_addr': 10}}",
	  "bridge.max_connections_per_addr", "unknown key" },
	{ "bridge_ns_dirs_object", "{'bridge': {'rpc_namespace_dirs': {}}}", "bridge.rpc_namespace_dirs",
	  "expected an array, got an object" },
	{ "bridge_ns_dirs_number", "{'bridge': {'rpc_namespace_dirs': ['/srv', 5]}}", "bridge.rpc_namespace_dirs[1]",
	  "expected a string, got a number" },
	{ "bridge_ns_dirs_null", "{'bridge': {'rpc_namespace_dirs': [null]}}", "bridge.rpc_namespace_dirs[0]",
	  "expected a string, got null" },
	{ "bridge_ns_dirs_empty", "{'bridge': {'rpc_namespace_dirs': ['']}}", "bridge.rpc_namespace_dirs[0]",
	  "\"\" is not an absolute path" },
	{ "bridge_ns_dirs_root_msg", "{'bridge': {'rpc_namespace_dirs': ['/srv', '/']}}",
	  "bridge.rpc_namespace_dirs[1]", "\"/\" would allow every file; name a directory kept for this purpose" },
	{ "bridge_ns_dirs_double_slash", "{'bridge': {'rpc_namespace_dirs': ['/srv//nvmf']}}",
	  "bridge.rpc_namespace_dirs[0]", "\"/srv//nvmf\" is not a normalised path" },
	{ "bridge_ns_dirs_dot", "{'bridge': {'rpc_namespace_dirs': ['/srv/./nvmf']}}",
	  "bridge.rpc_namespace_dirs[0]", "not a normalised path" },
	{ "bridge_ns_dirs_dot_end", "{'bridge': {'rpc_namespace_dirs': ['/srv/.']}}",
	  "bridge.rpc_namespace_dirs[0]", "not a normalised path" },
	{ "bridge_ns_dirs_dotdot_end", "{'bridge': {'rpc_namespace_dirs': ['/srv/..']}}",
	  "bridge.rpc_namespace_dirs[0]", "not a normalised path" },
	{ "bridge_ns_dirs_dotdot_root", "{'bridge': {'rpc_namespace_dirs': ['/..']}}",
	  "bridge.rpc_namespace_dirs[0]", "not a normalised path" },
	{ "bridge_ns_dirs_long", "{'bridge': {'rpc_namespace_dirs': ['/" X100 X100 X10 X10 X10 X10 X10 "xxxxx']}}",
	  "bridge.rpc_namespace_dirs[0]", "256 characters; at most 255" },
	{ "bridge_ns_dirs_dup", "{'bridge': {'rpc_namespace_dirs': ['/srv', '/var/nvmf', '/srv']}}",
	  "bridge.rpc_namespace_dirs[2]", "duplicate directory (also bridge.rpc_namespace_dirs[0])" },
	{ "bridge_save_dir_root", "{'bridge': {'rpc_save_dir': '/'}}", "bridge.rpc_save_dir", "would allow every file" },
	{ "bridge_save_dir_relative", "{'bridge': {'rpc_save_dir': 'etc/nvmf'}}", "bridge.rpc_save_dir",
	  "\"etc/nvmf\" is not an absolute path" },
	{ "bridge_save_dir_trailing", "{'bridge': {'rpc_save_dir': '/etc/nvmf/'}}", "bridge.rpc_save_dir",
	  "not a normalised path" },
	{ "bridge_save_dir_dotdot", "{'bridge': {'rpc_save_dir': '/etc/../tmp'}}", "bridge.rpc_save_dir",
	  "not a normalised path" },
	{ "bridge_save_dir_array", "{'bridge': {'rpc_save_dir': ['/etc/nvmf']}}", "bridge.rpc_save_dir",
	  "expected a string, got an array" },
	{ "bridge_save_dir_long", "{'bridge': {'rpc_save_dir': '/" X100 X100 X100 "'}}", "bridge.rpc_save_dir",
	  "301 characters; at most 255" },
	{ "rpc_group_dash", "{'bridge': {'rpc_group': '-wheel'}}", "bridge.rpc_group",
	  "\"-wheel\" starts with '-'" },
	{ "rpc_group_space", "{'bridge': {'rpc_group': 'nvmf admins'}}", "bridge.rpc_group",
	  "\"nvmf admins\" is not a group name" },
	{ "rpc_group_slash", "{'bridge': {'rpc_group': '../etc'}}", "bridge.rpc_group", "not a group name" },
	{ "rpc_group_colon", "{'bridge': {'rpc_group': 'a:b'}}", "bridge.rpc_group", "not a group name" },
	{ "rpc_group_dollar", "{'bridge': {'rpc_group': 'host$'}}", "bridge.rpc_group", "not a group name" },
	{ "rpc_group_utf8", "{'bridge': {'rpc_group': 'caf\\u00e9'}}", "bridge.rpc_group", "not a group name" },
	{ "rpc_group_control", "{'bridge': {'rpc_group': 'a\\u0001'}}", "bridge.rpc_group", "not a group name" },
	{ "rpc_group_long", "{'bridge': {'rpc_group': '" X10 X10 X10 X10 X10 X10 "xxxx'}}", "bridge.rpc_group",
	  "64 characters; a group name has at most 63" },
	{ "rpc_group_number", "{'bridge': {'rpc_group': 100}}", "bridge.rpc_group", "expected a string, got a number" },
	{ "rpc_group_array", "{'bridge': {'rpc_group': ['a']}}", "bridge.rpc_group", "expected a string" },
	{ "bridge_not_object", "{'bridge': []}", "bridge", "expected an object" },

	/* hosts */
	{ "host_nqn_missing", "{'hosts': [{}]}", "hosts[0].nqn", "missing" },
	{ "host_nqn_invalid", "{'hosts': [{'nqn': 'host1'}]}", "hosts[0].nqn", "invalid NQN" },
	{ "host_nqn_discovery", "{'hosts': [{'nqn': 'nqn.2014-08.org.nvmexpress.discovery'}]}",
	  "hosts[0].nqn", "cannot be a host NQN" },
	{ "host_dup", "{'hosts': [{'nqn': '" HOSTA "'}, {'nqn': '" HOSTA "'}]}", "hosts[1].nqn",
	  "duplicate host NQN (also hosts[0])" },
	{ "host_dhchap_key_base64", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': 'DHHC-1:00:abc'}}]}",
	  "hosts[0].dhchap.key", "valid base64" },
	{ "host_dhchap_key_prefix", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': 'DHHC-2:01:" KEY_B64 "'}}]}",
	  "hosts[0].dhchap.key", "not a DH-HMAC-CHAP secret" },
	{ "host_dhchap_key_hash_id", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': 'DHHC-1:04:" KEY_B64 "'}}]}",
	  "hosts[0].dhchap.key", "not a DH-HMAC-CHAP secret" },
	{ "host_dhchap_key_crc", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': 'DHHC-1:01:B" KEY_B64_TAIL "'}}]}",
	  "hosts[0].dhchap.key", "CRC-32" },
	{ "host_dhchap_key_short", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': '" KEY30 "'}}]}",
	  "hosts[0].dhchap.key", "wrong length" },
	{ "host_dhchap_key_trailing", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': '" KEY256 "x'}}]}",
	  "hosts[0].dhchap.key", "after the closing" },
	{ "host_dhchap_ctrl_key_alone", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'ctrl_key': '" KEY256 "'}}]}",
	  "hosts[0].dhchap.ctrl_key", "needs \"key\" too" },
	{ "host_dhchap_hash", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': '" KEY256 "', 'hash': 'sha256'}}]}",
	  "hosts[0].dhchap.hash", "not one of hmac(sha256)" },
	{ "host_dhchap_dhgroup", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': '" KEY256 "', 'dhgroup': 'ffdhe1024'}}]}",
	  "hosts[0].dhchap.dhgroup", "not one of null, ffdhe2048" },
	{ "subsys_require_auth_keyless",
	  "{'hosts': [{'nqn': '" HOSTA "'}], 'subsystems': [{'nqn': '" NQN1 "', 'require_auth': true, 'allowed_hosts': ['" HOSTA "']}]}",
	  "subsystems[0].allowed_hosts[0]", "has no DH-HMAC-CHAP key" },
	{ "subsys_require_auth_unknown_host",
	  "{'subsystems': [{'nqn': '" NQN1 "', 'require_auth': 1, 'allowed_hosts': ['" HOSTA "']}]}",
	  "subsystems[0].allowed_hosts[0]", "could never connect" },
	{ "host_dhchap_unknown", "{'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'secret': ''}}]}",
	  "hosts[0].dhchap.secret", "unknown key" },
	{ "attr_qid_max_0", ONE_SUBSYS("'qid_max': '0'", ""), "subsystems[0].attr.qid_max", "out of range" },
	{ "attr_version_word", ONE_SUBSYS("'version': 'two'", ""), "subsystems[0].attr.version", "not an NVMe version" },
	{ "attr_version_3", ONE_SUBSYS("'version': '3.0'", ""), "subsystems[0].attr.version", "not an NVMe version" },
	{ "attr_version_tail", ONE_SUBSYS("'version': '1.3x'", ""), "subsystems[0].attr.version", "not an NVMe version" },
	{ "attr_version_dot", ONE_SUBSYS("'version': '1.3.'", ""), "subsystems[0].attr.version", "not an NVMe version" },
	{ "attr_firmware_long", ONE_SUBSYS("'firmware': '123456789'", ""), "subsystems[0].attr.firmware", "maximum is 8" },
	{ "attr_ieee_oui_big", ONE_SUBSYS("'ieee_oui': '0x1000000'", ""), "subsystems[0].attr.ieee_oui", "24-bit" },
	{ "attr_ieee_oui_hex", ONE_SUBSYS("'ieee_oui': 'xyz'", ""), "subsystems[0].attr.ieee_oui", "24-bit" },
	{ "host_not_object", "{'hosts': ['" HOSTA "']}", "hosts[0]", "expected an object, got a string" },

	/* subsystems */
	{ "subsys_nqn_missing", "{'subsystems': [{'namespaces': []}]}", "subsystems[0].nqn", "missing" },
	{ "subsys_nqn_month", "{'subsystems': [{'nqn': 'nqn.2024-13.org.example:a'}]}",
	  "subsystems[0].nqn", "month" },
	{ "subsys_nqn_discovery", "{'subsystems': [{'nqn': 'nqn.2014-08.org.nvmexpress.discovery'}]}",
	  "subsystems[0].nqn", "discovery NQN" },
	{ "subsys_nqn_dup", "{'subsystems': [{'nqn': '" NQN1 "'}, {'nqn': '" NQN1 "'}]}",
	  "subsystems[1].nqn", "duplicate subsystem NQN (also subsystems[0])" },
	{ "subsys_unknown_key", "{'subsystems': [{'nqn': '" NQN1 "', 'namespace': []}]}",
	  "subsystems[0].namespace", "unknown key" },
	{ "attr_serial_long", ONE_SUBSYS("'serial': '123456789012345678901'", ""), "subsystems[0].attr.serial",
	  "maximum is 20" },
	{ "attr_serial_ctrl", ONE_SUBSYS("'serial': 'ab\\u0001'", ""), "subsystems[0].attr.serial",
	  "printable ASCII" },
	{ "attr_serial_utf8", ONE_SUBSYS("'serial': 'caf\\u00e9'", ""), "subsystems[0].attr.serial",
	  "printable ASCII" },
	{ "attr_model_long", ONE_SUBSYS("'model': '" X10 X10 X10 X10 "x'", ""), "subsystems[0].attr.model",
	  "maximum is 40" },
	{ "attr_cntlid_min_0", ONE_SUBSYS("'cntlid_min': '0'", ""), "subsystems[0].attr.cntlid_min",
	  "out of range (1..65519)" },
	{ "attr_cntlid_max_big", ONE_SUBSYS("'cntlid_max': 65520", ""), "subsystems[0].attr.cntlid_max",
	  "out of range" },
	{ "attr_cntlid_order", ONE_SUBSYS("'cntlid_min': 200, 'cntlid_max': 100", ""),
	  "subsystems[0].attr.cntlid_min", "greater than cntlid_max" },
	{ "attr_pi_enable", ONE_SUBSYS("'pi_enable': '1'", ""), "subsystems[0].attr.pi_enable",
	  "protection information" },
	{ "attr_allow_any_host_word", ONE_SUBSYS("'allow_any_host': 'yes'", ""),
	  "subsystems[0].attr.allow_any_host", "expected 0, 1, true or false" },
	{ "attr_allow_any_host_2", ONE_SUBSYS("'allow_any_host': 2", ""),
	  "subsystems[0].attr.allow_any_host", "expected 0, 1" },
	{ "attr_unknown_key", ONE_SUBSYS("'allow_any_hosts': 1", ""), "subsystems[0].attr.allow_any_hosts",
	  "unknown key" },
	{ "allowed_hosts_dup", "{'subsystems': [{'nqn': '" NQN1 "', 'allowed_hosts': ['" HOSTA "', '" HOSTA "']}]}",
	  "subsystems[0].allowed_hosts[1]", "duplicate host NQN (also subsystems[0].allowed_hosts[0])" },
	{ "allowed_hosts_invalid", "{'subsystems': [{'nqn': '" NQN1 "', 'allowed_hosts': ['" HOSTB "', 'h2']}]}",
	  "subsystems[0].allowed_hosts[1]", "invalid NQN" },
	{ "allowed_hosts_type", "{'subsystems': [{'nqn': '" NQN1 "', 'allowed_hosts': '" HOSTA "'}]}",
	  "subsystems[0].allowed_hosts", "expected an array" },
	{ "allow_any_host_and_list", "{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'},"
	  " 'allowed_hosts': ['" HOSTA "']}]}", "subsystems[0].attr.allow_any_host", "allowed_hosts" },
	{ "passthru_enabled", "{'subsystems': [{'nqn': '" NQN1 "', 'passthru': [{'device': {'path': '/dev/nvme0'},"
	  " 'enable': 1}]}]}", "subsystems[0].passthru[0].enable", "passthru subsystems are not supported" },
	{ "passthru_object_enabled", "{'subsystems': [{'nqn': '" NQN1 "', 'passthru': {'enable': true}}]}",
	  "subsystems[0].passthru.enable", "not supported" },

	/* namespaces */
	{ "ns_not_object", ONE_NS("1"), "subsystems[0].namespaces[0]", "expected an object" },
	{ "ns_nsid_missing", ONE_NS("{'device': {'mem': '1M'}}"), "subsystems[0].namespaces[0].nsid", "missing" },
	{ "ns_nsid_0", ONE_NS("{'nsid': 0, 'device': {'mem': '1M'}}"), "subsystems[0].namespaces[0].nsid",
	  "0 is out of range (1..1024)" },
	{ "ns_nsid_negative", ONE_NS("{'nsid': '-1', 'device': {'mem': '1M'}}"), "subsystems[0].namespaces[0].nsid",
	  "-1 is out of range (1..1024)" },
	/* a host looks no further than NN: a namespace above it would be
	 * listed active and then answered "invalid namespace" */
	{ "ns_nsid_above_nn", ONE_NS("{'nsid': 1025, 'device': {'mem': '1M'}}"), "subsystems[0].namespaces[0].nsid",
	  "1025 is above 1024, the highest NSID this target reports (Identify Controller NN)" },
	{ "ns_nsid_above_nn_string", ONE_NS(NS_MEM ", {'nsid': '1025', 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[1].nsid", "1025 is above 1024" },
	{ "ns_nsid_max_fabrics", ONE_NS("{'nsid': 4294967294, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].nsid", "4294967294 is above 1024" },
	{ "ns_nsid_broadcast", ONE_NS("{'nsid': '4294967295', 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].nsid", "4294967295 is above 1024" },
	{ "ns_nsid_huge", ONE_NS("{'nsid': '99999999999999999999', 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].nsid", "expected an integer" },
	{ "ns_nsid_bool", ONE_NS("{'nsid': true, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].nsid", "expected an integer, got a boolean" },
	{ "ns_nsid_dup", ONE_NS(NS_MEM ", {'nsid': '1', 'device': {'mem': '2M'}}"),
	  "subsystems[0].namespaces[1].nsid", "duplicate NSID 1 (also subsystems[0].namespaces[0])" },
	{ "ns_enable_2", ONE_NS("{'nsid': 1, 'enable': 2, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].enable", "expected 0, 1, true or false" },
	{ "ns_ana_grpid_129", ONE_NS("{'nsid': 1, 'ana_grpid': 129, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].ana_grpid", "ANA group 129 is out of range (1..128)" },
	{ "ns_ana_grpid_neg", ONE_NS("{'nsid': 1, 'ana': {'grpid': '-3'}, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].ana.grpid", "ANA group -3 is out of range" },
	{ "ns_ana_grpid_differ", ONE_NS("{'nsid': 1, 'ana_grpid': 2, 'ana': {'grpid': 3}, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].ana.grpid", "ANA group 3 differs from ana_grpid 2" },
	{ "ns_resv_enable_2", ONE_NS("{'nsid': 1, 'resv': {'enable': 2}, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].resv.enable", "expected 0, 1, true or false" },
	{ "ns_resv_unknown_key", ONE_NS("{'nsid': 1, 'resv': {'ptpl': 1}, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].resv.ptpl", "unknown key" },
	{ "ns_unknown_key", ONE_NS("{'nsid': 1, 'buffered_io': 1, 'device': {'mem': '1M'}}"),
	  "subsystems[0].namespaces[0].buffered_io", "unknown key" },
	{ "dev_missing", ONE_NS("{'nsid': 1}"), "subsystems[0].namespaces[0].device", "missing" },
	{ "dev_not_object", ONE_NS("{'nsid': 1, 'device': '/dev/nvme0n1'}"),
	  "subsystems[0].namespaces[0].device", "expected an object" },
	{ "dev_empty", DEV(""), "subsystems[0].namespaces[0].device", "no backing device" },
	{ "dev_only_empty_path", DEV("'path': '', 'uuid': '" UUID1 "'"), "subsystems[0].namespaces[0].device",
	  "no backing device" },
	{ "dev_two_backends", DEV("'pcie': '0000:00:02.0', 'path': '/dev/x'"),
	  "subsystems[0].namespaces[0].device", "pcie and path are exclusive" },
	{ "dev_three_backends", DEV("'pcie': '0000:00:02.0', 'path': '/dev/x', 'mem': '1M'"),
	  "subsystems[0].namespaces[0].device", "pcie, path and mem are exclusive" },
	{ "dev_mem_and_null", DEV("'mem': '1M', 'null': '1M'"),
	  "subsystems[0].namespaces[0].device", "mem and null are exclusive: set exactly one of pcie, path, mem or null" },
	{ "dev_pcie_and_null", DEV("'pcie': '0000:00:02.0', 'null': '1M'"),
	  "subsystems[0].namespaces[0].device", "pcie and null are exclusive" },
	{ "dev_path_and_null", DEV("'path': '/dev/x', 'null': '1M'"),
	  "subsystems[0].namespaces[0].device", "path and null are exclusive" },
	{ "dev_four_backends", DEV("'pcie': '0000:00:02.0', 'path': '/dev/x', 'mem': '1M', 'null': '1M'"),
	  "subsystems[0].namespaces[0].device", "pcie, path, mem and null are exclusive" },
	{ "dev_empty_names_null", DEV("'null': ''"), "subsystems[0].namespaces[0].device",
	  "no backing device: set one of pcie, path, mem or null" },
	{ "dev_unknown_key", DEV("'mem': '1M', 'size': '1M'"), "subsystems[0].namespaces[0].device.size",
	  "unknown key" },
	{ "pcie_bad", DEV("'pcie': '00:02'"), "subsystems[0].namespaces[0].device.pcie", "not a PCI address" },
	{ "pcie_function_8", DEV("'pcie': '0000:00:02.8'"), "subsystems[0].namespaces[0].device.pcie",
	  "not a PCI address" },
	{ "pcie_device_32", DEV("'pcie': '0000:00:20.0'"), "subsystems[0].namespaces[0].device.pcie",
	  "not a PCI address" },
	{ "pcie_sysfs_path", DEV("'pcie': '/sys/bus/pci/devices/0000:00:02.0'"),
	  "subsystems[0].namespaces[0].device.pcie", "not a PCI address" },
	{ "pcie_nsid_0", DEV("'pcie': '0000:00:02.0', 'nsid': 0"), "subsystems[0].namespaces[0].device.nsid",
	  "out of range" },
	{ "pcie_block_size", DEV("'pcie': '0000:00:02.0', 'block_size': 512"),
	  "subsystems[0].namespaces[0].device.block_size", "LBA format" },
	{ "path_relative", DEV("'path': 'disk.img'"), "subsystems[0].namespaces[0].device.path", "absolute" },
	{ "path_with_nsid", DEV("'path': '/dev/sdb', 'nsid': 1"), "subsystems[0].namespaces[0].device.nsid",
	  "only with pcie" },
	{ "mem_gb", DEV("'mem': '1GB'"), "subsystems[0].namespaces[0].device.mem", "not a size" },
	{ "mem_fraction", DEV("'mem': '1.5G'"), "subsystems[0].namespaces[0].device.mem", "not a size" },
	{ "mem_zero", DEV("'mem': 0"), "subsystems[0].namespaces[0].device.mem", "greater than 0" },
	{ "mem_negative", DEV("'mem': -4096"), "subsystems[0].namespaces[0].device.mem", "out of range" },
	{ "mem_not_multiple", DEV("'mem': 1000"), "subsystems[0].namespaces[0].device.mem",
	  "not a multiple of the block size 512" },
	{ "mem_not_multiple_4k", DEV("'mem': '6K', 'block_size': 4096"), "subsystems[0].namespaces[0].device.mem",
	  "block size 4096" },
	{ "null_zero", DEV("'null': 0"), "subsystems[0].namespaces[0].device.null", "greater than 0" },
	{ "null_zero_string", DEV("'null': '0GiB'"), "subsystems[0].namespaces[0].device.null", "greater than 0" },
	{ "null_gb", DEV("'null': '1GB'"), "subsystems[0].namespaces[0].device.null", "not a size" },
	{ "null_negative", DEV("'null': -512"), "subsystems[0].namespaces[0].device.null", "out of range" },
	{ "null_bool", DEV("'null': true"), "subsystems[0].namespaces[0].device.null", "expected an integer" },
	{ "null_not_multiple_4k", DEV("'null': '6K', 'block_size': 4096"),
	  "subsystems[0].namespaces[0].device.null", "not a multiple of the block size 4096" },
	{ "null_block_size_1024", DEV("'null': '1M', 'block_size': 1024"),
	  "subsystems[0].namespaces[0].device.block_size", "512 or 4096" },
	{ "null_with_nsid", DEV("'null': '1M', 'nsid': 1"), "subsystems[0].namespaces[0].device.nsid",
	  "only with pcie" },
	{ "null_uuid_bad", DEV("'null': '1M', 'uuid': 'nope'"), "subsystems[0].namespaces[0].device.uuid",
	  "not a UUID" },
	{ "block_size_1024", DEV("'mem': '1M', 'block_size': 1024"),
	  "subsystems[0].namespaces[0].device.block_size", "512 or 4096" },
	{ "uuid_bad", DEV("'mem': '1M', 'uuid': 'd592cdf35d1c44e084123fcf7d99df27'"),
	  "subsystems[0].namespaces[0].device.uuid", "not a UUID" },
	{ "nguid_short", DEV("'mem': '1M', 'nguid': '0123456789abcdef0123456789abcde'"),
	  "subsystems[0].namespaces[0].device.nguid", "not an NGUID" },

	/* across objects */
	{ "pcie_twice_two_subsystems",
	  TWO_SUBSYS("{'nsid': 1, 'device': {'pcie': '0000:00:02.0'}}",
		     "{'nsid': 1, 'device': {'pcie': '00:02.0', 'nsid': '1'}}"),
	  "subsystems[1].namespaces[0].device.pcie",
	  "namespace 1 of 0000:00:02.0 is already exported by subsystems[0].namespaces[0]" },
	{ "pcie_twice_one_subsystem",
	  ONE_NS("{'nsid': 1, 'device': {'pcie': '0000:00:0A.0', 'nsid': 2}},"
		 "{'nsid': 2, 'device': {'pcie': '0000:00:0a.0', 'nsid': 2}}"),
	  "subsystems[0].namespaces[1].device.pcie", "already exported by subsystems[0].namespaces[0]" },
	{ "uuid_twice",
	  TWO_SUBSYS("{'nsid': 1, 'device': {'mem': '1M', 'uuid': '" UUID1 "'}}",
		     "{'nsid': 7, 'device': {'path': '/x', 'uuid': 'D592CDF3-5D1C-44E0-8412-3FCF7D99DF27'}}"),
	  "subsystems[1].namespaces[0].device.uuid", "duplicate UUID (also subsystems[0].namespaces[0])" },
	{ "nguid_twice",
	  ONE_NS("{'nsid': 1, 'device': {'mem': '1M', 'nguid': '0123456789abcdef0123456789abcdef'}},"
		 "{'nsid': 2, 'device': {'mem': '1M', 'nguid': '01234567-89ab-cdef-0123-456789abcdef'}}"),
	  "subsystems[0].namespaces[1].device.nguid", "duplicate NGUID" },

	/* ports */
	{ "port_not_object", WITH_PORTS("[]"), "ports[0]", "expected an object" },
	{ "port_portid_missing", WITH_PORTS("{'addr': {" TCP4 "}}"), "ports[0].portid", "missing" },
	{ "port_portid_0", WITH_PORTS("{'portid': 0, 'addr': {" TCP4 "}}"), "ports[0].portid",
	  "out of range (1..65535)" },
	{ "port_portid_big", WITH_PORTS("{'portid': '65536', 'addr': {" TCP4 "}}"), "ports[0].portid",
	  "out of range" },
	{ "port_portid_dup", WITH_PORTS("{'portid': 1, 'addr': {" TCP4 "}},"
					"{'portid': '1', 'addr': {'trtype': 'rdma', 'adrfam': 'ipv4',"
					" 'traddr': '127.0.0.1', 'trsvcid': '4420'}}"),
	  "ports[1].portid", "duplicate portid 1 (also ports[0])" },
	{ "port_unknown_key", PORT_EXTRA(", 'enable': 1"), "ports[0].enable", "unknown key" },
	{ "port_addr_missing", WITH_PORTS("{'portid': 1}"), "ports[0].addr", "missing" },
	{ "trtype_missing", PORT_ADDR("'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '4420'"),
	  "ports[0].addr.trtype", "missing" },
	{ "trtype_fc", PORT_ADDR("'trtype': 'fc', 'adrfam': 'fc', 'traddr': 'nn-0x1:pn-0x2', 'trsvcid': ''"),
	  "ports[0].addr.trtype", "transport \"fc\" is not supported" },
	{ "trtype_loop", PORT_ADDR("'trtype': 'loop', 'adrfam': '', 'traddr': '', 'trsvcid': ''"),
	  "ports[0].addr.trtype", "not supported" },
	{ "trtype_unknown", PORT_ADDR("'trtype': 'TCP', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': 1"),
	  "ports[0].addr.trtype", "unknown transport" },
	{ "adrfam_ib", PORT_ADDR("'trtype': 'rdma', 'adrfam': 'ib', 'traddr': '127.0.0.1', 'trsvcid': 1"),
	  "ports[0].addr.adrfam", "not supported" },
	{ "adrfam_unknown", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'inet', 'traddr': '127.0.0.1', 'trsvcid': 1"),
	  "ports[0].addr.adrfam", "unknown address family" },
	{ "traddr_hostname", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': 'localhost', 'trsvcid': 1"),
	  "ports[0].addr.traddr", "not a numeric IPv4 address" },
	{ "traddr_family_mismatch", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '::1', 'trsvcid': 1"),
	  "ports[0].addr.traddr", "IPv4" },
	{ "traddr_v6_zone", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv6', 'traddr': 'fe80::1%eth0', 'trsvcid': 1"),
	  "ports[0].addr.traddr", "not a numeric IPv6 address" },
	{ "traddr_missing", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '', 'trsvcid': 1"),
	  "ports[0].addr.traddr", "missing" },
	{ "trsvcid_0", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '0'"),
	  "ports[0].addr.trsvcid", "out of range (1..65535)" },
	{ "trsvcid_big", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': 65536"),
	  "ports[0].addr.trsvcid", "out of range" },
	{ "trsvcid_name", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': 'nvme'"),
	  "ports[0].addr.trsvcid", "expected an integer, got \"nvme\"" },
	{ "trsvcid_fraction", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': 4420.5"),
	  "ports[0].addr.trsvcid", "expected an integer" },
	{ "trsvcid_space", PORT_ADDR("'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': ' 4420'"),
	  "ports[0].addr.trsvcid", "expected an integer" },
	{ "treq_bad", PORT_ADDR(TCP4 ", 'treq': 'optional'"), "ports[0].addr.treq", "not one of" },
	{ "treq_required_no_tls", PORT_ADDR(TCP4 ", 'treq': 'required'"), "ports[0].addr.treq", "set \"tsas\": \"tls1.3\"" },
	{ "tsas_tls_rdma", "{'ports': [{'portid': 1, 'addr': {'trtype': 'rdma', 'adrfam': 'ipv4', 'traddr': '10.0.0.1',"
	  " 'trsvcid': '4420', 'tsas': 'tls1.3'}}]}", "ports[0].addr.tsas", "NVMe/TCP ports only" },
	{ "host_tls_psk_crc", "{'hosts': [{'nqn': '" HOSTA "', 'tls_psk': 'NVMeTLSkey-1:01:KI0kE4hVRuRk7cIbb6/zFjH17CYYDFxxB56ivclWbTziEdvm:'}]}",
	  "hosts[0].tls_psk", "CRC-32" },
	{ "host_tls_psk_form", "{'hosts': [{'nqn': '" HOSTA "', 'tls_psk': 'NVMeTLSkey-1:03:abc:'}]}",
	  "hosts[0].tls_psk", "interchange format" },
	{ "host_tls_derivation", "{'hosts': [{'nqn': '" HOSTA "', 'tls_psk_derivation': 'rfc'}]}",
	  "hosts[0].tls_psk_derivation", "not one of" },
	{ "tsas_connected_tcp", PORT_ADDR(TCP4 ", 'tsas': 'connected'"), "ports[0].addr.tsas", "not supported for tcp" },
	{ "addr_unknown_key", PORT_ADDR(TCP4 ", 'portid': 1"), "ports[0].addr.portid", "unknown key" },
	{ "inline_too_big", PORT_EXTRA(", 'param': {'inline_data_size': '1048576'}"),
	  "ports[0].param.inline_data_size", "out of range (-1..131072)" },
	{ "inline_negative", PORT_EXTRA(", 'param': {'inline_data_size': -2}"),
	  "ports[0].param.inline_data_size", "out of range" },
	{ "param_pi_enable", PORT_EXTRA(", 'param': {'pi_enable': 1}"), "ports[0].param.pi_enable",
	  "protection information" },
	{ "param_max_queue_size", PORT_EXTRA(", 'param': {'max_queue_size': '128'}"),
	  "ports[0].param.max_queue_size", "128 is not supported" },
	{ "param_unknown_key", PORT_EXTRA(", 'param': {'inline_size': 0}"), "ports[0].param.inline_size",
	  "unknown key" },
	{ "port_subsystem_unknown", WITH_PORTS("{'portid': 1, 'addr': {" TCP4 "}, 'subsystems': ['" NQN2 "']}"),
	  "ports[0].subsystems[0]", "no subsystem \"" NQN2 "\" in this file" },
	{ "port_subsystem_dup", WITH_PORTS("{'portid': 1, 'addr': {" TCP4 "}, 'subsystems': ['" NQN1 "', '" NQN1 "']}"),
	  "ports[0].subsystems[1]", "duplicate subsystem NQN (also ports[0].subsystems[0])" },
	{ "port_subsystem_type", WITH_PORTS("{'portid': 1, 'addr': {" TCP4 "}, 'subsystems': [1]}"),
	  "ports[0].subsystems[0]", "expected a string" },
	{ "port_addr_dup", WITH_PORTS("{'portid': 1, 'addr': {" TCP4 "}}, {'portid': 2, 'addr': {" TCP4 "}}"),
	  "ports[1].addr", "duplicate listen address tcp 127.0.0.1:4420 (also ports[0])" },
	{ "port_addr_dup_v6_spelling",
	  WITH_PORTS("{'portid': 1, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv6', 'traddr': '::1', 'trsvcid': 4420}},"
		     "{'portid': 2, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv6', 'traddr': '0:0:0:0:0:0:0:1', 'trsvcid': '4420'}}"),
	  "ports[1].addr", "duplicate listen address tcp [0:0:0:0:0:0:0:1]:4420" },
	{ "port_addr_wildcard_overlap",
	  WITH_PORTS("{'portid': 1, 'addr': {'trtype': 'rdma', 'adrfam': 'ipv4', 'traddr': '0.0.0.0', 'trsvcid': 4420}},"
		     "{'portid': 2, 'addr': {'trtype': 'rdma', 'adrfam': 'ipv4', 'traddr': '192.0.2.1', 'trsvcid': 4420}}"),
	  "ports[1].addr", "overlaps ports[0]" },
	{ "referral_name_missing", REFERRAL("{'addr': {" REF_ADDR "}}"), "ports[0].referrals[0].name", "missing" },
	{ "referral_name_long", REFERRAL("{'name': '" X10 X10 X10 X10 X10 X10 "xxxx', 'addr': {" REF_ADDR "}}"),
	  "ports[0].referrals[0].name", "longer than 63" },
	{ "referral_name_dup", REFERRAL("{'name': 'a', 'addr': {" REF_ADDR "}}, {'name': 'a', 'addr': {" REF_ADDR "}}"),
	  "ports[0].referrals[1].name", "duplicate referral name (also ports[0].referrals[0])" },
	{ "referral_addr_missing", REFERRAL("{'name': 'a'}"), "ports[0].referrals[0].addr", "missing" },
	{ "referral_wildcard", REFERRAL("{'name': 'a', 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4',"
					" 'traddr': '0.0.0.0', 'trsvcid': 8009}}"),
	  "ports[0].referrals[0].addr.traddr", "a referral must name the address" },
	{ "referral_portid", REFERRAL("{'name': 'a', 'addr': {" REF_ADDR ", 'portid': 70000}}"),
	  "ports[0].referrals[0].addr.portid", "out of range (0..65535)" },
	{ "referral_trtype_fc", REFERRAL("{'name': 'a', 'addr': {'trtype': 'fc', 'adrfam': 'fc',"
					 " 'traddr': 'x', 'trsvcid': 'none'}}"),
	  "ports[0].referrals[0].addr.trtype", "not supported" },
	{ "referral_enable_word", REFERRAL("{'name': 'a', 'enable': 'on', 'addr': {" REF_ADDR "}}"),
	  "ports[0].referrals[0].enable", "expected 0, 1" },
	{ "referral_unknown_key", REFERRAL("{'name': 'a', 'portid': 2, 'addr': {" REF_ADDR "}}"),
	  "ports[0].referrals[0].portid", "unknown key" },
	{ "ana_group_0", PORT_EXTRA(", 'ana_groups': [{'grpid': 0, 'ana': {'state': 'optimized'}}]"),
	  "ports[0].ana_groups[0].grpid", "ANA group 0 is out of range (1..128)" },
	{ "ana_group_state", PORT_EXTRA(", 'ana_groups': [{'grpid': 1, 'ana': {'state': 'standby'}}]"),
	  "ports[0].ana_groups[0].ana.state", "\"standby\" is not one of \"optimized\", \"non-optimized\"" },
	{ "ana_group_dup", PORT_EXTRA(", 'ana_groups': [{'grpid': 1}, {'grpid': 7}, {'grpid': '7'}]"),
	  "ports[0].ana_groups[2].grpid", "duplicate ANA group 7 (also ports[0].ana_groups[1])" },
	{ "ana_group_grpid_missing", PORT_EXTRA(", 'ana_groups': [{'ana': {'state': 'optimized'}}]"),
	  "ports[0].ana_groups[0].grpid", "missing" },
};

static void test_err_case(void **state)
{
	const struct err_case *e = *state;

	parse_fails(e->json, e->path, e->word);
}

/* ---- NQNs ---- */

static void test_nqn_valid(void **state)
{
	static const char *const good[] = {
		"nqn.2014-08.org.nvmexpress.discovery",
		"nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100",
		"nqn.2014-08.org.nvmexpress:uuid:4C4C4544-0035-4B10-8044-B8C04F4E3732",
		"nqn.2014-08.org.nvmexpress:NVMf:uuid:63b09a8a-6e5f-4b2c-9a1e-1b2c3d4e5f60",
		"nqn.2016-06.io.spdk:cnode1",
		"nqn.2024-01.org.example:ssd0",
		"nqn.1992-08.com.netapp:sn.0a1b2c3d4e5f",
		"nqn.2019-10.com.3par:a",           /* label may start with a digit */
		"nqn.2024-12.x:y",
		"nqn.2024-01.my-org.example:with spaces and : colons",
		"nqn.2024-01.org.example:caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80",
	};
	char why[128];
	char long_nqn[300];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		if (!nqn_valid(good[i], why, sizeof(why)))
			fail_msg("\"%s\" refused: %s", good[i], why);
	}
	/* exactly 223 bytes is the maximum */
	snprintf(long_nqn, sizeof(long_nqn), "nqn.2024-01.org.example:");
	memset(long_nqn + strlen(long_nqn), 'a', 223 - strlen(long_nqn));
	long_nqn[223] = '\0';
	assert_true(nqn_valid(long_nqn, why, sizeof(why)));
	long_nqn[223] = 'a';
	long_nqn[224] = '\0';
	assert_false(nqn_valid(long_nqn, why, sizeof(why)));
	assert_non_null(strstr(why, "224 bytes"));
	assert_false(nqn_valid(NULL, NULL, 0));
}

static void test_nqn_invalid(void **state)
{
	static const struct {
		const char *nqn;
		const char *why;
	} bad[] = {
		{ "", "empty" },
		{ "nqn", "does not start" },
		{ "iqn.2024-01.org.example:a", "does not start" },
		{ "NQN.2024-01.org.example:a", "does not start" },
		{ "nqn.2024-1.org.example:a", "date code" },
		{ "nqn.24-01.org.example:a", "date code" },
		{ "nqn.2024-01:org.example:a", "date code" },
		{ "nqn.2024-01", "date code" },
		{ "nqn.2024-13.org.example:a", "month 13" },
		{ "nqn.2024-00.org.example:a", "month 00" },
		{ "nqn.2024-01.org.example", "no ':'" },
		{ "nqn.2024-01.org.example:", "empty name" },
		{ "nqn.2024-01.:a", "empty domain" },
		{ "nqn.2024-01.org..example:a", "empty label" },
		{ "nqn.2024-01.org.example.:a", "empty label" },
		{ "nqn.2024-01.-org.example:a", "'-'" },
		{ "nqn.2024-01.org-.example:a", "'-'" },
		{ "nqn.2024-01.org_x.example:a", "not '_'" },
		{ "nqn.2024-01.org.example:a\tb", "control character" },
		{ "nqn.2024-01.org.example:a\xc3", "UTF-8" },
		{ "nqn.2024-01.org.example:\xc0\xaf", "UTF-8" },        /* overlong '/' */
		{ "nqn.2024-01.org.example:\xed\xa0\x80", "UTF-8" },    /* surrogate */
		{ "nqn.2024-01.org.example:\xf4\x90\x80\x80", "UTF-8" }, /* > U+10FFFF */
		{ "nqn.2014-08.org.nvmexpress:uuid:", "UUID" },
		{ "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-05040302010", "UUID" },
		{ "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-0504030201000", "UUID" },
		{ "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c0b0a-0908-0706-0504030201000", "UUID" },
		{ "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-05040302010g", "UUID" },
		{ "nqn.2014-08.org.nvmexpress.discover", "no ':'" },
		{ "nqn.2024-01.org.example.abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234:a",
		  "longer than 63" },
	};
	char why[128];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		why[0] = '\0';
		if (nqn_valid(bad[i].nqn, why, sizeof(why)))
			fail_msg("\"%s\" accepted", bad[i].nqn);
		if (!strstr(why, bad[i].why))
			fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", bad[i].nqn, why, bad[i].why);
	}
}

/* ---- value parsers ---- */

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 }, { "4096", 4096 }, { "512B", 512 }, { "1K", 1024 },
		{ "1KiB", 1024 }, { "1k", 1024 }, { "64MiB", 64ull << 20 }, { "64mib", 64ull << 20 },
		{ "1M", 1ull << 20 }, { "1G", 1ull << 30 }, { "1GiB", 1ull << 30 },
		{ "1 GiB", 1ull << 30 }, { "2T", 2ull << 40 }, { "16777215TiB", 16777215ull << 40 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "G", "1GB", "1MB", "1kb", "1.5G", "-1", "+1", " 1", "1 ", "1  G", "1G ",
		"0x10", "1P", "1Gi", "16777216TiB", "18446744073709551616", "1e3",
	};
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		v = 1;
		if (parse_size(good[i].s, &v))
			fail_msg("\"%s\" refused", good[i].s);
		assert_int_equal(v, good[i].v);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (parse_size(bad[i], &v) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	}
	assert_int_equal(parse_size(NULL, &v), -EINVAL);
}

static void test_value_parsers(void **state)
{
	uint8_t id[16];
	char bdf[16];
	int64_t n;

	(void)state;
	assert_int_equal(cfg_parse_int64("0", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(cfg_parse_int64("-1", &n), 0);
	assert_int_equal(n, -1);
	assert_int_equal(cfg_parse_int64("9223372036854775807", &n), 0);
	assert_int_equal(n, INT64_MAX);
	assert_int_equal(cfg_parse_int64("-9223372036854775808", &n), 0);
	assert_true(n == INT64_MIN);
	assert_int_equal(cfg_parse_int64("9223372036854775808", &n), -ERANGE);
	assert_int_equal(cfg_parse_int64("99999999999999999999", &n), -ERANGE);
	assert_int_equal(cfg_parse_int64("", &n), -EINVAL);
	assert_int_equal(cfg_parse_int64("-", &n), -EINVAL);
	assert_int_equal(cfg_parse_int64("1 ", &n), -EINVAL);
	assert_int_equal(cfg_parse_int64("0x1", &n), -EINVAL);

	assert_int_equal(cfg_parse_uuid(UUID1, id), 0);
	assert_int_equal(id[15], 0x27);
	assert_int_equal(cfg_parse_uuid("d592cdf3-5d1c-44e0-8412-3fcf7d99df2", id), -EINVAL);
	assert_int_equal(cfg_parse_uuid("d592cdf3-5d1c-44e0-8412_3fcf7d99df27", id), -EINVAL);
	assert_int_equal(cfg_parse_uuid("d592cdf3-5d1c-44e0-8412-3fcf7d99df2x", id), -EINVAL);
	assert_int_equal(cfg_parse_uuid("d592cdf3-5d1c-44e0-84123-fcf7d99df27", id), -EINVAL);

	assert_int_equal(cfg_parse_nguid("0123-4567-89ab-cdef-0123-4567-89ab-cdef", id), 0);
	assert_int_equal(id[0], 0x01);
	assert_int_equal(id[15], 0xef);
	assert_int_equal(cfg_parse_nguid("-0123456789abcdef0123456789abcdef", id), -EINVAL);
	assert_int_equal(cfg_parse_nguid("0123456789abcdef0123456789abcdef-", id), -EINVAL);
	assert_int_equal(cfg_parse_nguid("01--23456789abcdef0123456789abcdef", id), -EINVAL);
	assert_int_equal(cfg_parse_nguid("0123456789abcdef0123456789abcdef0", id), -EINVAL);

	assert_int_equal(cfg_parse_bdf("0000:00:02.0", bdf, sizeof(bdf)), 0);
	assert_string_equal(bdf, "0000:00:02.0");
	assert_int_equal(cfg_parse_bdf("3B:00.0", bdf, sizeof(bdf)), 0);
	assert_string_equal(bdf, "0000:3b:00.0");
	assert_int_equal(cfg_parse_bdf("FFFF:FF:1F.7", bdf, sizeof(bdf)), 0);
	assert_string_equal(bdf, "ffff:ff:1f.7");
	assert_int_equal(cfg_parse_bdf("0000:00:02", bdf, sizeof(bdf)), -EINVAL);
	assert_int_equal(cfg_parse_bdf("0000-00:02.0", bdf, sizeof(bdf)), -EINVAL);
	assert_int_equal(cfg_parse_bdf("00000:00:02.0", bdf, sizeof(bdf)), -EINVAL);
	assert_int_equal(cfg_parse_bdf("0:00:02.0", bdf, sizeof(bdf)), -EINVAL);
	assert_int_equal(cfg_parse_bdf("00:02.0 ", bdf, sizeof(bdf)), -EINVAL);
	assert_int_equal(cfg_parse_bdf("0000:00:02.0", bdf, 8), -EINVAL);
}

/* ---- files ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nvmfb-config-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char pattern[80];
	glob_t g;
	size_t i;

	(void)state;
	snprintf(pattern, sizeof(pattern), "%s/*", tmpdir);
	if (glob(pattern, 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++)
			unlink(g.gl_pathv[i]);
		globfree(&g);
	}
	return rmdir(tmpdir);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void load_fails(const char *path, int want, const char *word)
{
	struct config *cfg = (struct config *)&cfg;
	char err[512] = "";
	int ret = config_load(path, &cfg, err, sizeof(err));

	assert_int_equal(ret, want);
	assert_null(cfg);
	if (strncmp(err, path, strlen(path)) || strncmp(err + strlen(path), ": ", 2) ||
	    !strstr(err, word))
		fail_msg("message \"%s\" wanted \"%s: ...%s...\"", err, path, word);
	assert_null(strchr(err, '\n'));
}

static void test_load_errors(void **state)
{
	char path[128];
	char *big;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
	load_fails(path, -ENOENT, "cannot open: No such file or directory");

	snprintf(path, sizeof(path), "%s/empty.json", tmpdir);
	write_file(path, "", 0);
	load_fails(path, -EINVAL, "empty file");

	load_fails(tmpdir, -EISDIR, "is a directory");

	snprintf(path, sizeof(path), "%s/syntax.json", tmpdir);
	write_file(path, "{\n  \"subsystems\": [\n    { \"nqn\": \"a\" \"b\" }\n  ]\n}\n", 46);
	load_fails(path, -EINVAL, "line 3 column");

	snprintf(path, sizeof(path), "%s/nul.json", tmpdir);
	write_file(path, "{\n}\0", 4);
	load_fails(path, -EINVAL, "line 2 column 2: invalid JSON: NUL byte");

	snprintf(path, sizeof(path), "%s/big.json", tmpdir);
	big = malloc((4u << 20) + 2);
	assert_non_null(big);
	memset(big, ' ', (4u << 20) + 2);
	big[0] = '{';
	big[(4u << 20) + 1] = '}';
	write_file(path, big, (4u << 20) + 2);
	free(big);
	load_fails(path, -EFBIG, "4 MiB");

	snprintf(path, sizeof(path), "%s/bad.json", tmpdir);
	write_file(path, "{\"subsystems\": [{\"nqn\": \"x\"}]}", 30);
	load_fails(path, -EINVAL, "subsystems[0].nqn: invalid NQN");
}

static void test_load_good(void **state)
{
	struct config *cfg = NULL;
	char path[128], err[256] = "";
	const char *text = "\xef\xbb\xbf{\"bridge\": {\"reactors\": \"2\"}}\n";

	(void)state;
	snprintf(path, sizeof(path), "%s/good.json", tmpdir);
	write_file(path, text, strlen(text));
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->file, path);
	assert_int_equal(cfg->bridge.reactors, 2);
	config_free(cfg);
}

/* every shipped example must load; the tests run from the repository root */
static void test_examples(void **state)
{
	struct config *cfg;
	char err[512];
	glob_t g;
	size_t i;

	(void)state;
	assert_int_equal(glob("config/*.json", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 3);
	for (i = 0; i < g.gl_pathc; i++) {
		cfg = NULL;
		if (config_load(g.gl_pathv[i], &cfg, err, sizeof(err)))
			fail_msg("%s", err);
		assert_true(cfg->nr_subsystems >= 1);
		assert_true(cfg->nr_ports >= 1);
		check_round_trip(cfg);
		config_free(cfg);
	}
	globfree(&g);

	cfg = NULL;
	assert_int_equal(config_load("config/example-pcie.json", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->subsystems[0].namespaces[0].pcie_bdf, "0000:00:02.0");
	assert_true(cfg->subsystems[0].allow_any_host);
	assert_string_equal(cfg->ports[0].addr.traddr, "127.0.0.1");
	assert_string_equal(cfg->ports[0].addr.trsvcid, "4420");
	config_free(cfg);

	cfg = NULL;
	assert_int_equal(config_load("config/example-mem.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->subsystems[0].namespaces[0].mem_bytes, 256ull << 20);
	assert_int_equal(cfg->subsystems[0].namespaces[1].backend, CFG_BACKEND_FILE);
	config_free(cfg);

	cfg = NULL;
	assert_int_equal(config_load("config/example-full.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->nr_ports, 2);
	assert_int_equal(cfg->ports[1].addr.trtype, CFG_TRTYPE_RDMA);
	assert_int_equal(cfg->nr_hosts, 2);
	assert_int_equal(cfg->ports[0].nr_referrals, 1);
	assert_int_equal(cfg->bridge.reactors, 2);
	assert_int_equal(cfg->bridge.icreq_timeout_ms, 5000);
	assert_int_equal(cfg->bridge.max_conns_per_addr, 256);
	assert_int_equal(cfg->bridge.max_conns_per_port, 4096);
	config_free(cfg);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_empty_object),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_strings_and_numbers),
		cmocka_unit_test(test_nvmetcli_file),
		cmocka_unit_test(test_kernel_dump_extras),
		cmocka_unit_test(test_dhchap),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_bridge),
		cmocka_unit_test(test_rpc_group),
		cmocka_unit_test(test_bridge_limits),
		cmocka_unit_test(test_bridge_dirs),
		cmocka_unit_test(test_dup_key_empty),
		cmocka_unit_test(test_dup_key_escaped),
		cmocka_unit_test(test_dup_key_lookalike),
		cmocka_unit_test(test_nsid_limit),
		cmocka_unit_test(test_pcie_forms),
		cmocka_unit_test(test_file_and_mem),
		cmocka_unit_test(test_null_device),
		cmocka_unit_test(test_uuid_nguid),
		cmocka_unit_test(test_ports_accepted),
		cmocka_unit_test(test_referral_defaults),
		cmocka_unit_test(test_find_subsystem),
		cmocka_unit_test(test_json_syntax),
		cmocka_unit_test(test_dup_key_scanner),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_nqn_valid),
		cmocka_unit_test(test_nqn_invalid),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_value_parsers),
		cmocka_unit_test_setup_teardown(test_load_errors, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_good, make_tmpdir, remove_tmpdir),
		cmocka_unit_test(test_examples),
	};
	struct CMUnitTest tests[ARRAY_SIZE(fixed) + ARRAY_SIZE(err_cases)];
	size_t i, n = 0;

	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		tests[n++] = fixed[i];
	/* one named test per refusal */
	for (i = 0; i < ARRAY_SIZE(err_cases); i++)
		tests[n++] = (struct CMUnitTest){
			.name = err_cases[i].name,
			.test_func = test_err_case,
			.initial_state = (void *)&err_cases[i],
		};
	return _cmocka_run_group_tests("config", tests, n, NULL, NULL);
}
