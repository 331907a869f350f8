// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim refuses, with the checker off, what a device does not hold:
 * double and mismatched unmaps, vectors it did not return, syncs outside
 * a mapping, links over links; and releases what is left at close.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simutil.h"

/* ------------------------------------------------------------------ */
/* Misuse, refused by the device itself                                 */

static const char *const every_device[] = {
	"sim:a", "sim:u,untrusted=1", "sim:d,iommu=off",
	"sim:b,iommu=off,bounce=force",
};

#define N_DEVICES (sizeof(every_device) / sizeof(every_device[0]))

/* A refused call: one of the errnos allowed, and one log line. */
static void expect_refused(int r, int e1, int e2, const char *spec,
			   const char *what)
{
	unsigned int lines = lines_with("");

	ck_assert_msg(r == e1 || r == e2, "%s: %s: expected %d or %d, got %d; log:\n%s",
		      spec, what, e1, e2, r, tu_log_text());
	ck_assert_msg(lines == 1, "%s: %s: expected one log line, got %u; log:\n%s",
		      spec, what, lines, tu_log_text());
	tu_log_clear();
}

static bool dev_translated(struct dmasplit_dev *d)
{
	return info_of(d).flags & DMASPLIT_DEV_TRANSLATED;
}

START_TEST(double_unmap_on_a_bounce_device_is_refused_and_the_pool_stays_intact)
{
	const char *spec = "sim:b,iommu=off,bounce=force";
	struct dmasplit_dev *d = open_unchecked(spec);
	uint8_t *buf = buf_new(2 * G), *other = buf_new(2 * G);
	uint8_t *src = buf_new(2 * G);
	uint64_t dma, a, b;

	dma = map_ok(d, buf, 2 * G, DMASPLIT_FROM_DEVICE, 0);
	fill(src, 2 * G, 1);
	expect_write(d, dma, src, 2 * G, "device write before unmap");
	unmap_ok(d, dma, 2 * G, DMASPLIT_FROM_DEVICE, 0);
	expect_pattern(buf, 2 * G, 1, "copied back at unmap");
	tu_log_clear();
	expect_refused(dmasplit_unmap(d, dma, 2 * G, DMASPLIT_FROM_DEVICE, 0),
		       -ENOENT, -ENOENT, spec, "second unmap");
	expect_refused(dmasplit_unmap(d, dma + G, G, DMASPLIT_FROM_DEVICE, 0),
		       -ENOENT, -ENOENT, spec, "unmap of its second page");
	expect_refused(dmasplit_unmap(d, dma + 2 * SEG, G, DMASPLIT_FROM_DEVICE, 0),
		       -ENOENT, -ENOENT, spec, "unmap of a slot never mapped");
	expect_refused(dmasplit_unmap(d, (uintptr_t)other, G, DMASPLIT_FROM_DEVICE, 0),
		       -ENOENT, -ENOENT, spec, "unmap of a host address never mapped");

	/* Had the slots been freed twice, two live mappings would share
	 * them: each must read its own bytes, and no byte of the other's. */
	fill(buf, 2 * G, 2);
	fill(other, 2 * G, 3);
	a = map_ok(d, buf, 2 * G, DMASPLIT_TO_DEVICE, 0);
	b = map_ok(d, other, 2 * G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(a + 2 * G <= b || b + 2 * G <= a,
		      "two live bounce mappings overlap: 0x%" PRIx64 " and 0x%" PRIx64, a, b);
	expect_read(d, a, buf, 2 * G, "first new mapping");
	expect_read(d, b, other, 2 * G, "second new mapping");
	unmap_ok(d, a, 2 * G, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, b, 2 * G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(stats_of(d).mappings_live == 0, "%" PRIu64 " mappings live, expected 0",
		      stats_of(d).mappings_live);
	tu_log_clear();
	dmasplit_dev_close(d);
	ck_assert_msg(!tu_log_has("still live"), "close reports live mappings:\n%s",
		      tu_log_text());
	free(buf);
	free(other);
	free(src);
}
END_TEST

START_TEST(double_unmap_is_refused_on_every_device)
{
	uint8_t *buf = buf_new(3 * G), *never = buf_new(G);
	unsigned int i;

	fill(buf, 3 * G, 4);
	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		uint64_t dma = map_ok(d, buf + 100, 5000, DMASPLIT_BIDIRECTIONAL, 0);

		unmap_ok(d, dma, 5000, DMASPLIT_BIDIRECTIONAL, 0);
		tu_log_clear();
		expect_refused(dmasplit_unmap(d, dma, 5000, DMASPLIT_BIDIRECTIONAL, 0),
			       -ENOENT, -ENOENT, spec, "second unmap");
		expect_refused(dmasplit_unmap(d, dma - 100 + G, G, DMASPLIT_BIDIRECTIONAL, 0),
			       -ENOENT, -ENOENT, spec, "unmap of its second page");
		expect_refused(dmasplit_unmap(d, dev_translated(d) ? dma + 64 * G : (uintptr_t)never,
					      G, DMASPLIT_BIDIRECTIONAL, 0),
			       -ENOENT, -ENOENT, spec, "unmap of an address never mapped");
		/* The device still maps and unmaps as before. */
		dma = map_ok(d, buf + 100, 5000, DMASPLIT_TO_DEVICE, 0);
		expect_read(d, dma, buf + 100, 5000, spec);
		unmap_ok(d, dma, 5000, DMASPLIT_TO_DEVICE, 0);
		tu_log_clear();
		dmasplit_dev_close(d);
		ck_assert_msg(!tu_log_has("still live"), "%s: close reports live mappings:\n%s",
			      spec, tu_log_text());
	}
	free(buf);
	free(never);
}
END_TEST

START_TEST(unmap_with_a_wrong_length_or_direction_changes_nothing)
{
	const size_t len = 3 * G - 200;
	uint8_t *buf = buf_new(4 * G);
	unsigned int i;

	fill(buf, 4 * G, 5);
	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		uint64_t dma = map_ok(d, buf + 100, len, DMASPLIT_TO_DEVICE, 0);
		const struct {
			uint64_t dma;
			size_t len;
			enum dmasplit_dir dir;
			const char *what;
		} bad[] = {
			{ dma, len - 1, DMASPLIT_TO_DEVICE, "one byte shorter" },
			{ dma, len + 1, DMASPLIT_TO_DEVICE, "one byte longer" },
			{ dma, G, DMASPLIT_TO_DEVICE, "its first page only" },
			{ dma + 1, len - 1, DMASPLIT_TO_DEVICE, "from its second byte" },
			{ dma - 100 + G, G, DMASPLIT_TO_DEVICE, "its middle page" },
			{ dma, len, DMASPLIT_FROM_DEVICE, "in another direction" },
			{ dma, len, DMASPLIT_BIDIRECTIONAL, "bidirectional" },
		};
		unsigned int j;

		tu_log_clear();
		for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			expect_refused(dmasplit_unmap(d, bad[j].dma, bad[j].len, bad[j].dir, 0),
				       -EINVAL, -ENOENT, spec, bad[j].what);
			expect_read(d, dma, buf + 100, len, bad[j].what);
		}
		unmap_ok(d, dma, len, DMASPLIT_TO_DEVICE, 0);
		if (dev_translated(d))
			expect_fault(d, dma, 1, false, "after the right unmap");
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

#define CACHE_PROBES 1500

START_TEST(refused_partial_unmap_keeps_the_iova_cache_out_of_live_mappings)
{
	struct dmasplit_dev *d = open_unchecked("sim:a");
	uint8_t *buf = buf_new(3 * G), *page = buf_new(G);
	uint64_t *got = calloc(CACHE_PROBES, sizeof(*got));
	uint64_t dma;
	unsigned int i;

	ck_assert_ptr_nonnull(got);
	fill(buf, 3 * G, 6);
	dma = map_ok(d, buf, 3 * G, DMASPLIT_TO_DEVICE, 0);
	tu_log_clear();
	expect_refused(dmasplit_unmap(d, dma + G, G, DMASPLIT_TO_DEVICE, 0),
		       -ENOENT, -EINVAL, "sim:a", "unmap of the middle page");
	/* Every address the per-CPU caches hold is handed out again. */
	for (i = 0; i < CACHE_PROBES; i++) {
		got[i] = map_ok(d, page, G, DMASPLIT_TO_DEVICE, 0);
		FAIL_UNLESS(got[i] + G <= dma || got[i] >= dma + 3 * G,
			    "map %u got 0x%" PRIx64 ", inside the live mapping 0x%" PRIx64 "+0x%x",
			    i, got[i], dma, 3 * G);
	}
	expect_read(d, dma, buf, 3 * G, "the live mapping after the other maps");
	for (i = 0; i < CACHE_PROBES; i++)
		unmap_ok(d, got[i], G, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, dma, 3 * G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(got);
	free(buf);
	free(page);
}
END_TEST

/* Three buffers that no device merges into one segment. */
static unsigned int map_three(struct dmasplit_dev *d, uint8_t *buf,
			      struct dmasplit_seg *segs)
{
	struct iovec iov[3] = {
		{ buf + 100, 300 }, { buf + 2 * G + 50, 3000 }, { buf + 5 * G, 2 * G },
	};
	unsigned int nsegs = 3;
	int r = dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs);

	ck_assert_msg(r == 0 && nsegs == 3, "map_vec of 3 buffers: expected 0 and 3 segments, got %d and %u; log:\n%s",
		      r, nsegs, tu_log_text());
	return nsegs;
}

static void expect_segs_read(struct dmasplit_dev *d, const struct dmasplit_seg *s,
			     const uint8_t *buf, const char *what)
{
	static const size_t at[3] = { 100, 2 * G + 50, 5 * G };
	unsigned int i;

	for (i = 0; i < 3; i++)
		expect_read(d, s[i].dma, buf + at[i], s[i].len, what);
}

/* Without an IOMMU the same bytes are at the same device address in
 * every mapping of them: two vectors of one buffer start at one address,
 * and each must still unmap as itself, in either order. */
START_TEST(vectors_of_the_same_bytes_unmap_each_as_itself)
{
	const char *const specs[] = { "sim:f,iommu=off,mask=48", "sim:a" };
	uint8_t *buf = aligned_alloc(4096, 8192);
	unsigned int i, order;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < 2; i++) {
		for (order = 0; order < 2; order++) {
			struct dmasplit_dev *d = open_unchecked(specs[i]);
			struct iovec big = { buf, 8192 }, small = { buf, 4096 };
			struct dmasplit_seg vb, vs;
			unsigned int nb = 1, ns = 1;
			int r1, r2;

			ck_assert_int_eq(dmasplit_map_vec(d, &big, 1, DMASPLIT_BIDIRECTIONAL, 0, &vb, &nb), 0);
			ck_assert_int_eq(dmasplit_map_vec(d, &small, 1, DMASPLIT_BIDIRECTIONAL, 0, &vs, &ns), 0);
			if (order) {
				r1 = dmasplit_unmap_vec(d, &vb, 1, DMASPLIT_BIDIRECTIONAL, 0);
				r2 = dmasplit_unmap_vec(d, &vs, 1, DMASPLIT_BIDIRECTIONAL, 0);
			} else {
				r1 = dmasplit_unmap_vec(d, &vs, 1, DMASPLIT_BIDIRECTIONAL, 0);
				r2 = dmasplit_unmap_vec(d, &vb, 1, DMASPLIT_BIDIRECTIONAL, 0);
			}
			ck_assert_msg(r1 == 0 && r2 == 0,
				      "%s, %s first: expected both unmap_vec to give 0, got %d and %d; log:\n%s",
				      specs[i], order ? "the larger" : "the smaller",
				      r1, r2, tu_log_text());
			ck_assert_uint_eq(stats_of(d).mappings_live, 0);
			dmasplit_dev_close(d);
		}
	}
	free(buf);
}
END_TEST

START_TEST(unmap_vec_refuses_vectors_it_did_not_return)
{
	/* Segments by index: 0-2 of the vector, 3-5 of another one. */
	static const struct {
		unsigned int idx[3], n;
		const char *what;
	} bad[] = {
		{ { 1, 0 }, 2, "two segments swapped" },
		{ { 2, 1, 0 }, 3, "three segments reversed" },
		{ { 0, 2, 1 }, 3, "the last two swapped" },
		{ { 0, 1 }, 2, "the first two only" },
		{ { 1, 2 }, 2, "the last two only" },
		{ { 0, 0, 1 }, 3, "the first segment twice" },
		{ { 0, 1, 1 }, 3, "the second segment twice" },
		{ { 0, 1, 5 }, 3, "another vector's last segment" },
		{ { 3, 1, 2 }, 3, "another vector's first segment" },
	};
	uint8_t *buf = buf_new(8 * G), *obuf = buf_new(8 * G);
	unsigned int i, j, k;

	fill(buf, 8 * G, 7);
	fill(obuf, 8 * G, 8);
	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		struct dmasplit_seg s[6], v[3];
		int r;

		map_three(d, buf, s);
		map_three(d, obuf, s + 3);
		tu_log_clear();
		for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			for (k = 0; k < bad[j].n; k++)
				v[k] = s[bad[j].idx[k]];
			r = dmasplit_unmap_vec(d, v, bad[j].n, DMASPLIT_TO_DEVICE, 0);
			/* The device's refusal, and its line saying
			 * nothing was unmapped. */
			ck_assert_msg(r == -EINVAL, "%s: unmap_vec, %s: expected -EINVAL, got %d",
				      spec, bad[j].what, r);
			ck_assert_msg(lines_with("nothing unmapped") == 1,
				      "%s: unmap_vec, %s: expected the device's one refusal line; log:\n%s",
				      spec, bad[j].what, tu_log_text());
			tu_log_clear();
			expect_segs_read(d, s, buf, bad[j].what);
			expect_segs_read(d, s + 3, obuf, bad[j].what);
		}
		/* A vector's segment is not a dmasplit_map mapping. */
		expect_refused(dmasplit_unmap(d, s[1].dma, s[1].len, DMASPLIT_TO_DEVICE, 0),
			       -EINVAL, -ENOENT, spec, "unmap of a vector's segment");
		expect_refused(dmasplit_unmap_vec(d, s, 3, DMASPLIT_FROM_DEVICE, 0),
			       -EINVAL, 0, spec, "unmap_vec in another direction");
		r = dmasplit_unmap_vec(d, s, 3, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(r == 0, "%s: the right unmap_vec: expected 0, got %d; log:\n%s",
			      spec, r, tu_log_text());
		if (dev_translated(d))
			for (k = 0; k < 3; k++)
				expect_fault(d, s[k].dma, 1, false, "after unmap_vec");
		expect_segs_read(d, s + 3, obuf, "the other vector");
		tu_log_clear();
		r = dmasplit_unmap_vec(d, s, 3, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(lines_with("nothing unmapped") == 1,
			      "%s: second unmap_vec (got %d): expected the device's one refusal line; log:\n%s",
			      spec, r, tu_log_text());
		r = dmasplit_unmap_vec(d, s + 3, 3, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(r == 0, "%s: the other unmap_vec: expected 0, got %d; log:\n%s",
			      spec, r, tu_log_text());
		dmasplit_dev_close(d);
	}
	free(buf);
	free(obuf);
}
END_TEST

/* Whether p lies in a mapping of this process (/proc/self/maps). */
static bool in_process_maps(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;
	char line[512];
	bool found = false;

	ck_assert_msg(f != NULL, "/proc/self/maps: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
			(uintptr_t)p >= lo && (uintptr_t)p < hi;
	fclose(f);
	return found;
}

START_TEST(coherent_memory_left_at_close_is_released)
{
	static const char *const specs[] = {
		"sim:a", "sim:g,granule=65536", "sim:d,iommu=off",
	};
	unsigned int i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct dmasplit_dev *d = open_unchecked(specs[i]);
		void *cpu = NULL;
		uint64_t dma = 0;
		int r = dmasplit_alloc_coherent(d, 3 * G + 5, 0, &cpu, &dma);

		ck_assert_msg(r == 0, "%s: alloc_coherent: expected 0, got %d; log:\n%s",
			      specs[i], r, tu_log_text());
		memset(cpu, 0x5a, 3 * G + 5);
		tu_log_clear();
		dmasplit_dev_close(d);
		ck_assert_msg(tu_log_has("0 mappings and 1 coherent allocations still live at close"),
			      "%s: the leak is not counted; log:\n%s", specs[i],
			      tu_log_text());
		/* The pages themselves are gone, not merely unmapped from
		 * the device. */
		ck_assert_msg(!in_process_maps(cpu),
			      "%s: coherent memory at %p is still mapped after close",
			      specs[i], cpu);
	}
}
END_TEST

/* The pages are the same, the size is not: a free must name the size
 * the allocation asked for, as the kernel's dma_free_coherent does. */
START_TEST(free_coherent_with_another_size_of_the_same_pages_is_refused)
{
	static const char *const specs[] = {
		"sim:a", "sim:g,granule=65536", "sim:d,iommu=off",
	};
	static const size_t wrong[] = { 2, G, 0 };
	unsigned int i, j;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct dmasplit_dev *d = open_unchecked(specs[i]);
		uint8_t *cpu = NULL;
		uint64_t dma = 0;

		ck_assert_int_eq(dmasplit_alloc_coherent(d, 1, 0, (void **)&cpu, &dma), 0);
		for (j = 0; wrong[j]; j++) {
			tu_log_clear();
			expect_refused(dmasplit_free_coherent(d, wrong[j], cpu, dma),
				       -EINVAL, -EINVAL, specs[i],
				       "free_coherent of 1 byte with another size");
		}
		/* Still allocated, and still the device's. */
		ck_assert_msg(in_process_maps(cpu), "%s: refused free unmapped %p",
			      specs[i], cpu);
		cpu[0] = 0x5a;
		ck_assert_int_eq(read_byte(d, dma), 0x5a);
		ck_assert_int_eq(dmasplit_free_coherent(d, 1, cpu, dma), 0);
		ck_assert_msg(!in_process_maps(cpu), "%s: %p still mapped after its free",
			      specs[i], cpu);
		dmasplit_dev_close(d);
	}
}
END_TEST

/* The CPU time of this thread: a refusal that walks 2^40 bytes page by
 * page takes seconds of it, and a loaded machine that preempts the
 * test adds none. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Without an IOMMU the same bytes may be mapped twice: a sync from the
 * start of a short mapping into the rest of a longer one that holds it
 * is right, and the device must not refuse it. */
START_TEST(sync_inside_a_longer_mapping_of_the_same_bytes_is_not_refused)
{
	uint8_t *buf = buf_new(4 * G);
	struct dmasplit_dev *d = open_unchecked("sim:d,iommu=off");
	uint64_t outer = map_ok(d, buf, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
	uint64_t inner = map_ok(d, buf + 100, 10, DMASPLIT_BIDIRECTIONAL, 0);
	uint64_t other;
	int r;

	ck_assert_uint_eq(inner, outer + 100);
	r = dmasplit_sync_for_cpu(d, inner, 2 * G, DMASPLIT_BIDIRECTIONAL);
	ck_assert_msg(r == 0, "sync inside the longer mapping: expected 0, got %d; log:\n%s",
		      r, tu_log_text());
	/* Longer than any mapping held, by a byte: surely outside. */
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, inner, 8 * G, DMASPLIT_BIDIRECTIONAL),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, outer, 4 * G + 1,
					       DMASPLIT_BIDIRECTIONAL), -EINVAL);
	/* The longest gone, the next longest is the bound. */
	other = map_ok(d, buf + 3 * G, 100, DMASPLIT_BIDIRECTIONAL, 0);
	unmap_ok(d, outer, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, inner, 100, DMASPLIT_BIDIRECTIONAL), 0);
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, inner, 101, DMASPLIT_BIDIRECTIONAL),
			 -EINVAL);
	unmap_ok(d, other, 100, DMASPLIT_BIDIRECTIONAL, 0);
	unmap_ok(d, inner, 10, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(sync_outside_one_mapping_is_refused_at_once)
{
	const size_t huge = (size_t)1 << (SIZE_MAX > UINT32_MAX ? 40 : 31);
	uint8_t *buf = buf_new(4 * G), *never = buf_new(G);
	unsigned int i;

	fill(buf, 4 * G, 9);
	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		bool direct = strstr(spec, "iommu=off") && !strstr(spec, "bounce");
		uint64_t dma = map_ok(d, buf + 100, 2 * G, DMASPLIT_TO_DEVICE, 0);
		double t0 = cpu_s(), took;

		tu_log_clear();
		/* 2^40 bytes; 2^31 where a size_t has 32 bits. */
		expect_refused(dmasplit_sync_for_cpu(d, dma, huge, DMASPLIT_TO_DEVICE),
			       -ENOENT, -EINVAL, spec, "sync_for_cpu of a huge length");
		took = cpu_s() - t0;
		ck_assert_msg(took < 1.0, "%s: the refusal of a %zu-byte sync took %.1f s of CPU",
			      spec, huge, took);
		expect_refused(dmasplit_sync_for_device(d, dma, 2 * G + 1, DMASPLIT_TO_DEVICE),
			       -EINVAL, -ENOENT, spec, "sync one byte longer than the mapping");
		if (direct) {
			/* The only mapping the device holds: known whole,
			 * wherever in it a sync starts. */
			expect_refused(dmasplit_sync_for_device(d, dma + G, G + 1,
								DMASPLIT_TO_DEVICE),
				       -EINVAL, -EINVAL, spec,
				       "sync from inside past the end of the only mapping");
			expect_refused(dmasplit_sync_for_device(d, dma - G, 2 * G,
								DMASPLIT_TO_DEVICE),
				       -ENOENT, -ENOENT, spec,
				       "sync from before the only mapping");
		} else {
			/* A direct mapping is known by its start only: the
			 * rest of host memory is reachable anyway. */
			expect_refused(dmasplit_sync_for_device(d, dev_translated(d) ? dma + 64 * G
										   : dma + SEG,
								G, DMASPLIT_TO_DEVICE),
				       -ENOENT, -ENOENT, spec, "sync of an address never mapped");
			expect_refused(dmasplit_sync_for_cpu(d, dma, 16, DMASPLIT_FROM_DEVICE),
				       -EINVAL, -EINVAL, spec, "sync in another direction");
		}
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma + 10, 2 * G - 10,
							  DMASPLIT_TO_DEVICE), 0);
		unmap_ok(d, dma, 2 * G, DMASPLIT_TO_DEVICE, 0);
		tu_log_clear();
		if (!direct)
			expect_refused(dmasplit_sync_for_cpu(d, dma, 16, DMASPLIT_TO_DEVICE),
				       -ENOENT, -EINVAL, spec, "sync after unmap");
		dmasplit_dev_close(d);
	}
	free(buf);
	free(never);
}
END_TEST

/* The last page of a mapping holds bytes that are not its buffer's: a
 * sync into them runs past the mapping, wherever the sync starts. */
START_TEST(sync_past_the_end_inside_the_last_page_is_refused)
{
	static const char *const specs[] = {
		"sim:a", "sim:u,untrusted=1", "sim:b,iommu=off,bounce=force",
	};
	/* 601 pages: a sync from the second to the last crosses a leaf
	 * of the records. */
	const size_t big = 600 * G + 5;
	uint8_t *buf = buf_new(big + 2 * G);
	unsigned int i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		const char *spec = specs[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		enum dmasplit_dir dir = DMASPLIT_BIDIRECTIONAL;
		uint64_t dma, again;

		/* Two pages, the sync in the second. */
		dma = map_ok(d, buf + 100, 5000, dir, 0);
		tu_log_clear();
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma + 4990, 10, dir), 0);
		expect_refused(dmasplit_sync_for_device(d, dma + 4990, 11, dir),
			       -EINVAL, -EINVAL, spec, "sync 1 byte past the end");
		expect_refused(dmasplit_sync_for_device(d, dma + 5000, 1, dir),
			       -EINVAL, -EINVAL, spec, "sync of the byte after the end");
		expect_refused(dmasplit_sync_for_cpu(d, dma + 5000, 1, dir),
			       -EINVAL, -EINVAL, spec, "sync_for_cpu of the byte after the end");
		expect_refused(dmasplit_unmap(d, dma + 4990, 10, dir, 0),
			       -ENOENT, -ENOENT, spec, "unmap inside the last page");
		unmap_ok(d, dma, 5000, dir, 0);

		/* Three pages, the sync from the second into the third. */
		dma = map_ok(d, buf + 100, 9000, dir, 0);
		tu_log_clear();
		ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma + 5000, 4000, dir), 0);
		expect_refused(dmasplit_sync_for_cpu(d, dma + 5000, 4001, dir),
			       -EINVAL, -EINVAL, spec, "sync from the middle 1 byte past the end");
		expect_refused(dmasplit_sync_for_cpu(d, dma + 8990, 20, dir),
			       -EINVAL, -EINVAL, spec, "sync across the end");
		unmap_ok(d, dma, 9000, dir, 0);

		/* The addresses again, for whole pages: nothing of where
		 * the last mapping ended stays. */
		again = map_ok(d, buf, 2 * G, dir, 0);
		tu_log_clear();
		ck_assert_msg(dmasplit_sync_for_device(d, again + G + 1000, G - 1000, dir) == 0,
			      "%s: sync to the end of a new mapping: log:\n%s",
			      spec, tu_log_text());
		unmap_ok(d, again, 2 * G, dir, 0);

		/* A vector's first segment on the untrusted device, each
		 * segment mapped on its own: known to the byte too. */
		if (i == 1) {
			struct iovec iov[2] = { { buf, 5000 },
						{ buf + 2 * G, 5000 } };
			struct dmasplit_seg segs[2];
			unsigned int nsegs = 2;

			ck_assert_int_eq(dmasplit_map_vec(d, iov, 2, dir, 0, segs,
							  &nsegs), 0);
			ck_assert_uint_eq(nsegs, 2);
			tu_log_clear();
			ck_assert_int_eq(dmasplit_sync_for_cpu(d, segs[0].dma, 5000, dir), 0);
			expect_refused(dmasplit_sync_for_cpu(d, segs[0].dma, 5001, dir),
				       -EINVAL, -EINVAL, spec,
				       "sync 1 byte past a vector's first segment");
			ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 2, dir, 0), 0);

			/* And before its first byte, in the granule it
			 * starts in. */
			iov[0].iov_base = buf + G - 100;
			iov[0].iov_len = G + 200;
			nsegs = 2;
			ck_assert_int_eq(dmasplit_map_vec(d, iov, 1, dir, 0, segs,
							  &nsegs), 0);
			tu_log_clear();
			ck_assert_int_eq(dmasplit_sync_for_cpu(d, segs[0].dma, 2, dir), 0);
			expect_refused(dmasplit_sync_for_cpu(d, segs[0].dma - 1, 2, dir),
				       -EINVAL, -EINVAL, spec,
				       "sync from 1 byte before a vector's first segment");
			expect_refused(dmasplit_sync_for_device(d, segs[0].dma - 16, 32, dir),
				       -EINVAL, -EINVAL, spec,
				       "sync_for_device from before a vector's first segment");
			ck_assert_int_eq(dmasplit_unmap_vec(d, segs, 1, dir, 0), 0);
		}
		/* Not bounced: one swiotlb mapping holds less. */
		if (i == 0) {
			dma = map_ok(d, buf + 100, big, dir, 0);
			tu_log_clear();
			ck_assert_int_eq(dmasplit_sync_for_device(d, dma + G, big - G, dir), 0);
			expect_refused(dmasplit_sync_for_device(d, dma + G, big - G + 1, dir),
				       -EINVAL, -EINVAL, spec, "long sync 1 byte past the end");
			unmap_ok(d, dma, big, dir, 0);
		}
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

START_TEST(window_sync_and_unlink_of_nothing_linked_are_refused)
{
	static const char *const specs[] = { "sim:a", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(4 * G);
	unsigned int i;

	fill(buf, 4 * G, 10);
	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *d = open_unchecked(specs[i]);
		struct dmasplit_iova *w = window(d, 4 * G);
		uint64_t base = dmasplit_iova_addr(w);

		link_ok(w, G, buf + G, G, DMASPLIT_TO_DEVICE, 0);
		tu_log_clear();
		expect_refused(dmasplit_iova_sync(w, 2 * G, G), -ENOENT, -ENOENT,
			       specs[i], "iova_sync of a page not linked");
		expect_refused(dmasplit_iova_unlink(w, 3 * G, G, DMASPLIT_TO_DEVICE, 0),
			       -ENOENT, -ENOENT, specs[i], "unlink of a page not linked");
		/* Holes in a range are a batch's whole-window sync. */
		sync_ok(w, 0, 4 * G);
		expect_read(d, base + G, buf + G, G, specs[i]);
		expect_refused(dmasplit_sync_for_cpu(d, base + 2 * G, 16, DMASPLIT_TO_DEVICE),
			       -ENOENT, -ENOENT, specs[i], "sync_for_cpu of a window page not linked");
		expect_refused(dmasplit_sync_for_cpu(d, base + G, 2 * G, DMASPLIT_TO_DEVICE),
			       -ENOENT, -ENOENT, specs[i], "sync_for_cpu past the link");
		unlink_ok(w, 0, 4 * G, DMASPLIT_TO_DEVICE, 0);
		expect_refused(dmasplit_iova_unlink(w, G, G, DMASPLIT_TO_DEVICE, 0),
			       -ENOENT, -ENOENT, specs[i], "second unlink");
		dmasplit_iova_destroy(w);
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

START_TEST(link_over_a_link_is_refused_and_changes_nothing)
{
	static const char *const specs[] = { "sim:a", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(4 * G), *other = buf_new(4 * G);
	unsigned int i;

	fill(buf, 4 * G, 11);
	fill(other, 4 * G, 12);
	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *d = open_unchecked(specs[i]);
		struct dmasplit_iova *w = window(d, 4 * G);
		uint64_t base = dmasplit_iova_addr(w);

		link_ok(w, 100, buf + 100, 2 * G - 200, DMASPLIT_TO_DEVICE, 0);
		sync_ok(w, 0, 2 * G);
		tu_log_clear();
		expect_refused(dmasplit_iova_link(w, G, other + G, 2 * G, DMASPLIT_TO_DEVICE, 0),
			       -EEXIST, -EEXIST, specs[i], "link over the second page");
		expect_refused(dmasplit_iova_link(w, 2 * G - 50, other + 2 * G - 50, 10,
						  DMASPLIT_TO_DEVICE, 0),
			       -EEXIST, -EEXIST, specs[i], "link into the linked tail granule");
		expect_read(d, base + 100, buf + 100, 2 * G - 200, specs[i]);
		/* The page after the link was taken back with the refusal. */
		expect_fault(d, base + 2 * G, 1, false, "the page the refused link began");
		unlink_ok(w, 100, 2 * G - 200, DMASPLIT_TO_DEVICE, 0);
		link_ok(w, G, other + G, 2 * G, DMASPLIT_TO_DEVICE, 0);
		sync_ok(w, G, 2 * G);
		expect_read(d, base + G, other + G, 2 * G, "after the link is free");
		dmasplit_iova_destroy(w);
		dmasplit_dev_close(d);
	}
	free(buf);
	free(other);
}
END_TEST

/* A vector's segment is not a mapping dmasplit_unmap() takes, on every
 * device: -EINVAL (something is there, but not that), never -ENOENT. */
START_TEST(unmap_of_a_vector_segment_is_invalid_on_every_device)
{
	uint8_t *buf = buf_new(4 * G);
	unsigned int i;

	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		struct iovec iov[2] = { { buf + 2 * G, G }, { buf, G } };
		struct dmasplit_seg segs[2];
		unsigned int nsegs = 2;

		ck_assert_int_eq(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE, 0,
						  segs, &nsegs), 0);
		tu_log_clear();
		expect_refused(dmasplit_unmap(d, segs[0].dma, segs[0].len,
					      DMASPLIT_TO_DEVICE, 0),
			       -EINVAL, -EINVAL, spec, "unmap of a vector's first segment");
		ck_assert_int_eq(dmasplit_unmap_vec(d, segs, nsegs,
						    DMASPLIT_TO_DEVICE, 0), 0);
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

/* Refusals the device makes itself, each in one line, none with
 * DMASPLIT_ATTR_NO_WARN: too little room for a vector, a full bounce
 * pool, a link whose offset and address differ within the granule, a
 * link over a link. */
START_TEST(device_refusals_log_one_line_unless_told_not_to)
{
	static const char *const novec[] = {
		"sim:d,iommu=off", "sim:b,iommu=off,bounce=force",
	};
	uint8_t *buf = buf_new(1024 * 1024);
	struct iovec iov[3] = { { buf, G }, { buf + 2 * G, G }, { buf + 4 * G, G } };
	struct dmasplit_seg segs[3];
	struct dmasplit_dev *d;
	struct dmasplit_iova *w;
	uint64_t a, b, c;
	unsigned int i, nsegs;

	for (i = 0; i < 2; i++) {
		d = open_unchecked(novec[i]);
		nsegs = 2;
		tu_log_clear();
		expect_refused(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0,
						segs, &nsegs),
			       -ENOSPC, -ENOSPC, novec[i], "map_vec of 3 buffers into 2 segments");
		ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE,
						  DMASPLIT_ATTR_NO_WARN, segs,
						  &nsegs), -ENOSPC);
		ck_assert_msg(lines_with("") == 0, "%s: NO_WARN logged:\n%s",
			      novec[i], tu_log_text());
		dmasplit_dev_close(d);
	}
	/* Translated, the buffers merge where one ends on a granule
	 * boundary: two that do not need two segments. */
	d = open_unchecked("sim:a");
	nsegs = 1;
	iov[1].iov_len = 100;
	iov[0].iov_len = 100;
	tu_log_clear();
	expect_refused(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE, 0, segs,
					&nsegs),
		       -ENOSPC, -ENOSPC, "sim:a", "map_vec of 2 buffers: they need more than the 1 segments");
	ck_assert_uint_eq(nsegs, 1);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE,
					  DMASPLIT_ATTR_NO_WARN, segs, &nsegs),
			 -ENOSPC);
	ck_assert_msg(lines_with("") == 0, "sim:a: NO_WARN logged:\n%s",
		      tu_log_text());
	ck_assert_uint_eq(stats_of(d).mappings_live, 0);
	dmasplit_dev_close(d);
	iov[0].iov_len = iov[1].iov_len = G;

	/* No device addresses left: 13 bits hold one granule. */
	d = open_unchecked("sim:f,mask=13");
	nsegs = 3;
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(d, buf, 2 * G, DMASPLIT_TO_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &c), -ENOSPC);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE,
					  DMASPLIT_ATTR_NO_WARN, segs, &nsegs),
			 -ENOSPC);
	ck_assert_msg(lines_with("") == 0, "sim:f: NO_WARN logged:\n%s",
		      tu_log_text());
	expect_refused(dmasplit_map(d, buf, 2 * G, DMASPLIT_TO_DEVICE, 0, &c),
		       -ENOSPC, -ENOSPC, "sim:f,mask=13", "map with no addresses left");
	expect_refused(dmasplit_map_vec(d, iov, 2, DMASPLIT_TO_DEVICE, 0, segs,
					&nsegs),
		       -ENOSPC, -ENOSPC, "sim:f,mask=13", "map_vec with no addresses left");
	dmasplit_dev_close(d);

	d = open_unchecked("sim:p,iommu=off,bounce=force,pool=512K");
	a = map_ok(d, buf, 256 * 1024, DMASPLIT_TO_DEVICE, 0);
	b = map_ok(d, buf + 256 * 1024, 256 * 1024, DMASPLIT_TO_DEVICE, 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(d, buf + 512 * 1024, G, DMASPLIT_TO_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &c), -ENOMEM);
	ck_assert_msg(lines_with("") == 0, "a full pool logged with NO_WARN:\n%s",
		      tu_log_text());
	expect_refused(dmasplit_map(d, buf + 512 * 1024, G, DMASPLIT_TO_DEVICE,
				    0, &c),
		       -ENOMEM, -ENOMEM, "pool=512K", "map into a full pool");
	unmap_ok(d, a, 256 * 1024, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, b, 256 * 1024, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);

	d = open_unchecked("sim:a");
	w = window(d, 4 * G);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_iova_link(w, 1, buf, G, DMASPLIT_TO_DEVICE,
					    DMASPLIT_ATTR_NO_WARN), -EINVAL);
	link_ok(w, 0, buf, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_iova_link(w, 0, buf, G, DMASPLIT_TO_DEVICE,
					    DMASPLIT_ATTR_NO_WARN), -EEXIST);
	ck_assert_msg(lines_with("") == 0, "refused links logged with NO_WARN:\n%s",
		      tu_log_text());
	expect_refused(dmasplit_iova_link(w, 1, buf, G, DMASPLIT_TO_DEVICE, 0),
		       -EINVAL, -EINVAL, "sim:a", "link with offset and address apart");
	unlink_ok(w, 0, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(w);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("misuse");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, double_unmap_on_a_bounce_device_is_refused_and_the_pool_stays_intact);
	tcase_add_test(tc, double_unmap_is_refused_on_every_device);
	tcase_add_test(tc, unmap_of_a_vector_segment_is_invalid_on_every_device);
	tcase_add_test(tc, device_refusals_log_one_line_unless_told_not_to);
	tcase_add_test(tc, unmap_with_a_wrong_length_or_direction_changes_nothing);
	tcase_add_test(tc, refused_partial_unmap_keeps_the_iova_cache_out_of_live_mappings);
	tcase_add_test(tc, unmap_vec_refuses_vectors_it_did_not_return);
	tcase_add_test(tc, vectors_of_the_same_bytes_unmap_each_as_itself);
	tcase_add_test(tc, coherent_memory_left_at_close_is_released);
	tcase_add_test(tc, free_coherent_with_another_size_of_the_same_pages_is_refused);
	tcase_add_test(tc, sync_outside_one_mapping_is_refused_at_once);
	tcase_add_test(tc, sync_inside_a_longer_mapping_of_the_same_bytes_is_not_refused);
	tcase_add_test(tc, sync_past_the_end_inside_the_last_page_is_refused);
	tcase_add_test(tc, window_sync_and_unlink_of_nothing_linked_are_refused);
	tcase_add_test(tc, link_over_a_link_is_refused_and_changes_nothing);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
