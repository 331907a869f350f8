/*
 * The core's shared services, tested from inside: the interval treap, the
 * IOVA allocator handed to backends, page pinning and pagemap lookups.
 */
#include <check.h>
#include <linux/capability.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "p2ptree.h"
#include "testutil.h"

#define G 4096ull

static struct dmasplit_ctx *ctx;
static const struct dmasplit_host *host;

static void setup(void)
{
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	host = &ctx->host;
}

static void teardown(void)
{
	ctx = dmasplit_ctx_unref(ctx);
}

static struct dmasplit_iovad *iovad_over(uint64_t start, uint64_t last)
{
	struct dmasplit_range r = { start, last };
	struct dmasplit_iovad *iovad = NULL;

	ck_assert_int_eq(host->iovad_new(host, &r, 1, G, &iovad), 0);
	return iovad;
}

START_TEST(iovad_rejects_bad_arguments)
{
	struct dmasplit_range r = { 0, (1ull << 32) - 1 }, bad = { 10, 5 };
	struct dmasplit_iovad *iovad = NULL;
	uint64_t addr;

	ck_assert_int_eq(host->iovad_new(host, NULL, 1, G, &iovad), -EINVAL);
	ck_assert_int_eq(host->iovad_new(host, &r, 0, G, &iovad), -EINVAL);
	ck_assert_int_eq(host->iovad_new(host, &r, 1, 3000, &iovad), -EINVAL);
	ck_assert_int_eq(host->iovad_new(host, &bad, 1, G, &iovad), -EINVAL);
	/* A range that holds no whole granule above 0 is no range at all. */
	r.last = G - 1;
	ck_assert_int_eq(host->iovad_new(host, &r, 1, G, &iovad), -EINVAL);
	ck_assert_ptr_null(iovad);

	iovad = iovad_over(0, (1ull << 32) - 1);
	ck_assert_int_eq(host->iovad_alloc(iovad, 0, UINT64_MAX, &addr), -EINVAL);
	ck_assert_int_eq(host->iovad_alloc(iovad, 100, UINT64_MAX, &addr), -EINVAL);
	ck_assert_int_eq(host->iovad_free(iovad, 0, G), -EINVAL);
	ck_assert_int_eq(host->iovad_in_use(NULL, G, G), -EINVAL);
	ck_assert_int_eq(host->iovad_in_use(iovad, G, 0), -EINVAL);
	ck_assert_int_eq(host->iovad_in_use(iovad, UINT64_MAX, 2), -EINVAL);
	host->iovad_destroy(iovad);
}
END_TEST

START_TEST(iovad_never_returns_zero_and_fits_lowest)
{
	struct dmasplit_iovad *iovad = iovad_over(0, (1ull << 20) - 1);
	uint64_t a, b, c;

	ck_assert_int_eq(host->iovad_alloc(iovad, G, UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, G);
	ck_assert_int_eq(host->iovad_alloc(iovad, 2 * G, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b, 2 * G);
	ck_assert_int_eq(host->iovad_alloc(iovad, G, UINT64_MAX, &c), 0);
	ck_assert_uint_eq(c, 4 * G);
	/* Freeing b leaves a two-granule hole: one granule goes there, three
	 * granules go above c. */
	ck_assert_int_eq(host->iovad_free(iovad, b, 2 * G), 0);
	ck_assert_int_eq(host->iovad_alloc(iovad, 3 * G, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b, 5 * G);
	ck_assert_int_eq(host->iovad_alloc(iovad, G, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(b, 2 * G);
	host->iovad_destroy(iovad);
}
END_TEST

START_TEST(iovad_respects_limit_and_reports_full)
{
	struct dmasplit_iovad *iovad = iovad_over(0, (1ull << 20) - 1);
	uint64_t a, limit = (1ull << 16) - 1;
	unsigned int n = 0;

	/* Below a 16-bit mask there are 15 granules (0 is never used). */
	while (host->iovad_alloc(iovad, G, limit, &a) == 0) {
		ck_assert_uint_le(a + G - 1, limit);
		n++;
	}
	ck_assert_uint_eq(n, 15);
	ck_assert_int_eq(host->iovad_alloc(iovad, G, limit, &a), -ENOSPC);
	ck_assert_int_eq(host->iovad_alloc(iovad, G, UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, 1ull << 16);
	ck_assert_int_eq(host->iovad_alloc(iovad, 1ull << 20, UINT64_MAX, &a),
			 -ENOSPC);
	host->iovad_destroy(iovad);
}
END_TEST

START_TEST(iovad_refuses_double_and_foreign_free)
{
	struct dmasplit_iovad *iovad = iovad_over(0, (1ull << 20) - 1);
	uint64_t a;

	ck_assert_int_eq(host->iovad_alloc(iovad, 4 * G, UINT64_MAX, &a), 0);
	ck_assert_int_eq(host->iovad_free(iovad, a, 4 * G), 0);
	ck_assert_int_eq(host->iovad_free(iovad, a, 4 * G), -EINVAL);
	ck_assert_int_eq(host->iovad_free(iovad, a + G, G), -EINVAL);
	ck_assert_int_eq(host->iovad_free(iovad, 1ull << 20, G), -EINVAL);
	ck_assert_int_eq(host->iovad_free(iovad, a, G + 1), -EINVAL);
	/* Everything free again coalesces into one block. */
	ck_assert_int_eq(host->iovad_alloc(iovad, (1ull << 20) - G, UINT64_MAX,
					   &a), 0);
	ck_assert_uint_eq(a, G);
	host->iovad_destroy(iovad);
}
END_TEST

START_TEST(iovad_reserve_carves_regions)
{
	struct dmasplit_range r[2] = { { 0, 0xfedfffff }, { 0xfef00000, 0xffffffffull } };
	struct dmasplit_iovad *iovad = NULL;
	uint64_t a;

	ck_assert_int_eq(host->iovad_new(host, r, 2, G, &iovad), 0);
	/* An unaligned reserved region takes the granules it touches. */
	ck_assert_int_eq(host->iovad_reserve(iovad, G + 10, 2 * G), 0);
	ck_assert_int_eq(host->iovad_alloc(iovad, G, UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, 4 * G);
	/* The hole between the ranges is never handed out. */
	ck_assert_int_eq(host->iovad_alloc(iovad, 0xfee00000 - 5 * G,
					   UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, 5 * G);
	ck_assert_int_eq(host->iovad_alloc(iovad, G, UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, 0xfef00000);
	ck_assert_int_eq(host->iovad_free(iovad, 0xfee00000, G), -EINVAL);
	host->iovad_destroy(iovad);
}
END_TEST

/* xorshift64: reproducible across runs and machines. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random allocations and frees against a bitmap model: every allocation
 * must be the lowest free run that fits below the limit, and a failure
 * must mean that no such run exists.
 */
START_TEST(iovad_matches_model)
{
	enum { PAGES = 512, LIVE = 256 };
	struct dmasplit_iovad *iovad = iovad_over(0, PAGES * G - 1);
	struct { uint64_t addr, pages; } live[LIVE];
	unsigned char used[PAGES] = { 1 };	/* granule 0 never free */
	uint64_t seed = 0x2545f4914f6cdd1dull, a;
	unsigned int nlive = 0, step;

	for (step = 0; step < 20000; step++) {
		if (nlive && (nlive == LIVE || rnd(&seed) % 2)) {
			unsigned int k = rnd(&seed) % nlive;

			ck_assert_int_eq(host->iovad_free(iovad, live[k].addr,
							  live[k].pages * G), 0);
			memset(used + live[k].addr / G, 0, live[k].pages);
			live[k] = live[--nlive];
		} else {
			uint64_t pages = 1 + rnd(&seed) % 8;
			uint64_t limit_pages = 16 + rnd(&seed) % (PAGES - 16);
			uint64_t expect = 0, p, run = 0;
			int r;

			for (p = 0; p < limit_pages; p++) {
				run = used[p] ? 0 : run + 1;
				if (run == pages) {
					expect = p + 1 - pages;
					break;
				}
			}
			/* Lowest fit overall must also be below the limit. */
			r = host->iovad_alloc(iovad, pages * G,
					      limit_pages * G - 1, &a);
			if (!expect) {
				ck_assert_msg(r == -ENOSPC,
					      "step %u: expected -ENOSPC for %llu pages below %llu, got %d (0x%llx)",
					      step, (unsigned long long)pages,
					      (unsigned long long)limit_pages, r,
					      (unsigned long long)a);
				continue;
			}
			ck_assert_msg(r == 0 && a == expect * G,
				      "step %u: expected 0x%llx, got %d 0x%llx",
				      step, (unsigned long long)(expect * G), r,
				      (unsigned long long)a);
			memset(used + expect, 1, pages);
			live[nlive].addr = a;
			live[nlive++].pages = pages;
		}
	}
	while (nlive--)
		ck_assert_int_eq(host->iovad_free(iovad, live[nlive].addr,
						  live[nlive].pages * G), 0);
	host->iovad_destroy(iovad);
}
END_TEST

/*
 * The highest free block lives outside the tree: every way into and out
 * of it, checked by what the allocator hands out afterwards.
 */
START_TEST(iovad_top_block_joins_and_splits)
{
	struct dmasplit_iovad *iovad = iovad_over(0, 64 * G - 1);
	uint64_t a, b, c;

	/* Two windows carved off the top, given back out of order: the
	 * lower goes to the tree, the upper joins the top and takes the
	 * lower with it, so the whole space is one block again. */
	ck_assert_int_eq(host->iovad_alloc(iovad, 8 * G, UINT64_MAX, &a), 0);
	ck_assert_int_eq(host->iovad_alloc(iovad, 8 * G, UINT64_MAX, &b), 0);
	ck_assert_uint_eq(a, G);
	ck_assert_uint_eq(b, 9 * G);
	ck_assert_int_eq(host->iovad_free(iovad, a, 8 * G), 0);
	ck_assert_int_eq(host->iovad_free(iovad, b, 8 * G), 0);
	ck_assert_int_eq(host->iovad_alloc(iovad, 63 * G, UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, G);

	/* Everything used: no top.  A range given back becomes the top, one
	 * below it goes to the tree and is the lower fit, one just above
	 * the top extends it. */
	ck_assert_int_eq(host->iovad_free(iovad, 40 * G, 10 * G), 0);
	ck_assert_int_eq(host->iovad_free(iovad, 10 * G, 10 * G), 0);
	ck_assert_int_eq(host->iovad_alloc(iovad, 10 * G, UINT64_MAX, &c), 0);
	ck_assert_uint_eq(c, 10 * G);
	ck_assert_int_eq(host->iovad_alloc(iovad, 11 * G, UINT64_MAX, &c),
			 -ENOSPC);
	ck_assert_int_eq(host->iovad_free(iovad, 50 * G, 14 * G), 0);
	ck_assert_int_eq(host->iovad_alloc(iovad, 24 * G, UINT64_MAX, &c), 0);
	ck_assert_uint_eq(c, 40 * G);

	/* A range above a top that does not touch it: the old top goes to
	 * the tree and, being lower, is the fit that comes first. */
	ck_assert_int_eq(host->iovad_free(iovad, 40 * G, 4 * G), 0);
	ck_assert_int_eq(host->iovad_free(iovad, 60 * G, 4 * G), 0);
	ck_assert_int_eq(host->iovad_alloc(iovad, 4 * G, UINT64_MAX, &c), 0);
	ck_assert_uint_eq(c, 40 * G);
	ck_assert_int_eq(host->iovad_alloc(iovad, 4 * G, UINT64_MAX, &c), 0);
	ck_assert_uint_eq(c, 60 * G);

	/* Giving back what overlaps the top or the block below it. */
	ck_assert_int_eq(host->iovad_free(iovad, 60 * G, 2 * G), 0);
	ck_assert_int_eq(host->iovad_free(iovad, 61 * G, 2 * G), -EINVAL);
	ck_assert_int_eq(host->iovad_free(iovad, 58 * G, 3 * G), -EINVAL);
	ck_assert_int_eq(host->iovad_free(iovad, 30 * G, 2 * G), 0);
	ck_assert_int_eq(host->iovad_free(iovad, 31 * G, 2 * G), -EINVAL);

	/* Used up exactly, the top is gone; what is left is found. */
	ck_assert_int_eq(host->iovad_alloc(iovad, 2 * G, UINT64_MAX, &c), 0);
	ck_assert_uint_eq(c, 30 * G);
	ck_assert_int_eq(host->iovad_alloc(iovad, 2 * G, UINT64_MAX, &c), 0);
	ck_assert_uint_eq(c, 60 * G);
	ck_assert_int_eq(host->iovad_alloc(iovad, G, UINT64_MAX, &c),
			 -ENOSPC);
	host->iovad_destroy(iovad);
}
END_TEST

/*
 * A reference allocator for iovad_matches_reference: one byte per granule
 * (1 used, also outside the ranges and at granule 0), lowest fit by a
 * linear scan.
 */
struct ref {
	unsigned int pages;
	unsigned char *used;
	unsigned char *usable;	/* in a range */
	struct { uint64_t addr, pages; } *live;
	unsigned int nlive;
};

/* The lowest free run of n granules, or 0 (granule 0 is never free). */
static uint64_t ref_fit(const struct ref *m, uint64_t n)
{
	uint64_t p, run = 0;

	for (p = 0; p < m->pages; p++) {
		run = m->used[p] ? 0 : run + 1;
		if (run == n)
			return p + 1 - n;
	}
	return 0;
}

static void ref_take(struct ref *m, uint64_t first, uint64_t n)
{
	memset(m->used + first, 1, n);
	m->live[m->nlive].addr = first;
	m->live[m->nlive++].pages = n;
}

/* Two ranges with a hole between them, over pages granules. */
/* With near, most frees give back the newest allocation, the range the
 * allocator searches from first (its finger), and some of them give it
 * back twice. */
static void run_reference(uint64_t seed, unsigned int pages,
			  unsigned int steps, bool near)
{
	unsigned int gap = pages / 2 + pages / 8, gap_end = gap + pages / 16;
	struct dmasplit_range r[2] = { { 0, gap * G - 1 },
				       { gap_end * G, pages * G - 1 } };
	struct dmasplit_iovad *iovad = NULL;
	struct ref m = { .pages = pages };
	unsigned int step, p;
	uint64_t a, top;
	int ret;

	m.used = calloc(pages, 1);
	m.usable = calloc(pages, 1);
	m.live = calloc(pages, sizeof(*m.live));
	ck_assert(m.used && m.usable && m.live);
	for (p = 0; p < pages; p++) {
		m.usable[p] = p && (p < gap || p >= gap_end);
		m.used[p] = !m.usable[p];
	}
	ck_assert_int_eq(host->iovad_new(host, r, 2, G, &iovad), 0);

	for (step = 0; step < steps; step++) {
		unsigned int op = rnd(&seed) % 100;

		if (op < 50) {
			/* Mostly small sizes, some large; a limit half the
			 * time, anywhere, aligned or not. */
			uint64_t n = op < 40 ? 1 + rnd(&seed) % 8
					     : 1 + rnd(&seed) % (pages / 8);
			uint64_t limit = rnd(&seed) % 2
						 ? UINT64_MAX
						 : rnd(&seed) % (pages * G);
			uint64_t want = ref_fit(&m, n);

			ret = host->iovad_alloc(iovad, n * G, limit, &a);
			if (!want || (want + n) * G - 1 > limit) {
				ck_assert_msg(ret == -ENOSPC,
					      "step %u: %llu granules below 0x%llx: got %d 0x%llx, want -ENOSPC",
					      step, (unsigned long long)n,
					      (unsigned long long)limit, ret,
					      (unsigned long long)a);
				continue;
			}
			ck_assert_msg(ret == 0 && a == want * G,
				      "step %u: %llu granules below 0x%llx: got %d 0x%llx, want 0x%llx",
				      step, (unsigned long long)n,
				      (unsigned long long)limit, ret,
				      (unsigned long long)a,
				      (unsigned long long)(want * G));
			ref_take(&m, want, n);
		} else if (op < 88) {
			unsigned int k;

			if (!m.nlive)
				continue;
			k = near && rnd(&seed) % 4 ? m.nlive - 1
						   : rnd(&seed) % m.nlive;
			ck_assert_int_eq(host->iovad_free(iovad,
							  m.live[k].addr * G,
							  m.live[k].pages * G),
					 0);
			if (near && !(rnd(&seed) % 8))
				ck_assert_int_eq(host->iovad_free(iovad,
								  m.live[k].addr * G,
								  m.live[k].pages * G),
						 -EINVAL);
			memset(m.used + m.live[k].addr, 0, m.live[k].pages);
			m.live[k] = m.live[--m.nlive];
		} else if (op < 94) {
			/* A range touching free space is never taken back. */
			uint64_t first = rnd(&seed) % pages;
			uint64_t n = 1 + rnd(&seed) % 4, q;
			bool any_free = false;

			if (first + n > pages)
				n = pages - first;
			for (q = first; q < first + n; q++)
				any_free |= m.usable[q] && !m.used[q];
			if (any_free)
				ck_assert_int_eq(host->iovad_free(iovad,
								  first * G,
								  n * G),
						 -EINVAL);
		} else {
			/* Reserve a few unaligned bytes; the free granules
			 * they touch become single-granule allocations, so
			 * that they can be freed again. */
			uint64_t at = rnd(&seed) % (pages * G);
			uint64_t len = 1 + rnd(&seed) % (3 * G);
			uint64_t q;

			if (at + len > pages * G)
				len = pages * G - at;
			ck_assert_int_eq(host->iovad_reserve(iovad, at, len), 0);
			for (q = at / G; q <= (at + len - 1) / G; q++)
				if (!m.used[q])
					ref_take(&m, q, 1);
		}

		ret = host->iovad_last_used(iovad, &a);
		for (top = pages; top > 0 && !(m.usable[top - 1] &&
					       m.used[top - 1]); top--)
			;
		if (!top) {
			ck_assert_int_eq(ret, -ENOENT);
		} else {
			ck_assert_int_eq(ret, 0);
			ck_assert_uint_eq(a, top * G - 1);
		}

		/* Whether a stretch holds a used address, unaligned and
		 * running past the ranges too. */
		{
			uint64_t at = rnd(&seed) % ((pages + 8) * G);
			uint64_t len = 1 + rnd(&seed) % (16 * G), q;
			bool want = false;

			for (q = at / G; q <= (at + len - 1) / G && q < pages; q++)
				want |= m.usable[q] && m.used[q];
			ck_assert_int_eq(host->iovad_in_use(iovad, at, len), want);
		}
	}

	/* Everything back: the free space is whole ranges again. */
	while (m.nlive--)
		ck_assert_int_eq(host->iovad_free(iovad,
						  m.live[m.nlive].addr * G,
						  m.live[m.nlive].pages * G), 0);
	ck_assert_int_eq(host->iovad_last_used(iovad, &a), -ENOENT);
	ck_assert_int_eq(host->iovad_alloc(iovad, (gap - 1) * G, UINT64_MAX,
					   &a), 0);
	ck_assert_uint_eq(a, G);
	ck_assert_int_eq(host->iovad_alloc(iovad, (pages - gap_end) * G,
					   UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, gap_end * G);
	host->iovad_destroy(iovad);
	free(m.used);
	free(m.usable);
	free(m.live);
}

/*
 * Random allocations (mixed sizes, limits), frees, refused frees and
 * reserves against the reference allocator, over many seeds: small
 * spaces fragment and fill up, a larger one grows a deeper tree.
 */
/* The aligned allocation coherent memory takes: the lowest aligned fit
 * below the limit, where a block long enough but badly placed does not
 * hold one, and room exactly its size, not size + alignment, suffices. */
/* Ranges that meet end to end are one span to the allocator: what it
 * hands out across them it takes back. */
START_TEST(iovad_frees_across_ranges_that_meet)
{
	struct dmasplit_range r[2] = { { G, 2 * G - 1 }, { 2 * G, 3 * G - 1 } };
	struct dmasplit_iovad *iovad = NULL;
	uint64_t a;

	ck_assert_int_eq(host->iovad_new(host, r, 2, G, &iovad), 0);
	ck_assert_int_eq(host->iovad_alloc(iovad, 2 * G, UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, G);
	ck_assert_int_eq(host->iovad_free(iovad, a, 2 * G), 0);
	ck_assert_int_eq(host->iovad_free(iovad, 3 * G, G), -EINVAL);
	host->iovad_destroy(iovad);
}
END_TEST

START_TEST(iovad_aligned_is_the_lowest_aligned_fit)
{
	enum { N = 512 };	/* granules of the model's space */
	struct dmasplit_iovad *iovad = iovad_over(0, (1ull << 28) - 1);
	uint64_t addr = 0, a, live[N][2];
	bool used[N] = { false };
	unsigned int nlive = 0, i, k, step;

	/* A 4 KiB allocation at the bottom; 128 MiB aligned to itself then
	 * fits only at its half of a 256 MiB space. */
	ck_assert_int_eq(host->iovad_alloc(iovad, G, UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, G);
	ck_assert_int_eq(host->iovad_alloc_aligned(iovad, 1ull << 27, 1ull << 27,
						   (1ull << 28) - 1, &addr), 0);
	ck_assert_uint_eq(addr, 1ull << 27);
	ck_assert_int_eq(host->iovad_alloc_aligned(iovad, 1ull << 27, 1ull << 27,
						   (1ull << 28) - 1, &addr), -ENOSPC);
	ck_assert_int_eq(host->iovad_alloc_aligned(iovad, 16 * G, 16 * G,
						   UINT64_MAX, &addr), 0);
	ck_assert_uint_eq(addr, 16 * G);
	/* What the reservation left on either side is free. */
	ck_assert_int_eq(host->iovad_alloc(iovad, 14 * G, UINT64_MAX, &a), 0);
	ck_assert_uint_eq(a, 2 * G);
	ck_assert_int_eq(host->iovad_alloc_aligned(iovad, G, 3 * G, UINT64_MAX,
						   &addr), -EINVAL);
	ck_assert_int_eq(host->iovad_alloc_aligned(iovad, G, G / 2, UINT64_MAX,
						   &addr), -EINVAL);
	ck_assert_int_eq(host->iovad_alloc_aligned(iovad, G + 1, 2 * G,
						   UINT64_MAX, &addr), -EINVAL);
	host->iovad_destroy(iovad);

	/* Against a bitmap of a small space, in random orders. */
	srand(7);
	iovad = iovad_over(G, N * G - 1);
	used[0] = true;		/* address 0 is never handed out */
	for (step = 0; step < 20000; step++) {
		uint64_t pages = 1 + (uint64_t)rand() % 20, align = 1, limit;
		int r, want = -ENOSPC;
		uint64_t expect = 0;

		if (nlive && (rand() % 3 == 0 || nlive == N)) {
			k = (unsigned int)rand() % nlive;
			ck_assert_int_eq(host->iovad_free(iovad, live[k][0],
							  live[k][1]), 0);
			for (i = 0; i < live[k][1] / G; i++)
				used[live[k][0] / G + i] = false;
			live[k][0] = live[--nlive][0];
			live[k][1] = live[nlive][1];
			continue;
		}
		align <<= rand() % 6;
		limit = (uint64_t)(rand() % N) * G + G - 1;
		for (a = 0; a + pages <= N && a * G + pages * G - 1 <= limit;
		     a += align) {
			for (i = 0; i < pages && !used[a + i]; i++)
				;
			if (i == pages) {
				want = 0;
				expect = a * G;
				break;
			}
		}
		r = host->iovad_alloc_aligned(iovad, pages * G, align * G, limit,
					      &addr);
		ck_assert_msg(r == want && (r || addr == expect),
			      "step %u: %llu pages aligned to %llu below 0x%llx: expected %d at 0x%llx, got %d at 0x%llx",
			      step, (unsigned long long)pages,
			      (unsigned long long)align,
			      (unsigned long long)limit, want,
			      (unsigned long long)expect, r,
			      (unsigned long long)addr);
		if (r == 0) {
			for (i = 0; i < pages; i++)
				used[addr / G + i] = true;
			live[nlive][0] = addr;
			live[nlive++][1] = pages * G;
		}
	}
	host->iovad_destroy(iovad);
}
END_TEST

/* 48 small spaces and 3 large, each from seeds of its own. */
static void run_references(uint64_t small_seed, uint64_t large_seed,
			   bool near)
{
	uint64_t seed;

	for (seed = 1; seed <= 48; seed++)
		run_reference(seed * small_seed, 512, 1500, near);
	for (seed = 1; seed <= 3; seed++)
		run_reference(seed * large_seed, 8192, 6000, near);
}

START_TEST(iovad_matches_reference)
{
	run_references(0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, false);
}
END_TEST

START_TEST(iovad_frees_of_the_newest_match_reference)
{
	run_references(0x94d049bb133111ebull, 0xd6e8feb86659fd93ull, true);
}
END_TEST

START_TEST(itree_overlap_matches_brute_force)
{
	enum { N = 300 };
	struct itree tree = { 0 };
	struct itree_node nodes[N];
	uint64_t seed = 42;
	unsigned int i, q;

	/* Disjoint ranges: slot i owns [i * 100, i * 100 + 99]. */
	for (i = 0; i < N; i++) {
		uint64_t len = 1 + rnd(&seed) % 100;

		nodes[i].start = i * 100;
		nodes[i].last = i * 100 + len - 1;
		itree_insert(&tree, &nodes[i]);
	}
	for (i = 0; i < N; i += 3)
		itree_remove(&tree, &nodes[i]);
	for (q = 0; q < 2000; q++) {
		uint64_t start = rnd(&seed) % (N * 100);
		uint64_t last = start + rnd(&seed) % 500;
		struct itree_node *want = NULL, *got;

		for (i = 0; i < N && !want; i++)
			if (i % 3 && nodes[i].start <= last &&
			    nodes[i].last >= start)
				want = &nodes[i];
		got = itree_first_overlap(&tree, start, last);
		ck_assert_msg(got == want, "query [%llu, %llu]: expected %p, got %p",
			      (unsigned long long)start,
			      (unsigned long long)last, (void *)want,
			      (void *)got);
	}
	/* In-order walk sees exactly the live nodes, ascending. */
	{
		struct itree_node *n;
		uint64_t prev = 0;
		unsigned int count = 0;

		for (n = itree_first(&tree); n; n = itree_next(&tree, n)) {
			ck_assert(count == 0 || n->start > prev);
			prev = n->start;
			count++;
		}
		ck_assert_uint_eq(count, N - (N + 2) / 3);
	}
}
END_TEST

/* Locked memory of this process, in pages beyond base; -1 where it cannot
 * be seen: AddressSanitizer and ThreadSanitizer turn mlock() into a
 * no-op. */
static long locked_pages(long base)
{
	char line[256];
	long kb = -1;
	FILE *f;

	if (MLOCK_IS_NOOP)
		return -1;
	f = fopen("/proc/self/status", "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : (kb - base) * 1024 / sysconf(_SC_PAGESIZE);
}

/* Pinned pages as the table counts them and, where visible, as the
 * kernel counts them. */
#define assert_pinned(n)                                                 \
	do {                                                             \
		long k_ = locked_pages(base);                            \
		ck_assert_uint_eq(ctx->pins.used, (n));                  \
		if (k_ >= 0)                                             \
			ck_assert_int_eq(k_, (n));                       \
	} while (0)

START_TEST(pin_counts_overlapping_ranges)
{
	long ps = sysconf(_SC_PAGESIZE), base = 0;
	char *buf = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(buf, MAP_FAILED);
	base = locked_pages(0) * ps / 1024;
	ck_assert_int_eq(host->pin(host, buf, 2 * ps), 0);
	ck_assert_int_eq(host->pin(host, buf + ps, 2 * ps), 0);
	assert_pinned(3);
	/* Unpinning the first range keeps the shared page locked. */
	ck_assert_int_eq(host->unpin(host, buf, 2 * ps), 0);
	assert_pinned(2);
	ck_assert_int_eq(host->unpin(host, buf + ps, 2 * ps), 0);
	assert_pinned(0);
	ck_assert_int_eq(host->unpin(host, buf, ps), -ENOENT);
	ck_assert_int_eq(host->pin(host, NULL, ps), -EINVAL);
	ck_assert_int_eq(host->pin(host, buf, 0), -EINVAL);
	munmap(buf, 4 * ps);
}
END_TEST

START_TEST(pin_table_grows_and_shrinks)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t pages = 1200, i;
	char *buf = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(buf, MAP_FAILED);
	/* Page by page, so the table grows past its first size, then out of
	 * order, so deletions shift probe chains. */
	for (i = 0; i < pages; i++)
		ck_assert_int_eq(host->pin(host, buf + i * ps, 1), 0);
	for (i = 0; i < pages; i += 2)
		ck_assert_int_eq(host->unpin(host, buf + i * ps, 1), 0);
	for (i = 1; i < pages; i += 2)
		ck_assert_int_eq(host->unpin(host, buf + i * ps, 1), 0);
	ck_assert_uint_eq(ctx->pins.used, 0);
	munmap(buf, pages * ps);
}
END_TEST

/* In a child, every descriptor below a limit of 64 taken: a pin, which
 * must open pagemap to tell private memory from shared, fails with
 * -EMFILE and leaves nothing pinned; with descriptors free again,
 * shared memory pinned is still inherited and private memory is not.
 * 0, or the step that failed. */
static int pin_at_the_descriptor_limit(char *priv, char *shr)
{
	long ps = sysconf(_SC_PAGESIZE);
	int fds[128], n, r;

	n = tu_take_every_descriptor(fds, 128);
	if (n < 0)
		return 1;
	r = host->pin(host, priv, ps);
	tu_give_back_descriptors(fds, n);
	if (r != -EMFILE)
		return r == 0 ? 2 : 3;
	if (ctx->pins.used != 0)
		return 4;
	if (host->pin(host, shr, ps) != 0 || !tu_child_reads(shr))
		return 5;
	if (host->unpin(host, shr, ps) != 0)
		return 6;
	/* The child's own page, as the lock would make it, were a
	 * sanitizer's mlock() not a no-op. */
	priv[0] = 0x5a;
	if (host->pin(host, priv, ps) != 0 || tu_child_reads(priv))
		return 7;
	if (host->unpin(host, priv, ps) != 0 || !tu_child_reads(priv))
		return 8;
	return 0;
}

/* Which pinned pages a child of fork() keeps, pagemap's flags say; a
 * pin made when they cannot be read for now fails, and takes nothing
 * for the pins after it: were every page then taken as private, a
 * child would fault on shared memory it was promised. */
START_TEST(pin_fails_where_pagemap_cannot_be_opened_for_now)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *priv = tu_page_of_5a(false), *shr = tu_page_of_5a(true);

	TU_IN_CHILD(pin_at_the_descriptor_limit(priv, shr),
		    "the child without descriptors",
		    "1: no limit set, 2: pinned, 3: not -EMFILE, 4: a page left pinned, 5: shared memory not inherited, 6: unpin, 7: private memory inherited, 8: not inherited after the unpin");
	munmap(priv, ps);
	munmap(shr, ps);
}
END_TEST

/* Whether this process sees frame numbers in its pagemap, which takes
 * CAP_SYS_ADMIN: asked of the kernel, not of geteuid(), which says 0
 * under fakeroot (a package build) and in a container without the
 * capability too. */
static bool sees_frame_numbers(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok;

	ok = fd >= 0 && pread(fd, &e, sizeof(e),
			      (off_t)((uintptr_t)&fd / ps * 8)) == 8 &&
	     (e & ((1ull << 55) - 1)) != 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

START_TEST(virt_to_phys_as_root)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *buf = aligned_alloc(ps, ps);
	uint64_t phys = 0;

	buf[0] = 1;	/* present */
	ck_assert_int_eq(host->virt_to_phys(host, buf + 123, &phys), 0);
	ck_assert_uint_ne(phys, 0);
	ck_assert_uint_eq(phys % ps, 123);
	free(buf);
}
END_TEST

/* Whether a file descriptor of this process is open on its pagemap. */
static bool pagemap_open(void)
{
	char path[64], target[64];
	bool found = false;
	int fd;

	for (fd = 0; fd < 1024 && !found; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		found = strstr(target, "/pagemap") != NULL;
	}
	return found;
}

/* Without CAP_SYS_ADMIN (dropped here, when the process has it): -EPERM,
 * and the pagemap file, which the kernel opened without frame numbers
 * for good, is not kept; with the capability back, the next call opens
 * it again and reads the address. */
START_TEST(virt_to_phys_needs_privilege)
{
	bool dropped = false;
	char c = 1;
	uint64_t phys = 0;

	if (sees_frame_numbers()) {
		ck_assert(tu_cap_effective(CAP_SYS_ADMIN, false));
		dropped = true;
		ck_assert_msg(!sees_frame_numbers(),
			      "frame numbers still visible without CAP_SYS_ADMIN");
	}
	ck_assert_int_eq(host->virt_to_phys(host, &c, &phys), -EPERM);
	ck_assert_msg(!pagemap_open(), "the pagemap file was kept");
	if (dropped) {
		ck_assert(tu_cap_effective(CAP_SYS_ADMIN, true));
		ck_assert_int_eq(host->virt_to_phys(host, &c, &phys), 0);
		ck_assert_uint_ne(phys, 0);
	}
}
END_TEST

/*
 * Objects of a size that does not divide a page, over several pages:
 * each one zeroed, none overlapping another (each holds its own pattern
 * until freed), a freed one handed out again, and every page unmapped
 * once its last object goes, whatever the order of the frees.
 */
START_TEST(slab_objects_are_disjoint_and_pages_go_when_empty)
{
	enum { N = 5000, OBJ = 44, ROUNDED = 48 };
	static unsigned char *obj[N];
	static const unsigned char zero[ROUNDED];
	unsigned char want[ROUNDED];
	struct slab s;
	unsigned int i, pages, seed = 7;

	/* One assertion per object, not per byte: each passing one costs
	 * Check a write, and a per-byte loop made this test slow enough to
	 * time out in a sanitizer build on a loaded machine. */
	slab_init(&s, OBJ);
	for (i = 0; i < N; i++) {
		obj[i] = slab_alloc(&s);
		ck_assert_ptr_nonnull(obj[i]);
		ck_assert_msg(!memcmp(obj[i], zero, ROUNDED),
			      "object %u is not zeroed", i);
		memset(obj[i], (int)(i & 0xff) | 1, ROUNDED);
	}
	ck_assert_uint_ge(s.pages, 3);
	for (i = 0; i < N; i++) {
		memset(want, (int)(i & 0xff) | 1, ROUNDED);
		ck_assert_msg(!memcmp(obj[i], want, ROUNDED),
			      "object %u overlaps another", i);
	}
	/* A random half freed, then taken again: no page is added. */
	for (i = 0; i < N; i++) {
		unsigned int k = (seed = seed * 1103515245u + 12345u) % N;

		if (obj[k]) {
			slab_free(&s, obj[k]);
			obj[k] = NULL;
		}
	}
	pages = s.pages;
	for (i = 0; i < N; i++)
		if (!obj[i]) {
			obj[i] = slab_alloc(&s);
			ck_assert_ptr_nonnull(obj[i]);
			ck_assert_msg(!memcmp(obj[i], zero, ROUNDED),
				      "reused object %u is not zeroed", i);
			memset(obj[i], (int)(i & 0xff) | 1, ROUNDED);
		}
	ck_assert_uint_eq(s.pages, pages);
	for (i = 0; i < N; i++) {
		memset(want, (int)(i & 0xff) | 1, ROUNDED);
		ck_assert_msg(!memcmp(obj[i], want, ROUNDED),
			      "object %u overlaps another after reuse", i);
	}
	/* Freed from the middle outwards: pages go as they empty. */
	for (i = 0; i < N / 2; i++) {
		slab_free(&s, obj[N / 2 + i]);
		slab_free(&s, obj[N / 2 - 1 - i]);
	}
	ck_assert_uint_eq(s.pages, 0);
	slab_fini(&s);
}
END_TEST

/* Every object of s freed: its pages go, then s. */
static void free_all(struct slab *s, void **objs, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		slab_free(s, objs[i]);
	ck_assert_uint_eq(s->pages, 0);
	slab_fini(s);
}

/*
 * Groups taken in turn by two owners, as two threads refilling their
 * spares do: each group zeroed and end to end, as many objects as fill
 * whole cache lines (fewer only at a page's end), and no 64-byte line
 * holding bytes of both owners' objects.  For sizes that divide a line,
 * that a line divides, and neither.
 */
START_TEST(slab_groups_own_their_cache_lines)
{
	static const size_t sizes[] = { 8, 24, 40, 48, 56, 64, 72, 200 };
	enum { GROUPS = 3000, LINE = 64, PAGE = 64 << 10, PAGES = 96 };
	static const unsigned char zero[256];
	/* Owner + 1 of each line, by page (slab pages are PAGE-aligned). */
	static unsigned char owner_of[PAGES][PAGE / LINE];
	static uintptr_t page_base[PAGES];
	static void *all[GROUPS * SLAB_GROUP_MAX];
	void *objs[SLAB_GROUP_MAX];
	unsigned int k, g, i, n, nall, npages, short_groups;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t obj = sizes[k], line_share = LINE;
		struct slab s;

		while (obj % line_share)
			line_share /= 2;
		slab_init(&s, obj);
		ck_assert_uint_eq(s.group, LINE / line_share);
		memset(owner_of, 0, sizeof(owner_of));
		npages = nall = short_groups = 0;
		for (g = 0; g < GROUPS; g++) {
			unsigned char owner = (unsigned char)(1 + (g & 1));

			n = slab_alloc_many(&s, objs, s.group);
			ck_assert_uint_ge(n, 1);
			ck_assert_uint_le(n, s.group);
			short_groups += n < s.group;
			for (i = 0; i < n; i++) {
				uintptr_t a = (uintptr_t)objs[i], l, base;
				unsigned int p;

				all[nall++] = objs[i];
				ck_assert_msg(!memcmp(objs[i], zero, obj),
					      "size %zu: object not zeroed", obj);
				if (i)
					ck_assert_ptr_eq(objs[i],
							 (char *)objs[i - 1] + obj);
				memset(objs[i], 0x5a, obj);
				base = a & ~(uintptr_t)(PAGE - 1);
				for (p = 0; p < npages && page_base[p] != base; p++)
					;
				if (p == npages) {
					ck_assert_uint_lt(npages, PAGES);
					page_base[npages++] = base;
				}
				for (l = (a - base) / LINE;
				     l <= (a - base + obj - 1) / LINE; l++) {
					if (!owner_of[p][l])
						owner_of[p][l] = owner;
					ck_assert_msg(owner_of[p][l] == owner,
						      "size %zu: a line holds objects of both owners",
						      obj);
				}
			}
		}
		/* A page's last group alone may come short. */
		ck_assert_uint_le(short_groups, npages);
		free_all(&s, all, nall);
	}
}
END_TEST

/* A single object puts the next group off its line's start: that group
 * stops at the line's end, and the one after is whole and starts on a
 * line.  A freed object comes back alone. */
START_TEST(slab_group_after_a_single_object)
{
	enum { OBJ = 56, LINE = 64 };
	void *objs[SLAB_GROUP_MAX], *single, *all[3 * SLAB_GROUP_MAX];
	unsigned int n, i, nall = 0;
	struct slab s;

	slab_init(&s, OBJ);
	ck_assert_uint_eq(s.group, 8);
	single = slab_alloc(&s);
	ck_assert_ptr_nonnull(single);
	n = slab_alloc_many(&s, objs, SLAB_GROUP_MAX);
	ck_assert_uint_eq(n, 7);
	ck_assert_ptr_eq(objs[0], (char *)single + OBJ);
	ck_assert_uint_eq(((uintptr_t)objs[n - 1] + OBJ) % LINE, 0);
	for (i = 0; i < n; i++)
		all[nall++] = objs[i];
	n = slab_alloc_many(&s, objs, SLAB_GROUP_MAX);
	ck_assert_uint_eq(n, 8);
	ck_assert_uint_eq((uintptr_t)objs[0] % LINE, 0);
	for (i = 0; i < n; i++)
		all[nall++] = objs[i];
	slab_free(&s, single);
	n = slab_alloc_many(&s, objs, SLAB_GROUP_MAX);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(objs[0], single);
	all[nall++] = objs[0];
	free_all(&s, all, nall);
}
END_TEST

/*
 * A batch, as a thread's refill takes it: freed objects first, then
 * fresh ones in whole groups only, as many as fit; a chain of objects
 * freed in one call, down to the last page.
 */
START_TEST(slab_batches_take_freed_objects_first)
{
	enum { OBJ = 56, LINE = 64, BATCH = 32, FREED = 10 };
	static const unsigned char zero[OBJ];
	void *objs[BATCH], *all[4 * BATCH], *chain = NULL;
	unsigned int n, i, j, nall = 0;
	struct slab s;

	slab_init(&s, OBJ);
	for (j = 0; j < 2; j++) {
		n = slab_alloc_many(&s, objs, BATCH);
		ck_assert_uint_eq(n, BATCH);	/* four whole groups */
		ck_assert_uint_eq((uintptr_t)objs[0] % LINE, 0);
		for (i = 0; i < n; i++)
			all[nall++] = objs[i];
	}
	ck_assert_uint_eq(s.pages, 1);
	/* Every third object, chained through its first word. */
	for (i = 0; i < FREED; i++) {
		memset(all[3 * i], 0x5a, OBJ);
		*(void **)all[3 * i] = chain;
		chain = all[3 * i];
	}
	slab_free_chain(&s, chain);
	n = slab_alloc_many(&s, objs, BATCH);
	/* The freed, then two groups: a third would not fit. */
	ck_assert_uint_eq(n, FREED + 2 * s.group);
	for (i = 0; i < n; i++) {
		ck_assert_msg(!memcmp(objs[i], zero, OBJ), "object %u not zeroed",
			      i);
		for (j = 0; j < FREED && objs[i] != all[3 * j]; j++)
			;
		ck_assert_msg((i < FREED) == (j < FREED),
			      "object %u: freed ones first, then fresh", i);
	}
	ck_assert_uint_eq((uintptr_t)objs[FREED] % LINE, 0);
	for (i = FREED; i < n; i++)
		all[nall++] = objs[i];
	/* Everything, in one chain: the page goes. */
	chain = NULL;
	for (i = 0; i < nall; i++) {
		*(void **)all[i] = chain;
		chain = all[i];
	}
	slab_free_chain(&s, chain);
	ck_assert_uint_eq(s.pages, 0);
	slab_fini(&s);
}
END_TEST

/* A batch that took freed objects maps no page for the rest: a page it
 * mapped and left unused would stay mapped, with nothing to free that
 * would unmap it. */
START_TEST(slab_batch_maps_no_page_it_leaves_unused)
{
	enum { OBJ = 56, BATCH = 32, FREED = 30 };
	static void *all[2048];
	void *objs[BATCH], *chain = NULL;
	unsigned int n, i;
	struct slab s;

	slab_init(&s, OBJ);
	ck_assert_uint_le(s.per_page, sizeof(all) / sizeof(all[0]));
	for (i = 0; i < s.per_page; i++) {
		all[i] = slab_alloc(&s);
		ck_assert_ptr_nonnull(all[i]);
	}
	ck_assert_uint_eq(s.pages, 1);
	for (i = 0; i < FREED; i++) {
		*(void **)all[i] = chain;
		chain = all[i];
	}
	slab_free_chain(&s, chain);
	/* The freed ones fill the page again; a group would not fit. */
	n = slab_alloc_many(&s, objs, BATCH);
	ck_assert_uint_eq(n, FREED);
	ck_assert_uint_eq(s.pages, 1);
	for (i = 0; i < n; i++)
		all[i] = objs[i];
	free_all(&s, all, s.per_page);
}
END_TEST

/* A thread's windows, made and destroyed: their objects stay in the
 * thread's slot of the device as its spares. */
#define SPARE_WINDOWS 40

static void *windows_then_exit(void *arg)
{
	struct dmasplit_dev *dev = arg;
	struct dmasplit_iova *iova[SPARE_WINDOWS];
	unsigned int i;

	for (i = 0; i < SPARE_WINDOWS; i++)
		if (dmasplit_iova_alloc(dev, 4096, 0, &iova[i]))
			return NULL;
	for (i = 0; i < SPARE_WINDOWS; i++)
		dmasplit_iova_destroy(iova[i]);
	return dev;
}

/* The spare window objects a thread that has ended left in its slot go
 * with the next trim: only running threads keep theirs. */
START_TEST(trim_frees_the_spares_of_threads_that_ended)
{
	static const char *const sim[] = { "swiotlb-sim", NULL };
	struct dmasplit_ctx *sim_ctx = tu_ctx_with(sim);
	struct dmasplit_dev *dev;
	pthread_t thread;
	void *done;

	dmasplit_ctx_set_check(sim_ctx, 0);
	ck_assert_int_eq(dmasplit_dev_open(sim_ctx, "sim:spares", &dev), 0);
	ck_assert_int_eq(pthread_create(&thread, NULL, windows_then_exit,
					dev), 0);
	ck_assert_int_eq(pthread_join(thread, &done), 0);
	ck_assert_ptr_eq(done, dev);
	ck_assert_uint_ge(dev->win_slab.pages, 1);
	ck_assert_int_eq(dmasplit_dev_trim(dev), 0);
	ck_assert_uint_eq(dev->win_slab.pages, 0);
	/* The slot is free again for a new thread, which makes windows. */
	ck_assert_int_eq(pthread_create(&thread, NULL, windows_then_exit,
					dev), 0);
	ck_assert_int_eq(pthread_join(thread, &done), 0);
	ck_assert_ptr_eq(done, dev);
	dmasplit_dev_close(dev);
	tu_ctx_free(sim_ctx);
}
END_TEST

/* The services a backend calls refuse what would crash them or lead out
 * of the sysfs root, with -EINVAL, and create nothing. */
START_TEST(host_services_refuse_null_and_escapes)
{
	char dir[] = "/tmp/dmasplit-sysfs-XXXXXX", path[64], buf[8];
	struct dmasplit_peer peer;
	enum dmasplit_p2p_map map;
	int fd = -1;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, dir), 0);
	ck_assert_int_eq(host->sysfs_open(host, "created", O_CREAT | O_WRONLY,
					  &fd), -EINVAL);
	ck_assert_int_eq(host->sysfs_open(host, "created", O_RDWR | O_TMPFILE,
					  &fd), -EINVAL);
	ck_assert_int_eq(host->sysfs_open(host, "created", O_RDWR | O_TRUNC,
					  &fd), -EINVAL);
	snprintf(path, sizeof(path), "%s/created", dir);
	ck_assert_msg(access(path, F_OK) < 0, "sysfs_open created %s", path);
	ck_assert_int_eq(host->sysfs_read(host, "../etc/hostname", buf,
					  sizeof(buf)), -EINVAL);
	ck_assert_int_eq(host->sysfs_read(host, "bus/../../x", buf,
					  sizeof(buf)), -EINVAL);
	/* A name with dots that is no ".." component is a name. */
	ck_assert_int_eq(host->sysfs_read(host, "a..b", buf, sizeof(buf)),
			 -ENOENT);
	ck_assert_int_eq(host->peer_add(host, NULL), -EINVAL);
	ck_assert_int_eq(host->peer_del(host, NULL), -EINVAL);
	ck_assert_int_eq(host->peer_find(host, buf, 1, NULL), -EINVAL);
	ck_assert_int_eq(host->peer_find(NULL, buf, 1, &peer), -EINVAL);
	ck_assert_int_eq(host->p2p_distance(host, "0000:00:01.0", "../../x",
					    &map, NULL, 0), -EINVAL);
	ck_assert_int_eq(host->p2p_distance(host, "0000:00:01.0",
					    "0000:00:02.0", NULL, NULL, 0),
			 -EINVAL);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* A sysfs tree with one attribute, one link and one FIFO. */
static void fill_sysfs(const char *dir)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/attr", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("1\n", f);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/link", dir);
	ck_assert_int_eq(symlink("attr", path), 0);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
}

static void empty_sysfs(const char *dir)
{
	static const char *const names[] = { "attr", "link", "fifo" };
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}

/* Anything but a regular file is refused, the open not waiting: a FIFO
 * for reading, and for writing, where no reader gives ENXIO. */
START_TEST(sysfs_open_refuses_a_fifo_either_way)
{
	char dir[] = "/tmp/dmasplit-sysfs-XXXXXX";
	int fd = -1;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	fill_sysfs(dir);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, dir), 0);
	ck_assert_int_eq(host->sysfs_open(host, "fifo", O_RDONLY, &fd), -EINVAL);
	ck_assert_int_eq(host->sysfs_open(host, "fifo", O_WRONLY, &fd), -EINVAL);
	ck_assert_int_eq(host->sysfs_open(host, "fifo", O_RDWR, &fd), -EINVAL);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(host->sysfs_open(host, "attr", O_RDONLY, &fd), 0);
	ck_assert_int_eq(close(fd), 0);
	empty_sysfs(dir);
}
END_TEST

struct services_run {
	int read_r, readlink_r, open_r, dist_r, bar_r;
	bool returned;
};

static void *services_with_a_cancel_pending(void *arg)
{
	struct services_run *run = arg;
	enum dmasplit_p2p_map map;
	char buf[16];
	uint64_t bus;
	int fd = -1;

	/* Pending from here on: the next cancellation point acts on it. */
	pthread_cancel(pthread_self());
	run->read_r = host->sysfs_read(host, "attr", buf, sizeof(buf));
	run->readlink_r = host->sysfs_readlink(host, "link", buf, sizeof(buf));
	run->open_r = host->sysfs_open(host, "attr", O_RDONLY, &fd);
	if (fd >= 0)
		syscall(SYS_close, fd);		/* close(2) would act on it */
	run->dist_r = host->p2p_distance(host, A, B, &map, NULL, 0);
	run->bar_r = host->pci_bar_bus(host, A, 0, &bus);
	run->returned = true;
	return NULL;
}

/* dmasplit-backend(7): the host services disable cancellation where they
 * read files, so that a backend calling one under its own lock is not
 * left with the lock held by a thread that ended there. */
START_TEST(host_services_that_read_files_are_no_cancellation_points)
{
	struct services_run run = { 0 };
	void *ret = (void *)1;
	pthread_t tid;

	tree_new();
	switch_tree(-1, -1, -1);
	fill_sysfs(tree_root);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, tree_root), 0);
	ck_assert_int_eq(pthread_create(&tid, NULL,
					services_with_a_cancel_pending, &run), 0);
	ck_assert_int_eq(pthread_join(tid, &ret), 0);
	ck_assert_msg(run.returned && ret == NULL,
		      "a host service was a cancellation point (read %d, readlink %d, open %d, p2p_distance %d, pci_bar_bus %d)",
		      run.read_r, run.readlink_r, run.open_r, run.dist_r,
		      run.bar_r);
	ck_assert_int_eq(run.read_r, 0);
	ck_assert_int_eq(run.readlink_r, 0);
	ck_assert_int_eq(run.open_r, 0);
	ck_assert_int_ge(run.dist_r, 0);	/* below one switch */
	tree_free();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("services");
	TCase *tc = tcase_create("iovad");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, iovad_rejects_bad_arguments);
	tcase_add_test(tc, iovad_never_returns_zero_and_fits_lowest);
	tcase_add_test(tc, iovad_respects_limit_and_reports_full);
	tcase_add_test(tc, iovad_refuses_double_and_foreign_free);
	tcase_add_test(tc, iovad_reserve_carves_regions);
	tcase_add_test(tc, iovad_top_block_joins_and_splits);
	tcase_add_test(tc, iovad_matches_model);
	tcase_add_test(tc, iovad_matches_reference);
	tcase_add_test(tc, iovad_frees_of_the_newest_match_reference);
	tcase_add_test(tc, iovad_aligned_is_the_lowest_aligned_fit);
	tcase_add_test(tc, iovad_frees_across_ranges_that_meet);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("itree");
	tcase_add_test(tc, itree_overlap_matches_brute_force);
	suite_add_tcase(s, tc);

	tc = tcase_create("slab");
	tcase_add_test(tc, slab_objects_are_disjoint_and_pages_go_when_empty);
	tcase_add_test(tc, slab_groups_own_their_cache_lines);
	tcase_add_test(tc, slab_group_after_a_single_object);
	tcase_add_test(tc, slab_batches_take_freed_objects_first);
	tcase_add_test(tc, slab_batch_maps_no_page_it_leaves_unused);
	tcase_add_test(tc, trim_frees_the_spares_of_threads_that_ended);
	tcase_set_timeout(tc, 60);	/* 5000 objects, each one checked */
	suite_add_tcase(s, tc);

	tc = tcase_create("pin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pin_counts_overlapping_ranges);
	tcase_add_test(tc, pin_table_grows_and_shrinks);
	tcase_add_test(tc, pin_fails_where_pagemap_cannot_be_opened_for_now);
	tu_add_test_if(tc, virt_to_phys_as_root, sees_frame_numbers(),
		       "reading physical addresses needs CAP_SYS_ADMIN");
	tcase_add_test(tc, virt_to_phys_needs_privilege);
	suite_add_tcase(s, tc);

	tc = tcase_create("host");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, host_services_refuse_null_and_escapes);
	tcase_add_test(tc, sysfs_open_refuses_a_fifo_either_way);
	tcase_add_test(tc, host_services_that_read_files_are_no_cancellation_points);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
