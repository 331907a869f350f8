// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Threads mapping, linking, syncing, unmapping and trimming at once, on
 * devices they share (translated, bounce-only) and on devices of their
 * own, each
 * mapping proved from the device side: the device reads the host bytes
 * through it, and what the device writes reaches the host after the sync.
 * Bounded in time (DMASPLIT_STRESS_SECONDS, default 2); run under
 * ThreadSanitizer in CI (./configure --enable-tsan).
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "testutil.h"

#define THREADS 6
#define BUF (256u * 1024u)
#define G 4096u

static const char *const sim[] = { "swiotlb-sim", NULL };
static struct dmasplit_ctx *ctx;
static struct dmasplit_dev *shared_iommu, *shared_bounce;
static double seconds;

struct worker {
	pthread_t thread;
	unsigned int id;
	uint64_t seed;
	struct dmasplit_dev *own;
	uint8_t *buf;		/* this thread's memory only */
	uint8_t dev[64 * 1024];
	unsigned long ops;
	char error[256];	/* the first failure */
};

static struct worker workers[THREADS];

static uint64_t xorshift(uint64_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return *seed;
}

static uint64_t rnd(struct worker *w)
{
	return xorshift(&w->seed);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define FAIL(w, ...)                                                      \
	do {                                                              \
		if (!(w)->error[0])                                       \
			snprintf((w)->error, sizeof((w)->error), __VA_ARGS__); \
		return false;                                             \
	} while (0)

/* [dma, dma + len) shows the device p's bytes; a device write there
 * reaches p after sync_for_cpu. */
static bool prove(struct worker *w, struct dmasplit_dev *d, uint64_t dma,
		  uint8_t *p, size_t len, const char *what)
{
	size_t i;
	int r;

	r = dmasplit_dev_dma_read(d, dma, w->dev, len);
	if (r)
		FAIL(w, "%s: device read of 0x%" PRIx64 "+0x%zx: expected 0, got %d",
		     what, dma, len, r);
	if (memcmp(w->dev, p, len))
		FAIL(w, "%s: the device reads other bytes than the host's at 0x%" PRIx64,
		     what, dma);
	for (i = 0; i < len; i++)
		w->dev[i] = (uint8_t)(p[i] ^ 0xa5);
	r = dmasplit_dev_dma_write(d, dma, w->dev, len);
	if (r)
		FAIL(w, "%s: device write of 0x%" PRIx64 "+0x%zx: expected 0, got %d",
		     what, dma, len, r);
	r = dmasplit_sync_for_cpu(d, dma, len, DMASPLIT_BIDIRECTIONAL);
	if (r)
		FAIL(w, "%s: sync_for_cpu: expected 0, got %d", what, r);
	if (memcmp(w->dev, p, len))
		FAIL(w, "%s: the host does not see the device's write at 0x%" PRIx64,
		     what, dma);
	r = dmasplit_sync_for_device(d, dma, len, DMASPLIT_BIDIRECTIONAL);
	if (r)
		FAIL(w, "%s: sync_for_device: expected 0, got %d", what, r);
	return true;
}

static void pick(struct worker *w, uint8_t **p, size_t *len)
{
	size_t off = rnd(w) % (BUF - 65536), l = 1 + rnd(w) % 65536;

	if (rnd(w) & 1) {
		off &= ~(size_t)(G - 1);
		l = G * (1 + rnd(w) % 8);
	}
	*p = w->buf + off;
	*len = l;
	for (size_t i = 0; i < l; i++)
		(*p)[i] = (uint8_t)rnd(w);
}

static bool one_map(struct worker *w, struct dmasplit_dev *d)
{
	uint64_t dma;
	uint8_t *p;
	size_t len;
	int r;

	pick(w, &p, &len);
	r = dmasplit_map(d, p, len, DMASPLIT_BIDIRECTIONAL, 0, &dma);
	if (r == -ENOMEM || r == -ENOSPC)
		return true;	/* a full pool is not an error */
	if (r)
		FAIL(w, "map of %zu bytes: expected 0, got %d", len, r);
	if (!prove(w, d, dma, p, len, "map"))
		return false;
	r = dmasplit_unmap(d, dma, len, DMASPLIT_BIDIRECTIONAL, 0);
	if (r)
		FAIL(w, "unmap: expected 0, got %d", r);
	return true;
}

static bool one_vec(struct worker *w, struct dmasplit_dev *d)
{
	struct iovec iov[3];
	struct dmasplit_seg segs[8];
	unsigned int nsegs = 8, i;
	uint8_t *p;
	size_t len;
	int r;

	/* Three pieces of one region, in order, apart from each other. */
	pick(w, &p, &len);
	if (len < 3 * 512)
		return true;
	for (i = 0; i < 3; i++) {
		iov[i].iov_base = p + i * (len / 3);
		iov[i].iov_len = len / 3 - (i < 2 ? 100 : 0);
	}
	r = dmasplit_map_vec(d, iov, 3, DMASPLIT_BIDIRECTIONAL, 0, segs, &nsegs);
	if (r == -ENOMEM || r == -ENOSPC)
		return true;
	if (r)
		FAIL(w, "map_vec: expected 0, got %d", r);
	/* With the segments in the buffers' order, each buffer follows the
	 * previous one within its segment. */
	{
		unsigned int s = 0;
		uint64_t at = 0;

		for (i = 0; i < 3; i++) {
			size_t done = 0;

			while (done < iov[i].iov_len) {
				size_t l = iov[i].iov_len - done;

				if (l > segs[s].len - at)
					l = segs[s].len - at;
				if (!prove(w, d, segs[s].dma + at,
					   (uint8_t *)iov[i].iov_base + done, l,
					   "map_vec"))
					return false;
				done += l;
				at += l;
				if (at == segs[s].len) {
					s++;
					at = 0;
				}
			}
		}
	}
	r = dmasplit_unmap_vec(d, segs, nsegs, DMASPLIT_BIDIRECTIONAL, 0);
	if (r)
		FAIL(w, "unmap_vec: expected 0, got %d", r);
	return true;
}

static bool one_window(struct worker *w, struct dmasplit_dev *d)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_iova *iova = NULL;
	uint64_t base, g;
	uint8_t *p;
	size_t i;
	int r;

	r = dmasplit_dev_get_info(d, &info);
	if (r)
		FAIL(w, "dev_get_info: expected 0, got %d", r);
	g = info.granule;
	p = w->buf + g * (rnd(w) % 4);
	for (i = 0; i < 4 * g; i++)
		p[i] = (uint8_t)rnd(w);
	r = dmasplit_iova_alloc(d, 8 * g, 0, &iova);
	if (r == -ENOMEM || r == -ENOSPC)
		return true;
	if (r)
		FAIL(w, "iova_alloc: expected 0, got %d", r);
	base = dmasplit_iova_addr(iova);
	r = dmasplit_iova_link(iova, g, p, 2 * g, DMASPLIT_BIDIRECTIONAL, 0);
	if (!r)
		r = dmasplit_iova_link(iova, 3 * g, p + 2 * g, 2 * g,
				       DMASPLIT_BIDIRECTIONAL, 0);
	if (!r)
		r = dmasplit_iova_sync(iova, g, 4 * g);
	if (r) {
		dmasplit_iova_destroy(iova);
		FAIL(w, "link and sync: expected 0, got %d", r);
	}
	if (!prove(w, d, base + g, p, 2 * g, "window link") ||
	    !prove(w, d, base + 3 * g, p + 2 * g, 2 * g, "window link")) {
		dmasplit_iova_destroy(iova);
		return false;
	}
	r = dmasplit_iova_unlink(iova, g, 2 * g, DMASPLIT_BIDIRECTIONAL, 0);
	if (r) {
		dmasplit_iova_destroy(iova);
		FAIL(w, "unlink: expected 0, got %d", r);
	}
	/* Unlinked: gone for the device; the other link stays. */
	r = dmasplit_dev_dma_read(d, base + g, w->dev, 1);
	if (r != -EFAULT) {
		dmasplit_iova_destroy(iova);
		FAIL(w, "device read after unlink: expected -EFAULT, got %d", r);
	}
	if (!prove(w, d, base + 3 * g, p + 2 * g, 2 * g, "remaining link")) {
		dmasplit_iova_destroy(iova);
		return false;
	}
	dmasplit_iova_destroy(iova);
	return true;
}

/* A region over a part of the thread's memory, made and freed while the
 * other threads map on the same device (their maps then look at its
 * regions); a buffer inside mapped at the region's address of it. */
static bool one_region(struct worker *w, struct dmasplit_dev *d)
{
	struct dmasplit_region *reg;
	size_t off = (rnd(w) % (BUF / G - 8)) * G, len = G * (1 + rnd(w) % 8);
	size_t in = rnd(w) % len, l = 1 + rnd(w) % (len - in);
	uint64_t dma;
	size_t i;
	int r;

	for (i = 0; i < l; i++)
		w->buf[off + in + i] = (uint8_t)rnd(w);
	r = dmasplit_region_new(d, w->buf + off, len, DMASPLIT_BIDIRECTIONAL, 0,
				&reg);
	if (r == -ENOMEM || r == -ENOSPC)
		return true;
	if (r)
		FAIL(w, "region_new of %zu bytes: expected 0, got %d", len, r);
	r = dmasplit_map(d, w->buf + off + in, l, DMASPLIT_BIDIRECTIONAL, 0,
			 &dma);
	if (r)
		FAIL(w, "map inside a region: expected 0, got %d", r);
	if (dma != dmasplit_region_addr(reg) + in)
		FAIL(w, "map inside a region: 0x%" PRIx64 ", expected 0x%" PRIx64,
		     dma, dmasplit_region_addr(reg) + in);
	if (!prove(w, d, dma, w->buf + off + in, l, "region"))
		return false;
	r = dmasplit_unmap(d, dma, l, DMASPLIT_BIDIRECTIONAL, 0);
	if (r)
		FAIL(w, "unmap inside a region: expected 0, got %d", r);
	r = dmasplit_region_free(reg);
	if (r)
		FAIL(w, "region_free: expected 0, got %d", r);
	return true;
}

/* Memory kept for reuse goes back while the others map and link: they
 * must not notice, but for the device addresses they wait for. */
static bool one_trim(struct worker *w, struct dmasplit_dev *d)
{
	int r = dmasplit_dev_trim(d);

	if (r)
		FAIL(w, "dev_trim: expected 0, got %d", r);
	return true;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	double end = now() + seconds;
	bool ok = true;

	while (ok && now() < end) {
		switch (rnd(w) % 8) {
		case 0: ok = one_map(w, shared_iommu); break;
		case 1: ok = one_map(w, shared_bounce); break;
		case 2: ok = one_map(w, w->own); break;
		case 3: ok = one_vec(w, rnd(w) & 1 ? shared_iommu : shared_bounce); break;
		case 4: ok = one_window(w, shared_iommu); break;
		case 5: ok = one_window(w, w->own); break;
		case 6: ok = one_region(w, shared_iommu); break;
		case 7: ok = one_trim(w, rnd(w) & 1 ? shared_iommu : w->own); break;
		}
		w->ops++;
	}
	return NULL;
}

static atomic_ulong log_lines;

static void count_lines(void *data, int priority, const char *file, int line,
			const char *fn, const char *format, va_list args)
{
	atomic_fetch_add(&log_lines, 1);
}

static struct dmasplit_dev *open_dev(const char *spec)
{
	struct dmasplit_dev *d = NULL;
	int r = dmasplit_dev_open(ctx, spec, &d);

	ck_assert_msg(r == 0, "open %s: expected 0, got %d", spec, r);
	return d;
}

static void setup(void)
{
	const char *env = getenv("DMASPLIT_STRESS_SECONDS");
	unsigned int i;
	char spec[64];

	seconds = env ? atof(env) : 2.0;
	ctx = tu_ctx_with(sim);
	/* The test log capture is for one thread; the expected device faults
	 * are only counted. */
	dmasplit_ctx_set_log_fn(ctx, count_lines, NULL);
	shared_iommu = open_dev("sim:shared");
	shared_bounce = open_dev("sim:bounce,iommu=off,bounce=force,pool=8M");
	for (i = 0; i < THREADS; i++) {
		snprintf(spec, sizeof(spec), "sim:own%u%s", i,
			 i % 2 ? ",untrusted=1" : ",granule=16384");
		workers[i].id = i;
		workers[i].seed = 0x9e3779b97f4a7c15ull * (i + 1);
		workers[i].own = open_dev(spec);
		workers[i].buf = aligned_alloc(65536, BUF);
		ck_assert_ptr_nonnull(workers[i].buf);
	}
}

static void teardown(void)
{
	unsigned int i;

	for (i = 0; i < THREADS; i++) {
		dmasplit_dev_close(workers[i].own);
		free(workers[i].buf);
	}
	dmasplit_dev_close(shared_iommu);
	dmasplit_dev_close(shared_bounce);
	tu_ctx_free(ctx);
}

/* A snapshot taken while threads map and unmap agrees with itself: no
 * more unmaps than maps, no more windows destroyed than allocated, the
 * live counts the differences. */
static void stats_agree(struct dmasplit_dev *d, const char *name)
{
	struct dmasplit_dev_stats st = { .size = sizeof(st) };

	ck_assert_int_eq(dmasplit_dev_get_stats(d, &st), 0);
	ck_assert_msg(st.unmaps <= st.maps &&
		      st.mappings_live == st.maps - st.unmaps &&
		      st.windows_live <= st.windows_allocated,
		      "%s: a snapshot that disagrees with itself: maps %" PRIu64 ", unmaps %" PRIu64 ", mappings_live %" PRIu64 ", windows %" PRIu64 ", windows_live %" PRIu64,
		      name, st.maps, st.unmaps, st.mappings_live,
		      st.windows_allocated, st.windows_live);
}

START_TEST(threads_mapping_on_shared_and_own_devices_see_every_mapping_from_the_device)
{
	struct dmasplit_dev_stats st = { .size = sizeof(st) };
	unsigned long total = 0, snapshots = 0;
	unsigned int i;
	double end = now() + seconds;

	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&workers[i].thread, NULL, work,
						&workers[i]), 0);
	while (now() < end) {
		stats_agree(shared_iommu, "shared device");
		stats_agree(shared_bounce, "shared bounce device");
		snapshots++;
	}
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_join(workers[i].thread, NULL), 0);
	for (i = 0; i < THREADS; i++) {
		ck_assert_msg(!workers[i].error[0], "thread %u: %s", i,
			      workers[i].error);
		total += workers[i].ops;
	}
	ck_assert_msg(total >= THREADS, "expected some operations, got %lu", total);
	/* Everything undone: no counter drifted under the contention. */
	ck_assert_int_eq(dmasplit_dev_get_stats(shared_iommu, &st), 0);
	ck_assert_msg(st.mappings_live == 0 && st.windows_live == 0,
		      "shared device: expected 0 mappings and windows live, got %" PRIu64 " and %" PRIu64,
		      st.mappings_live, st.windows_live);
	ck_assert_int_eq(dmasplit_dev_get_stats(shared_bounce, &st), 0);
	ck_assert_msg(st.mappings_live == 0,
		      "shared bounce device: expected 0 mappings live, got %" PRIu64,
		      st.mappings_live);
	printf("# %u threads, %lu operations in %.1f s, %lu lines logged, %lu snapshots of the statistics\n",
	       THREADS, total, seconds, atomic_load(&log_lines), snapshots);
}
END_TEST

/*
 * A device closed while threads destroy its windows: a window made while
 * the device was open holds no reference until the close counts it
 * (core/iova.c), so the count must neither miss a window being made or
 * destroyed nor count one twice.  Each round, the threads make and
 * destroy windows, stop making them, and destroy them while the device
 * closes; each keeps one window to the end and uses it after the close.
 * The device must be released exactly once, and only after the last.
 */
#define CLOSE_THREADS 4
#define CLOSE_WINDOWS 64

struct closer {
	struct dmasplit_dev *dev;
	char name[32];
	atomic_uint released;	/* "closed <name>" lines */
	atomic_bool stop;	/* make no more windows */
	atomic_uint stopped;	/* threads that made their last */
	atomic_bool closing;	/* destroy all but one */
	atomic_uint kept;	/* threads down to their last window */
	atomic_bool finish;	/* destroy it */
};

struct close_worker {
	pthread_t thread;
	struct closer *c;
	uint64_t seed;
	uint8_t buf[4096] __attribute__((aligned(4096)));
	char error[256];
};

TU_LOG_FN
static void count_release(void *data, int priority, const char *file,
			  int line, const char *fn, const char *format,
			  va_list args)
{
	struct closer *c = data;
	char text[128];

	vsnprintf(text, sizeof(text), format, args);
	if (!strncmp(text, "closed ", 7) && !strcmp(text + 7, c->name))
		atomic_fetch_add(&c->released, 1);
}

static bool window_works(struct close_worker *w, struct dmasplit_iova *iova)
{
	int r = dmasplit_iova_link(iova, 0, w->buf, sizeof(w->buf),
				   DMASPLIT_TO_DEVICE, 0);

	if (!r)
		r = dmasplit_iova_unlink(iova, 0, sizeof(w->buf),
					 DMASPLIT_TO_DEVICE, 0);
	if (r)
		snprintf(w->error, sizeof(w->error),
			 "link and unlink: expected 0, got %d", r);
	return !r;
}

/* A spin of up to most microseconds, not a yield: with more threads
 * than CPUs a yield can last a whole time slice. */
static void pause_a_little(uint64_t *seed, unsigned int most)
{
	double until = now() + (double)(xorshift(seed) % most) / 1e6;

	while (now() < until)
		;
}

static void *close_work(void *arg)
{
	struct close_worker *w = arg;
	struct closer *c = w->c;
	struct dmasplit_iova *live[CLOSE_WINDOWS] = { NULL };
	unsigned int i;
	int r;

	/* The last window, made first: none is made after the close. */
	r = dmasplit_iova_alloc(c->dev, 4096, 0, &live[0]);
	if (r) {
		snprintf(w->error, sizeof(w->error),
			 "iova_alloc: expected 0, got %d", r);
		live[0] = NULL;
	}
	while (!w->error[0] && !atomic_load(&c->stop)) {
		i = 1 + (unsigned int)(xorshift(&w->seed) % (CLOSE_WINDOWS - 1));
		if (live[i]) {
			dmasplit_iova_destroy(live[i]);
			live[i] = NULL;
		} else if ((r = dmasplit_iova_alloc(c->dev, 4096, 0,
						    &live[i]))) {
			snprintf(w->error, sizeof(w->error),
				 "iova_alloc: expected 0, got %d", r);
			live[i] = NULL;
		}
	}
	atomic_fetch_add(&c->stopped, 1);
	while (!atomic_load(&c->closing))
		sched_yield();
	/* While the device closes, as fast as they go: all but the last
	 * window. */
	for (i = 1; i < CLOSE_WINDOWS; i++)
		dmasplit_iova_destroy(live[i]);
	atomic_fetch_add(&c->kept, 1);
	while (!atomic_load(&c->finish))
		sched_yield();
	if (live[0] && !w->error[0])
		window_works(w, live[0]);
	dmasplit_iova_destroy(live[0]);
	return NULL;
}

/* A spin, for the close to follow the threads' last step at once. */
static void wait_for(atomic_uint *n, unsigned int value)
{
	while (atomic_load(n) < value)
		;
}

START_TEST(a_device_closed_while_threads_destroy_its_windows_goes_with_the_last)
{
	static struct close_worker closers[CLOSE_THREADS];
	const char *env = getenv("DMASPLIT_STRESS_SECONDS");
	double end = now() + (env ? atof(env) : 2.0) / 2;
	unsigned int round, i, kept_released;
	uint64_t seed = 0x2545f4914f6cdd1dull;
	struct dmasplit_ctx *cctx;
	char spec[48];

	cctx = tu_ctx_with(sim);
	for (round = 0; round < 10 || now() < end; round++) {
		struct closer c = { .stop = false };

		dmasplit_ctx_set_log_fn(cctx, count_release, &c);
		/* The checker's windows take another path to the close. */
		dmasplit_ctx_set_check(cctx, round % 4 == 3);
		snprintf(c.name, sizeof(c.name), "close%u", round);
		snprintf(spec, sizeof(spec), "sim:%s", c.name);
		ck_assert_int_eq(dmasplit_dev_open(cctx, spec, &c.dev), 0);
		for (i = 0; i < CLOSE_THREADS; i++) {
			closers[i].c = &c;
			closers[i].seed = 0x9e3779b97f4a7c15ull * (round + 1) *
					  (i + 1);
			closers[i].error[0] = 0;
			ck_assert_int_eq(pthread_create(&closers[i].thread,
							NULL, close_work,
							&closers[i]), 0);
		}
		/* A different moment in the threads' work each round. */
		pause_a_little(&seed, 100);
		atomic_store(&c.stop, true);
		wait_for(&c.stopped, CLOSE_THREADS);
		atomic_store(&c.closing, true);
		pause_a_little(&seed, 4);
		dmasplit_dev_close(c.dev);
		wait_for(&c.kept, CLOSE_THREADS);
		kept_released = atomic_load(&c.released);
		atomic_store(&c.finish, true);
		for (i = 0; i < CLOSE_THREADS; i++)
			ck_assert_int_eq(pthread_join(closers[i].thread, NULL),
					 0);
		for (i = 0; i < CLOSE_THREADS; i++)
			ck_assert_msg(!closers[i].error[0],
				      "round %u, thread %u: %s", round, i,
				      closers[i].error);
		ck_assert_msg(kept_released == 0,
			      "round %u: the device was released while every thread still held a window",
			      round);
		ck_assert_msg(atomic_load(&c.released) == 1,
			      "round %u: expected the device released once, after the last window, released %u times",
			      round, atomic_load(&c.released));
	}
	tu_ctx_free(cctx);
	printf("# %u rounds of a device closed under %u threads' windows\n",
	       round, CLOSE_THREADS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");
	TCase *close = tcase_create("close");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, threads_mapping_on_shared_and_own_devices_see_every_mapping_from_the_device);
	suite_add_tcase(s, tc);
	tcase_set_timeout(close, 120);
	tcase_add_test(close, a_device_closed_while_threads_destroy_its_windows_goes_with_the_last);
	suite_add_tcase(s, close);
	return tu_main(s);
}
