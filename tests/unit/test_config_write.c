/* SPDX-License-Identifier: MIT */
/* The configuration writer: config_to_json()'s layout (nvmetcli's), our
 * extensions written exactly, config_equal() field by field, and
 * config_write_file()'s atomic replacement, including the failures that
 * must leave the old file as it was. The round trip of every configuration
 * the parser tests accept is checked in test_config.c.
 *
 * JSON in this file is written with single quotes, turned into double
 * quotes before parsing, as in test_config.c. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

#define NQN1 "nqn.2024-01.org.example:ssd0"
#define NQN2 "nqn.2024-01.org.example:ssd1"
#define HOSTA "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100"
#define HOSTB "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define UUID1 "d592cdf3-5d1c-44e0-8412-3fcf7d99df27"
#define NGUID1 "01234567-89ab-cdef-0123-456789abcdef"
#define TCP4 "'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '4420'"
#define REF_ADDR "'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '192.0.2.11', 'trsvcid': '8009'"

/* Something of everything config_equal() compares */
#define BIG \
	"{'bridge': {'discovery_port': 18009, 'reactors': 2, 'rpc_socket': '/tmp/b.sock'," \
	"            'rpc_group': 'nvmf', 'icreq_timeout_ms': 5000, 'connect_timeout_ms': 6000," \
	"            'max_connections_per_port': 100, 'max_connections_per_address': 10," \
	"            'max_controllers_per_host': 4, 'rpc_namespace_dirs': ['/srv/a', '/srv/b']," \
	"            'rpc_save_dir': '/srv/saved', 'rdma_srq_size': 512}," \
	" 'hosts': [{'nqn': '" HOSTA "'}, {'nqn': '" HOSTB "'}]," \
	" 'subsystems': [" \
	"   {'nqn': '" NQN1 "'," \
	"    'attr': {'serial': 'S1', 'model': 'M1', 'cntlid_min': 10, 'cntlid_max': 20}," \
	"    'allowed_hosts': ['" HOSTA "', '" HOSTB "']," \
	"    'namespaces': [" \
	"      {'nsid': 1, 'device': {'pcie': '0000:01:00.0', 'nsid': 1, 'uuid': '" UUID1 "'}}," \
	"      {'nsid': 2, 'device': {'path': '/dev/sdb', 'block_size': 4096, 'nguid': '" NGUID1 "'}}," \
	"      {'nsid': 3, 'enable': 0, 'device': {'mem': '64MiB'}}," \
	"      {'nsid': 4, 'device': {'null': '64MiB', 'block_size': 4096}}]}," \
	"   {'nqn': '" NQN2 "', 'attr': {'allow_any_host': 1}}]," \
	" 'ports': [" \
	"   {'portid': 1, 'addr': {" TCP4 "}, 'param': {'inline_data_size': 16384}," \
	"    'subsystems': ['" NQN1 "', '" NQN2 "']," \
	"    'referrals': [{'name': 'r1', 'addr': {" REF_ADDR ", 'portid': 2}}," \
	"                  {'name': 'r2', 'enable': 0, 'addr': {'trtype': 'rdma', 'adrfam': 'ipv4'," \
	"                   'traddr': '192.0.2.12', 'trsvcid': '4420', 'treq': 'required'}}]}," \
	"   {'portid': 2, 'addr': {'trtype': 'rdma', 'adrfam': 'ipv6', 'traddr': '2001:db8::1'," \
	"    'trsvcid': 4420, 'treq': 'not required'}, 'subsystems': ['" NQN1 "']}]}"

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

static struct config *parse_as(const char *json, const char *name)
{
	struct config *cfg = NULL;
	char err[512] = "";
	char *j = dq(json);
	int ret = config_parse(j, name, &cfg, err, sizeof(err));

	free(j);
	if (ret)
		fail_msg("unexpected error %d: %s", ret, err);
	return cfg;
}

static struct config *parse_ok(const char *json)
{
	return parse_as(json, "t.json");
}

/* config_to_json(parse(json)) must be exactly want */
static void writes(const char *json, const char *want)
{
	struct config *cfg = parse_ok(json);
	char *text = config_to_json(cfg);

	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
	config_free(cfg);
}

/* ---- config_to_json ---- */

/* "nvmetcli save": sorted keys, two spaces, attributes and addr fields as
 * strings, portid/nsid/enable as numbers, "[]" when empty, a final newline */
static void test_layout(void **state)
{
	(void)state;
	writes("{}", "{\n  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
	writes("{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': 1},"
	       "  'namespaces': [{'nsid': 1, 'device': {'pcie': '01:00.0'}}]}],"
	       " 'hosts': [{'nqn': '" HOSTA "'}],"
	       " 'ports': [{'portid': 1, 'addr': {" TCP4 "}, 'subsystems': ['" NQN1 "'],"
	       "  'referrals': [{'name': 'b', 'addr': {" REF_ADDR ", 'portid': '2'}}]}]}",
	       "{\n"
	       "  \"hosts\": [\n"
	       "    {\n"
	       "      \"nqn\": \"" HOSTA "\"\n"
	       "    }\n"
	       "  ],\n"
	       "  \"ports\": [\n"
	       "    {\n"
	       "      \"addr\": {\n"
	       "        \"adrfam\": \"ipv4\",\n"
	       "        \"traddr\": \"127.0.0.1\",\n"
	       "        \"treq\": \"not specified\",\n"
	       "        \"trsvcid\": \"4420\",\n"
	       "        \"trtype\": \"tcp\"\n"
	       "      },\n"
	       "      \"param\": {\n"
	       "        \"inline_data_size\": \"8192\"\n"
	       "      },\n"
	       "      \"portid\": 1,\n"
	       "      \"referrals\": [\n"
	       "        {\n"
	       "          \"addr\": {\n"
	       "            \"adrfam\": \"ipv4\",\n"
	       "            \"portid\": \"2\",\n"
	       "            \"traddr\": \"192.0.2.11\",\n"
	       "            \"treq\": \"not specified\",\n"
	       "            \"trsvcid\": \"8009\",\n"
	       "            \"trtype\": \"tcp\"\n"
	       "          },\n"
	       "          \"enable\": 1,\n"
	       "          \"name\": \"b\"\n"
	       "        }\n"
	       "      ],\n"
	       "      \"subsystems\": [\n"
	       "        \"" NQN1 "\"\n"
	       "      ]\n"
	       "    }\n"
	       "  ],\n"
	       "  \"subsystems\": [\n"
	       "    {\n"
	       "      \"allowed_hosts\": [],\n"
	       "      \"attr\": {\n"
	       "        \"allow_any_host\": \"1\",\n"
	       "        \"cntlid_max\": \"65519\",\n"
	       "        \"cntlid_min\": \"1\",\n"
	       "        \"model\": \"Linux\"\n"
	       "      },\n"
	       "      \"namespaces\": [\n"
	       "        {\n"
	       "          \"device\": {\n"
	       "            \"nsid\": 1,\n"
	       "            \"pcie\": \"0000:01:00.0\"\n"
	       "          },\n"
	       "          \"enable\": 1,\n"
	       "          \"nsid\": 1\n"
	       "        }\n"
	       "      ],\n"
	       "      \"nqn\": \"" NQN1 "\"\n"
	       "    }\n"
	       "  ]\n"
	       "}\n");
	assert_null(config_to_json(NULL));
}

/* bridge: only what differs from the defaults, and nothing when nothing does */
static void test_bridge(void **state)
{
	(void)state;
	writes("{'bridge': {'discovery_port': 8009, 'reactors': 1,"
	       " 'rpc_socket': '/run/nvmf-bridge/rpc.sock', 'rpc_group': ''}}",
	       "{\n  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
	writes("{'bridge': {'discovery_port': 0, 'reactors': 4,"
	       " 'rpc_socket': '/tmp/x.sock', 'rpc_group': 'nvmf-admins'}}",
	       "{\n"
	       "  \"bridge\": {\n"
	       "    \"discovery_port\": 0,\n"
	       "    \"reactors\": 4,\n"
	       "    \"rpc_group\": \"nvmf-admins\",\n"
	       "    \"rpc_socket\": \"/tmp/x.sock\"\n"
	       "  },\n"
	       "  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
	writes("{'bridge': {'rpc_group': 'wheel'}}",
	       "{\n  \"bridge\": {\n    \"rpc_group\": \"wheel\"\n  },\n"
	       "  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
}

/* the limits and directories: numbers as numbers, keys sorted among the
 * others, each only when it is not the default */
static void test_bridge_limits(void **state)
{
	(void)state;
	writes("{'bridge': {'rpc_socket': '/tmp/x.sock', 'rpc_save_dir': '/srv/saved',"
	       " 'rpc_namespace_dirs': ['/srv/b', '/srv/a'], 'reactors': 2,"
	       " 'max_controllers_per_host': '4', 'max_connections_per_port': 100,"
	       " 'max_connections_per_address': '10', 'icreq_timeout_ms': 5000,"
	       " 'discovery_port': 0, 'connect_timeout_ms': '600000', 'rpc_group': 'nvmf',"
	       " 'rdma_srq_size': '1024'}}",
	       "{\n"
	       "  \"bridge\": {\n"
	       "    \"connect_timeout_ms\": 600000,\n"
	       "    \"discovery_port\": 0,\n"
	       "    \"icreq_timeout_ms\": 5000,\n"
	       "    \"max_connections_per_address\": 10,\n"
	       "    \"max_connections_per_port\": 100,\n"
	       "    \"max_controllers_per_host\": 4,\n"
	       "    \"rdma_srq_size\": 1024,\n"
	       "    \"reactors\": 2,\n"
	       "    \"rpc_group\": \"nvmf\",\n"
	       "    \"rpc_namespace_dirs\": [\n"
	       "      \"/srv/b\",\n"
	       "      \"/srv/a\"\n"
	       "    ],\n"
	       "    \"rpc_save_dir\": \"/srv/saved\",\n"
	       "    \"rpc_socket\": \"/tmp/x.sock\"\n"
	       "  },\n"
	       "  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
	/* one alone is enough for a bridge object */
	writes("{'bridge': {'max_connections_per_address': 1}}",
	       "{\n  \"bridge\": {\n    \"max_connections_per_address\": 1\n  },\n"
	       "  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
	writes("{'bridge': {'rpc_save_dir': '/srv/saved'}}",
	       "{\n  \"bridge\": {\n    \"rpc_save_dir\": \"/srv/saved\"\n  },\n"
	       "  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
	writes("{'bridge': {'rpc_namespace_dirs': ['/srv']}}",
	       "{\n  \"bridge\": {\n    \"rpc_namespace_dirs\": [\n      \"/srv\"\n    ]\n  },\n"
	       "  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
	/* every default spelt out: nothing to write */
	writes("{'bridge': {'icreq_timeout_ms': '10000', 'connect_timeout_ms': 10000,"
	       " 'max_connections_per_port': 4096, 'max_connections_per_address': 1024,"
	       " 'max_controllers_per_host': 128, 'rpc_namespace_dirs': [], 'rpc_save_dir': ''}}",
	       "{\n  \"hosts\": [],\n  \"ports\": [],\n  \"subsystems\": []\n}\n");
}

/* A file without "bridge" means every default, the limits included */
static void test_bridge_defaults(void **state)
{
	struct config *a = parse_ok("{}");
	struct config *b = parse_ok("{'bridge': {'discovery_port': 8009, 'reactors': 1,"
				    " 'rpc_socket': '/run/nvmf-bridge/rpc.sock', 'icreq_timeout_ms': 10000,"
				    " 'connect_timeout_ms': 10000, 'max_connections_per_port': 4096,"
				    " 'max_connections_per_address': 1024, 'max_controllers_per_host': 128}}");

	(void)state;
	assert_int_equal(a->bridge.icreq_timeout_ms, 10000);
	assert_int_equal(a->bridge.connect_timeout_ms, 10000);
	assert_int_equal(a->bridge.max_conns_per_port, 4096);
	assert_int_equal(a->bridge.max_conns_per_addr, 1024);
	assert_int_equal(a->bridge.max_ctrls_per_host, 128);
	assert_int_equal(a->bridge.nr_rpc_namespace_dirs, 0);
	assert_string_equal(a->bridge.rpc_save_dir, "");
	assert_true(config_equal(a, b));
	config_free(a);
	config_free(b);
}

/* text of the device object of a single mem or path namespace */
static char *device_text(const char *dev)
{
	char json[512];
	struct config *cfg, *again;
	char *text, *start, *end, *out;

	snprintf(json, sizeof(json), "{'subsystems': [{'nqn': '" NQN1 "',"
		 " 'namespaces': [{'nsid': 1, 'device': {%s}}]}]}", dev);
	cfg = parse_ok(json);
	text = config_to_json(cfg);
	assert_non_null(text);
	again = parse_ok(text);
	assert_true(config_equal(cfg, again));
	config_free(again);
	start = strstr(text, "\"device\": {");
	assert_non_null(start);
	end = strchr(start, '}');
	assert_non_null(end);
	out = strndup(start, (size_t)(end - start + 1));
	assert_non_null(out);
	free(text);
	config_free(cfg);
	return out;
}

#define DEVICE_INDENT "\n            "
#define DEVICE_END "\n          }"

static void device_is(const char *dev, const char *want)
{
	char *got = device_text(dev);

	if (strcmp(got, want))
		fail_msg("device {%s}\n written %s\n  wanted %s", dev, got, want);
	free(got);
}

/* mem: the exact byte count, in the largest unit that divides it */
static void test_mem_sizes(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} sizes[] = {
		{ "512", "512" }, { "1024", "1KiB" }, { "1536", "1536" }, { "'3K'", "3KiB" },
		{ "1048576", "1MiB" }, { "'64MiB'", "64MiB" }, { "'1536MiB'", "1536MiB" },
		{ "'1G'", "1GiB" }, { "'3 GiB'", "3GiB" }, { "1073742336", "1073742336" },
		{ "'1048577K'", "1048577KiB" }, { "'1T'", "1TiB" }, { "'1025GiB'", "1025GiB" },
		{ "'16777215TiB'", "16777215TiB" }, { "'9223372036854775808'", "8388608TiB" },
		{ "9223372036854775296", "9223372036854775296" },
	};
	char dev[128], want[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(dev, sizeof(dev), "'mem': %s", sizes[i].in);
		snprintf(want, sizeof(want), "\"device\": {" DEVICE_INDENT "\"mem\": \"%s\"" DEVICE_END,
			 sizes[i].out);
		device_is(dev, want);
	}
}

/* block_size only when not the default; uuid and nguid only when set */
static void test_device_keys(void **state)
{
	(void)state;
	device_is("'mem': '1M', 'block_size': 512",
		  "\"device\": {" DEVICE_INDENT "\"mem\": \"1MiB\"" DEVICE_END);
	device_is("'mem': '1M', 'block_size': '4096'",
		  "\"device\": {" DEVICE_INDENT "\"block_size\": 4096,"
		  DEVICE_INDENT "\"mem\": \"1MiB\"" DEVICE_END);
	device_is("'path': '/dev/sdb', 'block_size': 4096, 'uuid': 'D592CDF3-5D1C-44E0-8412-3FCF7D99DF27',"
		  " 'nguid': '0123456789ABCDEF0123456789abcdef'",
		  "\"device\": {" DEVICE_INDENT "\"block_size\": 4096,"
		  DEVICE_INDENT "\"nguid\": \"" NGUID1 "\","
		  DEVICE_INDENT "\"path\": \"/dev/sdb\","
		  DEVICE_INDENT "\"uuid\": \"" UUID1 "\"" DEVICE_END);
	/* all zeroes is how the kernel shows "none": not written */
	device_is("'path': '/x', 'uuid': '00000000-0000-0000-0000-000000000000',"
		  " 'nguid': '00000000-0000-0000-0000-000000000000', 'eui64': '0011223344556677'",
		  "\"device\": {" DEVICE_INDENT "\"path\": \"/x\"" DEVICE_END);
	/* null: as mem, under its own key */
	device_is("'null': '1G'", "\"device\": {" DEVICE_INDENT "\"null\": \"1GiB\"" DEVICE_END);
	device_is("'null': 1536, 'block_size': 512", "\"device\": {" DEVICE_INDENT "\"null\": \"1536\"" DEVICE_END);
	device_is("'null': '8K', 'block_size': 4096, 'uuid': '" UUID1 "', 'nguid': '" NGUID1 "'",
		  "\"device\": {" DEVICE_INDENT "\"block_size\": 4096,"
		  DEVICE_INDENT "\"nguid\": \"" NGUID1 "\","
		  DEVICE_INDENT "\"null\": \"8KiB\","
		  DEVICE_INDENT "\"uuid\": \"" UUID1 "\"" DEVICE_END);
	device_is("'pcie': 'AB:1F.7', 'nsid': '4294967294'",
		  "\"device\": {" DEVICE_INDENT "\"nsid\": 4294967294,"
		  DEVICE_INDENT "\"pcie\": \"0000:ab:1f.7\"" DEVICE_END);
}

/* A null namespace is written as null, not mem, and reads back as the
 * same backend, size and block size. */
/* ANA: a namespace's group and a port's group states survive a save; an
 * optimized group is what a group not listed is, and is not written */
static void test_ana_round_trip(void **state)
{
	struct config *a = parse_ok(
		"{'subsystems': [{'nqn': '" NQN1 "', 'namespaces': ["
		"  {'nsid': 1, 'device': {'mem': '1M'}},"
		"  {'nsid': 2, 'ana_grpid': 5, 'ana': {'grpid': '5'}, 'device': {'mem': '1M'}}]}],"
		" 'ports': [{'portid': 1, 'addr': {" TCP4 "}, 'subsystems': ['" NQN1 "'],"
		"  'ana_groups': [{'grpid': 1, 'ana': {'state': 'optimized'}},"
		"                 {'grpid': 7, 'ana': {'state': 'change'}},"
		"                 {'grpid': 5, 'ana': {'state': 'persistent-loss'}}]}]}");
	struct config *b;
	char *ta = config_to_json(a), *tb;

	(void)state;
	assert_non_null(ta);
	assert_int_equal(a->subsystems[0].namespaces[0].anagrpid, 1);
	assert_int_equal(a->subsystems[0].namespaces[1].anagrpid, 5);
	assert_int_equal(a->ports[0].ana_state[1], CFG_ANA_UNSET);
	assert_int_equal(a->ports[0].ana_state[5], CFG_ANA_PERSISTENT_LOSS);
	assert_int_equal(a->ports[0].ana_state[7], CFG_ANA_CHANGE);
	assert_non_null(strstr(ta, "\"ana_grpid\": 5"));
	assert_null(strstr(ta, "\"grpid\": 1"));
	/* in group order */
	assert_non_null(strstr(ta, "\"state\": \"persistent-loss\""));
	assert_true(strstr(ta, "\"state\": \"persistent-loss\"") < strstr(ta, "\"state\": \"change\""));
	b = parse_ok(ta);
	assert_true(config_equal(a, b));
	tb = config_to_json(b);
	assert_string_equal(ta, tb);
	/* a state that differs is a different configuration */
	b->ports[0].ana_state[7] = CFG_ANA_INACCESSIBLE;
	assert_false(config_equal(a, b));
	free(ta);
	free(tb);
	config_free(a);
	config_free(b);
}

/* bridge.metrics: the default port, IPv6 in brackets, written back */
static void test_metrics_listen(void **state)
{
	struct config *a = parse_ok("{'bridge': {'metrics': {'listen': '127.0.0.1'}}}");
	struct config *b = parse_ok("{'bridge': {'metrics': {'listen': '[::1]:9999'}}}");
	struct config *c = parse_ok("{'bridge': {'metrics': {'listen': '::'}}}");
	char *ta = config_to_json(a), *tb = config_to_json(b);
	struct config *a2 = parse_ok(ta), *b2 = parse_ok(tb);

	(void)state;
	assert_true(a->bridge.metrics.enabled);
	assert_string_equal(a->bridge.metrics.addr, "127.0.0.1");
	assert_int_equal(a->bridge.metrics.port, CFG_METRICS_PORT_DEFAULT);
	assert_string_equal(b->bridge.metrics.addr, "::1");
	assert_int_equal(b->bridge.metrics.port, 9999);
	assert_string_equal(c->bridge.metrics.addr, "::");
	assert_int_equal(c->bridge.metrics.port, CFG_METRICS_PORT_DEFAULT);
	assert_non_null(strstr(ta, "\"listen\": \"127.0.0.1:10420\""));
	assert_non_null(strstr(tb, "\"listen\": \"[::1]:9999\""));
	assert_true(config_equal(a, a2));
	assert_true(config_equal(b, b2));
	assert_false(config_equal(a, b));
	free(ta);
	free(tb);
	config_free(a);
	config_free(b);
	config_free(c);
	config_free(a2);
	config_free(b2);
}

static void test_null_round_trip(void **state)
{
	struct config *a = parse_ok(
		"{'subsystems': [{'nqn': '" NQN1 "', 'namespaces': ["
		"  {'nsid': 1, 'device': {'null': 1073741824}},"
		"  {'nsid': 2, 'device': {'null': '12K', 'block_size': 4096, 'uuid': '" UUID1 "'}},"
		"  {'nsid': 3, 'device': {'mem': '1GiB'}}]}]}");
	struct config *b;
	const struct cfg_namespace *ns;
	char *ta = config_to_json(a), *tb;

	(void)state;
	assert_non_null(ta);
	assert_non_null(strstr(ta, "\"null\": \"1GiB\""));
	assert_non_null(strstr(ta, "\"null\": \"12KiB\""));
	assert_non_null(strstr(ta, "\"mem\": \"1GiB\""));
	b = parse_ok(ta);
	ns = b->subsystems[0].namespaces;
	assert_int_equal(b->subsystems[0].nr_namespaces, 3);
	assert_int_equal(ns[0].backend, CFG_BACKEND_NULL);
	assert_int_equal(ns[0].mem_bytes, 1ull << 30);
	assert_int_equal(ns[0].block_size, 512);
	assert_int_equal(ns[1].backend, CFG_BACKEND_NULL);
	assert_int_equal(ns[1].mem_bytes, 12288);
	assert_int_equal(ns[1].block_size, 4096);
	assert_true(ns[1].has_uuid);
	assert_int_equal(ns[2].backend, CFG_BACKEND_MEM);
	assert_true(config_equal(a, b));
	tb = config_to_json(b);
	assert_non_null(tb);
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);
	config_free(a);
	config_free(b);
}

/* Reservations are on by default and not written; "resv": {"enable": 0}
 * is kept, and makes a different configuration */
static void test_resv_round_trip(void **state)
{
	struct config *a = parse_ok(
		"{'subsystems': [{'nqn': '" NQN1 "', 'namespaces': ["
		"  {'nsid': 1, 'device': {'mem': '1M'}},"
		"  {'nsid': 2, 'resv': {'enable': 0}, 'device': {'mem': '1M'}}]}]}");
	struct config *b = parse_ok(
		"{'subsystems': [{'nqn': '" NQN1 "', 'namespaces': ["
		"  {'nsid': 1, 'resv': {'enable': '1'}, 'device': {'mem': '1M'}},"
		"  {'nsid': 2, 'device': {'mem': '1M'}}]}]}");
	struct config *c;
	char *ta = config_to_json(a), *tc;

	(void)state;
	assert_non_null(ta);
	assert_false(a->subsystems[0].namespaces[0].no_resv);
	assert_true(a->subsystems[0].namespaces[1].no_resv);
	/* once, for namespace 2 */
	assert_non_null(strstr(ta, "\"resv\": {"));
	assert_null(strstr(strstr(ta, "\"resv\": {") + 1, "\"resv\""));
	assert_false(config_equal(a, b));
	c = parse_ok(ta);
	assert_true(c->subsystems[0].namespaces[1].no_resv);
	assert_true(config_equal(a, c));
	tc = config_to_json(c);
	assert_string_equal(ta, tc);
	free(ta);
	free(tc);
	config_free(a);
	config_free(b);
	config_free(c);
}

/* What nvmetcli writes that we only check (ana, tsas, an empty dhchap,
 * passthru, resv...) and values that mean the default are not written
 * back; what they mean is. */
static void test_normalised(void **state)
{
	struct config *a = parse_ok(
		"{'discovery': {}, 'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': ''}}],"
		" 'subsystems': [{'nqn': '" NQN1 "', 'attr': {'model': '',"
		"  'pi_enable': '0', 'serial': ''}, 'passthru': {'enable': 0},"
		"  'namespaces': [{'nsid': '1', 'enable': 'true', 'ana_grpid': 0, 'ana': {'grpid': 1},"
		"   'resv': {'enable': 1}, 'device': {'mem': 1048576}}]}],"
		" 'ports': [{'portid': '1', 'addr': {" TCP4 ", 'tsas': 'none'},"
		"  'param': {'inline_data_size': '-1', 'max_queue_size': -1, 'pi_enable': 0},"
		"  'ana_groups': [{'grpid': 1, 'ana': {'state': 'optimized'}}]}]}");
	struct config *b = parse_ok(
		"{'hosts': [{'nqn': '" HOSTA "'}],"
		" 'subsystems': [{'nqn': '" NQN1 "', 'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]}],"
		" 'ports': [{'portid': 1, 'addr': {" TCP4 "}}]}");
	char *ta = config_to_json(a), *tb = config_to_json(b);

	(void)state;
	assert_true(config_equal(a, b));
	assert_string_equal(ta, tb);
	assert_null(strstr(ta, "ana"));
	assert_null(strstr(ta, "tsas"));
	assert_null(strstr(ta, "serial"));
	assert_non_null(strstr(ta, "\"model\": \"Linux\""));
	assert_non_null(strstr(ta, "\"inline_data_size\": \"8192\""));
	free(ta);
	free(tb);
	config_free(a);
	config_free(b);
}

/* Strings with every character JSON must escape, and UTF-8, come back as
 * they were. */
/* nvmet's qid_max, version, firmware and ieee_oui mean something to hosts:
 * read, written back as nvmetcli writes them, and part of equality */
static void test_nvmet_attrs(void **state)
{
	struct config *a = parse_ok(
		"{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'qid_max': '8', 'version': '1.3', 'firmware': '6.1.0-18',"
		"  'ieee_oui': '0x001b44'}}]}");
	struct config *b = parse_ok("{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'version': '2.0.1'}}]}");
	const struct cfg_subsystem *s = &a->subsystems[0];
	char *ta = config_to_json(a), *tb = config_to_json(b);
	struct config *c;

	(void)state;
	assert_int_equal(s->qid_max, 8);
	assert_int_equal(s->version, 0x10300);
	assert_string_equal(s->firmware, "6.1.0-18");
	assert_true(s->has_ieee_oui);
	assert_int_equal(s->ieee_oui, 0x001b44);
	assert_int_equal(b->subsystems[0].version, 0x20001);
	assert_non_null(strstr(ta, "\"qid_max\": \"8\""));
	assert_non_null(strstr(ta, "\"version\": \"1.3\""));
	assert_non_null(strstr(ta, "\"firmware\": \"6.1.0-18\""));
	assert_non_null(strstr(ta, "\"ieee_oui\": \"0x001b44\""));
	assert_non_null(strstr(tb, "\"version\": \"2.0.1\""));
	assert_false(config_equal(a, b));
	c = parse_ok(ta);
	assert_true(config_equal(a, c));
	config_free(c);
	free(ta);
	free(tb);
	config_free(a);
	config_free(b);
}

static void test_escaping(void **state)
{
	static const char json[] =
		"{\"subsystems\": [{\"nqn\": \"nqn.2024-01.org.example:caf\xc3\xa9 \\\"q\\\" \\\\ \\/\","
		" \"attr\": {\"model\": \"a \\\"b\\\" \\\\c\", \"serial\": \"~ {}\"},"
		" \"namespaces\": [{\"nsid\": 1, \"device\": {\"path\": \"/x\\u0001\\t\\n\\r\\b\\f\\u001f \\\"\\\\/\\u00e9\\u007f\"}}]}],"
		" \"ports\": [{\"portid\": 1, \"addr\": {\"trtype\": \"tcp\", \"adrfam\": \"ipv4\","
		" \"traddr\": \"127.0.0.1\", \"trsvcid\": 4420},"
		" \"referrals\": [{\"name\": \"\\\"x\\\"\\u0002\", \"addr\": {\"trtype\": \"tcp\","
		" \"adrfam\": \"ipv4\", \"traddr\": \"192.0.2.1\", \"trsvcid\": 8009}}]}]}";
	struct config *cfg = NULL, *again = NULL;
	char err[512] = "";
	char *text;

	(void)state;
	assert_int_equal(config_parse(json, "e.json", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->subsystems[0].namespaces[0].path, "/x\x01\t\n\r\b\f\x1f \"\\/\xc3\xa9\x7f");
	text = config_to_json(cfg);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"path\": \"/x\\u0001\\t\\n\\u000d\\u0008\\u000c\\u001f \\\"\\\\/\xc3\xa9\x7f\""));
	assert_non_null(strstr(text, "\"nqn\": \"nqn.2024-01.org.example:caf\xc3\xa9 \\\"q\\\" \\\\ /\""));
	assert_non_null(strstr(text, "\"model\": \"a \\\"b\\\" \\\\c\""));
	assert_non_null(strstr(text, "\"name\": \"\\\"x\\\"\\u0002\""));
	if (config_parse(text, "again.json", &again, err, sizeof(err)))
		fail_msg("%s\n%s", err, text);
	assert_true(config_equal(cfg, again));
	free(text);
	config_free(again);
	config_free(cfg);
}

/* ---- config_equal ---- */

/* Changes one thing in a copy of BIG. Returns what it changed, or NULL
 * when i is past the last change. */
static const char *mutate(struct config *c, unsigned i)
{
	struct cfg_subsystem *s = &c->subsystems[0];
	struct cfg_namespace *ns = s->namespaces;
	struct cfg_port *p = &c->ports[0];
	struct cfg_referral *r = p->referrals;
	void *grown;

	switch (i) {
	case 0:
		c->bridge.discovery_port = 8009;
		return "bridge.discovery_port";
	case 1:
		c->bridge.reactors = 3;
		return "bridge.reactors";
	case 2:
		strcpy(c->bridge.rpc_socket, "/tmp/c.sock");
		return "bridge.rpc_socket";
	case 3:
		strcpy(c->bridge.rpc_group, "nvmf2");
		return "bridge.rpc_group";
	case 4:
		c->bridge.rpc_group[0] = '\0';
		return "bridge.rpc_group cleared";
	case 5:
		c->hosts[1].nqn[strlen(c->hosts[1].nqn) - 1] = '6';
		return "hosts[1].nqn";
	case 6:
		c->nr_hosts--;
		return "host removed";
	case 7:
		strcpy(c->hosts[0].nqn, HOSTB);
		strcpy(c->hosts[1].nqn, HOSTA);
		return "hosts reordered";
	case 8:
		strcpy(s->nqn, "nqn.2024-01.org.example:ssd9");
		return "subsystem nqn";
	case 9:
		s->allow_any_host = true;
		return "allow_any_host";
	case 10:
		strcpy(s->serial, "S2");
		return "serial";
	case 11:
		s->serial[0] = '\0';
		return "serial cleared";
	case 12:
		strcpy(s->model, "M2");
		return "model";
	case 13:
		s->cntlid_min = 11;
		return "cntlid_min";
	case 14:
		s->cntlid_max = 19;
		return "cntlid_max";
	case 15:
		grown = realloc(c->subsystems[1].allowed_hosts, sizeof(*s->allowed_hosts));
		assert_non_null(grown);
		c->subsystems[1].allowed_hosts = grown;
		strcpy(c->subsystems[1].allowed_hosts[0], HOSTA);
		c->subsystems[1].nr_allowed_hosts = 1;
		return "allowed host added";
	case 16:
		s->nr_allowed_hosts--;
		return "allowed host removed";
	case 17:
		strcpy(s->allowed_hosts[0], HOSTB);
		strcpy(s->allowed_hosts[1], HOSTA);
		return "allowed hosts reordered";
	case 18:
		ns[0].nsid = 4;
		return "namespace nsid";
	case 19:
		ns[2].enable = true;
		return "namespace enable";
	case 20:
		strcpy(ns[0].pcie_bdf, "0000:02:00.0");
		return "device.pcie";
	case 21:
		ns[0].pcie_nsid = 2;
		return "device.nsid";
	case 22:
		strcpy(ns[1].path, "/dev/sdc");
		return "device.path";
	case 23:
		ns[1].block_size = 512;
		return "device.block_size (path)";
	case 24:
		ns[2].mem_bytes += 512;
		return "device.mem";
	case 25:
		ns[2].block_size = 4096;
		return "device.block_size (mem)";
	case 26:
		ns[0].backend = CFG_BACKEND_MEM;
		ns[0].mem_bytes = 1 << 20;
		ns[0].block_size = 512;
		return "device backend pcie -> mem";
	case 27:
		ns[1].backend = CFG_BACKEND_MEM;
		ns[1].mem_bytes = 1 << 20;
		return "device backend path -> mem";
	case 28:
		ns[0].uuid[15] ^= 1;
		return "device.uuid";
	case 29:
		ns[0].has_uuid = false;
		return "device.uuid removed";
	case 30:
		ns[2].has_uuid = true;
		ns[2].uuid[0] = 1;
		return "device.uuid added";
	case 31:
		ns[1].nguid[0] ^= 0x80;
		return "device.nguid";
	case 32:
		ns[1].has_nguid = false;
		return "device.nguid removed";
	case 33:
		s->nr_namespaces--;
		return "namespace removed";
	case 34:
		ns[0].nsid = 2;
		ns[1].nsid = 1;
		return "namespace NSIDs swapped";
	case 35:
		grown = realloc(c->subsystems, (c->nr_subsystems + 1) * sizeof(*c->subsystems));
		assert_non_null(grown);
		c->subsystems = grown;
		memset(&c->subsystems[c->nr_subsystems], 0, sizeof(*c->subsystems));
		strcpy(c->subsystems[c->nr_subsystems++].nqn, "nqn.2024-01.org.example:ssd3");
		return "subsystem added";
	case 36:
		memcpy(c->subsystems[1].nqn, s->nqn, sizeof(s->nqn));
		strcpy(s->nqn, NQN2);
		return "subsystems' NQNs swapped";
	case 37:
		p->portid = 3;
		return "portid";
	case 38:
		p->addr.trtype = CFG_TRTYPE_RDMA;
		return "addr.trtype";
	case 39:
		c->ports[1].addr.adrfam = CFG_ADRFAM_IPV4;
		return "addr.adrfam";
	case 40:
		strcpy(p->addr.traddr, "127.0.0.2");
		return "addr.traddr";
	case 41:
		strcpy(p->addr.trsvcid, "4421");
		return "addr.trsvcid";
	case 42:
		c->ports[1].addr.treq = CFG_TREQ_NOT_SPECIFIED;
		return "addr.treq";
	case 43:
		p->inline_data_size = 8192;
		return "param.inline_data_size";
	case 44:
		p->nr_subsystems--;
		return "port subsystem removed";
	case 45:
		strcpy(p->subsystems[0], NQN2);
		strcpy(p->subsystems[1], NQN1);
		return "port subsystems reordered";
	case 46:
		grown = realloc(c->ports, (c->nr_ports + 1) * sizeof(*c->ports));
		assert_non_null(grown);
		c->ports = grown;
		memset(&c->ports[c->nr_ports], 0, sizeof(*c->ports));
		c->ports[c->nr_ports].portid = 9;
		c->ports[c->nr_ports].addr = c->ports[0].addr;
		c->nr_ports++;
		return "port added";
	case 47:
		strcpy(r[0].name, "r3");
		return "referral name";
	case 48:
		r[1].enable = true;
		return "referral enable";
	case 49:
		r[0].portid = 0;
		return "referral addr.portid";
	case 50:
		strcpy(r[0].addr.traddr, "192.0.2.13");
		return "referral addr.traddr";
	case 51:
		strcpy(r[0].addr.trsvcid, "8010");
		return "referral addr.trsvcid";
	case 52:
		r[1].addr.treq = CFG_TREQ_NOT_REQUIRED;
		return "referral addr.treq";
	case 53:
		r[1].addr.trtype = CFG_TRTYPE_TCP;
		return "referral addr.trtype";
	case 54:
		p->nr_referrals--;
		return "referral removed";
	case 55:
		grown = realloc(c->ports[1].referrals, sizeof(*r));
		assert_non_null(grown);
		c->ports[1].referrals = grown;
		c->ports[1].referrals[0] = r[0];
		c->ports[1].nr_referrals = 1;
		return "referral added";
	case 56:
		c->bridge.icreq_timeout_ms = 10000;
		return "bridge.icreq_timeout_ms";
	case 57:
		c->bridge.connect_timeout_ms = 6001;
		return "bridge.connect_timeout_ms";
	case 58:
		c->bridge.max_conns_per_port = 4096;
		return "bridge.max_connections_per_port";
	case 59:
		c->bridge.max_conns_per_addr = 11;
		return "bridge.max_connections_per_address";
	case 60:
		c->bridge.max_ctrls_per_host = 128;
		return "bridge.max_controllers_per_host";
	case 61:
		strcpy(c->bridge.rpc_namespace_dirs[1], "/srv/c");
		return "bridge.rpc_namespace_dirs[1]";
	case 62:
		c->bridge.nr_rpc_namespace_dirs--;
		return "bridge.rpc_namespace_dirs: one removed";
	case 63:
		c->bridge.nr_rpc_namespace_dirs = 0;
		return "bridge.rpc_namespace_dirs: all removed";
	case 64:
		strcpy(c->bridge.rpc_namespace_dirs[2], "/srv/c");
		c->bridge.nr_rpc_namespace_dirs = 3;
		return "bridge.rpc_namespace_dirs: one added";
	case 65:
		strcpy(c->bridge.rpc_namespace_dirs[0], "/srv/b");
		strcpy(c->bridge.rpc_namespace_dirs[1], "/srv/a");
		return "bridge.rpc_namespace_dirs reordered";
	case 66:
		strcpy(c->bridge.rpc_save_dir, "/srv/saved2");
		return "bridge.rpc_save_dir";
	case 67:
		c->bridge.rpc_save_dir[0] = '\0';
		return "bridge.rpc_save_dir cleared";
	case 68:
		ns[3].mem_bytes += 4096;
		return "device.null";
	case 69:
		ns[3].block_size = 512;
		return "device.block_size (null)";
	case 70:
		ns[3].backend = CFG_BACKEND_MEM;        /* same size and block size */
		return "device backend null -> mem";
	case 71:
		ns[2].backend = CFG_BACKEND_NULL;
		return "device backend mem -> null";
	case 72:
		c->bridge.rdma_srq_size = 0;
		return "bridge.rdma_srq_size";
	}
	return NULL;
}

/* Each change alone makes the configurations differ, both ways, and
 * config_to_json() tells them apart too. */
static void test_equal_each_field(void **state)
{
	struct config *a = parse_ok(BIG), *b;
	char *ta = config_to_json(a), *tb;
	const char *what;
	unsigned i;

	(void)state;
	assert_non_null(ta);
	for (i = 0;; i++) {
		/* file is the only thing that does not count */
		b = parse_as(BIG, "another-file.json");
		assert_true(config_equal(a, b));
		what = mutate(b, i);
		if (!what) {
			config_free(b);
			break;
		}
		if (config_equal(a, b) || config_equal(b, a))
			fail_msg("a change of %s is not seen", what);
		tb = config_to_json(b);
		assert_non_null(tb);
		if (!strcmp(ta, tb))
			fail_msg("a change of %s is not written", what);
		free(tb);
		config_free(b);
	}
	assert_int_equal(i, 73);
	free(ta);
	config_free(a);
}

/* What config_to_json() does not write does not count either: the fields
 * of another backend, an unset ID's bytes, what follows a string's NUL. */
static void test_equal_unwritten(void **state)
{
	struct config *a = parse_ok(BIG), *b = parse_ok(BIG);
	struct cfg_namespace *ns = b->subsystems[0].namespaces;
	char *ta, *tb;

	(void)state;
	strcpy(ns[0].path, "/junk");
	ns[0].mem_bytes = 4096;
	ns[0].block_size = 4096;
	ns[0].nguid[3] = 7;
	strcpy(ns[1].pcie_bdf, "0000:05:00.0");
	ns[1].pcie_nsid = 9;
	ns[1].uuid[0] = 1;
	ns[2].uuid[0] = 1;
	strcpy(ns[3].path, "/junk");
	strcpy(ns[3].pcie_bdf, "0000:06:00.0");
	ns[3].pcie_nsid = 5;
	memset(b->subsystems[0].serial + 3, 'x', sizeof(b->subsystems[0].serial) - 4);
	b->subsystems[0].nqn[sizeof(b->subsystems[0].nqn) - 2] = 'z';
	b->bridge.rpc_group[sizeof(b->bridge.rpc_group) - 2] = 'z';
	/* past the NULs of the directories, and the slots not in use */
	b->bridge.rpc_namespace_dirs[0][CFG_DIR_SIZE - 2] = 'z';
	strcpy(b->bridge.rpc_namespace_dirs[CFG_MAX_DIRS - 1], "/junk");
	b->bridge.rpc_save_dir[CFG_DIR_SIZE - 2] = 'z';
	assert_true(config_equal(a, b));
	assert_true(config_equal(b, a));
	ta = config_to_json(a);
	tb = config_to_json(b);
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);

	assert_true(config_equal(a, a));
	assert_true(config_equal(NULL, NULL));
	assert_false(config_equal(a, NULL));
	assert_false(config_equal(NULL, a));
	config_free(a);
	config_free(b);
}

/* ---- config_write_file ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nvmfb-cfgw-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* dir and everything in it, dot files and subdirectories included */
static void remove_tree(const char *dir)
{
	struct dirent *e;
	char path[512];
	struct stat st;
	DIR *d;

	chmod(dir, 0700);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!lstat(path, &st) && S_ISDIR(st.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int remove_tmpdir(void **state)
{
	(void)state;
	remove_tree(tmpdir);
	return access(tmpdir, F_OK) == 0 ? -1 : 0;
}

/* The names in dir, sorted, joined by spaces: "" when it is empty */
static void dir_names(const char *dir, char *out, size_t outlen)
{
	struct dirent **list;
	size_t n = 0;
	int i, nr = scandir(dir, &list, NULL, alphasort);

	assert_true(nr >= 0);
	out[0] = '\0';
	for (i = 0; i < nr; i++) {
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..") && n < outlen)
			n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? " " : "",
					      list[i]->d_name);
		free(list[i]);
	}
	free(list);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct stat st;
	char *buf;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	return buf;
}

static void put_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* path holds cfg: loads back equal, is exactly config_to_json(), 0600 */
static void check_written(const char *path, const struct config *cfg)
{
	struct config *back = NULL;
	char err[512] = "";
	char *text = config_to_json(cfg), *file = slurp(path);
	struct stat st;

	if (config_load(path, &back, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(config_equal(cfg, back));
	assert_string_equal(back->file, path);
	assert_string_equal(file, text);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	free(file);
	free(text);
	config_free(back);
}

/* A failed write returns want, names path first, on one line */
static void write_fails(const struct config *cfg, const char *path, int want, const char *word)
{
	char err[512] = "";
	int ret = config_write_file(cfg, path, err, sizeof(err));

	if (ret != want)
		fail_msg("%s: expected %d, got %d (%s)", path, want, ret, err);
	if (strncmp(err, path, strlen(path)) || strncmp(err + strlen(path), ": ", 2) ||
	    !strstr(err, word))
		fail_msg("message \"%s\" wanted \"%s: ...%s...\"", err, path, word);
	assert_null(strchr(err, '\n'));
}

static void test_write_new(void **state)
{
	struct config *cfg = parse_ok(BIG);
	char path[128], err[512] = "", names[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/config.json", tmpdir);
	assert_int_equal(config_write_file(cfg, path, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	check_written(path, cfg);
	/* no temporary file left beside it */
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "config.json");
	config_free(cfg);
}

static void test_write_examples(void **state)
{
	static const char *const examples[] = {
		"config/example-pcie.json", "config/example-mem.json", "config/example-full.json",
	};
	struct config *cfg;
	char path[128], err[512];
	size_t i;

	(void)state;
	snprintf(path, sizeof(path), "%s/saved.json", tmpdir);
	for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		cfg = NULL;
		if (config_load(examples[i], &cfg, err, sizeof(err)))
			fail_msg("%s", err);
		if (config_write_file(cfg, path, err, sizeof(err)))
			fail_msg("%s", err);
		check_written(path, cfg);
		config_free(cfg);
	}
}

/* An existing file is replaced, mode included, whatever the umask */
static void test_write_replace(void **state)
{
	struct config *cfg = parse_ok(BIG);
	char path[128], err[512] = "", names[256];
	mode_t old_umask;
	int ret;

	(void)state;
	snprintf(path, sizeof(path), "%s/config.json", tmpdir);
	put_file(path, "{\"bridge\": {\"reactors\": 7}}\n", 0644);
	old_umask = umask(0277);
	ret = config_write_file(cfg, path, err, sizeof(err));
	umask(old_umask);
	if (ret)
		fail_msg("%d: %s", ret, err);
	check_written(path, cfg);
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "config.json");

	/* and again, over the file it wrote itself */
	cfg->bridge.reactors = 5;
	assert_int_equal(config_write_file(cfg, path, err, sizeof(err)), 0);
	check_written(path, cfg);
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "config.json");
	config_free(cfg);
}

/* A relative name is written in the current directory */
static void test_write_relative(void **state)
{
	struct config *cfg = parse_ok(BIG);
	char cwd[4096], err[512] = "", names[256], path[128];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(config_write_file(cfg, "rel.json", err, sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	snprintf(path, sizeof(path), "%s/rel.json", tmpdir);
	check_written(path, cfg);
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "rel.json");
	config_free(cfg);
}

/* The write itself fails half way (the file size limit stands in for a
 * full disk, and works as root too): the old file is untouched and the
 * partial temporary file is gone. */
static void test_write_fails_midway(void **state)
{
	static const char old[] = "{\"bridge\": {\"reactors\": 7}}\n";
	struct config *cfg = parse_ok(BIG);
	char path[128], err[512] = "", names[256], *now;
	struct rlimit saved, small;
	void (*saved_sig)(int);
	int ret;

	(void)state;
	snprintf(path, sizeof(path), "%s/config.json", tmpdir);
	put_file(path, old, 0640);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	small = saved;
	small.rlim_cur = 100;
	saved_sig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	ret = config_write_file(cfg, path, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, saved_sig);

	assert_int_equal(ret, -EFBIG);
	if (strncmp(err, path, strlen(path)) || !strstr(err, ": cannot write ") ||
	    !strstr(err, "File too large"))
		fail_msg("message \"%s\"", err);
	now = slurp(path);
	assert_string_equal(now, old);
	free(now);
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "config.json");
	config_free(cfg);
}

/* A directory that does not exist: nothing is created anywhere */
static void test_write_no_dir(void **state)
{
	struct config *cfg = parse_ok(BIG);
	char path[256], dir[128], names[256], want[320];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/missing", tmpdir);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	snprintf(want, sizeof(want), "cannot create a temporary file in %s: No such file or directory", dir);
	write_fails(cfg, path, -ENOENT, want);
	assert_int_equal(access(dir, F_OK), -1);
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "");
	config_free(cfg);
}

/*
 * config_write_file() as a user the mode bits apply to. Root writes
 * through them, so as root the call runs in a child that has become
 * nobody (65534) first. Returns 1 when that is impossible (no CAP_SETUID
 * in a container, say): the caller skips.
 */
static int write_as_user(const struct config *cfg, const char *path, int *ret,
			 char *err, size_t errlen)
{
	struct shared {
		int ret;
		char err[512];
	} *sh;
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		*ret = config_write_file(cfg, path, err, errlen);
		return 0;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(2);
		sh->ret = config_write_file(cfg, path, sh->err, sizeof(sh->err));
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	*ret = sh->ret;
	snprintf(err, errlen, "%s", sh->err);
	munmap(sh, sizeof(*sh));
	return WEXITSTATUS(status) == 2;
}

/* A directory the writer may not write to: refused with the reason, the
 * old file intact, nothing added. */
static void test_write_readonly_dir(void **state)
{
	static const char old[] = "{}\n";
	struct config *cfg = parse_ok(BIG);
	char path[256], dir[128], names[256], err[512] = "", want[512], *now;
	int ret = 0, cannot;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/ro", tmpdir);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	put_file(path, old, 0644);
	/* searchable by the user of write_as_user() */
	assert_int_equal(chmod(tmpdir, 0711), 0);
	assert_int_equal(chmod(dir, 0555), 0);
	cannot = write_as_user(cfg, path, &ret, err, sizeof(err));
	assert_int_equal(chmod(dir, 0700), 0);
	if (cannot) {
		config_free(cfg);
		skip();
	}
	assert_int_equal(ret, -EACCES);
	snprintf(want, sizeof(want), "%s: cannot create a temporary file in %s: Permission denied",
		 path, dir);
	assert_string_equal(err, want);
	now = slurp(path);
	assert_string_equal(now, old);
	free(now);
	dir_names(dir, names, sizeof(names));
	assert_string_equal(names, "config.json");
	config_free(cfg);
}

/* A name that is a directory is refused before or at the rename; the
 * directory and its content stay as they were, no temporary file stays. */
static void test_write_over_dir(void **state)
{
	struct config *cfg = parse_ok(BIG);
	char path[128], names[256], inner[160];

	(void)state;
	snprintf(path, sizeof(path), "%s/sub", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/keep", path);
	put_file(inner, "x", 0600);
	write_fails(cfg, path, -EISDIR, "cannot rename");
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "sub");
	dir_names(path, names, sizeof(names));
	assert_string_equal(names, "keep");

	snprintf(path, sizeof(path), "%s/sub/", tmpdir);
	write_fails(cfg, path, -EISDIR, "names a directory");
	snprintf(path, sizeof(path), "%s/sub/..", tmpdir);
	write_fails(cfg, path, -EISDIR, "names a directory");
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "sub");
	config_free(cfg);
}

/* A configuration config_load() would refuse as too large is not written:
 * replacing a good file with it would leave a daemon that cannot start. */
static void test_write_too_big(void **state)
{
	struct config *cfg = parse_ok("{'subsystems': [{'nqn': '" NQN1 "'}]}");
	struct cfg_subsystem *s = &cfg->subsystems[0];
	char path[128], names[256];
	unsigned i;

	(void)state;
	/* 1100 namespaces on 4000-byte paths: over 4 MiB of text */
	s->namespaces = calloc(1100, sizeof(*s->namespaces));
	assert_non_null(s->namespaces);
	s->nr_namespaces = 1100;
	for (i = 0; i < s->nr_namespaces; i++) {
		s->namespaces[i].nsid = i + 1;
		s->namespaces[i].enable = true;
		s->namespaces[i].backend = CFG_BACKEND_FILE;
		s->namespaces[i].block_size = 512;
		s->namespaces[i].anagrpid = 1;
		memset(s->namespaces[i].path, 'a', 4000);
		s->namespaces[i].path[0] = '/';
	}
	snprintf(path, sizeof(path), "%s/big.json", tmpdir);
	write_fails(cfg, path, -EFBIG, "over the 4 MiB a configuration file may have");
	dir_names(tmpdir, names, sizeof(names));
	assert_string_equal(names, "");

	/* one fewer zero: well under the limit, and it loads back */
	s->nr_namespaces = 110;
	assert_int_equal(config_write_file(cfg, path, NULL, 0), 0);
	check_written(path, cfg);
	config_free(cfg);
}

static void test_write_bad_args(void **state)
{
	struct config *cfg = parse_ok("{}");
	char err[8];

	(void)state;
	assert_int_equal(config_write_file(cfg, "", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_write_file(cfg, NULL, NULL, 0), -EINVAL);
	write_fails(NULL, "/tmp/x.json", -EINVAL, "no configuration");
	/* a short buffer truncates, it does not overflow */
	assert_int_equal(config_write_file(NULL, "/tmp/x.json", err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	config_free(cfg);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_bridge),
		cmocka_unit_test(test_bridge_limits),
		cmocka_unit_test(test_bridge_defaults),
		cmocka_unit_test(test_mem_sizes),
		cmocka_unit_test(test_device_keys),
		cmocka_unit_test(test_null_round_trip),
		cmocka_unit_test(test_ana_round_trip),
		cmocka_unit_test(test_metrics_listen),
		cmocka_unit_test(test_normalised),
		cmocka_unit_test(test_resv_round_trip),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_equal_each_field),
		cmocka_unit_test(test_equal_unwritten),
		cmocka_unit_test(test_nvmet_attrs),
		cmocka_unit_test_setup_teardown(test_write_new, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_examples, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_replace, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_relative, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_fails_midway, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_no_dir, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_readonly_dir, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_over_dir, make_tmpdir, remove_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_too_big, make_tmpdir, remove_tmpdir),
		cmocka_unit_test(test_write_bad_args),
	};

	return cmocka_run_group_tests_name("config_write", tests, NULL, NULL);
}
