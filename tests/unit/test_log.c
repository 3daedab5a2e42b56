/* SPDX-License-Identifier: MIT */
/*
 * common/log.c: every line escaped and bounded, and lines caused by peers
 * rate-limited per source (and for all sources together) with counts of
 * what was dropped. Lines are captured through a memory stream; the rate
 * limiter's clock is the test's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define LOG_TAG "t"
#include "common/log.h"

static char *cap;
static size_t cap_len;
static FILE *out;
static uint64_t fake_ns = 1000000000ull;

static uint64_t fake_clock(void)
{
	return fake_ns;
}

static int setup(void **state)
{
	(void)state;
	out = open_memstream(&cap, &cap_len);
	assert_non_null(out);
	log_set_output_for_test(out);
	log_set_clock_for_test(fake_clock);
	log_set_level(LOG_LVL_INFO);
	fake_ns += 3600ull * 1000000000u;       /* a fresh second for every test: buckets full */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_set_output_for_test(NULL);
	log_set_clock_for_test(NULL);
	fclose(out);
	free(cap);
	cap = NULL;
	log_set_level(LOG_LVL_NOTICE);
	return 0;
}

static const char *captured(void)
{
	fflush(out);
	return cap ? cap : "";
}

static unsigned lines(void)
{
	unsigned n = 0;

	for (const char *p = captured(); *p; p++)
		n += *p == '\n';
	return n;
}

/* A host NQN with a newline, a forged line and terminal escapes: one line
 * out, everything outside printable ASCII as \xNN, backslash doubled. */
static void test_escaped(void **state)
{
	const char *nqn = "nqn.x:a\nt: FORGED\x1b[2J\x9b\\end";

	(void)state;
	log_warn("host %s refused", nqn);
	assert_string_equal(captured(), "t: host nqn.x:a\\x0at: FORGED\\x1b[2J\\x9b\\\\end refused\n");
	assert_int_equal(lines(), 1);
}

/* Long lines full of bytes that escape to four: bounded, one line, cut
 * on a whole escape, marked. */
static void test_long_line_bounded(void **state)
{
	char big[3000];
	const char *c;

	(void)state;
	memset(big, '\x01', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	log_warn("%s", big);
	c = captured();
	assert_int_equal(lines(), 1);
	assert_true(strlen(c) < 1100);
	assert_non_null(strstr(c, "\\x01...\n"));
}

static void test_log_escape(void **state)
{
	char d[8];

	(void)state;
	assert_int_equal(log_escape(d, 0, "abc", 3), 0);
	assert_int_equal(log_escape(d, 1, "abc", 3), 0);
	assert_string_equal(d, "");
	assert_int_equal(log_escape(d, 4, "abc", 3), 3);       /* exact fit */
	assert_string_equal(d, "abc");
	assert_int_equal(log_escape(d, 4, "a\n", 2), 1);        /* never half an escape */
	assert_string_equal(d, "a");
	assert_int_equal(log_escape(d, 8, "a\n", 2), 5);
	assert_string_equal(d, "a\\x0a");
	assert_int_equal(log_escape(d, 8, "\\", 1), 2);
	assert_string_equal(d, "\\\\");
}

static unsigned count(const char *needle)
{
	unsigned n = 0;

	for (const char *p = captured(); (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* 20 lines, then 2 per second, per source; the next line let through
 * says how many were dropped; other sources are not affected. */
static void test_peer_rate_limit(void **state)
{
	(void)state;
	for (int i = 0; i < 100; i++)
		log_peer_warn("192.0.2.7", "bad PDU %d from 192.0.2.7", i);
	assert_int_equal(count("from 192.0.2.7\n"), 20);
	log_peer_warn("192.0.2.8", "bad PDU from 192.0.2.8");
	assert_int_equal(count("from 192.0.2.8\n"), 1);
	fake_ns += 1000000000u;                 /* one second: two more */
	log_peer_warn("192.0.2.7", "again");
	log_peer_warn("192.0.2.7", "again");
	log_peer_warn("192.0.2.7", "again");
	assert_int_equal(count("again"), 2);
	assert_int_equal(count("again [80 similar lines from 192.0.2.7 suppressed]\n"), 1);
}

/* A host's info chatter (connections made and closed) does not use up
 * the budget of its warnings and notices: a refusal is still told. */
static void test_chatter_apart(void **state)
{
	(void)state;
	for (int i = 0; i < 100; i++)
		log_peer_info("192.0.2.10", "connected %d", i);
	log_peer_notice("192.0.2.10", "host not allowed");
	assert_int_equal(count("host not allowed\n"), 1);
	assert_int_equal(count("connected"), 20);
}

/* Many sources together are bounded too (an attacker with many
 * addresses): 200, then 50 per second, and the count of what was lost. */
static void test_all_sources_bounded(void **state)
{
	char src[32];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(src, sizeof(src), "10.0.%d.%d", i / 250, i % 250);
		log_peer_warn(src, "x");
	}
	assert_int_equal(lines(), 200);
	fake_ns += 1000000000u;
	log_peer_warn("10.9.9.9", "y");
	assert_int_equal(count("y [800 lines from all peers suppressed]"), 1);
}

/* Lines filtered out by the level cost nothing */
static void test_filtered_cost_nothing(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_WARNING);
	for (int i = 0; i < 100; i++)
		log_peer_info("192.0.2.9", "info %d", i);
	assert_int_equal(lines(), 0);
	for (int i = 0; i < 20; i++)
		log_peer_warn("192.0.2.9", "warn");
	assert_int_equal(count("warn\n"), 20);
}

/* Thousands of sources: the fixed table evicts, nothing breaks, and a
 * source that returns starts afresh. */
static void test_many_sources(void **state)
{
	char src[32];

	(void)state;
	for (int round = 0; round < 5; round++) {
		fake_ns += 60ull * 1000000000u;
		for (int i = 0; i < 1000; i++) {
			snprintf(src, sizeof(src), "2001:db8::%x", i + round * 1000);
			log_peer_notice(src, "n");
		}
	}
	assert_true(lines() <= 5 * 200);
	assert_true(lines() >= 5 * 200 - 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_escape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chatter_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_sources_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filtered_cost_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_sources, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
