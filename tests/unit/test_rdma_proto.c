/* SPDX-License-Identifier: MIT */
/* NVMe/RDMA connection request checks (with the reject status each bad
 * request gets) and SGL decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transport/rdma_proto.h"

static struct nvme_rdma_cm_req req(uint16_t qid, uint16_t hsqsize, uint16_t hrqsize)
{
	struct nvme_rdma_cm_req r;

	memset(&r, 0, sizeof(r));
	r.recfmt = 0;
	r.qid = qid;
	r.hsqsize = hsqsize;
	r.hrqsize = hrqsize;
	r.cntlid = 0xffff;
	return r;
}

static void test_linux_admin_and_io(void **state)
{
	/* what the Linux host sends: admin 32 entries, I/O 128 */
	struct nvme_rdma_cm_req a = req(0, 31, 32), io = req(3, 127, 128);
	struct rdma_conn_params p;

	(void)state;
	assert_int_equal(rdma_check_conn_req(&a, sizeof(a), 16, 32, 128, &p), 0);
	assert_int_equal(p.qid, 0);
	assert_int_equal(p.queue_size, 32);
	assert_int_equal(p.host_recv_size, 32);
	assert_int_equal(p.read_depth, 16);
	assert_int_equal(rdma_check_conn_req(&io, sizeof(io), 1, 32, 128, &p), 0);
	assert_int_equal(p.qid, 3);
	assert_int_equal(p.queue_size, 128);
}

static void test_rejects(void **state)
{
	struct nvme_rdma_cm_req r = req(0, 31, 32);
	struct rdma_conn_params p;

	(void)state;
	assert_int_equal(rdma_check_conn_req(NULL, 0, 16, 32, 128, &p), NVME_RDMA_CM_INVALID_LEN);
	assert_int_equal(rdma_check_conn_req(&r, sizeof(r) - 1, 16, 32, 128, &p), NVME_RDMA_CM_INVALID_LEN);
	r.recfmt = 1;
	assert_int_equal(rdma_check_conn_req(&r, sizeof(r), 16, 32, 128, &p), NVME_RDMA_CM_INVALID_RECFMT);
	r = req(0, 32, 33);             /* admin HSQSIZE+1 = 33 > 32 */
	assert_int_equal(rdma_check_conn_req(&r, sizeof(r), 16, 32, 128, &p), NVME_RDMA_CM_INVALID_HSQSIZE);
	r = req(1, 128, 129);           /* I/O 129 entries > 128 */
	assert_int_equal(rdma_check_conn_req(&r, sizeof(r), 16, 32, 128, &p), NVME_RDMA_CM_INVALID_HSQSIZE);
	r = req(1, 0, 1);               /* a one-entry queue holds nothing */
	assert_int_equal(rdma_check_conn_req(&r, sizeof(r), 16, 32, 128, &p), NVME_RDMA_CM_INVALID_HSQSIZE);
	r = req(1, 63, 32);             /* HRQSIZE (1's based) below the SQ size */
	assert_int_equal(rdma_check_conn_req(&r, sizeof(r), 16, 32, 128, &p), NVME_RDMA_CM_INVALID_HRQSIZE);
	r = req(1, 63, 64);             /* no RDMA READ depth: writes impossible */
	assert_int_equal(rdma_check_conn_req(&r, sizeof(r), 0, 32, 128, &p), NVME_RDMA_CM_INVALID_ORD);
}

static void test_accept_and_reject_format(void **state)
{
	struct nvme_rdma_cm_rep rep;
	struct nvme_rdma_cm_rej rej;
	const uint8_t *b = (const uint8_t *)&rep;

	(void)state;
	memset(&rep, 0xff, sizeof(rep));
	rdma_fill_accept(&rep, 128);
	assert_int_equal(rep.recfmt, 0);
	assert_int_equal(rep.crqsize, 128);
	for (size_t i = 4; i < sizeof(rep); i++)
		assert_int_equal(b[i], 0);
	rdma_fill_reject(&rej, NVME_RDMA_CM_INVALID_HSQSIZE);
	assert_int_equal(rej.recfmt, 0);
	assert_int_equal(rej.sts, 4);
}

static struct nvme_sqe sqe_keyed(uint8_t type, uint64_t addr, uint32_t len, uint32_t key)
{
	struct nvme_sqe s;

	memset(&s, 0, sizeof(s));
	s.flags = NVME_SQE_PSDT_SGL;
	s.dptr.ksgl.type = type;
	s.dptr.ksgl.addr = addr;
	s.dptr.ksgl.length[0] = (uint8_t)len;
	s.dptr.ksgl.length[1] = (uint8_t)(len >> 8);
	s.dptr.ksgl.length[2] = (uint8_t)(len >> 16);
	s.dptr.ksgl.key = key;
	return s;
}

static void test_sgl_keyed(void **state)
{
	struct nvme_sqe s = sqe_keyed(RDMA_SGL_KEYED_ADDR, 0x123456789aull, 0x20000, 0xdeadbeef);
	struct rdma_sgl g;

	(void)state;
	assert_int_equal(rdma_decode_sgl(&s, 0, &g), 0);
	assert_true(g.keyed);
	assert_false(g.invalidate);
	assert_int_equal(g.addr, 0x123456789aull);
	assert_int_equal(g.len, 0x20000);
	assert_int_equal(g.key, 0xdeadbeef);
	/* the 24-bit length's top byte is not the key's */
	s = sqe_keyed(RDMA_SGL_KEYED_INVALIDATE, 0x1000, 0xfffffe, 0x01020304);
	assert_int_equal(rdma_decode_sgl(&s, 0, &g), 0);
	assert_true(g.invalidate);
	assert_int_equal(g.len, 0xfffffe);
	assert_int_equal(g.key, 0x01020304);
	/* keyed data with in-capsule bytes as well: invalid */
	assert_int_not_equal(rdma_decode_sgl(&s, 512, &g), 0);
}

static void test_sgl_incapsule_and_bad(void **state)
{
	struct nvme_sqe s;
	struct rdma_sgl g;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.flags = NVME_SQE_PSDT_SGL;
	s.dptr.sgl.type = RDMA_SGL_ICD_OFFSET;
	s.dptr.sgl.length = 4096;
	assert_int_equal(rdma_decode_sgl(&s, 4096, &g), 0);
	assert_false(g.keyed);
	assert_int_equal(g.len, 4096);
	/* more than arrived */
	assert_int_equal(rdma_decode_sgl(&s, 1024, &g) & 0xff, NVME_SC_SGL_INVALID_OFFSET);
	/* a non-zero offset: ICDOFF is 0 */
	s.dptr.sgl.addr = 64;
	assert_int_equal(rdma_decode_sgl(&s, 8192, &g) & 0xff, NVME_SC_SGL_INVALID_OFFSET);
	/* the TCP transport's descriptor on RDMA */
	s.dptr.sgl.type = 0x5a;
	assert_int_equal(rdma_decode_sgl(&s, 0, &g) & 0xff, NVME_SC_SGL_INVALID_TYPE);
	/* PRPs */
	s.flags = 0;
	assert_int_equal(rdma_decode_sgl(&s, 0, &g) & 0xff, NVME_SC_INVALID_FIELD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linux_admin_and_io),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_accept_and_reject_format),
		cmocka_unit_test(test_sgl_keyed),
		cmocka_unit_test(test_sgl_incapsule_and_bad),
	};

	return cmocka_run_group_tests_name("rdma_proto", tests, NULL, NULL);
}
