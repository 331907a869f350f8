// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit bench, figure 5: the memory a linked page costs.
 *
 * Measured: the memory one window of every page of the region (1048576,
 * 65536 with --quick) adds once all its pages are linked one by one and
 * synced, divided by the pages; what unlink and destroy leave behind is
 * shown beside it.
 * Baseline: the memory in use before the window is reserved: the larger
 * of two views of it, the heap (mallinfo2) and resident anonymous memory
 * (RssAnon), so that neither metadata from malloc nor a table a backend
 * maps for itself goes unseen.
 * Target: at most 16 bytes per page.  Window bookkeeping is meant to be
 * O(1) per linked page and small, with no per-page heap
 * node: a leaf entry and little more per page fits, a node of
 * malloc's per page does not.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>

#include "bench.h"

struct metadata_data {
	unsigned long pages;
	long long bytes, left;
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
 * metadata from malloc nor metadata from mmap goes unseen. */
static long long mem_added(struct mem_mark m)
{
	struct mem_mark now = mem_mark();
	long long heap = now.heap - m.heap;
	long long anon = m.anon >= 0 && now.anon >= 0 ? now.anon - m.anon : 0;

	return heap > anon ? heap : anon;
}

/* On a device of its own, so that tables a page table keeps after the
 * other measurements unlinked their pages are not counted as free. */
static void measure_metadata(struct bench *b, void *data)
{
	unsigned long n = b->max_pages, i;
	size_t len = (size_t)n * b->page;
	struct metadata_data *d = data;
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_dev *dev;
	struct mem_mark m0;
	long long added;
	int r;

	if (!HAVE_MALLINFO2) {
		failed(b, "mallinfo2() is not available", -ENOSYS);
		return;
	}
	if (!need_windows(b))
		return;
	r = dmasplit_dev_open(b->ctx, b->spec, &dev);
	if (r < 0) {
		failed(b, "opening a second device", r);
		return;
	}
	progress(b, "%lu pages", n);
	/* From before the window: a backend may well allocate its per-page
	 * state when the window is made rather than at each link. */
	m0 = mem_mark();
	r = dmasplit_iova_alloc(dev, len, 0, &iova);
	if (r < 0) {
		failed(b, "dmasplit_iova_alloc", r);
		goto out;
	}
	for (i = 0; i < n && r >= 0; i++)
		r = dmasplit_iova_link(iova, (size_t)i * b->page, page_at(b, i),
				       b->page, DMASPLIT_BIDIRECTIONAL, 0);
	if (r >= 0)
		r = dmasplit_iova_sync(iova, 0, len);
	added = mem_added(m0);
	if (r < 0) {
		failed(b, "dmasplit_iova_link/sync", r);
		goto out;
	}
	r = dmasplit_iova_unlink(iova, 0, len, DMASPLIT_BIDIRECTIONAL, 0);
	if (r < 0) {
		failed(b, "dmasplit_iova_unlink", r);
		goto out;
	}
	dmasplit_iova_destroy(iova);
	iova = NULL;
	d->pages = n;
	d->bytes = added;
	/* What the window's teardown did not give back (freed at close). */
	d->left = mem_added(m0);
	if (d->bytes <= 0) {
		/* A page table is never free: this malloc is not the one
		 * mallinfo2() describes (a sanitizer's, valgrind's). */
		static const struct paired none;

		not_judged(b, 0, &none, "malloc does not report to mallinfo2");
	} else {
		judge_value(b, 0, (double)d->bytes / n, "%lu pages", n);
	}
out:
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(dev);
}

static void text_metadata(const struct bench *b, const void *data)
{
	const struct metadata_data *d = data;

	text_head(b, "memory in use (the larger of mallinfo2 heap and RssAnon) before a\n"
		  "   window is reserved and after every page of it is linked and synced");
	if (b->res[b->cur].done) {
		printf("   %lu pages linked: %lld bytes, %.2f bytes/page\n",
		       d->pages, d->bytes, (double)d->bytes / d->pages);
		printf("   still held after unlink and destroy: %lld bytes\n",
		       d->left);
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
}

const struct figure fig_metadata = {
	.key = "metadata_per_page",
	.title = "memory metadata per linked page",
	.ratio_of = "memory added by one window and its links (the larger of heap bytes from mallinfo2 and resident anonymous memory, RssAnon) / pages",
	.goals = { { "metadata per linked page", "B", true, 16.0 } },
	.ngoals = 1,
	.sim_only = true,
	.size = sizeof(struct metadata_data),
	.measure = measure_metadata,
	.text = text_metadata,
	.json = json_metadata,
};
