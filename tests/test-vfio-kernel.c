// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vfio backend's windows and range reports against a fake kernel: a
 * page table that refuses what type1 v2 refuses (a map over a mapping,
 * an unmap that cuts one), counts calls, fails the call asked for and
 * records every unmap of a page the test still has linked.  The test
 * links the backend's sources (not its plugin entry) and defines ioctl.
 * The kernel itself is exercised in the VM tests (tests/vm/).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"
#include "uapi.h"
#include "vfio.h"

#define PG 4096u
#define FK_BASE 0x100000u
#define FK_PAGES 64u
#define FAKE_FD 1000

static struct {
	unsigned int id[FK_PAGES];	/* the mapping over each page; 0: none */
	unsigned int next_id;
	unsigned int calls;		/* map and unmap calls */
	unsigned int fail_at;		/* the call that fails; 0: none */
	int free_error;			/* what iovad_free answers */
	bool linked[FK_PAGES];		/* what the test holds linked */
	unsigned int linked_unmapped;	/* unmaps of such pages: never */
	char log[4096];
} fk;

static struct dmasplit_bdev *fb;
static struct vspace *fs;	/* fb's address space */
static uint8_t *mem;

static unsigned int page_of(uint64_t iova)
{
	return (unsigned int)((iova - FK_BASE) / PG);
}

static bool fk_fail(void)
{
	return ++fk.calls == fk.fail_at;
}

static int fk_map(struct dmasplit_bdev *b, uint64_t iova, uintptr_t va,
		  uint64_t len, unsigned int prot)
{
	unsigned int p, first = page_of(iova), n = (unsigned int)(len / PG);

	if (fk_fail())
		return -EIO;
	ck_assert_msg(iova >= FK_BASE && first + n <= FK_PAGES,
		      "map of 0x%" PRIx64 "+0x%" PRIx64 " outside the fake space",
		      iova, len);
	for (p = first; p < first + n; p++)
		if (fk.id[p])
			return -EEXIST;
	fk.next_id++;
	for (p = first; p < first + n; p++)
		fk.id[p] = fk.next_id;
	return 0;
}

static int fk_unmap(struct dmasplit_bdev *b, uint64_t iova, uint64_t len)
{
	unsigned int p, first = page_of(iova), end = page_of(iova + len);
	bool any = false;

	if (fk_fail())
		return -EIO;
	if (end > FK_PAGES)
		end = FK_PAGES;
	/* type1 v2 and iommufd unmap whole mappings only. */
	if ((first > 0 && fk.id[first] && fk.id[first] == fk.id[first - 1]) ||
	    (end < FK_PAGES && fk.id[end] && fk.id[end] == fk.id[end - 1]))
		return -EINVAL;
	for (p = first; p < end; p++) {
		if (!fk.id[p])
			continue;
		any = true;
		fk.id[p] = 0;
		if (fk.linked[p])
			fk.linked_unmapped++;
	}
	return any ? 0 : -ENOENT;
}

static void fk_close(struct vspace *sp)
{
}

static const struct kiface fake_iface = {
	.name = "fake",
	.map = fk_map,
	.unmap = fk_unmap,
	.close = fk_close,
};

static void fk_log(const struct dmasplit_host *host, int priority,
		   const char *file, int line, const char *fn,
		   const char *format, ...)
{
	size_t used = strlen(fk.log);
	va_list ap;

	va_start(ap, format);
	vsnprintf(fk.log + used, sizeof(fk.log) - used, format, ap);
	va_end(ap);
	used = strlen(fk.log);
	if (used + 1 < sizeof(fk.log))
		strcat(fk.log, "\n");
}

static int fk_iovad_alloc(struct dmasplit_iovad *iovad, uint64_t size,
			  uint64_t limit, uint64_t *addr)
{
	*addr = FK_BASE;
	return 0;
}

static int fk_iovad_free(struct dmasplit_iovad *iovad, uint64_t addr,
			 uint64_t size)
{
	return fk.free_error;
}

/* No peer memory is registered. */
static int fk_peer_find(const struct dmasplit_host *host, const void *addr,
			size_t len, struct dmasplit_peer *peer)
{
	(void)host;
	(void)addr;
	(void)len;
	(void)peer;
	return -ENOENT;
}

static const struct dmasplit_host fake_host = {
	.size = sizeof(fake_host),
	.log = fk_log,
	.iovad_alloc = fk_iovad_alloc,
	.iovad_free = fk_iovad_free,
	.peer_find = fk_peer_find,
};

static void fake_setup(void)
{
	memset(&fk, 0, sizeof(fk));
	fb = calloc(1, sizeof(*fb));
	fs = calloc(1, sizeof(*fs));
	ck_assert_ptr_nonnull(fb);
	ck_assert_ptr_nonnull(fs);
	fb->host = fs->host = &fake_host;
	fb->sp = fs;
	fs->k = &fake_iface;
	fs->granule = PG;
	fb->limit = fs->limit = UINT64_MAX;
	fs->iommufd = FAKE_FD;
	snprintf(fb->name, sizeof(fb->name), "0000:00:04.0");
	pthread_mutex_init(&fs->lock, NULL);
	mem = aligned_alloc(PG, 8 * PG);
	ck_assert_ptr_nonnull(mem);
}

static void fake_teardown(void)
{
	pthread_mutex_destroy(&fs->lock);
	free(fs->ranges);
	free(fs);
	free(fb);
	free(mem);
}

static struct dmasplit_bwin *window(void)
{
	struct dmasplit_bwin *w;
	uint64_t addr;

	ck_assert_int_eq(win_alloc(fb, 8 * PG, 0, &w, &addr), 0);
	ck_assert_uint_eq(addr, FK_BASE);
	return w;
}

/* Pages first..first+n-1 of mem linked at the same window pages, one
 * link each, synced; the test holds them linked. */
static void link_pages(struct dmasplit_bwin *w, unsigned int first,
		       unsigned int n)
{
	unsigned int i;

	for (i = first; i < first + n; i++) {
		ck_assert_int_eq(win_link(w, i * PG, mem + i * PG, PG,
					  DMASPLIT_BIDIRECTIONAL, 0), 0);
		fk.linked[i] = true;
	}
	ck_assert_int_eq(win_sync(w, 0, 8 * PG), 0);
}

/* Unlink pages first..first+n-1 (which the test then no longer holds):
 * the result and the kernel calls it cost. */
static int unlink_pages(struct dmasplit_bwin *w, unsigned int first,
			unsigned int n, unsigned int *calls)
{
	unsigned int before = fk.calls, i;
	int r;

	for (i = first; i < first + n; i++)
		fk.linked[i] = false;
	r = win_unlink(w, first * PG, n * PG, DMASPLIT_BIDIRECTIONAL, 0);
	if (r < 0)
		for (i = first; i < first + n; i++)
			fk.linked[i] = true;
	*calls = fk.calls - before;
	return r;
}

static bool mapped(unsigned int page)
{
	return fk.id[page] != 0;
}

START_TEST(strict_sync_maps_each_link_alone)
{
	struct dmasplit_bwin *w = window();

	link_pages(w, 0, 3);
	ck_assert_msg(fk.calls == 3 && fs->kernel_calls == 3,
		      "expected 3 map calls for 3 links, got %u", fk.calls);
	ck_assert_msg(fk.id[0] != fk.id[1] && fk.id[1] != fk.id[2],
		      "expected one kernel mapping per link");
	win_destroy(w);
	ck_assert_uint_eq(fs->kernel_maps, 0);
}
END_TEST

START_TEST(strict_partial_unlink_never_unmaps_a_linked_page)
{
	struct dmasplit_bwin *w = window();
	unsigned int calls;
	int r;

	link_pages(w, 0, 3);
	r = unlink_pages(w, 1, 1, &calls);
	ck_assert_msg(r == 0 && calls == 1,
		      "unlink of the middle link: expected 0 and 1 unmap call, got %d and %u",
		      r, calls);
	ck_assert_msg(mapped(0) && !mapped(1) && mapped(2),
		      "expected A and C mapped, B not: %d %d %d", mapped(0),
		      mapped(1), mapped(2));
	ck_assert_msg(fk.linked_unmapped == 0,
		      "%u linked pages were unmapped", fk.linked_unmapped);
	ck_assert_uint_eq(fs->bytes_mapped, 2 * PG);
	/* Both sides, around the hole: still one call. */
	r = unlink_pages(w, 0, 3, &calls);
	ck_assert_msg(r == 0 && calls == 1 && !mapped(0) && !mapped(2),
		      "unlink of A..C: expected 0, 1 call, nothing mapped; got %d, %u",
		      r, calls);
	ck_assert_uint_eq(fs->kernel_maps, 0);
	calls = fk.calls;
	win_destroy(w);
	ck_assert_msg(fk.calls == calls, "destroy of an empty window made %u calls",
		      fk.calls - calls);
}
END_TEST

START_TEST(strict_unlink_of_part_of_a_link_is_refused)
{
	struct dmasplit_bwin *w = window();
	unsigned int calls;
	int r;

	ck_assert_int_eq(win_link(w, 0, mem, 3 * PG, DMASPLIT_TO_DEVICE, 0), 0);
	fk.linked[0] = fk.linked[1] = fk.linked[2] = true;
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), 0);
	ck_assert_uint_eq(fk.calls, 1);
	r = unlink_pages(w, 1, 1, &calls);
	ck_assert_msg(r == -EINVAL && calls == 0,
		      "expected -EINVAL and no call, got %d and %u", r, calls);
	ck_assert_msg(strstr(fk.log, "unlinked whole") && mapped(1),
		      "expected a log line and the page still mapped; log:\n%s",
		      fk.log);
	r = unlink_pages(w, 0, 3, &calls);
	ck_assert_msg(r == 0 && calls == 1 && fk.linked_unmapped == 0,
		      "whole unlink: expected 0 and 1 call, got %d and %u", r,
		      calls);
	win_destroy(w);
}
END_TEST

START_TEST(strict_unlink_of_part_of_an_unsynced_link_trims_it)
{
	struct dmasplit_bwin *w = window();

	ck_assert_int_eq(win_link(w, 0, mem, 3 * PG, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(win_unlink(w, PG, PG, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(fk.calls, 0);
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), 0);
	ck_assert_msg(fk.calls == 2 && mapped(0) && !mapped(1) && mapped(2),
		      "expected the two outer pages mapped in 2 calls, got %u calls",
		      fk.calls);
	win_destroy(w);
}
END_TEST

START_TEST(lazy_partial_unlink_keeps_the_area_and_accounts_it)
{
	struct dmasplit_bwin *w;
	unsigned int calls;
	int r;

	fb->lazy = true;
	w = window();
	link_pages(w, 0, 3);
	ck_assert_msg(fk.calls == 1, "expected one map call for 3 contiguous links, got %u",
		      fk.calls);
	ck_assert_uint_eq(fs->lazy_bytes, 3 * PG);
	r = unlink_pages(w, 1, 1, &calls);
	ck_assert_msg(r == 0 && calls == 0 && mapped(1),
		      "unlink of B: expected 0, no call, B still mapped; got %d, %u",
		      r, calls);
	ck_assert_msg(fs->stale_bytes == PG && fs->bytes_mapped == 3 * PG,
		      "expected 4096 stale of 12288 mapped, got %" PRIu64 " of %" PRIu64,
		      fs->stale_bytes, fs->bytes_mapped);
	/* The unlinked page cannot be linked again while it is mapped. */
	ck_assert_int_eq(win_link(w, PG, mem + 5 * PG, PG, DMASPLIT_TO_DEVICE,
				  DMASPLIT_ATTR_NO_WARN), -EBUSY);
	/* Unlinking it again is refused: nothing is linked there. */
	ck_assert_int_eq(win_unlink(w, PG, PG, DMASPLIT_BIDIRECTIONAL,
				    DMASPLIT_ATTR_NO_WARN), -ENOENT);
	ck_assert_uint_eq(fs->stale_bytes, PG);
	r = unlink_pages(w, 0, 1, &calls);
	ck_assert_msg(r == 0 && calls == 0 && fs->stale_bytes == 2 * PG,
		      "unlink of A: expected 0, no call, 8192 stale; got %d, %u, %" PRIu64,
		      r, calls, fs->stale_bytes);
	r = unlink_pages(w, 2, 1, &calls);
	ck_assert_msg(r == 0 && calls == 1 && !mapped(0) && !mapped(1) &&
		      !mapped(2),
		      "unlink of the last link: expected the area unmapped in 1 call, got %d, %u",
		      r, calls);
	ck_assert_msg(fs->stale_bytes == 0 && fs->lazy_bytes == 0 &&
		      fs->bytes_mapped == 0, "accounting left: %" PRIu64 " %" PRIu64 " %" PRIu64,
		      fs->stale_bytes, fs->lazy_bytes, fs->bytes_mapped);
	ck_assert_uint_eq(fk.linked_unmapped, 0);
	win_destroy(w);
}
END_TEST

START_TEST(lazy_unlink_of_part_of_a_link_keeps_it_mapped)
{
	struct dmasplit_bwin *w;
	unsigned int calls;

	fb->lazy = true;
	w = window();
	ck_assert_int_eq(win_link(w, 0, mem, 3 * PG, DMASPLIT_TO_DEVICE, 0), 0);
	fk.linked[0] = fk.linked[1] = fk.linked[2] = true;
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), 0);
	ck_assert_int_eq(unlink_pages(w, 1, 1, &calls), 0);
	ck_assert_msg(calls == 0 && mapped(1) && fs->stale_bytes == PG,
		      "middle page: expected no call and 4096 kept, got %u, %" PRIu64,
		      calls, fs->stale_bytes);
	ck_assert_int_eq(unlink_pages(w, 0, 1, &calls), 0);
	ck_assert_uint_eq(calls, 0);
	ck_assert_int_eq(unlink_pages(w, 2, 1, &calls), 0);
	ck_assert_msg(calls == 1 && !mapped(0) && !mapped(2) &&
		      fs->stale_bytes == 0 && fk.linked_unmapped == 0,
		      "last page: expected the mapping gone in 1 call, got %u",
		      calls);
	win_destroy(w);
}
END_TEST

START_TEST(lazy_destroy_releases_what_unlink_kept)
{
	struct dmasplit_bwin *w;
	unsigned int calls;

	fb->lazy = true;
	w = window();
	link_pages(w, 0, 3);
	ck_assert_int_eq(unlink_pages(w, 1, 1, &calls), 0);
	calls = fk.calls;
	win_destroy(w);
	ck_assert_msg(fk.calls == calls + 1 && !mapped(0) && !mapped(1) &&
		      !mapped(2), "destroy: expected 1 call and nothing mapped");
	ck_assert_msg(fs->stale_bytes == 0 && fs->lazy_bytes == 0 &&
		      fs->bytes_mapped == 0 && fs->kernel_maps == 0,
		      "accounting left after destroy");
}
END_TEST

START_TEST(lazy_mode_maps_link_by_link_past_its_limit)
{
	struct dmasplit_bwin *w;
	unsigned int calls;

	fb->lazy = true;
	fs->lazy_bytes = LAZY_LIMIT;	/* as if other windows held it all */
	w = window();
	link_pages(w, 0, 3);
	ck_assert_msg(fk.calls == 3, "over the limit: expected 3 map calls, got %u",
		      fk.calls);
	ck_assert_uint_eq(fs->lazy_bytes, LAZY_LIMIT);
	ck_assert_int_eq(unlink_pages(w, 1, 1, &calls), 0);
	ck_assert_msg(calls == 1 && !mapped(1) && fs->stale_bytes == 0,
		      "strict fallback: expected B unmapped in 1 call, nothing kept");
	ck_assert_uint_eq(fk.linked_unmapped, 0);
	win_destroy(w);
}
END_TEST

START_TEST(failed_unmap_changes_nothing)
{
	struct dmasplit_bwin *w;
	unsigned int calls;
	bool lazy;

	for (lazy = false; ; lazy = true) {
		memset(fk.id, 0, sizeof(fk.id));
		fb->lazy = lazy;
		w = window();
		link_pages(w, 0, 3);
		if (lazy)	/* leave only C linked in the area */
			ck_assert_int_eq(unlink_pages(w, 0, 2, &calls), 0);
		fk.fail_at = fk.calls + 1;
		ck_assert_msg(unlink_pages(w, 2, 1, &calls) == -EIO,
			      "lazy=%d: expected the kernel's -EIO", lazy);
		ck_assert_msg(mapped(2) && fs->kernel_maps == (lazy ? 1 : 3),
			      "lazy=%d: a failed unlink changed the mappings", lazy);
		ck_assert_uint_eq(fs->stale_bytes, lazy ? 2 * PG : 0);
		fk.fail_at = 0;
		ck_assert_msg(unlink_pages(w, 2, 1, &calls) == 0 && calls == 1 &&
			      !mapped(2),
			      "lazy=%d: the same unlink again: expected it to work in 1 call",
			      lazy);
		ck_assert_uint_eq(fk.linked_unmapped, 0);
		memset(fk.linked, 0, sizeof(fk.linked));	/* destroy unlinks */
		win_destroy(w);
		ck_assert_uint_eq(fs->bytes_mapped, 0);
		ck_assert_uint_eq(fs->stale_bytes, 0);
		if (lazy)
			break;
	}
}
END_TEST

START_TEST(failed_map_at_sync_leaves_the_rest_for_another_sync)
{
	struct dmasplit_bwin *w = window();
	unsigned int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(win_link(w, i * PG, mem + i * PG, PG,
					  DMASPLIT_FROM_DEVICE, 0), 0);
	fk.fail_at = 2;
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), -EIO);
	ck_assert_msg(mapped(0) && !mapped(1) && !mapped(2),
		      "expected only the first link mapped");
	fk.fail_at = 0;
	ck_assert_int_eq(win_sync(w, 0, 3 * PG), 0);
	ck_assert_msg(mapped(1) && mapped(2) && fk.calls == 4,
		      "expected the two others mapped by the second sync (4 calls), got %u",
		      fk.calls);
	win_destroy(w);
	ck_assert_uint_eq(fs->kernel_maps, 0);
}
END_TEST

START_TEST(unlink_of_nothing_linked_is_refused)
{
	struct dmasplit_bwin *w = window();
	unsigned int calls;

	link_pages(w, 0, 1);
	ck_assert_int_eq(unlink_pages(w, 4, 2, &calls), -ENOENT);
	ck_assert_msg(calls == 0 && strstr(fk.log, "nothing is linked there"),
		      "expected no call and a log line; log:\n%s", fk.log);
	win_destroy(w);
}
END_TEST

/*
 * Sixteen window pages linked one page a link, in the order asked: page
 * 9 left out, page 5 from elsewhere in memory and pages 12..15 for the
 * device to write only.  Lazy mode maps the runs 0-4, 5, 6-8, 10-11 and
 * 12-15; strict mode each link alone.
 */
#define ORDER_PAGES 16u

static const unsigned int order_asc[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 10,
					  11, 12, 13, 14, 15 };
static const unsigned int order_desc[] = { 15, 14, 13, 12, 11, 10, 8, 7,
					   6, 5, 4, 3, 2, 1, 0 };
static const unsigned int order_mixed[] = { 7, 12, 0, 15, 3, 10, 5, 1, 14,
					    8, 2, 11, 6, 13, 4 };
static const unsigned int *const orders[] = { order_asc, order_desc,
					      order_mixed };
#define ORDER_LINKS (sizeof(order_asc) / sizeof(order_asc[0]))

static struct dmasplit_bwin *link_in_order(const unsigned int *order,
					   uint8_t *buf)
{
	struct dmasplit_bwin *w;
	uint64_t addr;
	unsigned int i;

	ck_assert_int_eq(win_alloc(fb, ORDER_PAGES * PG, 0, &w, &addr), 0);
	for (i = 0; i < ORDER_LINKS; i++) {
		unsigned int p = order[i];

		ck_assert_int_eq(win_link(w, p * PG,
					  buf + (p == 5 ? 20 : p) * PG, PG,
					  p >= 12 ? DMASPLIT_FROM_DEVICE
						  : DMASPLIT_BIDIRECTIONAL, 0),
				 0);
		fk.linked[p] = true;
	}
	return w;
}

/* Which pages share a kernel mapping with the page before them. */
static unsigned int mapping_shape(void)
{
	unsigned int p, shape = 0;

	for (p = 0; p < ORDER_PAGES; p++) {
		ck_assert_msg(mapped(p) == (p != 9), "page %u: mapped %d", p,
			      mapped(p));
		if (p && mapped(p) && fk.id[p] == fk.id[p - 1])
			shape |= 1u << p;
	}
	return shape;
}

START_TEST(sync_maps_the_same_whatever_the_link_order)
{
	uint8_t *buf = aligned_alloc(PG, 32 * PG);
	unsigned int o, shape[3], calls = 0;
	bool lazy;

	ck_assert_ptr_nonnull(buf);
	for (lazy = false; ; lazy = true) {
		fb->lazy = lazy;
		for (o = 0; o < 3; o++) {
			struct dmasplit_bwin *w;

			memset(&fk, 0, sizeof(fk));
			w = link_in_order(orders[o], buf);
			ck_assert_int_eq(win_sync(w, 0, ORDER_PAGES * PG), 0);
			shape[o] = mapping_shape();
			ck_assert_msg(fk.calls == (lazy ? 5 : ORDER_LINKS) &&
				      fs->kernel_maps == fk.calls,
				      "lazy=%d order %u: %u map calls", lazy, o,
				      fk.calls);
			ck_assert_msg(shape[o] == shape[0],
				      "lazy=%d: order %u maps 0x%x, ascending 0x%x",
				      lazy, o, shape[o], shape[0]);
			calls = fk.calls;
			memset(fk.linked, 0, sizeof(fk.linked));
			win_destroy(w);
			ck_assert_uint_eq(fk.calls, calls + 1);
			ck_assert_uint_eq(fs->kernel_maps, 0);
			ck_assert_uint_eq(fs->lazy_bytes, 0);
		}
		ck_assert_uint_eq(shape[0], (lazy ? 0xe99eu : 0));
		if (lazy)
			break;
	}
	free(buf);
}
END_TEST

/* A map call failing in the middle of a sync: the runs before it are
 * mapped and linked, the failed one and those after it stay pending, in
 * any link order; another sync maps them as one sync would have. */
START_TEST(failed_map_in_the_middle_of_a_sync_keeps_the_rest_pending)
{
	uint8_t *buf = aligned_alloc(PG, 32 * PG);
	unsigned int o, p;
	bool lazy;

	ck_assert_ptr_nonnull(buf);
	for (lazy = false; ; lazy = true) {
		fb->lazy = lazy;
		for (o = 0; o < 3; o++) {
			struct dmasplit_bwin *w;
			unsigned int calls;

			memset(&fk, 0, sizeof(fk));
			w = link_in_order(orders[o], buf);
			fk.fail_at = 3;
			ck_assert_int_eq(win_sync(w, 0, ORDER_PAGES * PG), -EIO);
			/* Lazy: runs 0-4 and 5; strict: pages 0 and 1. */
			for (p = 0; p < ORDER_PAGES; p++)
				ck_assert_msg(mapped(p) == (p < (lazy ? 6 : 2)),
					      "lazy=%d order %u: page %u mapped %d",
					      lazy, o, p, mapped(p));
			ck_assert_uint_eq(fs->kernel_maps, 2);
			ck_assert_uint_eq(fs->bytes_mapped, (lazy ? 6 : 2) * PG);
			ck_assert_uint_eq(fs->lazy_bytes, lazy ? 6 * PG : 0);
			/* What is mapped cannot be linked again; what is
			 * pending can be unlinked without a call. */
			ck_assert_int_eq(win_link(w, PG, buf, PG,
						  DMASPLIT_TO_DEVICE,
						  DMASPLIT_ATTR_NO_WARN), -EBUSY);
			fk.fail_at = 0;
			ck_assert_int_eq(unlink_pages(w, 15, 1, &calls), 0);
			ck_assert_uint_eq(calls, 0);
			ck_assert_int_eq(win_sync(w, 0, ORDER_PAGES * PG), 0);
			ck_assert_msg(fk.calls == (lazy ? 6 : ORDER_LINKS),
				      "lazy=%d order %u: %u calls in all", lazy,
				      o, fk.calls);
			for (p = 0; p < ORDER_PAGES; p++)
				ck_assert(mapped(p) == (p != 9 && p != 15));
			ck_assert_uint_eq(fs->lazy_bytes, lazy ? 14 * PG : 0);
			memset(fk.linked, 0, sizeof(fk.linked));
			win_destroy(w);
			ck_assert_uint_eq(fs->kernel_maps, 0);
			ck_assert_uint_eq(fs->bytes_mapped, 0);
			ck_assert_uint_eq(fs->lazy_bytes, 0);
		}
		if (lazy)
			break;
	}
	free(buf);
}
END_TEST

/* Strict mode, links of two pages side by side in window and memory:
 * an unlink must cover whole links wherever it starts and ends. */
START_TEST(strict_unlink_across_link_boundaries_is_refused_unless_whole)
{
	struct dmasplit_bwin *w = window();
	unsigned int calls, i;

	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(win_link(w, 2 * i * PG, mem + 2 * i * PG,
					  2 * PG, DMASPLIT_TO_DEVICE, 0), 0);
		fk.linked[2 * i] = fk.linked[2 * i + 1] = true;
	}
	ck_assert_int_eq(win_sync(w, 0, 8 * PG), 0);
	ck_assert_uint_eq(fk.calls, 4);
	/* Half of link 0 and half of link 1; half of link 3 alone. */
	ck_assert_int_eq(unlink_pages(w, 1, 2, &calls), -EINVAL);
	ck_assert_uint_eq(calls, 0);
	ck_assert_int_eq(unlink_pages(w, 2, 3, &calls), -EINVAL);
	ck_assert_uint_eq(calls, 0);
	ck_assert_int_eq(unlink_pages(w, 7, 1, &calls), -EINVAL);
	ck_assert_uint_eq(calls, 0);
	ck_assert_uint_eq(fs->kernel_maps, 4);
	/* Links 1 and 2 whole: one call. */
	ck_assert_int_eq(unlink_pages(w, 2, 4, &calls), 0);
	ck_assert_msg(calls == 1 && mapped(1) && !mapped(2) && !mapped(5) &&
		      mapped(6) && fs->kernel_maps == 2,
		      "links 1 and 2: expected one call, links 0 and 3 kept");
	/* Over the hole, half of link 3: still refused. */
	ck_assert_int_eq(unlink_pages(w, 2, 5, &calls), -EINVAL);
	ck_assert_int_eq(unlink_pages(w, 0, 8, &calls), 0);
	ck_assert_uint_eq(calls, 1);
	ck_assert_uint_eq(fk.linked_unmapped, 0);
	ck_assert_uint_eq(fs->kernel_maps, 0);
	win_destroy(w);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Ranges: all the kernel reports are kept                              */

/* IOMMU_IOAS_IOVA_RANGES of the fake kernel: n ranges; the others go
 * to the real kernel. */
static uint32_t fake_ranges;

int ioctl(int fd, unsigned long request, ...)
{
	struct iommu_ioas_iova_ranges *q;
	struct iommu_iova_range *out;
	va_list ap;
	void *arg;
	uint32_t i;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd != FAKE_FD || request != IOMMU_IOAS_IOVA_RANGES)
		return (int)syscall(SYS_ioctl, fd, request, arg);
	q = arg;
	if (q->num_iovas < fake_ranges) {
		q->num_iovas = fake_ranges;
		errno = EMSGSIZE;
		return -1;
	}
	out = (struct iommu_iova_range *)(uintptr_t)q->allowed_iovas;
	for (i = 0; i < fake_ranges; i++) {
		out[i].start = 0x100000ull * (2 * i + 1);
		out[i].last = 0x100000ull * (2 * i + 2) - 1;
	}
	q->num_iovas = fake_ranges;
	q->out_iova_alignment = PG;
	return 0;
}

START_TEST(iommufd_ranges_are_all_kept)
{
	struct dmasplit_range info[DMASPLIT_MAX_RANGES];
	unsigned int n, total;

	fake_ranges = 20;
	ck_assert_int_eq(iommufd_read_ranges(fb), 0);
	ck_assert_msg(fs->num_ranges == 20 && fs->ranges[19].start == 0x2700000,
		      "expected 20 ranges, the last at 0x2700000; got %u",
		      fs->num_ranges);
	n = ranges_below(fs->ranges, fs->num_ranges, PG, UINT64_MAX, info,
			 DMASPLIT_MAX_RANGES, &total);
	ck_assert_msg(n == DMASPLIT_MAX_RANGES && total == 20,
		      "expected 8 of 20 in dev_info, got %u of %u", n, total);
	/* Below a mask of 0x9fffff: ranges 1, 3, 5, 7 and part of 9 MiB. */
	n = ranges_below(fs->ranges, fs->num_ranges, PG, 0x9fffff, info,
			 DMASPLIT_MAX_RANGES, &total);
	ck_assert_msg(n == 5 && total == 5 && info[4].last == 0x9fffff,
		      "below the mask: expected 5, the last ending at the mask; got %u",
		      n);
}
END_TEST

START_TEST(type1_ranges_are_all_kept)
{
	struct {
		struct vfio_iommu_type1_info info;
		struct vfio_iommu_type1_info_cap_iova_range cap;
		struct vfio_iova_range r[20];
		struct vfio_iommu_type1_info_dma_avail avail;
	} __attribute__((packed)) buf;
	unsigned int i;

	memset(&buf, 0, sizeof(buf));
	buf.info.argsz = sizeof(buf);
	buf.info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	buf.info.iova_pgsizes = 0x40201000;
	buf.info.cap_offset = offsetof(typeof(buf), cap);
	buf.cap.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
	buf.cap.header.next = offsetof(typeof(buf), avail);
	buf.cap.nr_iovas = 20;
	for (i = 0; i < 20; i++) {
		buf.r[i].start = 0x100000ull * (2 * i + 1);
		buf.r[i].end = 0x100000ull * (2 * i + 2) - 1;
	}
	buf.avail.header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
	buf.avail.avail = 1000;
	ck_assert_int_eq(type1_parse_info(fb, &buf, sizeof(buf)), 0);
	ck_assert_msg(fs->num_ranges == 20 && fs->granule == PG &&
		      fs->map_limit == 1000,
		      "expected 20 ranges, granule 4096, limit 1000; got %u, %" PRIu64 ", %u",
		      fs->num_ranges, fs->granule, fs->map_limit);
	/* A capability that claims more ranges than the answer holds is
	 * read as far as it goes, and a chain pointing back ends. */
	buf.cap.nr_iovas = 1000;
	buf.avail.header.next = buf.info.cap_offset;
	ck_assert_int_eq(type1_parse_info(fb, &buf, offsetof(typeof(buf), r[3])), 0);
	ck_assert_msg(fs->num_ranges == 3, "truncated answer: expected 3 ranges, got %u",
		      fs->num_ranges);
	ck_assert_int_eq(type1_parse_info(fb, &buf, sizeof(buf)), 0);
	ck_assert_uint_eq(fs->num_ranges, 20);
}
END_TEST

/* Teardown cannot fail, but addresses the allocator refuses to take
 * back are a bookkeeping error worth a line. */
START_TEST(refused_iova_free_is_logged)
{
	struct dmasplit_bwin *w = window();

	link_pages(w, 0, 1);
	fk.free_error = -EINVAL;
	win_destroy(w);
	ck_assert_msg(strstr(fk.log, "not given back to the allocator"),
		      "log:\n%s", fk.log);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio");
	TCase *tc = tcase_create("fake-kernel");
	const char *dir = getenv("DMASPLIT_TEST_BACKENDS");
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/backend-vfio.so", dir ? dir : "");
	if (!dir || access(path, R_OK) < 0)
		tu_skip_all("the vfio backend is not built");
	tu_plugin_dir();
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, strict_sync_maps_each_link_alone);
	tcase_add_test(tc, strict_partial_unlink_never_unmaps_a_linked_page);
	tcase_add_test(tc, strict_unlink_of_part_of_a_link_is_refused);
	tcase_add_test(tc, strict_unlink_of_part_of_an_unsynced_link_trims_it);
	tcase_add_test(tc, lazy_partial_unlink_keeps_the_area_and_accounts_it);
	tcase_add_test(tc, lazy_unlink_of_part_of_a_link_keeps_it_mapped);
	tcase_add_test(tc, lazy_destroy_releases_what_unlink_kept);
	tcase_add_test(tc, lazy_mode_maps_link_by_link_past_its_limit);
	tcase_add_test(tc, failed_unmap_changes_nothing);
	tcase_add_test(tc, failed_map_at_sync_leaves_the_rest_for_another_sync);
	tcase_add_test(tc, unlink_of_nothing_linked_is_refused);
	tcase_add_test(tc, sync_maps_the_same_whatever_the_link_order);
	tcase_add_test(tc, failed_map_in_the_middle_of_a_sync_keeps_the_rest_pending);
	tcase_add_test(tc, strict_unlink_across_link_boundaries_is_refused_unless_whole);
	tcase_add_test(tc, iommufd_ranges_are_all_kept);
	tcase_add_test(tc, type1_ranges_are_all_kept);
	tcase_add_test(tc, refused_iova_free_is_logged);
	suite_add_tcase(s, tc);
	return tu_main(s);
}

