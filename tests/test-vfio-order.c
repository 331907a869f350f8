// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vfio backend's window sync against the fake kernel (vfio-fake.h):
 * whatever order links arrive in, a sync makes the same kernel
 * mappings, a failed call in its middle leaves the rest pending, and a
 * strict unlink never cuts a link.
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
#include "vfio-fake.h"
#include "vfio.h"

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
			ck_assert_uint_eq(fb->lazy_bytes, 0);
		}
		ck_assert_uint_eq(shape[0], (lazy ? 0xe99eu : 0));
		if (lazy)
			break;
	}
	free(buf);
}
END_TEST

/* A map call failing in the middle of a sync: the runs it mapped before
 * are unmapped again, and every link stays pending, in any link order;
 * another sync maps them as one sync would have. */
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
			/* Lazy: runs 0-4 and 5 mapped, then unmapped;
			 * strict: pages 0 and 1. */
			for (p = 0; p < ORDER_PAGES; p++)
				ck_assert_msg(!mapped(p),
					      "lazy=%d order %u: page %u mapped after a failed sync",
					      lazy, o, p);
			ck_assert_uint_eq(fk.calls, 5);
			ck_assert_uint_eq(fs->kernel_maps, 0);
			ck_assert_uint_eq(fs->bytes_mapped, 0);
			ck_assert_uint_eq(fb->lazy_bytes, 0);
			/* What is linked cannot be linked again; what
			 * is pending can be unlinked without a call. */
			ck_assert_int_eq(win_link(w, PG, buf, PG,
						  DMASPLIT_TO_DEVICE,
						  DMASPLIT_ATTR_NO_WARN), -EEXIST);
			ck_assert_int_eq(win_link(w, 15 * PG, buf, PG,
						  DMASPLIT_TO_DEVICE,
						  DMASPLIT_ATTR_NO_WARN), -EEXIST);
			fk.fail_at = 0;
			ck_assert_int_eq(unlink_pages(w, 15, 1, &calls), 0);
			ck_assert_uint_eq(calls, 0);
			ck_assert_int_eq(win_sync(w, 0, ORDER_PAGES * PG), 0);
			/* Everything but page 15, as one sync maps it. */
			ck_assert_msg(fk.calls == 5 + (lazy ? 5 : ORDER_LINKS - 1),
				      "lazy=%d order %u: %u calls in all", lazy,
				      o, fk.calls);
			for (p = 0; p < ORDER_PAGES; p++)
				ck_assert(mapped(p) == (p != 9 && p != 15));
			ck_assert_uint_eq(fb->lazy_bytes, lazy ? 14 * PG : 0);
			memset(fk.linked, 0, sizeof(fk.linked));
			win_destroy(w);
			ck_assert_uint_eq(fs->kernel_maps, 0);
			ck_assert_uint_eq(fs->bytes_mapped, 0);
			ck_assert_uint_eq(fb->lazy_bytes, 0);
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

/*
 * A destroyed window is kept for the next one, with its records' room:
 * the next window must see none of its records, whatever it was
 * destroyed with (links pending, areas mapped, lazy parts linked), and
 * a room grown large is not what is kept.
 */
START_TEST(a_window_made_from_a_destroyed_one_starts_empty)
{
	uint8_t *buf = aligned_alloc(PG, 32 * PG);
	unsigned int p, round;
	bool lazy;

	ck_assert_ptr_nonnull(buf);
	for (lazy = false; ; lazy = true) {
		fb->lazy = lazy;
		for (round = 0; round < 3; round++) {
			struct dmasplit_bwin *w;
			unsigned int calls;

			memset(&fk, 0, sizeof(fk));
			w = link_in_order(order_mixed, buf);
			/* Half synced, half pending, at destroy. */
			ck_assert_int_eq(win_sync(w, 0, 8 * PG), 0);
			calls = fk.calls;
			memset(fk.linked, 0, sizeof(fk.linked));
			win_destroy(w);
			ck_assert_uint_eq(fk.calls, calls + 1);
			ck_assert_uint_eq(fs->kernel_maps, 0);
			ck_assert_uint_eq(fb->lazy_bytes, 0);
			ck_assert_uint_eq(fs->stale_bytes, 0);
			ck_assert_uint_ge(fs->nspare, 1);

			w = window();
			ck_assert_uint_eq(w->pending.n + w->areas.n +
					  w->linked.n, 0);
			ck_assert_uint_le(w->pending.cap, 4);
			ck_assert_uint_le(w->areas.cap, 4);
			ck_assert_uint_le(w->linked.cap, 4);
			calls = fk.calls;
			ck_assert_int_eq(win_sync(w, 0, 8 * PG), 0);
			ck_assert_int_eq(win_unlink(w, 0, PG,
						    DMASPLIT_BIDIRECTIONAL,
						    DMASPLIT_ATTR_NO_WARN),
					 -ENOENT);
			ck_assert_uint_eq(fk.calls, calls);
			/* Every page the last window had is free to link. */
			for (p = 0; p < 8; p++)
				ck_assert_int_eq(win_link(w, p * PG,
							  buf + p * PG, PG,
							  DMASPLIT_TO_DEVICE,
							  0), 0);
			ck_assert_int_eq(win_sync(w, 0, 8 * PG), 0);
			ck_assert_uint_eq(fk.calls, calls + (lazy ? 1 : 8));
			win_destroy(w);
			ck_assert_uint_eq(fs->kernel_maps, 0);
		}
		if (lazy)
			break;
	}
	free(buf);
}
END_TEST

static int by_off(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * The sort a sync puts pending links in: against qsort, for sizes on both
 * sides of the insertion-sort limit, offsets of whole pages and of odd
 * granules, windows small and large (one to four radix passes), orders
 * random, ascending, descending and ascending but for one link.
 */
START_TEST(link_sort_matches_qsort)
{
	static const size_t sizes[] = { 2, 3, 31, 32, 33, 1000, 20000 };
	static const unsigned int shifts[] = { 12, 16, 0 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned int si, hi, order;

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
	for (hi = 0; hi < sizeof(shifts) / sizeof(shifts[0]); hi++)
	for (order = 0; order < 4; order++) {
		size_t n = sizes[si], i;
		struct span *v = calloc(n, sizeof(*v)), *ref = calloc(n, sizeof(*ref));
		/* Distinct offsets: slots of a window spread over up to
		 * 2^30 granules. */
		uint64_t stride = 1 + (seed >> 40) % 1024;

		ck_assert(v && ref);
		for (i = 0; i < n; i++) {
			v[i].off = (i * stride) << shifts[hi];
			v[i].len = i;
			v[i].va = i * 3;
		}
		if (order == 0) {		/* random: Fisher-Yates */
			for (i = n - 1; i > 0; i--) {
				size_t j;
				struct span t;

				seed = seed * 6364136223846793005ull +
				       1442695040888963407ull;
				j = (size_t)((seed >> 33) % (i + 1));
				t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
		} else if (order == 1) {	/* descending */
			for (i = 0; i < n / 2; i++) {
				struct span t = v[i];

				v[i] = v[n - 1 - i];
				v[n - 1 - i] = t;
			}
		} else if (order == 3) {	/* one out of place */
			struct span t = v[0];

			v[0] = v[n / 2];
			v[n / 2] = t;
		}
		memcpy(ref, v, n * sizeof(*v));
		qsort(ref, n, sizeof(*ref), by_off);
		ck_assert_int_eq(vfio_sort_links(v, n), 0);
		/* One assertion per array: a passing one costs Check a
		 * write, too many for a timeout in a sanitizer build. */
		for (i = 0; i < n; i++)
			if (v[i].off != ref[i].off || v[i].len != ref[i].len ||
			    v[i].va != ref[i].va)
				break;
		ck_assert_msg(i == n, "n %zu shift %u order %u: element %zu",
			      n, shifts[hi], order, i);
		free(v);
		free(ref);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio-order");
	TCase *tc = tcase_create("fake-kernel");

	if (!tu_backend_built("vfio"))
		tu_skip_all("the vfio backend is not built");
	tu_plugin_dir();
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, sync_maps_the_same_whatever_the_link_order);
	tcase_add_test(tc, failed_map_in_the_middle_of_a_sync_keeps_the_rest_pending);
	tcase_add_test(tc, strict_unlink_across_link_boundaries_is_refused_unless_whole);
	tcase_add_test(tc, a_window_made_from_a_destroyed_one_starts_empty);
	tcase_add_test(tc, link_sort_matches_qsort);
	/* The sort runs on 84 arrays of up to 20000 links: more than
	 * Check's 4 s default on a loaded machine is not a hang. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
