/* SPDX-License-Identifier: MIT */
/* Wire and register formats: the static asserts in include/nvme/ are
 * compiled here; these checks cover the encodings that are computed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nvme/cmd.h"
#include "nvme/fabrics.h"
#include "nvme/identify.h"
#include "nvme/rdma.h"
#include "nvme/regs.h"
#include "nvme/tcp.h"
#include "pcie/pcie.h"

static void test_doorbells(void **state)
{
	(void)state;
	assert_int_equal(nvme_sq_tail_db(0, 0), 0x1000);
	assert_int_equal(nvme_cq_head_db(0, 0), 0x1004);
	assert_int_equal(nvme_sq_tail_db(3, 0), 0x1018);
	assert_int_equal(nvme_cq_head_db(3, 0), 0x101c);
	/* DSTRD 2: 16-byte stride */
	assert_int_equal(nvme_sq_tail_db(1, 2), 0x1020);
	assert_int_equal(nvme_cq_head_db(1, 2), 0x1030);
}

static void test_cap_fields(void **state)
{
	/* QEMU's CAP, as read through VFIO in the VM */
	uint64_t cap = 0x004018200f0107ffull;

	(void)state;
	assert_int_equal(NVME_CAP_MQES(cap) + 1, 2048);
	assert_int_equal(NVME_CAP_CQR(cap), 1);
	assert_int_equal(NVME_CAP_TO(cap) * 500, 7500);
	assert_int_equal(NVME_CAP_DSTRD(cap), 0);
	assert_true(NVME_CAP_CSS(cap) & NVME_CAP_CSS_NVM);
	assert_int_equal(NVME_CAP_MPSMIN(cap), 0);
	assert_int_equal(NVME_CAP_MPSMAX(cap), 4);
	assert_int_equal(NVME_AQA(32, 32), 0x001f001f);
}

static void test_status_encoding(void **state)
{
	struct nvme_cqe cqe = { 0 };
	uint16_t st = NVME_STATUS(NVME_SCT_PATH, NVME_SC_HOST_ABORTED_CMD);

	(void)state;
	cqe.status = (uint16_t)((st | NVME_STATUS_DNR) << 1 | 1);
	assert_int_equal(NVME_CQE_PHASE(&cqe), 1);
	assert_int_equal(NVME_STATUS_SCT(NVME_CQE_STATUS(&cqe)), 3);
	assert_int_equal(NVME_STATUS_SC(NVME_CQE_STATUS(&cqe)), 0x71);
	assert_true(NVME_CQE_STATUS(&cqe) & NVME_STATUS_DNR);
	assert_string_equal(nvme_status_str(st), "aborted by host (controller reset)");
}

static void test_rw_sqe(void **state)
{
	struct nvme_sqe s;

	(void)state;
	memset(&s, 0xff, sizeof(s));
	nvme_sqe_rw(&s, NVME_CMD_READ, 7, 0x123456789aull, 8);
	assert_int_equal(s.opc, 0x02);
	assert_int_equal(s.nsid, 7);
	assert_int_equal(s.cdw10, 0x3456789a);
	assert_int_equal(s.cdw11, 0x12);
	assert_int_equal(s.cdw12, 7);          /* NLB is 0's based */
	assert_int_equal(s.dptr.prp.prp1, 0);
	assert_int_equal(s.flags, 0);
}

static void test_flbas_index(void **state)
{
	struct nvme_id_ns ns = { 0 };

	(void)state;
	ns.flbas = 0x13;       /* format 3, extended metadata */
	assert_int_equal(nvme_id_ns_flbas_index(&ns), 3);
	ns.flbas = 0x62;       /* bits 6:5 = 3 -> format 0x32 */
	assert_int_equal(nvme_id_ns_flbas_index(&ns), 0x32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doorbells),
		cmocka_unit_test(test_cap_fields),
		cmocka_unit_test(test_status_encoding),
		cmocka_unit_test(test_rw_sqe),
		cmocka_unit_test(test_flbas_index),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
