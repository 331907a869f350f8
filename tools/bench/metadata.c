// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 6: the memory windows cost.
 *
 * Measured: the memory many one-page windows (100000, 10000 with
 * --quick) add once each is linked and synced, per window; beside it,
 * the memory one window of every page of the region (1048576, 65536)
 * adds, per page.  Then what is still held once every window is
 * unlinked and destroyed.
 * Baseline: the memory in use before the windows are reserved, on a
 * device that has served one window (first_use()): the larger of two
 * views of it, the heap (mallinfo2) and resident anonymous
 * memory (RssAnon), so that neither metadata from malloc nor what a
 * library or backend maps for itself (slabs, page tables) goes unseen.
 * Targets: a one-page window at most 64 bytes, its window object and its
 * page-table entry with no malloc header between them; and the memory
 * held after every window is destroyed and the device trimmed
 * (dmasplit_dev_trim) back to the level before.  What a device keeps for
 * reuse before the trim is shown beside it: like malloc_trim(), which
 * this figure calls before each reading too, the trim is the caller's
 * word that the memory will not be needed again soon.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

struct metadata_data {
	unsigned long pages;
	long long bytes, left, left_trimmed;
	unsigned long windows;		/* one-page windows */
	long long win_bytes, win_left, win_left_trimmed;
};

/* mallinfo2() is glibc's since 2.33; the older mallinfo() wraps at
 * 2 GiB, which a million linked pages can pass. */
#if defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define HAVE_MALLINFO2 1
static long long heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long long)(mi.uordblks + mi.hblkhd);
}
#else
#define HAVE_MALLINFO2 0
static long long heap_bytes(void)
{
	return 0;
}
#endif

/* Resident anonymous memory (RssAnon of /proc/self/status), bytes, or
 * -1: it also counts what a backend maps for itself (page tables from
 * mmap), which the heap figure does not see. */
static long long anon_bytes(void)
{
	char line[128];
	long long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

struct mem_mark {
	long long heap, anon;
};

static struct mem_mark mem_mark(void)
{
	return (struct mem_mark){ heap_bytes(), anon_bytes() };
}

/* Memory added since m: the larger of the two views, so that neither
 * metadata from malloc nor metadata from mmap goes unseen.  Free heap
 * malloc keeps is handed back first, so that RssAnon counts what is
 * held, not what malloc caches. */
static struct mem_mark mem_delta(struct mem_mark m)
{
	struct mem_mark now;

	malloc_trim(0);
	now = mem_mark();
	return (struct mem_mark){
		now.heap - m.heap,
		m.anon >= 0 && now.anon >= 0 ? now.anon - m.anon : 0,
	};
}

static long long larger(struct mem_mark d)
{
	return d.heap > d.anon ? d.heap : d.anon;
}

static long long mem_added(struct mem_mark m)
{
	return larger(mem_delta(m));
}

static int trim(struct bench *b, struct dmasplit_dev *dev)
{
	int r = dmasplit_dev_trim(dev);

	return r < 0 ? failed(b, "dmasplit_dev_trim", r) : 0;
}

/*
 * One one-page window made, linked, synced and taken down, and the
 * device trimmed: what a device makes on its first use and keeps until
 * close (the calling thread's counters, the top of its page table) is
 * then part of the level before, not of the windows measured after.
 */
static int first_use(struct bench *b, struct dmasplit_dev *dev)
{
	int r = one_page_window(dev, b->page, page_at(b, 0));

	if (r < 0)
		return failed(b, "a window of one page", r);
	return trim(b, dev);
}

/*
 * A part of the figure, run in a thread of its own: it marks the level
 * before, makes and takes down its windows and trims the device; the
 * memory left is read once the thread has ended.  glibc keeps up to
 * seven freed chunks of each small size per thread (tcache) and
 * mallinfo2 counts them in use; a thread's go back to malloc when it
 * ends, so the reading sees what the library holds, not what malloc
 * caches (as malloc_trim() before each reading does for the heap's
 * top).
 */
struct part {
	struct bench *b;
	struct dmasplit_dev *dev;
	struct metadata_data *d;
	struct dmasplit_iova **w;	/* small_windows()'s list */
	struct mem_mark m0;
	int r;
};

/* The thread's first malloc makes its arena and tcache, which mallinfo2
 * counts: made here, before the mark, they are part of the level
 * before. */
static void thread_heap_made(void)
{
	void *volatile q = malloc(64);

	free(q);
}

/* The memory added since p->m0 once fn's thread has ended, in both
 * views. */
static int run_part(struct part *p, void *(*fn)(void *),
		    struct mem_mark *left)
{
	pthread_t t;
	int e;

	p->r = 0;
	e = pthread_create(&t, NULL, fn, p);
	if (e)
		return failed(p->b, "starting a thread", -e);
	pthread_join(t, NULL);
	if (p->r < 0)
		return p->r;
	*left = mem_delta(p->m0);
	return 0;
}

/* A part that makes its thread's heap and nothing more: what its end
 * gives back (the thread's tcache) is not the library's, and is taken
 * out of what the other parts leave, so that it hides none of it. */
static void *empty_part(void *arg)
{
	struct part *p = arg;

	thread_heap_made();
	malloc_trim(0);
	p->m0 = mem_mark();
	return NULL;
}

/* What a part left, less what every part's thread gives back at its
 * end. */
static long long part_left(struct mem_mark left, struct mem_mark bias)
{
	left.heap -= bias.heap;
	left.anon -= bias.anon;
	return larger(left);
}

/*
 * Many one-page windows, each linked and synced: the memory each adds,
 * and what is left once every one is unlinked and destroyed.
 */
static void *small_windows(void *arg)
{
	struct part *p = arg;
	struct bench *b = p->b;
	struct metadata_data *d = p->d;
	unsigned long n = d->windows, i;
	int r;

	thread_heap_made();
	r = first_use(b, p->dev);
	if (r < 0)
		goto out;
	malloc_trim(0);
	p->m0 = mem_mark();
	for (i = 0; i < n && r >= 0; i++) {
		r = dmasplit_iova_alloc(p->dev, b->page, 0, &p->w[i]);
		if (r < 0) {
			failed(b, "dmasplit_iova_alloc", r);
			break;
		}
		r = dmasplit_iova_link(p->w[i], 0, page_at(b, i), b->page,
				       DMASPLIT_BIDIRECTIONAL, 0);
		if (r >= 0)
			r = dmasplit_iova_sync(p->w[i], 0, b->page);
		if (r < 0)
			failed(b, "dmasplit_iova_link/sync", r);
	}
	d->win_bytes = mem_added(p->m0);
	while (i--) {
		if (r >= 0)
			r = dmasplit_iova_unlink(p->w[i], 0, b->page,
						 DMASPLIT_BIDIRECTIONAL, 0);
		if (r < 0 && !b->res[b->cur].err)
			failed(b, "dmasplit_iova_unlink", r);
		dmasplit_iova_destroy(p->w[i]);
	}
	d->win_left = mem_added(p->m0);
	if (r >= 0)
		r = trim(b, p->dev);
out:
	p->r = r < 0 ? r : 0;
	return NULL;
}

/* One window of every page of the region, linked and synced. */
static void *large_window(void *arg)
{
	struct part *p = arg;
	struct bench *b = p->b;
	struct metadata_data *d = p->d;
	unsigned long n = d->pages, i;
	size_t len = (size_t)n * b->page;
	struct dmasplit_iova *iova;
	int r;

	/* From before the window: a backend may well allocate its per-page
	 * state when the window is made rather than at each link. */
	thread_heap_made();
	r = first_use(b, p->dev);
	if (r < 0)
		goto out;
	malloc_trim(0);
	p->m0 = mem_mark();
	r = dmasplit_iova_alloc(p->dev, len, 0, &iova);
	if (r < 0) {
		failed(b, "dmasplit_iova_alloc", r);
		goto out;
	}
	for (i = 0; i < n && r >= 0; i++)
		r = dmasplit_iova_link(iova, (size_t)i * b->page, page_at(b, i),
				       b->page, DMASPLIT_BIDIRECTIONAL, 0);
	if (r >= 0)
		r = dmasplit_iova_sync(iova, 0, len);
	d->bytes = mem_added(p->m0);
	if (r < 0)
		failed(b, "dmasplit_iova_link/sync", r);
	else if ((r = dmasplit_iova_unlink(iova, 0, len,
					   DMASPLIT_BIDIRECTIONAL, 0)) < 0)
		failed(b, "dmasplit_iova_unlink", r);
	dmasplit_iova_destroy(iova);
	if (r < 0)
		goto out;
	/* What the window's teardown did not give back, kept for reuse;
	 * then, read after the thread, what the trim does not. */
	d->left = mem_added(p->m0);
	r = trim(b, p->dev);
out:
	p->r = r < 0 ? r : 0;
	return NULL;
}

/* On a device of its own, so that tables a page table keeps after the
 * other measurements unlinked their pages are not counted as free. */
static void measure_metadata(struct bench *b, void *data)
{
	struct metadata_data *d = data;
	struct part p = { .b = b, .d = d };
	struct mem_mark bias, left;
	struct dmasplit_dev *large, *small = NULL;
	unsigned long i;
	int r;

	if (!HAVE_MALLINFO2) {
		failed(b, "mallinfo2() is not available", -ENOSYS);
		return;
	}
	if (!need_windows(b))
		return;
	r = dmasplit_dev_open(b->ctx, b->spec, &large);
	if (r < 0) {
		failed(b, "opening a second device", r);
		return;
	}
	p.dev = large;
	d->pages = b->max_pages;
	progress(b, "%lu pages", d->pages);
	if (run_part(&p, empty_part, &bias) < 0 ||
	    run_part(&p, large_window, &left) < 0)
		goto out;
	d->left_trimmed = part_left(left, bias);
	if (d->bytes <= 0) {
		/* A page table is never free: this malloc is not the one
		 * mallinfo2() describes (a sanitizer's, valgrind's). */
		static const struct paired none;

		not_judged(b, 0, &none, "malloc does not report to mallinfo2");
		not_judged(b, 1, &none, "malloc does not report to mallinfo2");
		goto out;
	}
	/* On a device of its own too: the tables the large window gave
	 * back, which its page table keeps for the next ones, would
	 * otherwise serve the small windows' tables without a byte
	 * counted. */
	r = dmasplit_dev_open(b->ctx, b->spec, &small);
	if (r < 0) {
		failed(b, "opening a third device", r);
		goto out;
	}
	d->windows = b->quick ? 10000 : 100000;
	p.dev = small;
	p.w = calloc(d->windows, sizeof(*p.w));
	if (!p.w) {
		failed(b, "allocating the window list", -ENOMEM);
		goto out;
	}
	progress(b, "%lu one-page windows", d->windows);
	/* The list is allocated before the mark, and made resident there:
	 * calloc() maps a list this large untouched, so its pages would
	 * otherwise count as the windows' (8 bytes each).  It is freed
	 * after the last reading. */
	for (i = 0; i < d->windows; i++)
		((struct dmasplit_iova *volatile *)p.w)[i] = NULL;
	r = run_part(&p, small_windows, &left);
	free(p.w);
	if (r < 0)
		goto out;
	d->win_left_trimmed = part_left(left, bias);
	judge_value(b, 0, (double)d->win_bytes / d->windows,
		    "%lu one-page windows; %.1f B/page in one of %lu pages",
		    d->windows, (double)d->bytes / d->pages, d->pages);
	judge_value(b, 1, (double)(d->left_trimmed > d->win_left_trimmed
				   ? d->left_trimmed : d->win_left_trimmed),
		    "the more of the large window (%lld B) and the small ones (%lld B); before the trim %lld B and %lld B",
		    d->left_trimmed, d->win_left_trimmed, d->left,
		    d->win_left);
out:
	dmasplit_dev_close(small);
	dmasplit_dev_close(large);
}

static void text_metadata(const struct bench *b, const void *data)
{
	const struct metadata_data *d = data;

	text_head(b, "memory in use (the larger of mallinfo2 heap and RssAnon) before a\n"
		  "   window is reserved and after every page of it is linked and synced");
	if (b->res[b->cur].done) {
		printf("   one window of %lu pages, linked: %lld bytes, %.2f bytes/page\n",
		       d->pages, d->bytes, (double)d->bytes / d->pages);
		printf("   still held after its unlink and destroy: %lld bytes, after dmasplit_dev_trim: %lld\n",
		       d->left, d->left_trimmed);
		printf("   %lu one-page windows, linked: %lld bytes, %.2f bytes/window\n",
		       d->windows, d->win_bytes,
		       (double)d->win_bytes / d->windows);
		printf("   still held after every unlink and destroy: %lld bytes, after dmasplit_dev_trim: %lld\n",
		       d->win_left, d->win_left_trimmed);
	}
	text_target(b);
}

static void json_metadata(struct json *j, const struct bench *b,
			  const void *data)
{
	const struct metadata_data *d = data;

	json_u64(j, "pages", d->pages);
	json_int(j, "bytes", d->bytes);
	json_int(j, "bytes_left_after_destroy", d->left);
	json_int(j, "bytes_left_after_trim", d->left_trimmed);
	json_u64(j, "one_page_windows", d->windows);
	json_int(j, "one_page_windows_bytes", d->win_bytes);
	json_int(j, "one_page_windows_bytes_left_after_destroy", d->win_left);
	json_int(j, "one_page_windows_bytes_left_after_trim",
		 d->win_left_trimmed);
}

const struct figure fig_metadata = {
	.key = "metadata_per_page",
	.title = "memory metadata of windows and after destroy",
	.ratio_of = "memory added by one window and its links (the larger of heap bytes from mallinfo2 and resident anonymous memory, RssAnon) / pages",
	.goals = {
		{ "metadata of a one-page window", "B", true, 64.0 },
		{ "memory held once all is destroyed and trimmed", "B",
		  true, 0.0 },
	},
	.ngoals = 2,
	.sim_only = true,
	.size = sizeof(struct metadata_data),
	.measure = measure_metadata,
	.text = text_metadata,
	.json = json_metadata,
};
