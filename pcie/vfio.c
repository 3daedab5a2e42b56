/* SPDX-License-Identifier: MIT */
/*
 * VFIO type1 access to a PCI NVMe controller: container, group, device,
 * BAR0 mapping, bus mastering, MSI-X eventfds, IOMMU mappings at IOVAs
 * chosen inside the ranges the kernel reports as usable.
 */
#define LOG_TAG "vfio"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie.h"

#define PCI_COMMAND         0x04
#define PCI_COMMAND_MEMORY  0x2
#define PCI_COMMAND_MASTER  0x4
#define PCI_COMMAND_INTX_DISABLE 0x400

/* Low IOVAs stay unused so that a zero or tiny address in a PRP is an
 * IOMMU fault rather than silent corruption of our own memory. */
#define IOVA_MIN 0x10000000ull

/*
 * One container for every device the process opens (as SPDK does): the
 * IOMMU domain, and with it every DMA mapping and the IOVA space, is
 * shared, so a buffer pool mapped once is reachable by all controllers.
 */
struct vfio_container {
	int fd;
	unsigned users;
	bool iommu_set;
	uint64_t iova_pgsize;
	struct iova_alloc iova;
};

static struct vfio_container the_container = { .fd = -1 };

struct vfio_dev {
	char bdf[32];
	int container;
	int group;
	int device;
	int group_id;
	void *bar0;
	size_t bar0_size;
	off_t cfg_offset;
	unsigned msix_count;
	bool irqs_on;
	bool in_container;
};

/* --- IOVA allocation (pure) ------------------------------------------ */

void iova_alloc_init(struct iova_alloc *a, const struct iova_range *r, unsigned nr, uint64_t min_iova)
{
	memset(a, 0, sizeof(*a));
	for (unsigned i = 0; i < nr && a->nr < 16; i++) {
		struct iova_range x = r[i];

		if (x.end < min_iova)
			continue;
		if (x.start < min_iova)
			x.start = min_iova;
		/* keep ranges sorted by start (insertion sort, nr <= 16) */
		unsigned j = a->nr++;
		while (j > 0 && a->ranges[j - 1].start > x.start) {
			a->ranges[j] = a->ranges[j - 1];
			j--;
		}
		a->ranges[j] = x;
	}
	a->cur = 0;
	a->next = a->nr ? a->ranges[0].start : 0;
}

int iova_alloc(struct iova_alloc *a, uint64_t len, uint64_t align, uint64_t *iova)
{
	if (!len || (align & (align - 1)))
		return -EINVAL;
	if (!align)
		align = 1;
	while (a->cur < a->nr) {
		const struct iova_range *r = &a->ranges[a->cur];
		uint64_t start = (a->next + align - 1) & ~(align - 1);

		/* start < next: the alignment wrapped around 2^64 */
		if (start >= a->next && start >= r->start && start <= r->end &&
		    len - 1 <= r->end - start) {
			*iova = start;
			a->next = start + len;
			/* exactly at the end of the range: move on */
			if (start + len - 1 == r->end && ++a->cur < a->nr)
				a->next = a->ranges[a->cur].start;
			return 0;
		}
		if (++a->cur < a->nr)
			a->next = a->ranges[a->cur].start;
	}
	return -ENOSPC;
}

/* --- sysfs checks with reasons a person can act on -------------------- */

static int sysfs_link_name(const char *bdf, const char *what, char *out, size_t outlen)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	const char *base;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, what);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (strlen(base) >= outlen)
		return -ENAMETOOLONG;
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

static bool has_cap_ipc_lock(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff & (1ull << 14);      /* CAP_IPC_LOCK */
}

static int check_device(const char *bdf, size_t dma_bytes, int *group_id, char *err, size_t errlen)
{
	char path[PATH_MAX], drv[128], grp[64];
	struct rlimit rl;
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (stat(path, &st)) {
		set_err(err, errlen, "%s: no such PCI device (expected a full address such as 0000:00:02.0; see lspci -D)", bdf);
		return -ENODEV;
	}
	rc = sysfs_link_name(bdf, "driver", drv, sizeof(drv));
	if (rc || strcmp(drv, "vfio-pci")) {
		char unbind[160] = "";

		if (!rc)
			snprintf(unbind, sizeof(unbind), "echo %s > /sys/bus/pci/devices/%s/driver/unbind; ",
				 bdf, bdf);
		set_err(err, errlen,
			"%s is %s%s; bind it to vfio-pci with: modprobe vfio-pci; modprobe vfio_iommu_type1; "
			"%secho vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > /sys/bus/pci/drivers_probe",
			bdf, rc ? "not bound to any driver" : "bound to ", rc ? "" : drv, unbind, bdf, bdf);
		return -EBUSY;
	}
	rc = sysfs_link_name(bdf, "iommu_group", grp, sizeof(grp));
	if (rc) {
		set_err(err, errlen,
			"%s has no IOMMU group: the IOMMU is off (enable VT-d/AMD-Vi in firmware and boot with intel_iommu=on or amd_iommu=on)",
			bdf);
		return -ENODEV;
	}
	*group_id = atoi(grp);
	if (!has_cap_ipc_lock() && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < dma_bytes) {
		set_err(err, errlen,
			"RLIMIT_MEMLOCK is %llu KiB but VFIO must pin %zu KiB of DMA memory; "
			"raise it (ulimit -l %zu, or LimitMEMLOCK=infinity in the unit) or run with CAP_IPC_LOCK",
			(unsigned long long)rl.rlim_cur / 1024, dma_bytes / 1024, (dma_bytes + 1023) / 1024);
		return -ENOMEM;
	}
	return 0;
}

static void group_members(int group_id, char *out, size_t outlen)
{
	char path[PATH_MAX];
	FILE *p;
	size_t used = 0;

	out[0] = 0;
	snprintf(path, sizeof(path), "ls /sys/kernel/iommu_groups/%d/devices 2>/dev/null", group_id);
	p = popen(path, "r");
	if (!p)
		return;
	while (used + 1 < outlen && fgets(out + used, (int)(outlen - used), p)) {
		used = strlen(out);
		if (used && out[used - 1] == '\n')
			out[used - 1] = ' ';
	}
	pclose(p);
}

/* --- IOMMU info: the usable IOVA ranges ------------------------------- */

static int read_iova_ranges(struct vfio_container *v)
{
	struct vfio_iommu_type1_info *info;
	struct iova_range ranges[16];
	unsigned nr = 0;
	size_t argsz = sizeof(*info);

	/* capabilities follow when the answer needs more room: ask again
	 * with what it asked for */
	for (;;) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = (uint32_t)argsz;
		if (ioctl(v->fd, VFIO_IOMMU_GET_INFO, info))
			goto fail;
		/* it fits, or this was the second question already */
		if (info->argsz <= argsz || argsz > sizeof(*info))
			break;
		argsz = info->argsz;
		free(info);
	}
	v->iova_pgsize = info->iova_pgsizes & (~info->iova_pgsizes + 1); /* smallest */
	if (!v->iova_pgsize)
		v->iova_pgsize = 4096;
	if ((info->flags & VFIO_IOMMU_INFO_CAPS) && info->cap_offset) {
		uint32_t off = info->cap_offset;

		while (off && off + sizeof(struct vfio_info_cap_header) <= argsz) {
			struct vfio_info_cap_header *h = (void *)((char *)info + off);

			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
				struct vfio_iommu_type1_info_cap_iova_range *cr = (void *)h;

				for (uint32_t i = 0; i < cr->nr_iovas && nr < 16; i++) {
					ranges[nr].start = cr->iova_ranges[i].start;
					ranges[nr].end = cr->iova_ranges[i].end;
					nr++;
				}
			}
			off = h->next;
		}
	}
	if (!nr) {
		/* kernels before 5.4 do not report ranges: assume a 39-bit
		 * aperture (the smallest Intel VT-d has) minus the MSI window */
		ranges[0] = (struct iova_range){ 0, 0xfedfffffull };
		ranges[1] = (struct iova_range){ 0xfef00000ull, (1ull << 39) - 1 };
		nr = 2;
		log_info("kernel reports no IOVA ranges; assuming a 39-bit aperture");
	}
	for (unsigned i = 0; i < nr; i++)
		log_debug("usable IOVA range %u: 0x%llx-0x%llx", i,
			  (unsigned long long)ranges[i].start, (unsigned long long)ranges[i].end);
	iova_alloc_init(&v->iova, ranges, nr, IOVA_MIN);
	free(info);
	return 0;
fail:
	free(info);
	return -errno;
}

/* --- pcie_dev_ops ----------------------------------------------------- */

static uint32_t vfio_read32(void *dev, uint32_t off)
{
	struct vfio_dev *v = dev;

	return *(volatile uint32_t *)((char *)v->bar0 + off);
}

static void vfio_write32(void *dev, uint32_t off, uint32_t val)
{
	struct vfio_dev *v = dev;

	*(volatile uint32_t *)((char *)v->bar0 + off) = val;
}

static int vfio_dma_map(void *dev, void *va, size_t len, uint64_t *iova)
{
	struct vfio_container *v = &the_container;
	/* 2 MiB aligned IOVAs for large mappings let the IOMMU use large
	 * pages when the memory is hugepage backed */
	uint64_t align = len >= DMA_HUGEPAGE_SIZE ? DMA_HUGEPAGE_SIZE : v->iova_pgsize;
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va,
		.size = len,
	};
	uint64_t addr;
	int rc = iova_alloc(&v->iova, len, align, &addr);

	if (rc) {
		log_err("no IOVA space left for %zu bytes", len);
		return rc;
	}
	(void)dev;
	m.iova = addr;
	if (ioctl(v->fd, VFIO_IOMMU_MAP_DMA, &m)) {
		rc = -errno;
		if (rc == -ENOSPC)
			log_err("VFIO_IOMMU_MAP_DMA: too many mappings (vfio_iommu_type1 dma_entry_limit)");
		else if (rc == -ENOMEM)
			log_err("VFIO_IOMMU_MAP_DMA of %zu bytes: cannot pin memory (RLIMIT_MEMLOCK too low?)", len);
		else
			log_err("VFIO_IOMMU_MAP_DMA of %zu bytes at IOVA 0x%llx: %s", len,
				(unsigned long long)m.iova, strerror(-rc));
		return rc;
	}
	*iova = m.iova;
	return 0;
}

static int vfio_dma_unmap(void *dev, void *va, size_t len, uint64_t iova)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = len };

	(void)va;
	(void)dev;
	if (ioctl(the_container.fd, VFIO_IOMMU_UNMAP_DMA, &u))
		return -errno;
	return 0;
}

static int set_msix(struct vfio_dev *v, unsigned nvec, const int *efds)
{
	size_t sz = sizeof(struct vfio_irq_set) + sizeof(int) * nvec;
	struct vfio_irq_set *set = calloc(1, sz);
	int rc = 0;

	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)sz;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = nvec;
	set->flags = VFIO_IRQ_SET_ACTION_TRIGGER |
		     (nvec ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	if (nvec)
		memcpy(set->data, efds, sizeof(int) * nvec);
	if (ioctl(v->device, VFIO_DEVICE_SET_IRQS, set))
		rc = -errno;
	free(set);
	return rc;
}

static int vfio_irq_enable(void *dev, unsigned nvec, const int *efds)
{
	struct vfio_dev *v = dev;
	int rc;

	if (nvec > v->msix_count)
		return -EINVAL;
	rc = set_msix(v, nvec, efds);
	if (!rc)
		v->irqs_on = true;
	return rc;
}

static void vfio_irq_disable(void *dev)
{
	struct vfio_dev *v = dev;

	if (v->irqs_on)
		set_msix(v, 0, NULL);
	v->irqs_on = false;
}

static unsigned vfio_irq_count(void *dev)
{
	return ((struct vfio_dev *)dev)->msix_count;
}

const struct pcie_dev_ops vfio_dev_ops = {
	.name = "vfio",
	.read32 = vfio_read32,
	.write32 = vfio_write32,
	.dma_map = vfio_dma_map,
	.dma_unmap = vfio_dma_unmap,
	.irq_enable = vfio_irq_enable,
	.irq_disable = vfio_irq_disable,
	.irq_count = vfio_irq_count,
};

/* --- open / close ------------------------------------------------------ */

static int enable_bus_master(struct vfio_dev *v)
{
	uint16_t cmd;

	if (pread(v->device, &cmd, sizeof(cmd), v->cfg_offset + PCI_COMMAND) != sizeof(cmd))
		return -EIO;
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;
	if (pwrite(v->device, &cmd, sizeof(cmd), v->cfg_offset + PCI_COMMAND) != sizeof(cmd))
		return -EIO;
	return 0;
}

static int open_container(struct vfio_dev *v, char *err, size_t errlen)
{
	struct vfio_container *ct = &the_container;
	int fd;

	if (ct->fd >= 0) {
		v->container = ct->fd;
		return 0;
	}
	fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errlen, "cannot open /dev/vfio/vfio: %s (modprobe vfio-pci)", strerror(errno));
		return -errno;
	}
	if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		set_err(err, errlen, "unsupported VFIO API version");
		close(fd);
		return -EINVAL;
	}
	if (!ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU)) {
		set_err(err, errlen,
			"VFIO type1 IOMMU not available: modprobe vfio_iommu_type1 (it is only a soft dependency of vfio)");
		close(fd);
		return -ENODEV;
	}
	ct->fd = fd;
	v->container = fd;
	return 0;
}

static int open_group(struct vfio_dev *v, char *err, size_t errlen)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[64], members[512];

	snprintf(path, sizeof(path), "/dev/vfio/%d", v->group_id);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0) {
		int e = errno;

		set_err(err, errlen, "cannot open %s: %s%s", path, strerror(e),
			e == EBUSY ? " (another process owns this IOMMU group)" : "");
		return -e;
	}
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &st))
		return -errno;
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		group_members(v->group_id, members, sizeof(members));
		set_err(err, errlen,
			"IOMMU group %d is not viable: every device in it must be bound to vfio-pci or to no driver (members: %s)",
			v->group_id, members);
		return -EPERM;
	}
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container)) {
		set_err(err, errlen, "VFIO_GROUP_SET_CONTAINER: %s", strerror(errno));
		return -errno;
	}
	v->in_container = true;
	the_container.users++;
	/* the IOMMU model is set once, by the first group in the container */
	if (!the_container.iommu_set) {
		int rc;

		if (ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
			set_err(err, errlen, "VFIO_SET_IOMMU(type1v2): %s", strerror(errno));
			return -errno;
		}
		the_container.iommu_set = true;
		rc = read_iova_ranges(&the_container);
		if (rc) {
			set_err(err, errlen, "VFIO_IOMMU_GET_INFO: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int open_device(struct vfio_dev *v, char *err, size_t errlen)
{
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX };

	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->bdf);
	if (v->device < 0) {
		set_err(err, errlen, "VFIO_GROUP_GET_DEVICE_FD(%s): %s", v->bdf, strerror(errno));
		return -errno;
	}
	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &bar) ||
	    ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &cfg)) {
		set_err(err, errlen, "VFIO_DEVICE_GET_REGION_INFO: %s", strerror(errno));
		return -errno;
	}
	if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP) || bar.size < 0x2000) {
		set_err(err, errlen, "BAR0 of %s cannot be mapped (size 0x%llx)", v->bdf,
			(unsigned long long)bar.size);
		return -ENODEV;
	}
	v->cfg_offset = (off_t)cfg.offset;
	v->bar0_size = bar.size;
	v->bar0 = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->device, (off_t)bar.offset);
	if (v->bar0 == MAP_FAILED) {
		v->bar0 = NULL;
		set_err(err, errlen, "mmap of BAR0: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(v->device, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0 && (irq.flags & VFIO_IRQ_INFO_EVENTFD))
		v->msix_count = irq.count;
	if (enable_bus_master(v)) {
		set_err(err, errlen, "cannot enable bus mastering in PCI config space");
		return -EIO;
	}
	return 0;
}

int vfio_dev_open(const char *bdf, size_t dma_bytes, struct vfio_dev **out, char *err, size_t errlen)
{
	struct vfio_dev *v;
	int rc;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->container = v->group = v->device = -1;
	snprintf(v->bdf, sizeof(v->bdf), "%s", bdf);

	rc = check_device(bdf, dma_bytes, &v->group_id, err, errlen);
	if (rc)
		goto free_dev;
	rc = open_container(v, err, errlen);
	if (rc)
		goto close_fds;
	rc = open_group(v, err, errlen);
	if (rc)
		goto close_fds;
	rc = open_device(v, err, errlen);
	if (rc)
		goto close_fds;
	*out = v;
	return 0;

close_fds:
	vfio_dev_close(v);
	return rc;
free_dev:
	free(v);
	return rc;
}

void vfio_dev_close(struct vfio_dev *v)
{
	if (!v)
		return;
	if (v->irqs_on)
		vfio_irq_disable(v);
	if (v->bar0)
		munmap(v->bar0, v->bar0_size);
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0) {
		if (v->in_container)
			ioctl(v->group, VFIO_GROUP_UNSET_CONTAINER);
		close(v->group);
	}
	if (v->in_container && --the_container.users == 0) {
		/* the last group left: the container and its mappings go */
		close(the_container.fd);
		the_container = (struct vfio_container){ .fd = -1 };
	} else if (!the_container.users && the_container.fd >= 0 && !the_container.iommu_set) {
		close(the_container.fd);
		the_container = (struct vfio_container){ .fd = -1 };
	}
	free(v);
}
