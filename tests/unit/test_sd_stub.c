/* SPDX-License-Identifier: MIT */
/* common/sd_notify.h without libsystemd: the daemon's call sites compile
 * unchanged and the calls do nothing (a build without libsystemd works). */
#undef HAVE_LIBSYSTEMD
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/sd_notify.h"

static void test_stub_calls(void **state)
{
	uint64_t usec = 12345;

	(void)state;
	/* even with NOTIFY_SOCKET and WATCHDOG_USEC set, the stub stays silent */
	setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock", 1);
	setenv("WATCHDOG_USEC", "1000000", 1);
	assert_int_equal(sd_notify(0, "READY=1"), 0);
	assert_int_equal(sd_notifyf(0, "STATUS=%s", "x"), 0);
	assert_int_equal(sd_watchdog_enabled(0, &usec), 0);
	assert_int_equal(usec, 12345);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stub_calls),
	};

	return cmocka_run_group_tests_name("sd_stub", tests, NULL, NULL);
}
