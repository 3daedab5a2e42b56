/* SPDX-License-Identifier: MIT */
/*
 * The file backend, for tests and demos: a namespace in a regular file.
 * Completes synchronously on the reactor thread; its disk I/O therefore
 * blocks the reactor, which is fine for its purpose but not for
 * production storage.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "target/target.h"

struct file_ns {
	int fd;
};

static uint16_t io_status(ssize_t got, uint64_t want, bool write)
{
	if (got == (ssize_t)want)
		return 0;
	return nvmf_status_dnr(NVME_SCT_MEDIA, write ? NVME_SC_WRITE_FAULT : NVME_SC_READ_ERROR);
}

static uint16_t file_zero(int fd, uint64_t off, uint64_t len, bool dealloc)
{
	static const uint8_t zeros[65536];

	if (!fallocate(fd, dealloc ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) : FALLOC_FL_ZERO_RANGE,
		       (off_t)off, (off_t)len))
		return 0;
	while (len) {
		size_t n = len < sizeof(zeros) ? len : sizeof(zeros);

		if (pwrite(fd, zeros, n, (off_t)off) != (ssize_t)n)
			return nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT);
		off += n;
		len -= n;
	}
	return 0;
}

static void file_submit(struct nvmf_ns *ns, struct nvmf_req *req)
{
	struct file_ns *f = ns->priv;
	uint64_t off, len;
	uint16_t st = 0;

	switch (req->cmd.opc) {
	case NVME_CMD_READ:
		nvmf_backend_plain_range(req, &off, &len);
		st = io_status(pread(f->fd, req->buf, len, (off_t)off), len, false);
		break;
	case NVME_CMD_WRITE:
		nvmf_backend_plain_range(req, &off, &len);
		st = io_status(pwrite(f->fd, req->buf, len, (off_t)off), len, true);
		break;
	case NVME_CMD_COMPARE: {
		uint8_t *tmp;

		nvmf_backend_plain_range(req, &off, &len);
		tmp = malloc(len);
		if (!tmp || pread(f->fd, tmp, len, (off_t)off) != (ssize_t)len)
			st = nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_READ_ERROR);
		else if (memcmp(tmp, req->buf, len))
			st = nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED);
		free(tmp);
		break;
	}
	case NVME_CMD_WRITE_ZEROES:
		nvmf_backend_plain_range(req, &off, &len);
		st = file_zero(f->fd, off, len, false);
		break;
	case NVME_CMD_DSM:
		if (nvme_dsm_deallocate(&req->cmd)) {
			const struct nvme_dsm_range *r = req->buf;

			for (unsigned i = 0; i < nvme_dsm_nr(&req->cmd) && !st; i++)
				st = file_zero(f->fd, le64_to_cpu(r[i].slba) << ns->lba_shift,
					       (uint64_t)le32_to_cpu(r[i].nlb) << ns->lba_shift, true);
		}
		break;
	case NVME_CMD_FLUSH:
		if (fdatasync(f->fd))
			st = nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT);
		break;
	}
	nvmf_req_complete(req, st);
}

static void file_close(struct nvmf_ns *ns)
{
	struct file_ns *f = ns->priv;

	if (f) {
		close(f->fd);
		free(f);
	}
	ns->priv = NULL;
}

/*
 * A path under one of bridge.rpc_namespace_dirs may have been named by a
 * control socket user who is not root: open it without following any
 * symlink below that directory (openat2 RESOLVE_BENEATH|NO_SYMLINKS), so
 * that replacing the file with a link after the daemon checked it (or
 * before a restart) cannot make root open something else.
 */
static int open_path(const struct nvmf_ns *ns, const char *path)
{
	const struct cfg_bridge *b = &ns->subsys->tgt->cfg->bridge;
	int fd = -1;

	for (unsigned i = 0; i < b->nr_rpc_namespace_dirs; i++) {
		const char *dir = b->rpc_namespace_dirs[i];
		size_t n = strlen(dir);
		struct open_how how = {
			.flags = O_RDWR | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		int dfd, e;

		if (strncmp(path, dir, n) || path[n] != '/')
			continue;
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -1;
		fd = (int)syscall(SYS_openat2, dfd, path + n + 1, &how, sizeof(how));
		e = errno;
		close(dfd);
		errno = e;
		return fd;
	}
	return open(path, O_RDWR | O_CLOEXEC);
}

static int file_open(struct nvmf_tgt *t, struct nvmf_ns *ns, char *err, size_t errlen)
{
	uint32_t bs = ns->cfg->block_size ? ns->cfg->block_size : 512;
	struct file_ns *f = calloc(1, sizeof(*f));
	struct stat st;

	if (!f)
		return -ENOMEM;
	f->fd = open_path(ns, ns->cfg->path);
	if (f->fd < 0 || fstat(f->fd, &st)) {
		int e = errno;

		snprintf(err, errlen, "device.path: cannot open %s: %s", ns->cfg->path, strerror(e));
		if (f->fd >= 0)
			close(f->fd);
		free(f);
		return -e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)bs) {
		snprintf(err, errlen, "device.path: %s is not a regular file of at least one %u-byte block",
			 ns->cfg->path, bs);
		close(f->fd);
		free(f);
		return -EINVAL;
	}
	ns->priv = f;
	nvmf_backend_plain_id_ns(ns, (uint64_t)st.st_size / bs, bs);
	ns->vwc = true;         /* the page cache: Flush means fdatasync */
	return 0;
}

const struct nvmf_backend_ops nvmf_backend_file = {
	.name = "file",
	.open = file_open,
	.submit = file_submit,
	.close = file_close,
};
