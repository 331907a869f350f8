// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vfio backend when the kernel refuses: every ioctl the library
 * issues is made to fail in turn (EIO), for each kernel interface, over
 * device open, the window life cycle and the per-range path.  Each
 * failure must come back as a negative errno, leave the device usable
 * (the same steps work right after), leave no kernel mapping behind and
 * no descriptor open.  A second edu (DMASPLIT_VM_EDU2), where there is
 * one, joins a shared space the same way: the space is unharmed.  Run in
 * the VM by tests/vm/run (DMASPLIT_VM_EDU).
 * Output is TAP.
 *
 * The program defines ioctl() and exports it (see Makefile.am), so the
 * backend, loaded later, calls it instead of libc's; it forwards to the
 * system call except for the one call it is told to fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/vfio.h>

#include <dmasplit/dmasplit.h>

#include "vmtest.h"


/* ------------------------------------------------------------------ */
/* The interposer                                                       */

static struct {
	bool armed;
	unsigned long seen;	/* ioctls since armed */
	unsigned long fail_at;	/* the one that fails */
	unsigned long failed;	/* its request, once failed */
} inj;

__attribute__((visibility("default")))
int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (inj.armed && ++inj.seen == inj.fail_at) {
		inj.failed = request;
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_ioctl, fd, request, arg);
}

static void arm(unsigned long n)
{
	inj.seen = 0;
	inj.fail_at = n;
	inj.failed = 0;
	inj.armed = true;
}

/* Whether the armed failure happened; disarms. */
static bool disarm(void)
{
	inj.armed = false;
	return inj.seen >= inj.fail_at;
}

/* ------------------------------------------------------------------ */
/* What the kernel holds                                                */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own */
}

/* The open descriptor of path (the backend's), or -1. */
static int fd_of(const char *path)
{
	char link[64], target[64];
	int fd;

	for (fd = 0; fd < 1024; fd++) {
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, path))
			return fd;
	}
	return -1;
}

/* type1: mappings the container holds, from its DMA-available count. */
static long type1_mappings(void)
{
	union {
		struct vfio_iommu_type1_info info;
		char buf[4096];
	} u;
	int fd = fd_of("/dev/vfio/vfio");
	uint32_t off;

	if (fd < 0)
		return -1;
	memset(&u, 0, sizeof(u));
	u.info.argsz = sizeof(u);
	if (syscall(SYS_ioctl, fd, VFIO_IOMMU_GET_INFO, &u.info) < 0)
		return -1;
	for (off = u.info.flags & VFIO_IOMMU_INFO_CAPS ? u.info.cap_offset : 0;
	     off && off < sizeof(u.buf) - 16;) {
		struct vfio_info_cap_header *cap = (void *)(u.buf + off);

		if (cap->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL)
			return 65535 -
			       ((struct vfio_iommu_type1_info_dma_avail *)cap)->avail;
		if (cap->next <= off)
			break;
		off = cap->next;
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Scenarios: 0 or the first negative errno; SYNC_LEFT_MAPPED when a    */
/* failed sync left a mapping or a pin behind                           */

#define SYNC_LEFT_MAPPED 2

static int step_window(struct dmasplit_dev *dev, uint8_t *mem)
{
	struct dmasplit_iova *iova = NULL;
	unsigned int i;
	int r;

	r = dmasplit_iova_alloc(dev, 3 * PAGE, 0, &iova);
	for (i = 0; r == 0 && i < 3; i++)
		r = dmasplit_iova_link(iova, i * PAGE, mem + i * PAGE, PAGE,
				       DMASPLIT_BIDIRECTIONAL, 0);
	if (r == 0) {
		long maps = type1_mappings(), pinned = pinned_kb();

		r = dmasplit_iova_sync(iova, 0, 3 * PAGE);
		/* A failed sync maps and pins nothing; its links are still
		 * linked: a second sync, unarmed, maps them. */
		if (r < 0) {
			disarm();
			if (type1_mappings() != maps || pinned_kb() != pinned)
				r = SYNC_LEFT_MAPPED;
			else if (dmasplit_iova_sync(iova, 0, 3 * PAGE) < 0)
				r = 1;
		}
	}
	for (i = 0; r == 0 && i < 3; i++) {	/* B, then A, then C */
		r = dmasplit_iova_unlink(iova, (i + 1) % 3 * PAGE, PAGE,
					 DMASPLIT_BIDIRECTIONAL, 0);
		/* A failed unlink changed nothing: the same again works. */
		if (r < 0) {
			disarm();
			if (dmasplit_iova_unlink(iova, (i + 1) % 3 * PAGE, PAGE,
						 DMASPLIT_BIDIRECTIONAL, 0) < 0)
				r = 1;
		}
	}
	/* The destroy, which cannot fail, runs with nothing armed. */
	disarm();
	dmasplit_iova_destroy(iova);
	return r;
}

/* An unmap that failed is tried again, unarmed: it must work, since the
 * failure changed nothing. */
static int step_ranges(struct dmasplit_dev *dev, uint8_t *mem)
{
	void *cpu = NULL;
	uint64_t dma;
	int r, u;

	r = dmasplit_map(dev, mem, 2 * PAGE, DMASPLIT_TO_DEVICE, 0, &dma);
	if (r == 0) {
		u = dmasplit_unmap(dev, dma, 2 * PAGE, DMASPLIT_TO_DEVICE, 0);
		if (u < 0) {
			disarm();
			return dmasplit_unmap(dev, dma, 2 * PAGE,
					      DMASPLIT_TO_DEVICE, 0) ? 1 : u;
		}
	}
	if (r == 0)
		r = dmasplit_alloc_coherent(dev, PAGE, 0, &cpu, &dma);
	if (r == 0) {
		u = dmasplit_free_coherent(dev, PAGE, cpu, dma);
		if (u < 0) {
			disarm();
			return dmasplit_free_coherent(dev, PAGE, cpu, dma) ? 1 : u;
		}
	}
	return r;
}

static int step_vec(struct dmasplit_dev *dev, uint8_t *mem)
{
	struct iovec iov[3] = {
		{ mem, PAGE }, { mem + PAGE, PAGE }, { mem + 4 * PAGE, 100 },
	};
	struct dmasplit_seg segs[3];
	unsigned int nsegs = 3;
	int r, u;

	r = dmasplit_map_vec(dev, iov, 3, DMASPLIT_FROM_DEVICE, 0, segs, &nsegs);
	if (r == 0) {
		u = dmasplit_unmap_vec(dev, segs, nsegs, DMASPLIT_FROM_DEVICE, 0);
		if (u < 0) {
			disarm();
			return dmasplit_unmap_vec(dev, segs, nsegs,
						  DMASPLIT_FROM_DEVICE, 0) ? 1 : u;
		}
	}
	return r;
}

/* Failures the library reported as success (not the backend's doing:
 * the core drops the errors of dmasplit_unmap_vec). */

/*
 * Fail the 1st, 2nd, ... ioctl of step until it runs without reaching
 * the one armed.  After each failure: a negative errno, the kernel holds
 * as many mappings as before, no descriptor more, and the step works
 * unarmed.
 */
static void walk(struct dmasplit_dev *dev, const char *iface, const char *what,
		 int (*step)(struct dmasplit_dev *, uint8_t *), uint8_t *mem)
{
	long maps0 = type1_mappings();
	int fds0 = count_fds();
	unsigned long n, points = 0, bad = 0, swallowed = 0;
	char first_bad[200] = "";

	for (n = 1; n < 100; n++) {
		int r, again;

		arm(n);
		r = step(dev, mem);
		if (!disarm()) {
			if (r != 0 && !bad++)
				snprintf(first_bad, sizeof(first_bad),
					 "unarmed run failed (%d)", r);
			break;
		}
		points++;
		if (r == 0) {
			/* Reported as done: what the kernel kept is lost
			 * to the caller; count it once, from here on. */
			swallowed++;
			maps0 = type1_mappings();
			continue;
		}
		again = step(dev, mem);
		if (r >= 0 || again != 0 || type1_mappings() != maps0 ||
		    count_fds() != fds0) {
			if (!bad++)
				snprintf(first_bad, sizeof(first_bad),
					 "ioctl %lu (request 0x%lx): returned %d%s, then %d; mappings %ld (before %ld), fds %d (before %d)",
					 n, inj.failed, r,
					 r == SYNC_LEFT_MAPPED ? " (the failed sync left a mapping or a pin)" : "",
					 again,
					 type1_mappings(), maps0, count_fds(),
					 fds0);
		}
	}
	ok(bad == 0 && swallowed == 0 && points > 0,
	   "%s: %s: each of its %lu ioctls failed in turn: a negative errno, the device usable after, no mapping or fd left%s%s",
	   iface, what, points, bad ? "; first wrong: " : "", first_bad);
	if (swallowed)
		printf("# %s: %s: %lu failures reported as success\n", iface,
		       what, swallowed);
}

static void open_walk(struct dmasplit_ctx *ctx, const char *spec,
		      const char *iface)
{
	int fds0 = count_fds();	/* after a first open: see main() */
	unsigned long n, points = 0, bad = 0;
	char first_bad[160] = "";

	for (n = 1; n < 100; n++) {
		struct dmasplit_dev *dev = NULL;
		int r;
		bool hit;

		arm(n);
		r = dmasplit_dev_open(ctx, spec, &dev);
		hit = disarm();
		if (!hit) {
			if (r != 0 && !bad++)
				snprintf(first_bad, sizeof(first_bad),
					 "unarmed open failed (%d)", r);
			dmasplit_dev_close(dev);
			break;
		}
		points++;
		if (r >= 0 || dev || count_fds() != fds0) {
			if (!bad++)
				snprintf(first_bad, sizeof(first_bad),
					 "ioctl %lu (request 0x%lx): returned %d, fds %d (before %d)",
					 n, inj.failed, r, count_fds(), fds0);
			dmasplit_dev_close(dev);
		}
	}
	ok(bad == 0 && points > 0 && count_fds() == fds0,
	   "%s: open: each of its %lu ioctls failed in turn: a negative errno, no device, no fd left, and the next open works%s%s",
	   iface, points, bad ? "; first wrong: " : "", first_bad);
}

/* iommufd: what the device's IOAS still maps, by unmapping everything
 * (IOVA 0, length 2^64-1): the bytes unmapped, or -1. */
static long long iommufd_mapped(void)
{
	int fd = fd_of("/dev/iommu");
	uint32_t id;

	if (fd < 0)
		return -1;
	/* The IOAS is one of the first objects of this iommufd. */
	for (id = 1; id < 16; id++) {
		struct {
			uint32_t size, ioas_id;
			uint64_t iova, length;
		} unmap = { sizeof(unmap), id, 0, UINT64_MAX };

		if (syscall(SYS_ioctl, fd, _IO(';', 0x86), &unmap) == 0)
			return (long long)unmap.length;
	}
	return -1;
}

int main(void)
{
	static const char *const ifaces[] = { "iommufd", "type1" };
	const char *edu = getenv("DMASPLIT_VM_EDU");
	const char *edu2 = getenv("DMASPLIT_VM_EDU2");
	struct dmasplit_ctx *ctx;
	uint8_t *mem;
	unsigned int i;
	int fds0;

	if (!edu) {
		printf("1..0 # SKIP not in the VM (DMASPLIT_VM_EDU is not set)\n");
		return 0;
	}
	if (dmasplit_ctx_new(&ctx) < 0)
		return 1;
	/* What is judged here is the backend against the kernel; the
	 * checker keeps its own books, which a failed call must not upset
	 * either, but that is the core's test. */
	dmasplit_ctx_set_check(ctx, 0);
	mem = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	/* A first open and close, so that whatever the library keeps open
	 * for the context is counted in. */
	{
		struct dmasplit_dev *dev = NULL;
		char spec[96];

		snprintf(spec, sizeof(spec), "%s,vfio=type1", edu);
		if (dmasplit_dev_open(ctx, spec, &dev) == 0)
			dmasplit_dev_close(dev);
	}
	fds0 = count_fds();
	for (i = 0; i < 2; i++) {
		static const char *const modes[] = { "", ",unlink=lazy" };
		unsigned int m;

		if (iface_skipped(ifaces[i]))
			continue;
		for (m = 0; m < 2; m++) {
			struct dmasplit_dev *dev = NULL;
			char spec[96], what[64];
			int r;

			snprintf(spec, sizeof(spec), "%s,vfio=%s%s", edu,
				 ifaces[i], modes[m]);
			if (m == 0)
				open_walk(ctx, spec, ifaces[i]);
			r = dmasplit_dev_open(ctx, spec, &dev);
			if (r < 0) {
				ok(false, "open %s (%d)", spec, r);
				continue;
			}
			snprintf(what, sizeof(what), "window life cycle (%s)",
				 m ? "lazy" : "strict");
			walk(dev, ifaces[i], what, step_window, mem);
			if (m == 0) {
				walk(dev, ifaces[i], "map and coherent memory",
				     step_ranges, mem);
				walk(dev, ifaces[i], "map_vec", step_vec, mem);
			}
			if (i == 0) {
				long long left = iommufd_mapped();

				ok(left == 0,
				   "%s: after the walks the IOAS maps nothing (%lld bytes)",
				   ifaces[i], left);
			}
			dmasplit_dev_close(dev);
		}
	}
	/* A device joining a shared space, each of its ioctls failing in
	 * turn: the space and its member go on as before. */
	for (i = 0; edu2 && edu2[0] && i < 2; i++) {
		struct dmasplit_dev *dev = NULL;
		char spec[96];
		int r;

		if (iface_skipped(ifaces[i]))
			continue;
		snprintf(spec, sizeof(spec), "%s,vfio=%s,as=pool0", edu,
			 ifaces[i]);
		r = dmasplit_dev_open(ctx, spec, &dev);
		if (r < 0) {
			ok(false, "open %s (%d)", spec, r);
			continue;
		}
		snprintf(spec, sizeof(spec), "%s,vfio=%s,as=pool0", edu2,
			 ifaces[i]);
		open_walk(ctx, spec, ifaces[i]);
		r = step_window(dev, mem);
		ok(r == 0, "%s: the space's first member works after the failed joins (%d)",
		   ifaces[i], r);
		dmasplit_dev_close(dev);
	}
	ok(count_fds() == fds0, "every descriptor is closed at the end (%d, before %d)",
	   count_fds(), fds0);
	munmap(mem, 8 * PAGE);
	dmasplit_ctx_unref(ctx);
	return tap_end();
}
