/* SPDX-License-Identifier: MIT */
/*
 * nvmf-bridgectl setup / release: give PCIe NVMe controllers to vfio-pci
 * (so that nvmf-bridged's own driver can own them) and back to the kernel
 * nvme driver. Everything a person would check by hand before doing
 * "echo vfio-pci > driver_override" is checked first, and every problem
 * is reported on one line that says what to do:
 *
 *   - the IOMMU is on (/sys/kernel/iommu_groups is not empty, the device
 *     has a group); if not: firmware VT-d/AMD-Vi, intel_iommu=on;
 *   - no other device of its IOMMU group is bound to a host driver (VFIO
 *     takes whole groups);
 *   - no namespace or partition of the controller is mounted, used as swap
 *     or held by device-mapper/MD (refused unless --force);
 *   - then vfio-pci and vfio_iommu_type1 are loaded, the device unbound,
 *     driver_override set to vfio-pci, probed, and /dev/vfio/GROUP waited
 *     for; RLIMIT_MEMLOCK and hugepages are reported.
 *
 * driver_override stays "vfio-pci" while the device is ours, so a rescan
 * or an nvme module reload does not hand it back to the kernel behind the
 * daemon's back; release clears it.
 *
 * NVMF_BRIDGECTL_SYSROOT=DIR (tests only) reads and writes DIR/sys,
 * DIR/proc and DIR/dev instead of the real ones and never runs modprobe:
 * tests/host/ctl.sh checks the refusals against a made-up sysfs.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "config/config.h"
#include "ctl/ctl.h"

extern char **environ;

#define NVME_CLASS "0x010802"
#define UNBIND_TIMEOUT_S 30
#define BIND_TIMEOUT_S 20
#define VFIO_NODE_TIMEOUT_S 10
#define NVME_NODE_TIMEOUT_S 30
#define NVME_NS_TIMEOUT_S 10

/* What nvmf-bridged pins (target/bufpool.c, target/pcie_ctrls.c): a
 * 64 MiB data buffer pool per reactor (512 x 128 KiB) and up to 64 MiB of
 * queues and PRP lists per controller; vfio_dev_open insists on 128 MiB
 * per controller. */
#define DMA_PER_REACTOR (64ull << 20)
#define DMA_PER_CTRL (64ull << 20)

static const char *root = "";  /* NVMF_BRIDGECTL_SYSROOT */
static bool fake_root;

/* --- files ------------------------------------------------------------------- */

static void __attribute__((format(printf, 3, 4))) rpath(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%.*s", (int)(len - 1), root);

	va_start(ap, fmt);
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
}

/* copy with truncation (snprintf "%s" would draw truncation warnings) */
static void scopy(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | (fake_root ? O_CREAT | O_TRUNC : 0), 0644);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static bool is_chardev(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && (S_ISCHR(st.st_mode) || fake_root);
}

/* the last component of the symlink path points at; "" if none */
static void link_base(const char *path, char *out, size_t len)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	const char *b;

	out[0] = 0;
	if (n <= 0)
		return;
	buf[n] = 0;
	b = strrchr(buf, '/');
	scopy(out, len, b ? b + 1 : buf);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* unescape the \040-style octal escapes of /proc/self/mountinfo and /proc/swaps */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

bool ctl_normalise_bdf(const char *in, char out[16])
{
	unsigned dom = 0, bus, dev, fn;
	int n = 0;
	size_t len = strlen(in);

	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)in[i]) && in[i] != ':' && in[i] != '.')
			return false;
	if (sscanf(in, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) == 4 && (size_t)n == len && len == 12)
		;
	else if (dom = 0, n = 0, sscanf(in, "%2x:%2x.%1x%n", &bus, &dev, &fn, &n) == 3 && (size_t)n == len &&
		 len == 7)
		;
	else
		return false;
	if (dev > 0x1f || fn > 7)
		return false;
	snprintf(out, 16, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return true;
}

/* --- a PCI device -------------------------------------------------------------- */

struct pci_dev {
	char bdf[16];
	char dir[PATH_MAX];   /* ROOT/sys/bus/pci/devices/BDF */
	char driver[64];      /* "" when unbound */
	int group;            /* IOMMU group, -1 when none */
};

static int pci_dev_read(struct pci_dev *d, const char *bdf)
{
	char p[PATH_MAX + 32], g[32];

	scopy(d->bdf, sizeof(d->bdf), bdf);
	rpath(d->dir, sizeof(d->dir), "/sys/bus/pci/devices/%s", bdf);
	if (!exists(d->dir))
		return -ENODEV;
	snprintf(p, sizeof(p), "%s/driver", d->dir);
	link_base(p, d->driver, sizeof(d->driver));
	snprintf(p, sizeof(p), "%s/iommu_group", d->dir);
	link_base(p, g, sizeof(g));
	d->group = g[0] ? atoi(g) : -1;
	return 0;
}

static void pci_driver_of(const char *bdf, char *out, size_t len)
{
	char p[PATH_MAX];

	rpath(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", bdf);
	link_base(p, out, len);
}

static bool bound_to(const struct pci_dev *d, const char *drv)
{
	char now[64];

	pci_driver_of(d->bdf, now, sizeof(now));
	return !strcmp(now, drv);
}

/* --- the IOMMU --------------------------------------------------------------------- */

static unsigned count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool cmdline_has(const char *cmdline, const char *word)
{
	size_t l = strlen(word);

	for (const char *p = cmdline; (p = strstr(p, word)); p += l)
		if ((p == cmdline || p[-1] == ' ') && (p[l] == ' ' || p[l] == 0 || p[l] == '\n'))
			return true;
	return false;
}

/* why the IOMMU is off and what to do, on one line */
static void iommu_off(const char *bdf)
{
	char path[PATH_MAX], cmdline[4096] = "", line[256];
	bool intel = false, amd = false;
	FILE *f;

	rpath(path, sizeof(path), "/proc/cmdline");
	read_line(path, cmdline, sizeof(cmdline));
	rpath(path, sizeof(path), "/proc/cpuinfo");
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "vendor_id", 9)) {
			intel = strstr(line, "GenuineIntel") != NULL;
			amd = strstr(line, "AuthenticAMD") != NULL;
			break;
		}
	}
	if (f)
		fclose(f);
	static const char grub[] = "GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub and reboot";
	if (cmdline_has(cmdline, "intel_iommu=off") || cmdline_has(cmdline, "amd_iommu=off") ||
	    cmdline_has(cmdline, "iommu=off"))
		ctl_err("setup %s: the IOMMU is off: the kernel command line turns it off (%s%s%s); remove that "
			"(%s) and keep VT-d/AMD-Vi enabled in the firmware setup",
			bdf, cmdline_has(cmdline, "intel_iommu=off") ? "intel_iommu=off " : "",
			cmdline_has(cmdline, "amd_iommu=off") ? "amd_iommu=off " : "",
			cmdline_has(cmdline, "iommu=off") ? "iommu=off" : "", grub);
	else if (intel && cmdline_has(cmdline, "intel_iommu=on"))
		ctl_err("setup %s: the IOMMU is off although the kernel command line has intel_iommu=on: VT-d is "
			"disabled in the firmware setup (BIOS/UEFI: \"VT-d\" or \"Intel Virtualization Technology for "
			"Directed I/O\"); enable it there (dmesg | grep -e DMAR -e IOMMU tells more)", bdf);
	else if (intel)
		ctl_err("setup %s: the IOMMU is off (/sys/kernel/iommu_groups is empty): enable VT-d in the firmware "
			"setup and boot with intel_iommu=on (add it to %s); VFIO cannot work without it", bdf, grub);
	else if (amd)
		ctl_err("setup %s: the IOMMU is off (/sys/kernel/iommu_groups is empty): enable the IOMMU (AMD-Vi, "
			"often just \"IOMMU\") in the firmware setup; Linux then turns it on by itself (amd_iommu=on "
			"is the default; see dmesg | grep -e AMD-Vi -e IOMMU)", bdf);
	else
		ctl_err("setup %s: the IOMMU is off (/sys/kernel/iommu_groups is empty): enable VT-d or AMD-Vi in "
			"the firmware setup and boot with intel_iommu=on (Intel) or amd_iommu=on (AMD) (%s)", bdf, grub);
}

/* 0 when the group is fine for VFIO; prints one line per foreign member */
static int check_group(const struct pci_dev *d, char (*batch)[16], unsigned nbatch)
{
	char dir[PATH_MAX], list[2048] = "";
	struct dirent *e;
	size_t n = 0;
	int bad = 0;
	DIR *gd;

	rpath(dir, sizeof(dir), "/sys/kernel/iommu_groups/%d/devices", d->group);
	gd = opendir(dir);
	if (!gd) {
		ctl_err("setup %s: cannot read %s: %s", d->bdf, dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(gd))) {
		char drv[64];
		bool ours = false;

		if (e->d_name[0] == '.')
			continue;
		pci_driver_of(e->d_name, drv, sizeof(drv));
		if (n < sizeof(list))
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s (%s)", n ? ", " : "", e->d_name,
					      drv[0] ? drv : "no driver");
		if (!strcmp(e->d_name, d->bdf))
			continue;
		for (unsigned i = 0; i < nbatch; i++)
			ours |= !strcmp(batch[i], e->d_name);
		/* VFIO accepts group members on no driver, on vfio-pci, and on
		 * the drivers that never do DMA for the host (pci-stub, pcieport:
		 * driver_managed_dma) */
		if (ours || !drv[0] || !strcmp(drv, "vfio-pci") || !strcmp(drv, "pci-stub") || !strcmp(drv, "pcieport"))
			continue;
		ctl_err("setup %s: IOMMU group %d is shared with %s, which is bound to %s: VFIO takes whole groups; "
			"unbind it (echo %s > /sys/bus/pci/devices/%s/driver/unbind), set it up too, or move the "
			"controller to a slot with a group of its own",
			d->bdf, d->group, e->d_name, drv, e->d_name, e->d_name);
		bad = -1;
	}
	closedir(gd);
	printf("%s: IOMMU group %d: %s\n", d->bdf, d->group, list);
	return bad;
}

/* --- is any namespace of the controller in use? ------------------------------- */

struct blk {
	char name[64];
	unsigned maj, min;
};

#define MAX_BLK 256

static int read_devno(const char *path, struct blk *b)
{
	char s[32];

	if (read_line(path, s, sizeof(s)) || sscanf(s, "%u:%u", &b->maj, &b->min) != 2)
		return -1;
	return 0;
}

/* nvme<A>n<Z> or nvme<A>c<B>n<Z> (a multipath path) -> the disk nvme<A>n<Z> */
static bool ns_disk_name(const char *e, char *out, size_t len)
{
	unsigned a, b, z;
	int n = 0;
	size_t l = strlen(e);

	if (sscanf(e, "nvme%un%u%n", &a, &z, &n) == 2 && (size_t)n == l)
		;
	else if (n = 0, sscanf(e, "nvme%uc%un%u%n", &a, &b, &z, &n) == 3 && (size_t)n == l)
		;
	else
		return false;
	snprintf(out, len, "nvme%un%u", a, z);
	return true;
}

static void add_blk(struct blk *v, unsigned *nr, const char *name, const char *devfile)
{
	if (*nr >= MAX_BLK)
		return;
	for (unsigned i = 0; i < *nr; i++)
		if (!strcmp(v[i].name, name))
			return;
	scopy(v[*nr].name, sizeof(v[*nr].name), name);
	if (read_devno(devfile, &v[*nr]) == 0)
		(*nr)++;
}

/* the controller's namespaces (their disks) and their partitions */
static unsigned ctrl_block_devices(const struct pci_dev *d, struct blk *v)
{
	char p[PATH_MAX * 2];
	unsigned nr = 0;
	DIR *cd, *nd;
	struct dirent *c, *e;

	snprintf(p, sizeof(p), "%s/nvme", d->dir);
	cd = opendir(p);
	if (!cd)
		return 0;
	while ((c = readdir(cd))) {
		if (strncmp(c->d_name, "nvme", 4))
			continue;
		snprintf(p, sizeof(p), "%s/nvme/%s", d->dir, c->d_name);
		nd = opendir(p);
		if (!nd)
			continue;
		while ((e = readdir(nd))) {
			char disk[64], ddir[PATH_MAX], f[PATH_MAX * 2];
			DIR *pd;
			struct dirent *pe;

			if (!ns_disk_name(e->d_name, disk, sizeof(disk)))
				continue;
			rpath(ddir, sizeof(ddir), "/sys/block/%s", disk);
			snprintf(f, sizeof(f), "%s/dev", ddir);
			add_blk(v, &nr, disk, f);
			pd = opendir(ddir);
			while (pd && (pe = readdir(pd))) {
				if (strncmp(pe->d_name, disk, strlen(disk)) || !strcmp(pe->d_name, disk))
					continue;
				snprintf(f, sizeof(f), "%s/%s/partition", ddir, pe->d_name);
				if (!exists(f))
					continue;
				snprintf(f, sizeof(f), "%s/%s/dev", ddir, pe->d_name);
				add_blk(v, &nr, pe->d_name, f);
			}
			if (pd)
				closedir(pd);
		}
		closedir(nd);
	}
	closedir(cd);
	return nr;
}

static const char *base(const char *p)
{
	const char *b = strrchr(p, '/');

	return b ? b + 1 : p;
}

/* an in-use problem: an error, or a warning under --force */
static void __attribute__((format(printf, 2, 3))) problem(bool force, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(force ? "nvmf-bridgectl: warning" : "nvmf-bridgectl", fmt, ap);
	va_end(ap);
}

/* mounted, swap, holders: one line each; returns the number of problems */
static unsigned check_in_use(const struct pci_dev *d, bool force)
{
	struct blk *v = calloc(MAX_BLK, sizeof(*v));
	char p[PATH_MAX * 2], line[8192];
	unsigned nr, problems = 0;
	const char *how = " (--force: taking the controller anyway)";
	FILE *f;

	if (!v)
		return 0;
	nr = ctrl_block_devices(d, v);
	/* mounts: /proc/self/mountinfo field 3 is MAJ:MIN; btrfs shows an
	 * anonymous device there, so the mount source is compared too */
	rpath(p, sizeof(p), "/proc/self/mountinfo");
	f = fopen(p, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char mnt[4096], fstype[64] = "?", src[4096] = "";
		unsigned maj, min;
		char *dash;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3)
			continue;
		dash = strstr(line, " - ");
		if (dash)
			sscanf(dash + 3, "%63s %4095s", fstype, src);
		unescape(mnt);
		unescape(src);
		for (unsigned i = 0; i < nr; i++) {
			if ((v[i].maj == maj && v[i].min == min) ||
			    (!strncmp(src, "/dev/", 5) && !strcmp(base(src), v[i].name))) {
				problem(force, "setup %s: /dev/%s (%u:%u) is mounted on %s (%s)%s", d->bdf, v[i].name,
					v[i].maj, v[i].min, mnt, fstype, force ? how : "; unmount it first");
				problems++;
				break;
			}
		}
	}
	if (f)
		fclose(f);
	rpath(p, sizeof(p), "/proc/swaps");
	f = fopen(p, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char file[4096];
		struct stat st;

		if (sscanf(line, "%4095s", file) != 1 || !strcmp(file, "Filename"))
			continue;
		unescape(file);
		for (unsigned i = 0; i < nr; i++) {
			if (!strcmp(base(file), v[i].name) ||
			    (!fake_root && stat(file, &st) == 0 && S_ISBLK(st.st_mode) &&
			     major(st.st_rdev) == v[i].maj && minor(st.st_rdev) == v[i].min)) {
				problem(force, "setup %s: /dev/%s is used as swap%s", d->bdf, v[i].name,
					force ? how : "; swapoff it first");
				problems++;
				break;
			}
		}
	}
	if (f)
		fclose(f);
	/* holders: device-mapper (LVM, dm-crypt, multipath) or MD RAID on top */
	for (unsigned i = 0; i < nr; i++) {
		char hdir[PATH_MAX], holders[1024] = "";
		size_t n = 0;
		DIR *hd;
		struct dirent *e;

		/* a partition lives in its disk's directory */
		rpath(hdir, sizeof(hdir), "/sys/class/block/%s/holders", v[i].name);
		hd = opendir(hdir);
		while (hd && (e = readdir(hd))) {
			char name[256] = "";

			if (e->d_name[0] == '.')
				continue;
			rpath(p, sizeof(p), "/sys/class/block/%s/dm/name", e->d_name);
			read_line(p, name, sizeof(name));
			if (n < sizeof(holders))
				n += (size_t)snprintf(holders + n, sizeof(holders) - n, "%s%s%s%s%s", n ? ", " : "",
						      e->d_name, name[0] ? " (" : "", name, name[0] ? ")" : "");
		}
		if (hd)
			closedir(hd);
		if (n) {
			problem(force, "setup %s: /dev/%s is held by %s (device-mapper: LVM, dm-crypt, multipath; or MD RAID)%s",
				d->bdf, v[i].name, holders,
				force ? how : "; deactivate that first (vgchange -an, cryptsetup close, mdadm --stop)");
			problems++;
		}
	}
	free(v);
	return problems;
}

/* --- kernel modules, unbind, probe -------------------------------------------- */

/* the checks above only read; from here on it takes root */
static bool root_ok(const char *cmd, const char *bdf)
{
	if (fake_root || geteuid() == 0)
		return true;
	ctl_err("%s %s: needs root (it loads kernel modules and writes to /sys/bus/pci); the checks above passed",
		cmd, bdf);
	return false;
}

static int ensure_module(const char *sysname, const char *modname)
{
	char p[PATH_MAX];
	char *argv[] = { "modprobe", (char *)modname, NULL };
	pid_t pid;
	int st, rc;

	rpath(p, sizeof(p), "/sys/module/%s", sysname);
	if (exists(p))
		return 0;
	if (fake_root) {
		ctl_err("module %s is not loaded (test root: modprobe not run)", modname);
		return -1;
	}
	rc = posix_spawnp(&pid, "modprobe", NULL, NULL, argv, environ);
	if (rc) {
		ctl_err("cannot run modprobe %s: %s (is kmod installed?)", modname, strerror(rc));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (exists(p))
		return 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		ctl_err("modprobe %s failed (exit %d): the kernel module is missing for this kernel or refused to load",
			modname, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return -1;
	}
	return 0;  /* built in without parameters: no /sys/module entry */
}

/* Write s to path from a child process and wait at most secs: writing to a
 * driver's unbind file blocks for as long as the driver waits for its
 * users, and a blocked write cannot be interrupted. */
static int write_bounded(const char *path, const char *s, int secs)
{
	int64_t deadline = now_ms() + (int64_t)secs * 1000;
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int r = write_str(path, s);

		_exit(r ? (-r) & 0xff : 0);
	}
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? -WEXITSTATUS(st) : -EIO;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		sleep_ms(50);
	}
}

static const char *write_why(int rc)
{
	return rc == -EACCES || rc == -EPERM ? "permission denied (run as root)" : strerror(-rc);
}

static int unbind(const struct pci_dev *d, const char *cmd)
{
	char p[PATH_MAX + 32];
	int rc;

	if (!d->driver[0])
		return 0;
	snprintf(p, sizeof(p), "%s/driver/unbind", d->dir);
	rc = write_bounded(p, d->bdf, UNBIND_TIMEOUT_S);
	if (rc == -ETIMEDOUT) {
		ctl_err("%s %s: unbinding from %s did not finish in %d s: the driver is waiting for a user of the "
			"device to let go (see dmesg); the device may stay unusable until then",
			cmd, d->bdf, d->driver, UNBIND_TIMEOUT_S);
		return -1;
	}
	if (rc && !(fake_root && rc == -ENOENT)) {
		ctl_err("%s %s: cannot unbind from %s: %s", cmd, d->bdf, d->driver, write_why(rc));
		return -1;
	}
	printf("%s: unbound from %s\n", d->bdf, d->driver);
	return 0;
}

/* driver_override := drv, drivers_probe, wait until bound */
static int bind_to(const struct pci_dev *d, const char *cmd, const char *drv)
{
	char p[PATH_MAX + 32], now[64];
	int64_t deadline;
	int rc;

	snprintf(p, sizeof(p), "%s/driver_override", d->dir);
	rc = write_str(p, drv);
	if (rc) {
		ctl_err("%s %s: cannot write %s to %s: %s", cmd, d->bdf, drv, p, write_why(rc));
		return -1;
	}
	rpath(p, sizeof(p), "/sys/bus/pci/drivers_probe");
	rc = write_str(p, d->bdf);
	/* an error here often only means "no driver took it": the wait says */
	deadline = now_ms() + BIND_TIMEOUT_S * 1000;
	while (!bound_to(d, drv) && now_ms() < deadline)
		sleep_ms(50);
	if (!bound_to(d, drv)) {
		pci_driver_of(d->bdf, now, sizeof(now));
		ctl_err("%s %s: did not bind to %s within %d s (driver now: %s%s%s); dmesg may say why", cmd, d->bdf,
			drv, BIND_TIMEOUT_S, now[0] ? now : "none", rc ? "; drivers_probe: " : "",
			rc ? strerror(-rc) : "");
		return -1;
	}
	return 0;
}

/* --- RLIMIT_MEMLOCK, hugepages ------------------------------------------------ */

static bool has_cap_ipc_lock(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	bool yes = false;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long caps;

		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			yes = caps & (1ull << 14);  /* CAP_IPC_LOCK */
			break;
		}
	}
	if (f)
		fclose(f);
	return yes;
}

static void check_memory(unsigned reactors, unsigned ctrls)
{
	uint64_t need = DMA_PER_REACTOR * reactors + DMA_PER_CTRL * (ctrls ? ctrls : 1);
	char p[PATH_MAX], nr_s[32] = "", free_s[32] = "";
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && !has_cap_ipc_lock()) {
		if (rl.rlim_cur < need)
			ctl_warn("RLIMIT_MEMLOCK is %llu KiB and this process lacks CAP_IPC_LOCK: nvmf-bridged pins "
				 "about %llu MiB of DMA memory (64 MiB per reactor and per controller); start it with "
				 "LimitMEMLOCK=infinity (the unit does), ulimit -l unlimited, or as root",
				 (unsigned long long)rl.rlim_cur / 1024, (unsigned long long)(need >> 20));
		else
			printf("memlock: RLIMIT_MEMLOCK %llu KiB, enough for about %llu MiB of DMA memory\n",
			       (unsigned long long)rl.rlim_cur / 1024, (unsigned long long)(need >> 20));
	} else {
		printf("memlock: %s\n", rl.rlim_cur == RLIM_INFINITY ? "RLIMIT_MEMLOCK unlimited"
								     : "CAP_IPC_LOCK (root): no limit on pinned memory");
	}
	rpath(p, sizeof(p), "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
	read_line(p, nr_s, sizeof(nr_s));
	rpath(p, sizeof(p), "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
	read_line(p, free_s, sizeof(free_s));
	if (!nr_s[0])
		ctl_warn("this kernel has no 2 MiB hugepages: DMA memory uses 4 KiB pages (works, with more IOMMU "
			 "mappings)");
	else if (!atoi(free_s))
		ctl_warn("no free 2 MiB hugepages (%s reserved): DMA memory falls back to 4 KiB pages, which works; "
			 "for hugepages reserve about %llu: sysctl vm.nr_hugepages=%llu",
			 nr_s, (unsigned long long)(need >> 21), (unsigned long long)(need >> 21));
	else
		printf("hugepages: %s of %s 2 MiB hugepages free (nvmf-bridged uses up to about %llu)\n", free_s, nr_s,
		       (unsigned long long)(need >> 21));
}

/* --- setup ------------------------------------------------------------------------ */

static int setup_one(const char *bdf, bool force, char (*batch)[16], unsigned nbatch)
{
	char p[PATH_MAX + 32], cls[32] = "", node[PATH_MAX];
	struct pci_dev d;
	int64_t deadline;

	if (pci_dev_read(&d, bdf)) {
		ctl_err("setup %s: no such PCI device (lspci -D lists the addresses)", bdf);
		return CTL_FAILED;
	}
	snprintf(p, sizeof(p), "%s/class", d.dir);
	read_line(p, cls, sizeof(cls));
	if (strcmp(cls, NVME_CLASS)) {
		if (!force) {
			ctl_err("setup %s: not an NVMe controller (PCI class %s, NVMe is %s); --force binds it anyway",
				bdf, cls[0] ? cls : "unknown", NVME_CLASS);
			return CTL_FAILED;
		}
		ctl_warn("setup %s: not an NVMe controller (PCI class %s); going on (--force)", bdf, cls);
	}
	rpath(p, sizeof(p), "/sys/kernel/iommu_groups");
	if (!count_entries(p)) {
		iommu_off(bdf);
		return CTL_FAILED;
	}
	if (d.group < 0) {
		ctl_err("setup %s: the device has no IOMMU group although the IOMMU is on (%u groups): the IOMMU "
			"does not translate for it; check dmesg | grep -i iommu", bdf, count_entries(p));
		return CTL_FAILED;
	}
	if (check_group(&d, batch, nbatch))
		return CTL_FAILED;
	if (!strcmp(d.driver, "vfio-pci")) {
		if (ensure_module("vfio_iommu_type1", "vfio_iommu_type1"))
			return CTL_FAILED;
		rpath(node, sizeof(node), "/dev/vfio/%d", d.group);
		if (!is_chardev(node)) {
			ctl_err("setup %s: bound to vfio-pci but %s does not exist (is the group viable? see dmesg)", bdf,
				node);
			return CTL_FAILED;
		}
		printf("%s: already bound to vfio-pci (IOMMU group %d, /dev/vfio/%d)\n", bdf, d.group, d.group);
		return CTL_OK;
	}
	if (d.driver[0] && strcmp(d.driver, "nvme")) {
		if (!force) {
			ctl_err("setup %s: bound to %s, not to nvme: another driver uses it; --force takes it anyway",
				bdf, d.driver);
			return CTL_FAILED;
		}
		ctl_warn("setup %s: bound to %s; taking it anyway (--force)", bdf, d.driver);
	}
	if (check_in_use(&d, force) && !force) {
		ctl_err("setup %s: refused: the controller's storage is in use (above); free it, or --force to take "
			"the controller anyway (whatever uses it then fails)", bdf);
		return CTL_FAILED;
	}
	if (!root_ok("setup", bdf))
		return CTL_FAILED;
	if (ensure_module("vfio_pci", "vfio-pci") || ensure_module("vfio_iommu_type1", "vfio_iommu_type1"))
		return CTL_FAILED;
	if (unbind(&d, "setup") || bind_to(&d, "setup", "vfio-pci"))
		return CTL_FAILED;
	rpath(node, sizeof(node), "/dev/vfio/%d", d.group);
	deadline = now_ms() + VFIO_NODE_TIMEOUT_S * 1000;
	while (!is_chardev(node) && now_ms() < deadline)
		sleep_ms(50);
	if (!is_chardev(node)) {
		ctl_err("setup %s: bound to vfio-pci, but %s did not appear within %d s (udev? see dmesg)", bdf, node,
			VFIO_NODE_TIMEOUT_S);
		return CTL_FAILED;
	}
	printf("%s: bound to vfio-pci (IOMMU group %d, /dev/vfio/%d)\n", bdf, d.group, d.group);
	return CTL_OK;
}

static void setup_usage(FILE *f)
{
	fprintf(f, "usage: nvmf-bridgectl setup [--force] BDF...\n"
		   "       nvmf-bridgectl setup [--force] --config FILE\n"
		   "give PCIe NVMe controllers to vfio-pci (see nvmf-bridgectl(8))\n");
}

static void init_root(void)
{
	const char *r = getenv("NVMF_BRIDGECTL_SYSROOT");

	if (r && *r) {
		root = r;
		fake_root = true;
	}
}

int ctl_setup_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char (*bdfs)[16] = NULL;
	const char *cfg_path = NULL;
	unsigned nr = 0, reactors = 1;
	bool force = false;
	int c, rc = CTL_OK;

	init_root();
	optind = 0;
	while ((c = getopt_long(argc, argv, "fc:h", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'c':
			cfg_path = optarg;
			break;
		case 'h':
			setup_usage(stdout);
			return CTL_OK;
		default:
			setup_usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind == argc && !cfg_path) {
		setup_usage(stderr);
		return CTL_USAGE;
	}
	bdfs = calloc((size_t)(argc - optind) + 1024, sizeof(*bdfs));
	if (!bdfs) {
		ctl_err("out of memory");
		return CTL_FAILED;
	}
	for (int i = optind; i < argc; i++) {
		if (!ctl_normalise_bdf(argv[i], bdfs[nr])) {
			ctl_err("setup %s: not a PCI address (DDDD:BB:DD.F or BB:DD.F, see lspci -D)", argv[i]);
			free(bdfs);
			return CTL_USAGE;
		}
		nr++;
	}
	if (cfg_path) {
		struct config *cfg;
		char err[1024];
		unsigned from_cfg = 0;

		if (config_load(cfg_path, &cfg, err, sizeof(err))) {
			ctl_err("setup: %s", err);
			free(bdfs);
			return CTL_FAILED;
		}
		reactors = cfg->bridge.reactors ? cfg->bridge.reactors : 1;
		for (unsigned s = 0; s < cfg->nr_subsystems; s++) {
			const struct cfg_subsystem *sub = &cfg->subsystems[s];

			for (unsigned n = 0; n < sub->nr_namespaces && nr < (unsigned)(argc - optind) + 1024; n++) {
				const struct cfg_namespace *ns = &sub->namespaces[n];
				bool dup = false;

				if (ns->backend != CFG_BACKEND_PCIE || !ns->enable)
					continue;
				for (unsigned i = 0; i < nr; i++)
					dup |= !strcmp(bdfs[i], ns->pcie_bdf);
				if (!dup) {
					scopy(bdfs[nr++], 16, ns->pcie_bdf);
					from_cfg++;
				}
			}
		}
		config_free(cfg);
		if (!from_cfg)
			printf("%s: no PCIe namespaces, no device to set up\n", cfg_path);
	}
	for (unsigned i = 0; i < nr; i++)
		if (setup_one(bdfs[i], force, bdfs, nr) != CTL_OK)
			rc = CTL_FAILED;
	if (nr && rc == CTL_OK)
		check_memory(reactors, nr);
	free(bdfs);
	return rc;
}

/* --- release ------------------------------------------------------------------------ */

/* processes with an open fd on /dev/vfio/GROUP: "pid 12 (nvmf-bridged), ..." */
static bool is_path(const char *target, void *want)
{
	return !strcmp(target, want);
}

static unsigned vfio_users(int group, char *out, size_t outlen)
{
	char want[64], p[PATH_MAX];
	DIR *pd;
	struct dirent *e;
	unsigned n = 0;
	size_t used = 0;
	pid_t self = getpid();

	out[0] = 0;
	snprintf(want, sizeof(want), "/dev/vfio/%d", group);
	rpath(p, sizeof(p), "/proc");
	pd = opendir(p);
	if (!pd)
		return 0;
	while ((e = readdir(pd))) {
		char fdd[PATH_MAX], comm[64] = "?";

		if (e->d_name[0] < '1' || e->d_name[0] > '9' || atoi(e->d_name) == self)
			continue;
		rpath(fdd, sizeof(fdd), "/proc/%s/fd", e->d_name);
		if (ctl_fd_links(fdd, is_path, want) != 1)
			continue;
		rpath(p, sizeof(p), "/proc/%s/comm", e->d_name);
		read_line(p, comm, sizeof(comm));
		if (used < outlen)
			used += (size_t)snprintf(out + used, outlen - used, "%spid %s (%s)", n ? ", " : "", e->d_name,
						 comm);
		n++;
	}
	closedir(pd);
	return n;
}

/* the controller node nvmeN the kernel made for the device, "" if none yet */
static void nvme_ctrl_of(const struct pci_dev *d, char *out, size_t len)
{
	char p[PATH_MAX + 16];
	DIR *dd;
	struct dirent *e;

	out[0] = 0;
	snprintf(p, sizeof(p), "%s/nvme", d->dir);
	dd = opendir(p);
	while (dd && (e = readdir(dd))) {
		unsigned n;
		int end = 0;

		if (sscanf(e->d_name, "nvme%u%n", &n, &end) == 1 && (size_t)end == strlen(e->d_name)) {
			scopy(out, len, e->d_name);
			break;
		}
	}
	if (dd)
		closedir(dd);
}

static unsigned nvme_namespaces(const struct pci_dev *d, char *out, size_t len)
{
	struct blk *v = calloc(MAX_BLK, sizeof(*v));
	unsigned nr, disks = 0;
	size_t used = 0;

	out[0] = 0;
	if (!v)
		return 0;
	nr = ctrl_block_devices(d, v);
	for (unsigned i = 0; i < nr; i++) {
		char disk[64];

		if (!ns_disk_name(v[i].name, disk, sizeof(disk)) || strcmp(disk, v[i].name))
			continue;  /* a partition */
		if (used < len)
			used += (size_t)snprintf(out + used, len - used, "%s/dev/%s", disks ? ", " : "", v[i].name);
		disks++;
	}
	free(v);
	return disks;
}

static int release_one(const char *bdf, bool force)
{
	char users[1024], ctrl[64] = "", node[PATH_MAX], nss[1024], p[PATH_MAX + 32];
	struct pci_dev d;
	int64_t deadline;

	if (pci_dev_read(&d, bdf)) {
		ctl_err("release %s: no such PCI device (lspci -D lists the addresses)", bdf);
		return CTL_FAILED;
	}
	if (!strcmp(d.driver, "nvme")) {
		nvme_ctrl_of(&d, ctrl, sizeof(ctrl));
		printf("%s: already bound to nvme%s%s\n", bdf, ctrl[0] ? ": /dev/" : "", ctrl);
		return CTL_OK;
	}
	if (d.driver[0] && strcmp(d.driver, "vfio-pci")) {
		if (!force) {
			ctl_err("release %s: bound to %s, not to vfio-pci: not nvmf-bridge's to release; --force gives it "
				"to nvme anyway", bdf, d.driver);
			return CTL_FAILED;
		}
		ctl_warn("release %s: bound to %s; giving it to nvme anyway (--force)", bdf, d.driver);
	}
	if (!strcmp(d.driver, "vfio-pci") && d.group >= 0 && vfio_users(d.group, users, sizeof(users))) {
		if (!force) {
			ctl_err("release %s: /dev/vfio/%d is still open by %s: stop it first (systemctl stop nvmf-bridge), "
				"or --force (the unbind then waits for it to let go)", bdf, d.group, users);
			return CTL_FAILED;
		}
		ctl_warn("release %s: /dev/vfio/%d is still open by %s; unbinding anyway (--force): vfio-pci asks "
			 "it to release the device and waits", bdf, d.group, users);
	}
	if (!root_ok("release", bdf))
		return CTL_FAILED;
	if (ensure_module("nvme", "nvme"))
		return CTL_FAILED;
	if (unbind(&d, "release"))
		return CTL_FAILED;
	if (bind_to(&d, "release", "nvme")) {
		snprintf(p, sizeof(p), "%s/driver_override", d.dir);
		write_str(p, "\n");
		return CTL_FAILED;
	}
	/* back to normal driver matching */
	snprintf(p, sizeof(p), "%s/driver_override", d.dir);
	write_str(p, "\n");
	deadline = now_ms() + NVME_NODE_TIMEOUT_S * 1000;
	for (;;) {
		nvme_ctrl_of(&d, ctrl, sizeof(ctrl));
		if (ctrl[0]) {
			rpath(node, sizeof(node), "/dev/%s", ctrl);
			if (is_chardev(node))
				break;
		}
		if (now_ms() > deadline) {
			ctl_err("release %s: bound to nvme, but no controller node appeared within %d s (dmesg | grep "
				"nvme tells why the kernel driver did not bring it up)", bdf, NVME_NODE_TIMEOUT_S);
			return CTL_FAILED;
		}
		sleep_ms(50);
	}
	/* namespaces are scanned after the controller is live */
	deadline = now_ms() + NVME_NS_TIMEOUT_S * 1000;
	while (!nvme_namespaces(&d, nss, sizeof(nss)) && now_ms() < deadline)
		sleep_ms(100);
	if (nss[0])
		printf("%s: bound to nvme: /dev/%s, namespaces %s\n", bdf, ctrl, nss);
	else
		printf("%s: bound to nvme: /dev/%s (no namespace appeared within %d s)\n", bdf, ctrl, NVME_NS_TIMEOUT_S);
	return CTL_OK;
}

int ctl_release_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	int c, rc = CTL_OK;

	init_root();
	optind = 0;
	while ((c = getopt_long(argc, argv, "fh", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			printf("usage: nvmf-bridgectl release [--force] BDF...\n"
			       "give PCIe NVMe controllers back to the kernel nvme driver (see nvmf-bridgectl(8))\n");
			return CTL_OK;
		default:
			fprintf(stderr, "usage: nvmf-bridgectl release [--force] BDF...\n");
			return CTL_USAGE;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "usage: nvmf-bridgectl release [--force] BDF...\n");
		return CTL_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		char bdf[16];

		if (!ctl_normalise_bdf(argv[i], bdf)) {
			ctl_err("release %s: not a PCI address (DDDD:BB:DD.F or BB:DD.F, see lspci -D)", argv[i]);
			return CTL_USAGE;
		}
		if (release_one(bdf, force) != CTL_OK)
			rc = CTL_FAILED;
	}
	return rc;
}
