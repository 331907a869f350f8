// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Backends that fail or misbehave, through the recording test backends,
 * with the checker on and off: errors reach the caller with the counts
 * right, addresses a device cannot use are refused, and the core without
 * the checker still refuses what it knows.
 */
#include <errno.h>
#include <pthread.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>

#include "apiutil.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Backends that fail or misbehave                                      */

static struct dmasplit_dev *open_other(const char *spec, const char *backend)
{
	struct dmasplit_dev *d;

	ck_assert_msg(dmasplit_dev_open_backend(ctx, spec, backend, &d) == 0,
		      "open %s: log:\n%s", spec, tu_log_text());
	tu_log_clear();
	return d;
}

/* Three buffers that no backend merges into fewer segments. */
static void three_buffers(struct iovec *iov)
{
	iov[0].iov_base = buf;
	iov[0].iov_len = 100;
	iov[1].iov_base = buf + 2 * G;
	iov[1].iov_len = 200;
	iov[2].iov_base = buf + 4 * G;
	iov[2].iov_len = 300;
}

START_TEST(unmap_vec_returns_the_backend_error_and_counts_what_went)
{
	struct iovec iov[3];
	struct dmasplit_seg segs[3];
	unsigned int nsegs = 3;
	struct dmasplit_dev *d;
	int r;

	/* Per segment (no backend vector operation): the second fails. */
	d = open_other("sim:v,testa.fail=unmap,testa.failskip=1", "testa");
	three_buffers(iov);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	r = dmasplit_unmap_vec(d, segs, 3, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EIO, "unmap_vec: expected -EIO from the backend, got %d", r);
	ck_assert_msg(stats_of(d).unmaps == 1 && stats_of(d).mappings_live == 2,
		      "expected 1 unmap counted and 2 live, got %llu and %llu",
		      (unsigned long long)stats_of(d).unmaps,
		      (unsigned long long)stats_of(d).mappings_live);
	/* What stayed mapped is still a vector to unmap. */
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs + 1, 2, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(stats_of(d).mappings_live, 0);
	dmasplit_dev_close(d);

	/* A vector operation fails whole: nothing counted, all still mapped. */
	d = open_other("sim:w,testb.fail=unmap_vec", "testb");
	nsegs = 3;
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 3);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 3, DMASPLIT_TO_DEVICE, 0), -EIO);
	ck_assert_msg(stats_of(d).unmaps == 0 && stats_of(d).mappings_live == 3,
		      "expected nothing counted, got %llu unmaps",
		      (unsigned long long)stats_of(d).unmaps);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 3, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_uint_eq(stats_of(d).mappings_live, 0);
	tu_log_clear();
	dmasplit_dev_close(d);
	ck_assert_msg(!tu_log_has("leaked") && !tu_log_has("still live"),
		      "log:\n%s", tu_log_text());
}
END_TEST

START_TEST(failed_unlink_leaves_the_link_in_place)
{
	struct dmasplit_iova *iova;
	struct dmasplit_dev *d = open_other("sim:u,testa.fail=unlink", "testa");

	ck_assert_int_eq(dmasplit_iova_alloc(d, 4 * G, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, 2 * G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_sync(iova, 0, 2 * G), 0);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_TO_DEVICE, 0), -EIO);
	/* Still linked, as the backend says: sync, then unlink, work. */
	ck_assert_msg(dmasplit_iova_sync(iova, 0, 2 * G) == 0,
		      "sync after a failed unlink refused, log:\n%s", tu_log_text());
	ck_assert_msg(dmasplit_iova_unlink(iova, 0, 2 * G, DMASPLIT_TO_DEVICE, 0) == 0,
		      "unlink after a failed unlink refused, log:\n%s", tu_log_text());
	ck_assert_uint_eq(stats_of(d).unlinks, 1);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(checker_refuses_a_vector_with_a_segment_twice)
{
	struct iovec iov[3];
	struct dmasplit_seg segs[3], twice[2];
	unsigned int nsegs = 3;
	struct dmasplit_dev *d = open_other("sim:t", "testb");

	three_buffers(iov);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 2);
	twice[0] = segs[0];
	twice[1] = segs[0];
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap_vec(d, twice, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_msg(tu_log_count("\n") == 1 && !tu_log_has("testb: unmap"),
		      "expected one line and no backend call, log:\n%s", tu_log_text());
	nsegs = 1;
	ck_assert_int_eq(dmasplit_map_vec(d, iov + 2, 1, DMASPLIT_TO_DEVICE, 0,
					  segs + 2, &nsegs), 0);
	twice[0] = segs[2];
	twice[1] = segs[2];
	ck_assert_int_eq(dmasplit_unmap_vec(d, twice, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 2, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs + 2, 1, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(checker_unmaps_a_vector_only_as_mapped)
{
	struct iovec iov[3];
	struct dmasplit_seg segs[3], other[1], bad[3];
	unsigned int nsegs = 3, one = 1;
	struct dmasplit_dev *d = open_other("sim:o", "testb");

	three_buffers(iov);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, 3);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 1, DMASPLIT_TO_DEVICE, 0, other, &one), 0);
	/* Another order. */
	bad[0] = segs[1];
	bad[1] = segs[0];
	refused(dmasplit_unmap_vec(d, bad, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("unmap the vector as dmasplit_map_vec returned it"));
	bad[0] = segs[0];
	bad[1] = segs[2];
	bad[2] = segs[1];
	refused(dmasplit_unmap_vec(d, bad, 3, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	/* A subset, from the front or not. */
	refused(dmasplit_unmap_vec(d, segs, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert(tu_log_has("2 segments, but the vector mapped at"));
	refused(dmasplit_unmap_vec(d, segs + 1, 2, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	/* Segments of two calls. */
	bad[0] = segs[0];
	bad[1] = segs[1];
	bad[2] = other[0];
	refused(dmasplit_unmap_vec(d, bad, 3, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	ck_assert_uint_eq(stats_of(d).mappings_live, 4);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 3, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap_vec(d, other, 1, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

/* Every way a backend can hand out addresses the device cannot use is
 * refused, undone and blamed on the backend, checker or not. */
static void bad_addresses_refused(void)
{
	static const char *const modes[] = { "zero", "wrap", "mask" };
	struct iovec iov[3];
	struct dmasplit_seg segs[3];
	unsigned int i, nsegs;
	char spec[64];

	three_buffers(iov);
	for (i = 0; i < 3; i++) {
		struct dmasplit_iova *iova = NULL;
		struct dmasplit_dev *d;
		uint64_t dma = 7;
		void *cpu = NULL;

		snprintf(spec, sizeof(spec), "sim:bad,testb.badaddr=%s", modes[i]);
		d = open_other(spec, "testb");
		ck_assert_int_eq(dmasplit_iova_alloc(d, 2 * G, 0, &iova), -EIO);
		ck_assert_ptr_null(iova);
		ck_assert_msg(tu_log_count("backend testb returned device address") == 1 &&
			      tu_log_has("testb: iova_destroy"),
			      "%s: window: log:\n%s", modes[i], tu_log_text());
		tu_log_clear();
		ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -EIO);
		ck_assert_uint_eq(dma, 7);
		ck_assert_msg(tu_log_count("backend testb returned device address") == 1 &&
			      tu_log_has("testb: unmap dma="),
			      "%s: map: log:\n%s", modes[i], tu_log_text());
		nsegs = 3;
		ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0,
						  segs, &nsegs), 0);
		ck_assert_int_eq(dmasplit_unmap_vec(d, segs, nsegs, DMASPLIT_TO_DEVICE, 0), 0);
		tu_log_clear();
		ck_assert_int_eq(dmasplit_alloc_coherent(d, G, 0, &cpu, &dma), -EIO);
		ck_assert_msg(tu_log_count("backend testb returned device address") == 1 &&
			      tu_log_has("testb: free_coherent"),
			      "%s: coherent: log:\n%s", modes[i], tu_log_text());
		ck_assert_uint_eq(stats_of(d).windows_live, 0);
		ck_assert_uint_eq(stats_of(d).mappings_live, 0);
		tu_log_clear();
		dmasplit_dev_close(d);
		ck_assert_msg(!tu_log_has("leaked") && !tu_log_has("still live"),
			      "%s: log:\n%s", modes[i], tu_log_text());
	}
	/* A backend that says it mapped but gives no address: address 0,
	 * not whatever the library's or the caller's memory held. */
	{
		struct dmasplit_dev *d = open_other("sim:nf,testb.nofill", "testb");
		uint64_t dma = 7;
		void *cpu = NULL;

		ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -EIO);
		ck_assert_uint_eq(dma, 7);
		ck_assert_msg(tu_log_has("0x0+0x1000 from map, which the device cannot use (address 0)"),
			      "nofill: map: log:\n%s", tu_log_text());
		tu_log_clear();
		nsegs = 3;
		for (i = 0; i < 3; i++)
			segs[i] = (struct dmasplit_seg){ .dma = 0x10000 * (i + 1), .len = G };
		ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0,
						  segs, &nsegs), -EIO);
		ck_assert_msg(tu_log_has("from map_vec, which the device cannot use (address 0)"),
			      "nofill: map_vec: log:\n%s", tu_log_text());
		tu_log_clear();
		ck_assert_int_eq(dmasplit_alloc_coherent(d, G, 0, &cpu, &dma), -EIO);
		ck_assert(cpu == NULL && dma == 7);
		ck_assert_msg(tu_log_has("from alloc_coherent, which the device cannot use (address 0)"),
			      "nofill: coherent: log:\n%s", tu_log_text());
		/* Window objects are reused: the second and later must not
		 * give what the last one's memory held either. */
		for (i = 0; i < 3; i++) {
			struct dmasplit_iova *w = NULL;

			tu_log_clear();
			ck_assert_int_eq(dmasplit_iova_alloc(d, G, 0, &w), -EIO);
			ck_assert_ptr_null(w);
			ck_assert_msg(tu_log_count("from iova_alloc, which the device cannot use (address 0)") == 1,
				      "nofill: window %u: log:\n%s", i, tu_log_text());
		}
		ck_assert_uint_eq(stats_of(d).windows_live, 0);
		dmasplit_dev_close(d);
		tu_log_clear();
	}
}

/* The checker releases what a program leaked when the device goes; what
 * the backend then fails to release is said, not passed over. */
START_TEST(checker_says_what_the_backend_could_not_release)
{
	struct dmasplit_dev *d = open_other("sim:rf,testa.fail=unmap", "testa");
	uint64_t dma;

	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	tu_log_clear();
	dmasplit_dev_close(d);
	ck_assert_msg(tu_log_has("leaked dmasplit_map mapping") &&
		      tu_log_has("backend testa returned -5 (Input/output error) from unmap of") &&
		      tu_log_has("at release: it may stay mapped"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
}
END_TEST

START_TEST(checker_refuses_unusable_backend_addresses)
{
	bad_addresses_refused();
}
END_TEST

START_TEST(unchecked_refuses_unusable_backend_addresses)
{
	bad_addresses_refused();
}
END_TEST

START_TEST(unchecked_live_counts_never_wrap)
{
	struct dmasplit_dev_stats st;
	struct dmasplit_dev *d = open_other("sim:lax,testa.lax", "testa");
	uint64_t dma;

	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_FROM_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_FROM_DEVICE, 0), 0);
	/* The backend wrongly accepts what it no longer holds. */
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(d, dma + G, G, DMASPLIT_FROM_DEVICE, 0), 0);
	tu_log_clear();
	st = stats_of(d);
	ck_assert_msg(st.mappings_live == 0, "mappings_live: expected 0, got %llu",
		      (unsigned long long)st.mappings_live);
	ck_assert_msg(tu_log_has("backend testa released 2 more mappings than were made"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	dmasplit_dev_close(d);
	ck_assert_msg(!tu_log_has("mappings still live"), "log:\n%s", tu_log_text());
}
END_TEST

START_TEST(unchecked_backend_errors_outside_the_contract_become_eio)
{
	struct dmasplit_dev *d;
	uint64_t dma = 7;
	int r;

	/* ECHILD means nothing for a map: the caller gets EIO and a line. */
	d = open_other("sim:e,testa.fail=map,testa.errno=10", "testa");
	r = dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma);
	ck_assert_msg(r == -EIO, "expected -EIO, got %d", r);
	ck_assert_msg(tu_log_count("\n") == 2 &&
		      tu_log_has("backend testa returned -10 (No child processes) from map"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(stats_of(d).maps, 0);
	dmasplit_dev_close(d);
	/* A documented one passes as it is, without a line of the core's. */
	d = open_other("sim:e,testa.fail=map,testa.errno=28", "testa");
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -ENOSPC);
	ck_assert(!tu_log_has("which that call may not return"));
	dmasplit_dev_close(d);
	/* The same for an unmap (ENOSPC is not an unmap's). */
	d = open_other("sim:e,testa.fail=unmap,testa.errno=28", "testa");
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_TO_DEVICE, 0), -EIO);
	ck_assert(tu_log_has("from unmap, which that call may not return"));
	ck_assert_int_eq(dmasplit_unmap(d, dma, G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

/* A batch of n pages, every other page of buf, mapped per range: one
 * segment each. */
static struct dmasplit_batch *batch_of_pages(struct dmasplit_dev *d,
					     unsigned int n,
					     const struct dmasplit_seg **segs)
{
	struct dmasplit_batch *batch;
	unsigned int nsegs, i;

	ck_assert_int_eq(dmasplit_batch_new(d, DMASPLIT_TO_DEVICE, 0, &batch), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(dmasplit_batch_add(batch, buf + 2 * i * G, G), 0);
	ck_assert_int_eq(dmasplit_batch_map(batch, segs, &nsegs), 0);
	ck_assert_uint_eq(nsegs, n);
	return batch;
}

/* A batch mapped per range on a backend without a vector unmap: an unmap
 * that fails part-way keeps what is still mapped, and the next try
 * releases exactly that. */
START_TEST(batch_unmap_failing_part_way_keeps_the_rest_for_another_try)
{
	struct dmasplit_dev *d = open_other("sim:e,nowin,testa.fail=unmap,testa.failskip=1",
					    "testa");
	const struct dmasplit_seg *segs;
	struct dmasplit_batch *batch;
	struct dmasplit_dev_stats st;

	batch = batch_of_pages(d, 3, &segs);
	/* The second segment's unmap fails; the first is released. */
	ck_assert_int_eq(dmasplit_batch_unmap(batch), -EIO);
	st = stats_of(d);
	ck_assert_uint_eq(st.unmaps, 1);
	ck_assert_uint_eq(st.mappings_live, 2);
	/* What was handed out stays; the syncs cover what is mapped. */
	ck_assert_uint_eq(segs[0].len, G);
	ck_assert_uint_eq(segs[2].len, G);
	ck_assert_int_eq(dmasplit_batch_sync_for_device(batch), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_batch_unmap(batch), 0);
	/* Two segments left, two unmaps: the released one is not retried. */
	ck_assert_msg(tu_log_count("testa: unmap dma=") == 2, "log:\n%s",
		      tu_log_text());
	st = stats_of(d);
	ck_assert_uint_eq(st.unmaps, 3);
	ck_assert_uint_eq(st.mappings_live, 0);
	dmasplit_batch_free(batch);
	dmasplit_dev_close(d);
}
END_TEST

/* A batch's syncs cover the segments an unmap that failed part way left
 * mapped (dmasplit_batch_new(3)), none of those it released. */
START_TEST(batch_sync_after_a_partial_unmap_skips_the_released_segments)
{
	struct dmasplit_dev *d = open_other("sim:e,nowin,testa.fail=unmap,testa.failskip=1",
					    "testa");
	const struct dmasplit_seg *segs;
	struct dmasplit_batch *batch;
	char line[64];

	batch = batch_of_pages(d, 3, &segs);
	/* The second segment's unmap fails; the first is released. */
	ck_assert_int_eq(dmasplit_batch_unmap(batch), -EIO);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_batch_sync_for_device(batch), 0);
	ck_assert_int_eq(dmasplit_batch_sync_for_cpu(batch), 0);
	/* Two syncs each, of the segments still mapped; none of segment 0. */
	ck_assert_msg(tu_log_count("testa: sync dma=") == 4, "log:\n%s",
		      tu_log_text());
	snprintf(line, sizeof(line), "testa: sync dma=0x%llx ",
		 (unsigned long long)segs[0].dma);
	ck_assert_msg(!tu_log_has(line), "released segment synced; log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_batch_unmap(batch), 0);
	dmasplit_batch_free(batch);
	dmasplit_dev_close(d);
}
END_TEST

/* Each retry starts where the last stopped: no segment is unmapped
 * twice. */
START_TEST(batch_unmap_failing_twice_part_way_releases_each_segment_once)
{
	struct dmasplit_dev *d = open_other("sim:e,nowin,testa.fail=unmap,testa.failskip=1,testa.failagain=1",
					    "testa");
	const struct dmasplit_seg *segs;
	struct dmasplit_batch *batch;

	batch = batch_of_pages(d, 4, &segs);
	/* seg 0 released, seg 1 fails; then seg 1 released, seg 2 fails */
	ck_assert_int_eq(dmasplit_batch_unmap(batch), -EIO);
	ck_assert_int_eq(dmasplit_batch_unmap(batch), -EIO);
	ck_assert_uint_eq(stats_of(d).mappings_live, 2);
	tu_log_clear();
	/* the last try unmaps segments 2 and 3 alone */
	ck_assert_int_eq(dmasplit_batch_unmap(batch), 0);
	ck_assert_msg(tu_log_count("testa: unmap dma=") == 2, "log:\n%s",
		      tu_log_text());
	ck_assert_uint_eq(stats_of(d).mappings_live, 0);
	dmasplit_batch_free(batch);
	dmasplit_dev_close(d);
}
END_TEST

/* Each call is held to its own ERRORS list, not to the union of the
 * calls that share a page: EBUSY is a link's (lazy unlink), never a
 * window allocation's; EXDEV is a direct map's, never a link's; EFAULT
 * is a link's and a window sync's (vfio pins there), never an unlink's. */
START_TEST(backend_errors_are_held_to_each_call_s_list)
{
	static const struct {
		const char *spec, *call;
		int err, want;
	} cases[] = {
		{ "sim:e,testa.fail=alloc,testa.errno=16", "iova_alloc", EBUSY, -EIO },
		{ "sim:e,testa.fail=alloc,testa.errno=28", "iova_alloc", ENOSPC, -ENOSPC },
		{ "sim:e,testa.fail=link,testa.errno=18", "iova_link", EXDEV, -EIO },
		{ "sim:e,testa.fail=link,testa.errno=28", "iova_link", ENOSPC, -EIO },
		{ "sim:e,testa.fail=link,testa.errno=16", "iova_link", EBUSY, -EBUSY },
		{ "sim:e,testa.fail=link,testa.errno=24", "iova_link", EMFILE, -EIO },
		{ "sim:e,testa.fail=sync,testa.errno=14", "iova_sync", EFAULT, -EFAULT },
		{ "sim:e,testa.fail=sync,testa.errno=16", "iova_sync", EBUSY, -EIO },
		{ "sim:e,testa.fail=sync,testa.errno=17", "iova_sync", EEXIST, -EEXIST },
		{ "sim:e,testa.fail=unlink,testa.errno=17", "iova_unlink", EEXIST, -EIO },
		{ "sim:e,testa.fail=unlink,testa.errno=14", "iova_unlink", EFAULT, -EIO },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmasplit_dev *d = open_other(cases[i].spec, "testa");
		struct dmasplit_iova *iova = NULL;
		int r;

		tu_log_clear();
		r = dmasplit_iova_alloc(d, 4 * G, 0, &iova);
		if (r == 0)
			r = dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0);
		if (r == 0)
			r = dmasplit_iova_sync(iova, 0, G);
		if (r == 0)
			r = dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(r == cases[i].want, "%s failing with %d: expected %d, got %d",
			      cases[i].call, -cases[i].err, cases[i].want, r);
		ck_assert_msg(tu_log_has("which that call may not return") ==
			      (cases[i].want == -EIO),
			      "%s failing with %d, log:\n%s", cases[i].call,
			      -cases[i].err, tu_log_text());
		if (iova && cases[i].want != -EIO && r != 0 &&
		    strcmp(cases[i].call, "iova_link"))
			(void)dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0);
		dmasplit_iova_destroy(iova);
		tu_log_clear();
		dmasplit_dev_close(d);
	}
	/* EXDEV is a map's (not physically contiguous), never a vector's,
	 * whose segments split where memory does. */
	{
		struct dmasplit_dev *d = open_other("sim:e,testa.fail=map,testa.errno=18",
						    "testa");
		struct iovec iov = { buf, G };
		struct dmasplit_seg seg;
		unsigned int nsegs = 1;
		uint64_t dma;

		ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -EXDEV);
		dmasplit_dev_close(d);
		d = open_other("sim:e,testa.fail=map,testa.errno=18", "testa");
		tu_log_clear();
		ck_assert_int_eq(dmasplit_map_vec(d, &iov, 1, DMASPLIT_TO_DEVICE, 0,
						  &seg, &nsegs), -EIO);
		ck_assert_msg(tu_log_has("which that call may not return"),
			      "log:\n%s", tu_log_text());
		dmasplit_dev_close(d);
	}
	/* EMFILE and ENFILE are a map's and a vector's (direct, where
	 * /proc/self/maps cannot be opened), never a link's. */
	{
		static const int errs[] = { EMFILE, ENFILE };
		struct iovec iov = { buf, G };
		struct dmasplit_seg seg;
		unsigned int k, nsegs = 1;
		char spec[64];
		uint64_t dma;

		for (k = 0; k < 2; k++) {
			struct dmasplit_dev *d;

			snprintf(spec, sizeof(spec),
				 "sim:e,testa.fail=map,testa.errno=%d", errs[k]);
			d = open_other(spec, "testa");
			tu_log_clear();
			ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE,
						      0, &dma), -errs[k]);
			dmasplit_dev_close(d);
			d = open_other(spec, "testa");
			ck_assert_int_eq(dmasplit_map_vec(d, &iov, 1,
							  DMASPLIT_TO_DEVICE, 0,
							  &seg, &nsegs), -errs[k]);
			ck_assert_msg(!tu_log_has("which that call may not return"),
				      "log:\n%s", tu_log_text());
			dmasplit_dev_close(d);
		}
	}
}
END_TEST

/* No operation returns a positive value, and an errno is -1 to -4095:
 * anything else is a broken backend, never a success to act on. */
START_TEST(backend_returns_neither_0_nor_an_errno_are_eio)
{
	struct dmasplit_dev_stats st = { .size = sizeof(st) };
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_dev *d;
	uint64_t dma = 7;
	int fd = -1;

	d = open_other("sim:e,testa.fail=map,testa.errno=-7", "testa");
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -EIO);
	ck_assert_msg(tu_log_has("backend testa returned 7 (not an errno) from map"),
		      "log:\n%s", tu_log_text());
	/* Nothing to undo: the backend's unmap is not called for it. */
	ck_assert_msg(!tu_log_has("testa: unmap"), "log:\n%s", tu_log_text());
	ck_assert_uint_eq(dma, 7);
	ck_assert_uint_eq(stats_of(d).maps, 0);
	dmasplit_dev_close(d);

	d = open_other("sim:e,testa.fail=map,testa.errno=5000", "testa");
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma), -EIO);
	ck_assert_msg(tu_log_has("returned -5000 (not an errno) from map"),
		      "log:\n%s", tu_log_text());
	dmasplit_dev_close(d);

	d = open_other("sim:e,testa.fail=alloc,testa.errno=-4", "testa");
	ck_assert_int_eq(dmasplit_iova_alloc(d, G, 0, &iova), -EIO);
	ck_assert_ptr_null(iova);
	ck_assert_uint_eq(stats_of(d).windows_live, 0);
	dmasplit_dev_close(d);

	/* The queries are held to their lists as well. */
	d = open_other("sim:e,testb.fail=stats,testb.errno=8", "testb");
	ck_assert_int_eq(dmasplit_dev_get_stats(d, &st), -EIO);
	ck_assert_msg(tu_log_has("backend testb returned -8 (Exec format error) from get_stats"),
		      "log:\n%s", tu_log_text());
	dmasplit_dev_close(d);
	d = open_other("sim:e,testb.fail=stats,testb.errno=12", "testb");
	ck_assert_int_eq(dmasplit_dev_get_stats(d, &st), -ENOMEM);
	dmasplit_dev_close(d);
	d = open_other("sim:e,testb.fail=fd,testb.errno=-3", "testb");
	ck_assert_int_eq(dmasplit_dev_get_fd(d, &fd), -EIO);
	ck_assert_int_eq(fd, -1);
	dmasplit_dev_close(d);
}
END_TEST

/* dmasplit_batch_map() of a batch of one page, on a device of the test
 * backend opened with spec, the log cleared first; the device and the
 * batch in *d and *batch. */
static int map_page_batch(const char *spec, struct dmasplit_dev **d,
			  struct dmasplit_batch **batch)
{
	const struct dmasplit_seg *segs;
	unsigned int nsegs = 0;

	*d = open_other(spec, "testa");
	ck_assert_int_eq(dmasplit_batch_new(*d, DMASPLIT_TO_DEVICE, 0, batch), 0);
	ck_assert_int_eq(dmasplit_batch_add(*batch, buf, G), 0);
	tu_log_clear();
	return dmasplit_batch_map(*batch, &segs, &nsegs);
}

/* A batch links quietly, so that a link refused for its granule rules
 * falls back per range; any other failure is the batch's, and said. */
START_TEST(batch_says_why_a_link_failed_unless_told_not_to)
{
	struct dmasplit_batch *batch;
	struct dmasplit_dev *d;

	ck_assert_int_eq(map_page_batch("sim:e,testa.fail=link,testa.errno=121",
					&d, &batch), -EREMOTEIO);
	ck_assert_msg(tu_log_count("dmasplit_batch_map: buffer 0") == 1 &&
		      tu_log_has("cannot be linked: Remote I/O error"),
		      "log:\n%s", tu_log_text());
	ck_assert_uint_eq(stats_of(d).windows_live, 0);
	dmasplit_batch_free(batch);
	dmasplit_dev_close(d);
}
END_TEST

/* Only a refused link falls back per range: a sync that fails, with
 * -EINVAL too, fails the batch, with nothing left mapped. */
START_TEST(batch_whose_sync_fails_does_not_fall_back)
{
	struct dmasplit_batch *batch;
	struct dmasplit_dev *d;

	ck_assert_int_eq(map_page_batch("sim:e,testa.fail=sync,testa.errno=22",
					&d, &batch), -EINVAL);
	ck_assert_uint_eq(stats_of(d).windows_live, 0);
	ck_assert_uint_eq(stats_of(d).maps, 0);
	ck_assert_uint_eq(stats_of(d).mappings_live, 0);
	dmasplit_batch_free(batch);
	dmasplit_dev_close(d);
}
END_TEST

/* What open and get_info answer is checked before the device is used. */
START_TEST(broken_open_and_device_information_are_eproto)
{
	static const struct {
		const char *spec, *line;
		int err;
	} cases[] = {
		{ "sim:o,testa.fail=open,testa.errno=-5",
		  "backend testa returned 5 from open of o: a broken backend", -EPROTO },
		{ "sim:o,testa.fail=open,testa.errno=5000",
		  "backend testa returned -5000 from open of o", -EPROTO },
		{ "sim:o,testa.fail=open,testa.errno=-7",
		  "backend testa returned 7 from open of o", -EPROTO },
		{ "sim:o,testa.nodev",
		  "backend testa returned 0 from open of o and no device", -EPROTO },
		{ "sim:o,testa.fail=info,testa.errno=5",
		  "backend testa gave no device information for o: Input/output error", -EIO },
		{ "sim:o,testa.fail=info,testa.errno=-2",
		  "invalid device information for o: a return of 2, not 0 or an errno", -EPROTO },
		{ "sim:o,testa.badinfo=mask0",
		  "invalid device information for o: a DMA mask not of 1 to 64 bits", -EPROTO },
		{ "sim:o,testa.badinfo=mask65",
		  "invalid device information for o: a DMA mask not of 1 to 64 bits", -EPROTO },
		{ "sim:o,testa.badinfo=range",
		  "invalid device information for o: a range that ends before it starts", -EPROTO },
		{ "sim:o,testa.badinfo=granule0",
		  "invalid device information for o: granule 0 (get_info left it unset?)", -EPROTO },
	};
	struct dmasplit_dev *d = NULL;
	unsigned int i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tu_log_clear();
		r = dmasplit_dev_open_backend(ctx, cases[i].spec, "testa", &d);
		ck_assert_msg(r == cases[i].err, "%s: expected %d, got %d",
			      cases[i].spec, cases[i].err, r);
		ck_assert_ptr_null(d);
		ck_assert_msg(tu_log_has(cases[i].line), "%s: log:\n%s",
			      cases[i].spec, tu_log_text());
		/* A device the broken answer came with is closed. */
		ck_assert_msg(tu_log_count("testa: open ") ==
			      tu_log_count("testa: close"),
			      "%s: opened and closed differ, log:\n%s",
			      cases[i].spec, tu_log_text());
	}
}
END_TEST

/* What the application learns of a device is what it can call, whatever
 * the backend's flags say; unknown flags do not reach it. */
START_TEST(device_flags_follow_the_operations)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_dev *d = NULL;
	int fd;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:f,testa.flags=0xfffffe00",
						   "testa", &d), 0);
	ck_assert_int_eq(dmasplit_dev_get_info(d, &info), 0);
	ck_assert_msg(!(info.flags & ~DMASPLIT_DEV_FLAGS_MASK), "flags 0x%x", info.flags);
	dmasplit_dev_close(d);
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:f,testa.flags=0x140",
						   "testa", &d), 0);
	ck_assert_int_eq(dmasplit_dev_get_info(d, &info), 0);
	ck_assert_msg(!(info.flags & (DMASPLIT_DEV_HAS_FD | DMASPLIT_DEV_MORE_RANGES)),
		      "testa has no get_fd and no get_ranges, flags 0x%x", info.flags);
	ck_assert_int_eq(dmasplit_dev_get_fd(d, &fd), -EOPNOTSUPP);
	dmasplit_dev_close(d);
}
END_TEST

/* A device described without windows has none, whatever its backend's
 * table holds: dmasplit_iova_alloc() is -EOPNOTSUPP and never reaches a
 * backend that would make one anyway. */
START_TEST(a_device_without_the_windows_flag_gets_no_window)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_iova *iova = NULL;
	struct dmasplit_dev *d = NULL;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:w,nowin,testa.winlie",
						   "testa", &d), 0);
	ck_assert_int_eq(dmasplit_dev_get_info(d, &info), 0);
	ck_assert(!(info.flags & DMASPLIT_DEV_WINDOWS));
	tu_log_clear();
	ck_assert_int_eq(dmasplit_iova_alloc(d, G, 0, &iova), -EOPNOTSUPP);
	ck_assert_ptr_null(iova);
	ck_assert_msg(!tu_log_has("iova_alloc size="),
		      "the backend was asked:\n%s", tu_log_text());
	ck_assert_uint_eq(stats_of(d).windows_live, 0);
	dmasplit_dev_close(d);
}
END_TEST

/* A region whose mapping the backend cannot take down is released all
 * the same, and says so: the error, not 0. */
START_TEST(region_free_returns_the_unmap_error)
{
	struct dmasplit_dev *d = NULL;
	struct dmasplit_region *rg = NULL;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:r,nowin,testa.fail=unmap",
						   "testa", &d), 0);
	ck_assert_int_eq(dmasplit_region_new(d, buf, 2 * G,
					     DMASPLIT_BIDIRECTIONAL, 0, &rg), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_region_free(rg), -EIO);
	ck_assert_msg(tu_log_has("unmap"), "%s", tu_log_text());
	dmasplit_dev_close(d);
}
END_TEST

/* Success without the thing asked for is a broken answer: -EIO, a line,
 * and nothing handed to the application. */
START_TEST(success_without_a_window_or_cpu_address_is_eio)
{
	struct dmasplit_dev *d = NULL;
	struct dmasplit_iova *w = NULL;
	void *cpu = NULL;
	uint64_t dma = 0;

	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:n,testa.winnull,testa.cohnull",
						   "testa", &d), 0);
	/* The second window object is the first one's, reused: it must not
	 * pass for a window the backend never wrote. */
	ck_assert_int_eq(dmasplit_iova_alloc(d, 4096, 0, &w), 0);
	dmasplit_iova_destroy(w);
	w = NULL;
	tu_log_clear();
	ck_assert_int_eq(dmasplit_iova_alloc(d, 4096, 0, &w), -EIO);
	ck_assert_ptr_null(w);
	ck_assert_msg(tu_log_has("backend testa returned no window from iova_alloc"),
		      "%s", tu_log_text());
	tu_log_clear();
	ck_assert_int_eq(dmasplit_alloc_coherent(d, 4096, 0, &cpu, &dma), -EIO);
	ck_assert(cpu == NULL && dma == 0);
	ck_assert_msg(tu_log_has("backend testa returned no CPU address from alloc_coherent"),
		      "%s", tu_log_text());
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(checker_lets_untranslated_devices_map_the_same_bytes_twice)
{
	struct iovec iov[2] = { { buf, G }, { buf, G } };
	struct dmasplit_seg segs[2];
	unsigned int nsegs = 2;
	uint64_t a, b;
	struct dmasplit_dev *d = open_other("sim:p,testa.phys,nowin", "testa");

	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &a), 0);
	ck_assert_msg(dmasplit_map(d, buf + 100, 10, DMASPLIT_TO_DEVICE, 0, &b) == 0,
		      "second mapping of the same bytes refused, log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_int_eq(dmasplit_unmap(d, b, 10, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 2, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(d, a, G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);

	/* Two different buffers at one address is still a backend bug. */
	d = open_other("sim:q,testa.phys,testa.alias", "testa");
	ck_assert_int_eq(dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &a), 0);
	ck_assert_int_eq(dmasplit_map(d, buf + 4 * G, G, DMASPLIT_TO_DEVICE, 0, &b), -EIO);
	ck_assert(tu_log_has("overlapping live range"));
	ck_assert_int_eq(dmasplit_unmap(d, a, G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

/* Two vectors of the same bytes start at one address without
 * translation: each unmaps as itself, in either order. */
START_TEST(checker_tells_vectors_of_the_same_bytes_apart)
{
	struct iovec two[2] = { { buf, G }, { buf + 2 * G, G } };
	struct iovec one = { buf, G };
	unsigned int order;

	for (order = 0; order < 2; order++) {
		struct dmasplit_dev *d = open_other("sim:p,testa.phys,nowin", "testa");
		struct dmasplit_seg s2[2], s1[1];
		unsigned int n2 = 2, n1 = 1;
		int r1, r2;

		ck_assert_int_eq(dmasplit_map_vec(d, two, 2, DMASPLIT_TO_DEVICE, 0, s2, &n2), 0);
		ck_assert_int_eq(dmasplit_map_vec(d, &one, 1, DMASPLIT_TO_DEVICE, 0, s1, &n1), 0);
		ck_assert_uint_eq(s1[0].dma, s2[0].dma);
		if (order) {
			r1 = dmasplit_unmap_vec(d, s2, n2, DMASPLIT_TO_DEVICE, 0);
			r2 = dmasplit_unmap_vec(d, s1, n1, DMASPLIT_TO_DEVICE, 0);
		} else {
			r1 = dmasplit_unmap_vec(d, s1, n1, DMASPLIT_TO_DEVICE, 0);
			r2 = dmasplit_unmap_vec(d, s2, n2, DMASPLIT_TO_DEVICE, 0);
		}
		ck_assert_msg(r1 == 0 && r2 == 0,
			      "%s vector first: expected 0 and 0, got %d and %d; log:\n%s",
			      order ? "two-segment" : "one-segment", r1, r2,
			      tu_log_text());
		dmasplit_dev_close(d);
	}
}
END_TEST

/* A sync is judged against a mapping whose direction allows it, when
 * the same bytes are mapped twice at one address in different
 * directions; a direction no mapping has is still refused. */
START_TEST(checker_syncs_the_same_bytes_by_the_mapping_that_allows_it)
{
	struct dmasplit_dev *d = open_other("sim:p,testa.phys,nowin", "testa");
	uint64_t a, b;

	ck_assert_int_eq(dmasplit_map(d, buf + 7, 37, DMASPLIT_FROM_DEVICE, 0, &a), 0);
	ck_assert_int_eq(dmasplit_map(d, buf, 4 * G, DMASPLIT_TO_DEVICE, 0, &b), 0);
	ck_assert_msg(dmasplit_sync_for_cpu(d, a, 37, DMASPLIT_FROM_DEVICE) == 0,
		      "sync_for_cpu FROM_DEVICE of the FROM_DEVICE mapping refused, log:\n%s",
		      tu_log_text());
	ck_assert_msg(dmasplit_sync_for_device(d, a, 37, DMASPLIT_TO_DEVICE) == 0,
		      "sync_for_device TO_DEVICE inside the TO_DEVICE mapping refused, log:\n%s",
		      tu_log_text());
	tu_log_clear();
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, b + 2 * G, 8, DMASPLIT_FROM_DEVICE),
			 -EINVAL);
	ck_assert(tu_log_has("mapped TO_DEVICE"));
	ck_assert_int_eq(dmasplit_unmap(d, a, 37, DMASPLIT_FROM_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_unmap(d, b, 4 * G, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
}
END_TEST

/* A region on a device without windows is one mapping of the library's,
 * at the region's addresses; without translation it shares them with the
 * application's mappings of the same bytes.  It is no mapping of the
 * application's: a sync must lie in one made through the region, and an
 * unmap must name one (dmasplit_region_new(3)). */
START_TEST(checker_counts_no_region_s_own_mapping_as_the_application_s)
{
	struct dmasplit_dev *d = open_other("sim:p,testa.phys,nowin", "testa");
	struct dmasplit_region *rg = NULL;
	uint64_t ra, m;

	ck_assert_int_eq(dmasplit_region_new(d, buf, 4 * G,
					     DMASPLIT_BIDIRECTIONAL, 0, &rg), 0);
	ra = dmasplit_region_addr(rg);
	ck_assert_msg(dmasplit_sync_for_cpu(d, ra, G, DMASPLIT_TO_DEVICE) == -ENOENT,
		      "sync with nothing mapped through the region: log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_map(d, buf + 100, 200, DMASPLIT_TO_DEVICE, 0,
				      &m), 0);
	ck_assert_uint_eq(m, ra + 100);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, m, 300, DMASPLIT_TO_DEVICE),
			 -ENOENT);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, m, 200, DMASPLIT_FROM_DEVICE),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, m, 200, DMASPLIT_TO_DEVICE), 0);
	ck_assert_int_eq(dmasplit_unmap(d, m, 200, DMASPLIT_TO_DEVICE, 0), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap(d, ra, 4 * G, DMASPLIT_BIDIRECTIONAL, 0),
			 -ENOENT);
	ck_assert_msg(tu_log_count("dmasplit_unmap") == 1, "%s", tu_log_text());
	ck_assert_int_eq(dmasplit_region_free(rg), 0);
	dmasplit_dev_close(d);
}
END_TEST

/* The checker's state for a window costs what is linked: a 2^46-byte
 * window (2^31 where a size_t has 32 bits) with one link takes no more
 * heap than a small one. */
START_TEST(checker_state_follows_links_not_window_size)
{
	static const char *const sim[] = { "swiotlb-sim", NULL };
	struct dmasplit_iova *iova;
	struct dmasplit_ctx *c;
	struct dmasplit_dev *d;
	struct mallinfo2 before, after;
	const size_t huge = (size_t)1 << (SIZE_MAX > UINT32_MAX ? 46 : 31);
	const size_t mid = huge / 2;
	size_t grew;

	tu_ctx_free(ctx);
	ctx = c = tu_ctx_with(sim);
	dmasplit_ctx_set_check(c, 1);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:huge", &d), 0);
	before = mallinfo2();
	ck_assert_int_eq(dmasplit_iova_alloc(d, huge, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_iova_link(iova, mid, buf, 4 * G,
					    DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_int_eq(dmasplit_iova_sync(iova, mid, 4 * G), 0);
	after = mallinfo2();
	grew = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
	ck_assert_msg(grew < (1u << 20), "a window with one link cost %zu bytes of heap",
		      grew);
	/* Runs split where an unlink ends inside one. */
	ck_assert_int_eq(dmasplit_iova_unlink(iova, mid + G, 2 * G,
					      DMASPLIT_BIDIRECTIONAL, 0), 0);
	refused(dmasplit_iova_unlink(iova, mid + G, G,
				     DMASPLIT_BIDIRECTIONAL, 0), -ENOENT);
	refused(dmasplit_iova_sync(iova, mid, 4 * G), -ENOENT);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dmasplit_iova_addr(iova) + mid,
					       G, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, mid + 3 * G, G,
					      DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, mid, G,
					      DMASPLIT_BIDIRECTIONAL, 0), 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Without the checker                                                  */

START_TEST(unchecked_core_still_refuses_what_it_knows)
{
	struct dmasplit_iova *iova;

	ck_assert_int_eq(dmasplit_ctx_get_check(ctx), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, 2 * G, 0, &iova), 0);
	/* The window's bounds are the core's: outside is refused early. */
	refused(dmasplit_iova_unlink(iova, G, 2 * G, DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_iova_sync(iova, 2 * G, 1), -EINVAL);
	/* What only the checker tracks reaches the backend, which refuses. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap(dev, 0x123000, G, DMASPLIT_TO_DEVICE, 0), -ENOENT);
	ck_assert(tu_log_has("testa: unmap of 0x123000: no such mapping"));
	/* The fast paths check buffers as the checker's paths do: NULL,
	 * or running past the top of the address space. */
	refused(dmasplit_iova_link(iova, 0, NULL, G, DMASPLIT_TO_DEVICE, 0),
		-EINVAL);
	refused(dmasplit_iova_link(iova, 0, (void *)(UINTPTR_MAX - 15), G,
				   DMASPLIT_TO_DEVICE, 0), -EINVAL);
	refused(dmasplit_dev_dma_read(dev, 0x1000, (void *)(UINTPTR_MAX - 15),
				      G), -EINVAL);
	refused(dmasplit_dev_dma_write(dev, 0x1000, (void *)(UINTPTR_MAX - 15),
				       G), -EINVAL);
	ck_assert_uint_eq(stats_of(dev).links, 0);
	dmasplit_iova_destroy(iova);
}
END_TEST

/* The link fast path of a backend whose windows the core allocates
 * (swiotlb-sim's) checks the buffer as the checked path does. */
START_TEST(unchecked_link_fast_path_refuses_bad_buffers)
{
	static const char *const sim[] = { "swiotlb-sim", NULL };
	struct dmasplit_iova *iova;
	struct dmasplit_ctx *c;
	struct dmasplit_dev *d;
	int r;

	tu_ctx_free(ctx);
	ctx = c = tu_ctx_with(sim);
	dmasplit_ctx_set_check(c, 0);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:fast", &d), 0);
	ck_assert_int_eq(dmasplit_iova_alloc(d, 4 * G, 0, &iova), 0);
	tu_log_clear();
	r = dmasplit_iova_link(iova, 0, NULL, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL && tu_log_count("\n") == 1,
		      "link of NULL: %d, log:\n%s", r, tu_log_text());
	tu_log_clear();
	r = dmasplit_iova_link(iova, 0, (void *)(UINTPTR_MAX - 15), G,
			       DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL && tu_log_count("\n") == 1,
		      "link of a wrapping buffer: %d, log:\n%s", r,
		      tu_log_text());
	ck_assert_uint_eq(stats_of(d).links, 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(unchecked_close_counts_windows_and_the_last_one_releases)
{
	struct dmasplit_iova *iova;
	uint64_t dma;
	void *cpu;

	ck_assert_int_eq(dmasplit_iova_alloc(dev, 2 * G, 0, &iova), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf, 10, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf, 20, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	/* Freed, so not among what the release counts. */
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, G, 0, &cpu, &dma), 0);
	ck_assert_int_eq(dmasplit_free_coherent(dev, G, cpu, dma), 0);
	tu_log_clear();
	dmasplit_dev_close(dev);
	dev = NULL;
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("nic0: closed with 1 windows and 0 batches live"),
		      "expected one line counting the window, log:\n%s",
		      tu_log_text());
	/* The window still works, and its destruction releases the device. */
	ck_assert_int_eq(dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0), 0);
	ck_assert_int_eq(dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0), 0);
	tu_log_clear();
	dmasplit_iova_destroy(iova);
	ck_assert_msg(tu_log_has("nic0: 2 mappings and 0 coherent allocations still live at close") &&
		      tu_log_has("testa: iova_destroy") && tu_log_has("testa: close"),
		      "log:\n%s", tu_log_text());
}
END_TEST

struct win_hop {
	struct dmasplit_iova *in[4], *out[4];
};

/* Destroys the windows it was given and makes as many new ones. */
static void *win_hop_thread(void *arg)
{
	struct win_hop *h = arg;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		dmasplit_iova_destroy(h->in[i]);
		if (dmasplit_iova_alloc(dev, G, 0, &h->out[i]) < 0)
			h->out[i] = NULL;
	}
	return NULL;
}

/* Window objects are kept per thread for reuse: windows made in one
 * thread and destroyed in another, many times over, leave the count of
 * live windows at close exact, and every one still releases. */
START_TEST(unchecked_close_counts_windows_reused_across_threads)
{
	struct dmasplit_iova *keep[4];
	struct win_hop h;
	unsigned int i, round;
	pthread_t t;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(dmasplit_iova_alloc(dev, G, 0, &keep[i]), 0);
	for (round = 0; round < 50; round++) {
		for (i = 0; i < 4; i++)
			ck_assert_int_eq(dmasplit_iova_alloc(dev, G, 0, &h.in[i]), 0);
		ck_assert_int_eq(pthread_create(&t, NULL, win_hop_thread, &h), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		for (i = 0; i < 4; i++) {
			ck_assert_ptr_nonnull(h.out[i]);
			ck_assert_int_eq(dmasplit_iova_link(h.out[i], 0, buf, G, DMASPLIT_TO_DEVICE, 0), 0);
			ck_assert_int_eq(dmasplit_iova_unlink(h.out[i], 0, G, DMASPLIT_TO_DEVICE, 0), 0);
			dmasplit_iova_destroy(h.out[i]);
		}
	}
	dmasplit_iova_destroy(keep[0]);
	dmasplit_iova_destroy(keep[2]);
	tu_log_clear();
	dmasplit_dev_close(dev);
	dev = NULL;
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("nic0: closed with 2 windows and 0 batches live"),
		      "expected one line counting 2 windows, log:\n%s",
		      tu_log_text());
	dmasplit_iova_destroy(keep[1]);
	ck_assert(!tu_log_has("testa: close"));
	dmasplit_iova_destroy(keep[3]);
	ck_assert_msg(tu_log_has("testa: close"), "log:\n%s", tu_log_text());
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("checker");
	tcase_add_checked_fixture(tc, setup_checked, api_teardown);
	tcase_add_test(tc, unmap_vec_returns_the_backend_error_and_counts_what_went);
	tcase_add_test(tc, failed_unlink_leaves_the_link_in_place);
	tcase_add_test(tc, checker_refuses_a_vector_with_a_segment_twice);
	tcase_add_test(tc, checker_unmaps_a_vector_only_as_mapped);
	tcase_add_test(tc, checker_refuses_unusable_backend_addresses);
	tcase_add_test(tc, checker_says_what_the_backend_could_not_release);
	tcase_add_test(tc, checker_lets_untranslated_devices_map_the_same_bytes_twice);
	tcase_add_test(tc, checker_syncs_the_same_bytes_by_the_mapping_that_allows_it);
	tcase_add_test(tc, checker_counts_no_region_s_own_mapping_as_the_application_s);
	tcase_add_test(tc, checker_tells_vectors_of_the_same_bytes_apart);
	tu_add_test_if(tc, checker_state_follows_links_not_window_size,
		       tu_backend_built("swiotlb-sim"),
		       "the swiotlb-sim backend is not built");
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("unchecked");
	tcase_add_checked_fixture(tc, setup_unchecked, api_teardown);
	tcase_add_test(tc, unchecked_core_still_refuses_what_it_knows);
	tcase_add_test(tc, unchecked_refuses_unusable_backend_addresses);
	tcase_add_test(tc, unchecked_live_counts_never_wrap);
	tcase_add_test(tc, unchecked_backend_errors_outside_the_contract_become_eio);
	tcase_add_test(tc, backend_errors_are_held_to_each_call_s_list);
	tcase_add_test(tc, batch_unmap_failing_part_way_keeps_the_rest_for_another_try);
	tcase_add_test(tc, batch_unmap_failing_twice_part_way_releases_each_segment_once);
	tcase_add_test(tc, batch_sync_after_a_partial_unmap_skips_the_released_segments);
	tcase_add_test(tc, backend_returns_neither_0_nor_an_errno_are_eio);
	tcase_add_test(tc, broken_open_and_device_information_are_eproto);
	tcase_add_test(tc, batch_says_why_a_link_failed_unless_told_not_to);
	tcase_add_test(tc, batch_whose_sync_fails_does_not_fall_back);
	tcase_add_test(tc, unmap_vec_returns_the_backend_error_and_counts_what_went);
	tcase_add_test(tc, failed_unlink_leaves_the_link_in_place);
	tu_add_test_if(tc, unchecked_link_fast_path_refuses_bad_buffers,
		       tu_backend_built("swiotlb-sim"),
		       "the swiotlb-sim backend is not built");
	tcase_add_test(tc, unchecked_close_counts_windows_and_the_last_one_releases);
	tcase_add_test(tc, unchecked_close_counts_windows_reused_across_threads);
	tcase_add_test(tc, device_flags_follow_the_operations);
	tcase_add_test(tc, success_without_a_window_or_cpu_address_is_eio);
	tcase_add_test(tc, region_free_returns_the_unmap_error);
	tcase_add_test(tc, a_device_without_the_windows_flag_gets_no_window);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
