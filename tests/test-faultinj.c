// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Every failure underneath the library, one at a time: with tests/faultinj
 * preloaded, each scenario runs once to count the calls through which the
 * library can fail (allocation, mmap, mlock, open, ioctl, dlopen/dlsym,
 * reads), then once per call with that call failing.  Each run must end
 * in 0 (a failure the library may absorb) or a negative errno, leave the
 * context usable (a device opens and maps afterwards), and leave no block
 * the library allocated and no file descriptor behind.
 *
 * The program re-executes itself with the interposer preloaded; it skips
 * where preloading cannot work (under ASan or valgrind, which own the
 * allocator).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fakesys.h"
#include "testutil.h"

#define MAX_WALK 20000

static void (*fi_arm)(long n);
static long (*fi_count)(void);
static int (*fi_fired)(char *buf, size_t len);
static long (*fi_live)(void);
static long (*fi_cancellable)(char *buf, size_t len);

static const char *backends;	/* the built backends */
static char *sysfs;		/* a fake sysfs tree */
static char page[3 * 65536] __attribute__((aligned(65536)));

static struct dmasplit_ctx *new_ctx(int check)
{
	struct dmasplit_ctx *ctx = NULL;
	int r;

	r = dmasplit_ctx_new(&ctx);
	if (r < 0)
		return NULL;
	tu_log_discard(ctx);
	dmasplit_ctx_set_check(ctx, check);
	if (dmasplit_ctx_set_backend_path(ctx, backends) < 0 ||
	    dmasplit_ctx_set_sysfs_root(ctx, sysfs) < 0) {
		dmasplit_ctx_unref(ctx);
		return NULL;
	}
	return ctx;
}

/* ------------------------------------------------------------------ */
/* Scenarios: each returns 0 or the first negative errno, having undone */
/* whatever it made.                                                    */

static int sc_ctx(struct dmasplit_ctx *unused)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	struct dmasplit_ctx *ctx = NULL;
	struct dmasplit_backend *b;
	int r;

	r = dmasplit_ctx_new(&ctx);
	if (r < 0)
		return r;
	tu_log_discard(ctx);
	r = dmasplit_ctx_set_backend_path(ctx, backends);
	if (!r)
		r = dmasplit_ctx_set_sysfs_root(ctx, sysfs);
	if (!r)
		r = dmasplit_ctx_load_backends(ctx);
	for (b = r ? NULL : dmasplit_backend_next(ctx, NULL); b;
	     b = dmasplit_backend_next(ctx, b))
		if (!dmasplit_backend_get_name(b))
			r = -EINVAL;
	if (!r)
		r = dmasplit_describe(ctx, "0000:01:00.0", &desc);
	dmasplit_ctx_unref(ctx);
	return r;
}

static int open_sim(struct dmasplit_ctx *ctx, const char *spec)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_dev *dev = NULL;
	int r;

	r = dmasplit_dev_open(ctx, spec, &dev);
	if (r < 0)
		return r;
	r = dmasplit_dev_get_info(dev, &info);
	dmasplit_dev_close(dev);
	return r;
}

static bool an_allocation(const char *call)
{
	static const char *const allocs[] = {
		"malloc", "calloc", "realloc", "strdup", "aligned_alloc",
		"posix_memalign", "mmap",
	};
	size_t i;

	for (i = 0; i < sizeof(allocs) / sizeof(allocs[0]); i++)
		if (!strcmp(call, allocs[i]))
			return true;
	return false;
}

/* Running out of memory while a context loads its backends is no verdict
 * on them: the open fails with -ENOMEM, and the next one in that context
 * loads them again and succeeds.  With the built-in backend alone, then
 * with the plugin alone, since either stands in for the other.  (A
 * plugin that dlopen() refuses stays refused.) */
static int ctx_retry(bool builtin)
{
	struct dmasplit_ctx *ctx = new_ctx(0);
	char what[32];
	int r, again;

	if (!ctx)
		return -ENOMEM;
	r = builtin ? dmasplit_ctx_set_backend_path(ctx, "/nonexistent")
		    : dmasplit_ctx_set_builtin_backends(ctx, 0);
	if (r < 0) {
		dmasplit_ctx_unref(ctx);
		return r;
	}
	r = open_sim(ctx, "sim:a");
	if (r < 0 && fi_fired(what, sizeof(what)) && an_allocation(what)) {
		again = open_sim(ctx, "sim:a");
		ck_assert_msg(r == -ENOMEM && again == 0,
			      "%s: %s failing: the open gave %d, the next one %d; expected -ENOMEM, then 0",
			      builtin ? "built in" : "plugin", what, r, again);
	}
	dmasplit_ctx_unref(ctx);
	return r;
}

static int sc_ctx_retry(struct dmasplit_ctx *unused)
{
	int r = ctx_retry(true);

	return r ? r : ctx_retry(false);
}

static int sc_sim_open(struct dmasplit_ctx *ctx)
{
	int r = open_sim(ctx, "sim:a");

	if (!r)
		r = open_sim(ctx, "sim:b,iommu=off,pool=256K");
	if (!r)
		r = open_sim(ctx, "sim:c,granule=65536,untrusted=1");
	return r;
}

/* Maps, vectors and coherent memory on a device that bounces. */
static int maps_on(struct dmasplit_ctx *ctx, const char *spec)
{
	struct iovec iov[2] = { { page + 100, 5000 }, { page + 70000, 300 } };
	struct dmasplit_seg segs[8];
	unsigned int nsegs = 8;
	struct dmasplit_dev *dev = NULL;
	uint64_t dma = 0, cdma = 0;
	void *cpu = NULL;
	uint8_t b;
	int r, e;

	r = dmasplit_dev_open(ctx, spec, &dev);
	if (r < 0)
		return r;
	r = dmasplit_map(dev, page, 8192, DMASPLIT_BIDIRECTIONAL, 0, &dma);
	if (r < 0)
		goto out;
	r = dmasplit_sync_for_device(dev, dma, 8192, DMASPLIT_BIDIRECTIONAL);
	if (!r)
		r = dmasplit_dev_dma_read(dev, dma + 4096, &b, 1);
	if (!r)
		r = dmasplit_sync_for_cpu(dev, dma, 8192, DMASPLIT_BIDIRECTIONAL);
	e = dmasplit_unmap(dev, dma, 8192, DMASPLIT_BIDIRECTIONAL, 0);
	r = r ? r : e;
	if (r < 0)
		goto out;
	r = dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs);
	if (r < 0)
		goto out;
	r = dmasplit_unmap_vec(dev, segs, nsegs, DMASPLIT_TO_DEVICE, 0);
	if (r < 0)
		goto out;
	r = dmasplit_alloc_coherent(dev, 10000, 0, &cpu, &cdma);
	if (r < 0)
		goto out;
	r = dmasplit_free_coherent(dev, 10000, cpu, cdma);
out:
	dmasplit_dev_close(dev);
	return r;
}

static int sc_bounce(struct dmasplit_ctx *ctx)
{
	int r = maps_on(ctx, "sim:b,iommu=off,bounce=force,pool=256K");

	if (!r)
		r = maps_on(ctx, "sim:u,untrusted=1,pool=256K");
	return r;
}

static int sc_window(struct dmasplit_ctx *ctx)
{
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_iova *iova = NULL;
	uint64_t base;
	uint8_t b[2];
	int r, e;

	r = dmasplit_dev_open(ctx, "sim:w,untrusted=1,pool=256K", &dev);
	if (r < 0)
		return r;
	r = dmasplit_iova_alloc(dev, 4 * 4096, 0, &iova);
	if (r < 0)
		goto out;
	base = dmasplit_iova_addr(iova);
	r = dmasplit_iova_link(iova, 0, page, 8192, DMASPLIT_BIDIRECTIONAL, 0);
	if (r < 0)
		goto destroy;
	/* A sub-granule link: bounced on an untrusted device. */
	r = dmasplit_iova_link(iova, 8192 + 100, page + 65536 + 100, 1000,
			       DMASPLIT_TO_DEVICE, 0);
	if (r < 0)
		goto destroy;
	r = dmasplit_iova_sync(iova, 0, 8192);
	if (!r)
		r = dmasplit_iova_sync(iova, 8192 + 100, 1000);
	if (!r)
		r = dmasplit_dev_dma_read(dev, base + 4096, b, 2);
	if (!r)
		r = dmasplit_sync_for_cpu(dev, base, 8192,
					  DMASPLIT_BIDIRECTIONAL);
	e = dmasplit_iova_unlink(iova, 4096, 4096, DMASPLIT_BIDIRECTIONAL, 0);
	r = r ? r : e;
	e = dmasplit_iova_unlink(iova, 8192 + 100, 1000, DMASPLIT_TO_DEVICE, 0);
	r = r ? r : e;
destroy:
	dmasplit_iova_destroy(iova);
out:
	dmasplit_dev_close(dev);
	return r;
}

static int batch_on(struct dmasplit_ctx *ctx, const char *spec)
{
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_batch *batch = NULL;
	const struct dmasplit_seg *segs;
	unsigned int nsegs;
	int r, e;

	r = dmasplit_dev_open(ctx, spec, &dev);
	if (r < 0)
		return r;
	r = dmasplit_batch_new(dev, DMASPLIT_BIDIRECTIONAL, 0, &batch);
	if (r < 0)
		goto out;
	r = dmasplit_batch_add(batch, page, 4096);
	if (!r)
		r = dmasplit_batch_add(batch, page + 65536 + 512, 3000);
	if (!r)
		r = dmasplit_batch_add(batch, page + 2 * 65536, 8192);
	if (!r)
		r = dmasplit_batch_map(batch, &segs, &nsegs);
	if (!r) {
		r = dmasplit_batch_sync_for_device(batch);
		if (!r)
			r = dmasplit_batch_sync_for_cpu(batch);
		e = dmasplit_batch_unmap(batch);
		/* A failed unmap leaves the batch mapped, for another try
		 * (the fault fires once). */
		if (e == -ENOMEM)
			ck_assert_int_eq(dmasplit_batch_unmap(batch), 0);
		r = r ? r : e;
	}
	dmasplit_batch_free(batch);
out:
	dmasplit_dev_close(dev);
	return r;
}

static int sc_batch(struct dmasplit_ctx *ctx)
{
	int r = batch_on(ctx, "sim:bw,pool=256K");

	if (!r)
		r = batch_on(ctx, "sim:bm,iommu=off,bounce=force,pool=256K");
	return r;
}

/* Real PCI backends on the fake tree: direct may open the uio device
 * (it may also lack the privilege); vfio finds no kernel and must fail
 * cleanly. */
static int sc_pci(struct dmasplit_ctx *ctx)
{
	struct dmasplit_dev *dev = NULL;
	enum dmasplit_p2p_map map;
	uint64_t dma;
	int r;

	/* Its answer is the fake tree's; what counts is that no failure
	 * under it leaks or crashes. */
	(void)dmasplit_p2p_distance(ctx, "0000:01:00.0", "0000:02:00.0", &map);
	r = dmasplit_dev_open_backend(ctx, "0000:01:00.0", "direct", &dev);
	if (!r) {
		r = dmasplit_map(dev, page, 4096, DMASPLIT_TO_DEVICE, 0, &dma);
		if (!r)
			r = dmasplit_unmap(dev, dma, 4096, DMASPLIT_TO_DEVICE, 0);
		dmasplit_dev_close(dev);
	}
	dev = NULL;
	if (dmasplit_dev_open_backend(ctx, "0000:02:00.0", "vfio", &dev) == 0) {
		/* There is no VFIO behind the fake tree. */
		dmasplit_dev_close(dev);
		return r ? r : -EEXIST;
	}
	return r;
}

/* A map on direct, where it opens (it needs CAP_SYS_ADMIN), of a page
 * of memory mapped afresh: a map that fails for want of memory changes
 * nothing (libdmasplit(3)), the huge-page mark on the memory included.
 * Checker off: the checker's record is made once the backend has
 * mapped, and a map undone for want of it is an unmap, mark and all
 * (dmasplit_dev_open(3)). */
static int sc_direct_map(struct dmasplit_ctx *ctx)
{
	struct dmasplit_dev *dev = NULL;
	long ps = sysconf(_SC_PAGESIZE);
	struct tu_vma was;
	uint8_t *m;
	uint64_t dma;
	int r;

	r = dmasplit_dev_open_backend(ctx, "0000:01:00.0", "direct", &dev);
	if (r)
		return r;
	m = mmap(NULL, 3 * (size_t)ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m, 1, 3 * (size_t)ps);
	ck_assert(tu_vma_of(m + ps, &was));
	r = dmasplit_map(dev, m + ps, 64, DMASPLIT_FROM_DEVICE, 0, &dma);
	ck_assert_msg(r != -ENOMEM || tu_vma_unchanged(m + ps, &was),
		      "a map refused with -ENOMEM marked the memory or split its mapping");
	if (!r)
		r = dmasplit_unmap(dev, dma, 64, DMASPLIT_FROM_DEVICE, 0);
	dmasplit_dev_close(dev);
	munmap(m, 3 * (size_t)ps);
	return r;
}

/* ------------------------------------------------------------------ */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The context still works: a device opens, maps, the device reads. */
static void assert_usable(struct dmasplit_ctx *ctx, long n, const char *what)
{
	struct dmasplit_dev *dev = NULL;
	uint64_t dma = 0;
	uint8_t b = 0;
	int r;

	page[5] = 0x5a;
	r = dmasplit_dev_open(ctx, "sim:after", &dev);
	ck_assert_msg(r == 0, "after %s failed at call %ld: open: expected 0, got %d",
		      what, n, r);
	r = dmasplit_map(dev, page, 4096, DMASPLIT_TO_DEVICE, 0, &dma);
	ck_assert_msg(r == 0, "after %s failed at call %ld: map: expected 0, got %d",
		      what, n, r);
	r = dmasplit_dev_dma_read(dev, dma + 5, &b, 1);
	ck_assert_msg(r == 0 && b == 0x5a,
		      "after %s failed at call %ld: device read: expected 0 and 0x5a, got %d and 0x%02x",
		      what, n, r, b);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 4096, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
}

/* How many points of each kind a walk covered. */
static struct {
	char name[32];
	unsigned int n;
} tally[24];

static void tally_add(const char *name)
{
	unsigned int i;

	for (i = 0; i < 24 && tally[i].name[0]; i++)
		if (!strcmp(tally[i].name, name))
			break;
	if (i == 24)
		return;
	snprintf(tally[i].name, sizeof(tally[i].name), "%s", name);
	tally[i].n++;
}

static const char *tally_text(void)
{
	static char buf[512];
	size_t at = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < 24 && tally[i].name[0]; i++)
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, " %s %u",
				       tally[i].name, tally[i].n);
	memset(tally, 0, sizeof(tally));
	return buf;
}

/* No cancellation point since the last arm found the thread cancellable
 * (libdmasplit(3), Thread safety). */
static void assert_not_cancellable(const char *name, const char *what,
				   long n)
{
	char at[128];
	long k = fi_cancellable(at, sizeof(at));

	ck_assert_msg(k == 0,
		      "%s: with %s (call %ld) failing: %ld cancellation points reached with the thread cancellable, the first %s",
		      name, what, n, k, at);
}

/*
 * Run sc with the 1st, 2nd, ... counted call failing, until a run makes
 * fewer calls than the one to fail.  own_ctx: the scenario makes its own
 * context (the usability check then uses a new one).
 */
static void walk(int (*sc)(struct dmasplit_ctx *), int check, bool own_ctx,
		 const char *name)
{
	struct dmasplit_ctx *ctx;
	long n, total, live0;
	int fds0, r, clean, fired, absorbed = 0;
	char what[32];

	ctx = new_ctx(check);
	ck_assert_ptr_nonnull(ctx);
	/* Once whole, so that lazily made state (plugins loaded, per-thread
	 * slots) is there before the baseline. */
	sc(ctx);
	fi_arm(0);
	clean = sc(ctx);
	total = fi_count();
	assert_not_cancellable(name, "nothing", 0);
	live0 = fi_live();
	fds0 = open_fds();
	ck_assert_msg(total > 0, "%s: no call of the library was counted", name);

	for (n = 1; n <= total && n < MAX_WALK; n++) {
		fi_arm(n);
		r = sc(ctx);
		fired = fi_fired(what, sizeof(what));
		assert_not_cancellable(name, what, n);
		fi_arm(0);
		ck_assert_msg(fired,
			      "%s: call %ld of %ld did not happen (the scenario is not deterministic)",
			      name, n, total);
		ck_assert_msg(r <= 0 && r > -4096,
			      "%s: with %s (call %ld) failing: expected 0 or a negative errno, got %d",
			      name, what, n, r);
		tally_add(what);
		absorbed += r == 0;
		if (own_ctx) {
			struct dmasplit_ctx *c2 = new_ctx(check);

			ck_assert_ptr_nonnull(c2);
			assert_usable(c2, n, what);
			dmasplit_ctx_unref(c2);
		} else {
			assert_usable(ctx, n, what);
		}
		ck_assert_msg(fi_live() == live0,
			      "%s: with %s (call %ld) failing (%d): %ld blocks of the library leaked",
			      name, what, n, r, fi_live() - live0);
		ck_assert_msg(open_fds() == fds0,
			      "%s: with %s (call %ld) failing (%d): %d descriptors left open",
			      name, what, n, r, open_fds() - fds0);
	}
	dmasplit_ctx_unref(ctx);
	assert_not_cancellable(name, "nothing, closing the context,", 0);
	ck_assert_msg(fi_live() <= live0,
		      "%s: the context leaked %ld blocks", name, fi_live() - live0);
	printf("# %s (checker %s, unfaulted run %d, %ld blocks held): %ld fault points (%d absorbed, the rest a negative errno), all clean:%s\n",
	       name, check ? "on" : "off", clean, live0, total, absorbed,
	       tally_text());
}

START_TEST(every_failure_in_context_creation_and_plugin_loading_is_clean)
{
	walk(sc_ctx, 0, true, "context and plugins");
}
END_TEST

START_TEST(a_failure_while_backends_load_leaves_the_context_whole)
{
	walk(sc_ctx_retry, 0, true, "plugin loading retried");
}
END_TEST

START_TEST(every_failure_in_opening_simulated_devices_is_clean)
{
	walk(sc_sim_open, 0, false, "sim open");
}
END_TEST

START_TEST(every_failure_in_bounced_maps_vectors_and_coherent_memory_is_clean)
{
	walk(sc_bounce, 0, false, "bounce maps");
	walk(sc_bounce, 1, false, "bounce maps");
}
END_TEST

START_TEST(every_failure_in_a_window_life_cycle_is_clean)
{
	walk(sc_window, 0, false, "window");
	walk(sc_window, 1, false, "window");
}
END_TEST

START_TEST(every_failure_in_a_batch_is_clean)
{
	walk(sc_batch, 0, false, "batch");
	walk(sc_batch, 1, false, "batch");
}
END_TEST

START_TEST(every_failure_in_direct_and_vfio_opens_on_fake_sysfs_is_clean)
{
	walk(sc_pci, 0, false, "direct and vfio");
}
END_TEST

START_TEST(every_failure_in_a_direct_map_is_clean_and_leaves_no_mark)
{
	walk(sc_direct_map, 0, false, "direct map");
}
END_TEST

static unsigned int said_lines;
static char said[256];

TU_LOG_FN
static void log_keep(void *data, int priority, const char *file, int line,
		     const char *fn, const char *format, va_list args)
{
	(void)data, (void)priority, (void)file, (void)line, (void)fn;
	vsnprintf(said, sizeof(said), format, args);
	said_lines++;
}

/* The call's first allocation fails: -ENOMEM and one line with why. */
#define EXPECT_NO_MEMORY(call, why)                                          \
	do {                                                                 \
		int r_, fired_;                                              \
		char what_[32];                                              \
                                                                             \
		said_lines = 0;                                              \
		fi_arm(1);                                                   \
		r_ = (call);                                                 \
		fired_ = fi_fired(what_, sizeof(what_));                     \
		fi_arm(0);                                                   \
		ck_assert_msg(fired_ && an_allocation(what_),                \
			      "%s: its first counted call is %s", #call,     \
			      fired_ ? what_ : "none");                      \
		ck_assert_msg(r_ == -ENOMEM, "%s: %d", #call, r_);           \
		ck_assert_msg(said_lines == 1 && strstr(said, why),          \
			      "%s: %u lines, the last '%s'; want one with '%s'", \
			      #call, said_lines, said, why);                 \
	} while (0)

/* The first call named call that opening spec makes, failed: the open
 * gives -ENOMEM and one line with why. */
static void expect_open_out_of_memory(struct dmasplit_ctx *ctx,
				      const char *spec, const char *call,
				      const char *why)
{
	long n;

	for (n = 1; n < 200; n++) {
		struct dmasplit_dev *dev = NULL;
		char what[32];
		int r, fired;

		said_lines = 0;
		fi_arm(n);
		r = dmasplit_dev_open(ctx, spec, &dev);
		fired = fi_fired(what, sizeof(what));
		fi_arm(0);
		ck_assert_msg(fired, "opening %s made no %s", spec, call);
		if (strcmp(what, call)) {
			dmasplit_dev_close(dev);
			continue;
		}
		ck_assert_int_eq(r, -ENOMEM);
		ck_assert_msg(said_lines == 1 && strstr(said, why),
			      "opening %s: %u lines, the last '%s'", spec,
			      said_lines, said);
		return;
	}
	ck_abort_msg("opening %s: no %s in its first 199 calls", spec, call);
}

/* Running out of memory in a call that allocates for the caller is said
 * in one line, as a refusal is: -ENOMEM alone does not tell a device out
 * of address space (-ENOSPC) from a process out of memory. */
START_TEST(running_out_of_memory_is_said_in_one_line)
{
	struct dmasplit_ctx *ctx = new_ctx(0);
	struct dmasplit_region *region = NULL;
	struct dmasplit_batch *batch = NULL;
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_dev *dev = NULL;
	void *cpu = NULL;
	uint64_t dma;

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:nomem", &dev), 0);
	dmasplit_ctx_set_log_fn(ctx, log_keep, NULL);
	EXPECT_NO_MEMORY(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE, 0, &batch),
			 "no memory for the batch");
	ck_assert_int_eq(dmasplit_batch_new(dev, DMASPLIT_TO_DEVICE, 0, &batch), 0);
	EXPECT_NO_MEMORY(dmasplit_batch_add(batch, page, 4096),
			 "no memory for 8 buffers");
	dmasplit_batch_free(batch);
	/* A new device's first window: no object is spare yet. */
	EXPECT_NO_MEMORY(dmasplit_iova_alloc(dev, 4096, 0, &iova),
			 "no memory for the window");
	EXPECT_NO_MEMORY(dmasplit_region_new(dev, page, 4096,
					     DMASPLIT_TO_DEVICE, 0, &region),
			 "no memory for the region");
	dmasplit_dev_close(dev);

	/* The open's own object, the first aligned allocation the open
	 * makes (the spec and the backends' come first, and are not the
	 * caller's). */
	expect_open_out_of_memory(ctx, "sim:nomem2", "aligned_alloc",
				  "nomem2: no memory for the device");

	/* Memory the device reaches untranslated: the line says the
	 * process has none, not that none lies below the DMA mask. */
	ck_assert_int_eq(dmasplit_dev_open(ctx, "sim:nomem3,iommu=off", &dev), 0);
	EXPECT_NO_MEMORY(dmasplit_alloc_coherent(dev, 4096, 0, &cpu, &dma),
			 "no memory for 4096 bytes of coherent memory: ");
	dmasplit_dev_close(dev);
	expect_open_out_of_memory(ctx, "sim:nomem4,iommu=off", "mmap",
				  "nomem4: no memory for a bounce pool of ");
	dmasplit_ctx_unref(ctx);
}
END_TEST

/* 0000:01:00.0 on uio_pci_generic without an IOMMU, 0000:02:00.0 on
 * vfio-pci in translating group 7 with a VFIO cdev entry. */
static void fake_sysfs(void)
{
	static const struct fakesys_pci uio = {
		.vendor = "0x8086\n",
		.device = "0x10d3\n",
		.class = "0x020000\n",
		.dma_mask_bits = "64\n",
		.driver = "uio_pci_generic",
	};
	static const struct fakesys_pci vfio = {
		.vendor = "0x8086\n",
		.device = "0x10d3\n",
		.class = "0x020000\n",
		.dma_mask_bits = "64\n",
		.driver = "vfio-pci",
		.group = "7",
		.group_type = "DMA\n",
	};
	char path[PATH_MAX];

	sysfs = tu_mkdtemp();
	fakesys_root(sysfs);
	fakesys_pci("devices/pci0000:00/0000:00:01.0/0000:01:00.0", &uio);
	fakesys_pci("devices/pci0000:00/0000:00:02.0/0000:02:00.0", &vfio);
	fakesys_path(path, "devices/pci0000:00/0000:00:02.0/0000:02:00.0/vfio-dev/vfio3");
	tu_mkdir_p(path);
}

static void remove_sysfs(void)
{
	tu_rm_rf(sysfs);
	free(sysfs);
	sysfs = NULL;
}

/* Preloaded, or re-executed with the interposer preloaded, or a skip. */
static void preload(char **argv)
{
	const char *plugins = getenv("DMASPLIT_TEST_PLUGINS");
	const char *pre = getenv("LD_PRELOAD");
	char so[PATH_MAX], *env;

	fi_arm = (void (*)(long))dlsym(RTLD_DEFAULT, "faultinj_arm");
	if (fi_arm) {
		fi_count = (long (*)(void))dlsym(RTLD_DEFAULT, "faultinj_count");
		fi_fired = (int (*)(char *, size_t))dlsym(RTLD_DEFAULT, "faultinj_fired");
		fi_live = (long (*)(void))dlsym(RTLD_DEFAULT, "faultinj_live");
		fi_cancellable = (long (*)(char *, size_t))dlsym(RTLD_DEFAULT, "faultinj_cancellable");
		return;
	}
	if (dlsym(RTLD_DEFAULT, "__asan_init") || dlsym(RTLD_DEFAULT, "__tsan_init"))
		tu_skip_all("built with a sanitizer, which owns the allocator: the fault interposer cannot be preloaded");
	if (pre && strstr(pre, "vgpreload"))
		tu_skip_all("under valgrind, which owns the allocator: the fault interposer cannot be preloaded");
	if (!plugins)
		tu_skip_all("DMASPLIT_TEST_PLUGINS is not set (run through make check)");
	snprintf(so, sizeof(so), "%s/faultinj.so", plugins);
	if (access(so, R_OK) < 0)
		tu_skip_all("tests/faultinj.so is not built");
	if (asprintf(&env, "%s%s%s", so, pre ? ":" : "", pre ? pre : "") < 0)
		abort();
	setenv("LD_PRELOAD", env, 1);
	execv("/proc/self/exe", argv);
	tu_skip_all("cannot re-execute with the fault interposer preloaded");
}

int main(int argc, char **argv)
{
	Suite *s = suite_create("faultinj");
	TCase *tc = tcase_create("faultinj");
	int r;

	preload(argv);
	backends = getenv("DMASPLIT_TEST_BACKENDS");
	if (!backends)
		tu_skip_all("DMASPLIT_TEST_BACKENDS is not set (run through make check)");
	tcase_add_checked_fixture(tc, fake_sysfs, remove_sysfs);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, every_failure_in_context_creation_and_plugin_loading_is_clean);
	tcase_add_test(tc, a_failure_while_backends_load_leaves_the_context_whole);
	tcase_add_test(tc, every_failure_in_opening_simulated_devices_is_clean);
	tcase_add_test(tc, every_failure_in_bounced_maps_vectors_and_coherent_memory_is_clean);
	tcase_add_test(tc, every_failure_in_a_window_life_cycle_is_clean);
	tcase_add_test(tc, every_failure_in_a_batch_is_clean);
	tcase_add_test(tc, every_failure_in_direct_and_vfio_opens_on_fake_sysfs_is_clean);
	tcase_add_test(tc, every_failure_in_a_direct_map_is_clean_and_leaves_no_mark);
	tcase_add_test(tc, running_out_of_memory_is_said_in_one_line);
	suite_add_tcase(s, tc);
	r = tu_main(s);
	return r;
}
