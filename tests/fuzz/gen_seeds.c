/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the PDU and TCP engine harnesses, built from
 * tests/support/pdu_build.c, so that the seeds follow the wire format:
 *   build/fuzz-gen-seeds tests/fuzz/corpus
 * (the committed corpora were made this way; make fuzz never grows them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/support/pdu_build.h"

#define NQN "nqn.2024-01.org.example:fuzz"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:01020304-0506-0708-090a-0b0c0d0e0f10"

static const uint8_t hostid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const char *root;

static void save(const char *dir, const char *name, uint8_t first, const struct pb_buf *b)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&first, 1, 1, f) != 1 || fwrite(b->p, 1, b->len, f) != b->len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

static void admin(struct pb_buf *b, const struct pb_opts *o)
{
	struct nvme_sqe id = pb_sqe(NVME_ADM_IDENTIFY, 3, 0), ka = pb_sqe(NVME_ADM_KEEP_ALIVE, 4, 0);
	struct nvme_sqe gl = pb_sqe(NVME_ADM_GET_LOG_PAGE, 5, 0), aer = pb_sqe(NVME_ADM_ASYNC_EVENT, 6, 0);

	pb_icreq(b, o);
	pb_connect(b, o, 1, 0, 31, 0, 0xffff, NQN, HOSTNQN, hostid);
	pb_prop_set_cc(b, o, 2, PB_CC_ENABLE);
	id.cdw10 = 1;
	id.dptr.sgl.length = 4096;
	pb_capsule(b, o, &id, NULL, 0);
	pb_capsule(b, o, &ka, NULL, 0);
	gl.cdw10 = 2 | (127u << 16);
	gl.dptr.sgl.length = 512;
	pb_capsule(b, o, &gl, NULL, 0);
	pb_capsule(b, o, &aer, NULL, 0);
}

static void io(struct pb_buf *b, const struct pb_opts *o)
{
	static uint8_t data[8192];
	struct nvme_sqe fl = pb_sqe(NVME_CMD_FLUSH, 9, 1);

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	pb_icreq(b, o);
	pb_connect(b, o, 1, 1, 31, 0, 1, NQN, HOSTNQN, hostid);
	pb_write(b, o, 2, 1, 8, 16, data, sizeof(data), true);
	pb_read(b, o, 3, 1, 8, 16, sizeof(data));
	/* a write by R2T: the first free slot answers with TTAG 1 */
	pb_write(b, o, 4, 1, 64, 8, NULL, 4096, false);
	pb_h2c_data(b, o, 4, 1, 0, data, 2048, false);
	pb_h2c_data(b, o, 4, 1, 2048, data, 2048, true);
	pb_capsule(b, o, &fl, NULL, 0);
	pb_read(b, o, 5, 2, 0, 2, 8192);
}

int main(int argc, char **argv)
{
	static const struct pb_opts plain, dg = { .hdgst = true, .ddgst = true }, hd = { .hdgst = true };
	static const uint8_t cuts[] = { 0, 1, 7, 100 };
	struct pb_buf b = { 0 };
	char name[64];

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	mkdir(root, 0755);
	for (unsigned c = 0; c < sizeof(cuts); c++) {
		b.len = 0;
		admin(&b, &plain);
		snprintf(name, sizeof(name), "admin-cut%u", cuts[c]);
		save("tcp_engine", name, cuts[c], &b);
		b.len = 0;
		io(&b, &plain);
		snprintf(name, sizeof(name), "io-cut%u", cuts[c]);
		save("tcp_engine", name, cuts[c], &b);
		b.len = 0;
		io(&b, &dg);
		snprintf(name, sizeof(name), "io-digests-cut%u", cuts[c]);
		save("tcp_engine", name, cuts[c], &b);
	}
	b.len = 0;
	pb_icreq(&b, &plain);
	pb_icreq(&b, &plain);
	save("tcp_engine", "second-icreq", 0, &b);
	b.len = 0;
	pb_icreq(&b, &plain);
	pb_write(&b, &plain, 1, 1, 0, 256, NULL, 128 * 1024, false);
	save("tcp_engine", "write-before-connect", 0, &b);

	/* the PDU layer: option byte, then PDUs */
	b.len = 0;
	admin(&b, &plain);
	save("pdu", "admin", 0x14, &b);
	b.len = 0;
	io(&b, &plain);
	save("pdu", "io", 0x24, &b);
	b.len = 0;
	io(&b, &dg);
	save("pdu", "io-digests", 0x2b, &b);
	b.len = 0;
	io(&b, &hd);
	save("pdu", "io-hdgst", 0x29, &b);
	{
		static const uint8_t term[24] = { NVME_TCP_H2C_TERM, 0, 24, 0, 24, 0, 0, 0, 2 };

		b.len = 0;
		pb_put(&b, term, sizeof(term));
		save("pdu", "h2c-term", 0x00, &b);
	}
	pb_free(&b);
	return 0;
}
