// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim: memory shared by the host and the device without syncs
 * (dmasplit_alloc_coherent), and one device shared by threads.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simutil.h"

START_TEST(coherent_memory_is_shared_without_syncs)
{
	static const struct {
		const char *spec;
		bool iommu;
		unsigned int mask;
		size_t gran;
	} cases[] = {
		{ "sim:c1", true, 64, 4096 },
		{ "sim:c2,untrusted=1", true, 64, 4096 },
		{ "sim:c3,coherent=0", true, 64, 4096 },
		{ "sim:c4,granule=65536", true, 64, 65536 },
		{ "sim:c5,mask=30", true, 30, 4096 },
		{ "sim:c6,iommu=off", false, 64, 4096 },
		{ "sim:c7,iommu=off,bounce=force", false, 64, 4096 },
		{ "sim:c8,iommu=off,mask=32", false, 32, 4096 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmasplit_dev *d = open_dev(cases[i].spec);
		struct dmasplit_dev_stats s0 = stats_of(d), s1;
		const size_t size = 3 * G + 5;
		uint8_t *cpu = NULL, data[64];
		uint64_t dma = 0;
		size_t j;

		ck_assert_int_eq(dmasplit_alloc_coherent(d, size, 0, (void **)&cpu, &dma), 0);
		ck_assert_msg(cpu && dma && fits_mask(dma, size, cases[i].mask),
			      "%s: coherent memory %p at 0x%" PRIx64, cases[i].spec, (void *)cpu, dma);
		if (cases[i].iommu) {
			ck_assert_msg((uintptr_t)cpu % cases[i].gran == 0,
				      "%s: coherent memory %p is not granule aligned", cases[i].spec, (void *)cpu);
			for (j = 0; j < size; j++)
				FAIL_UNLESS(cpu[j] == 0, "%s: coherent byte %zu is 0x%02x, expected zero",
					    cases[i].spec, j, cpu[j]);
		} else {
			ck_assert_msg(dma == (uintptr_t)cpu, "%s: dma 0x%" PRIx64 " for memory at %p",
				      cases[i].spec, dma, (void *)cpu);
		}
		fill(cpu, size, 41);
		expect_read(d, dma, cpu, size, cases[i].spec);
		fill(data, sizeof(data), 42);
		expect_write(d, dma + size - sizeof(data), data, sizeof(data), cases[i].spec);
		ck_assert_msg(first_diff(cpu + size - sizeof(data), data, sizeof(data)) == sizeof(data),
			      "%s: the host did not see the device write", cases[i].spec);
		s1 = stats_of(d);
		ck_assert_msg(s1.bytes_bounced == s0.bytes_bounced, "%s: coherent memory bounced", cases[i].spec);
		ck_assert_int_eq(dmasplit_free_coherent(d, size, cpu, dma), 0);
		if (cases[i].iommu)
			expect_fault(d, dma, 1, false, "coherent memory after free");
		dmasplit_dev_close(d);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Threads                                                              */

struct worker {
	struct dmasplit_dev *dev;
	unsigned int id;
	bool windows;
	char err[256];		/* empty: no failure */
};

/* Check's assertions cannot leave a thread: failures are reported back
 * and asserted on by the main thread. */
static void *work(void *arg)
{
	struct worker *w = arg;
	uint8_t *buf = aligned_alloc(K64, K64), *src = malloc(9000), *got = malloc(9000);
	unsigned int iter;

	if (!buf || !src || !got) {
		snprintf(w->err, sizeof(w->err), "thread %u: out of memory", w->id);
		goto out;
	}
	for (iter = 0; iter < 200 && !w->err[0]; iter++) {
		size_t off = (iter * 37u + w->id * 11u) % 3000u;
		size_t len = 1 + (iter * 101u + w->id) % 9000u;
		struct dmasplit_iova *iova;
		uint64_t dma;
		int r;

		fill(buf + off, len, w->id * 1000 + iter);
		fill(src, len, w->id * 1000 + iter + 500);
		r = dmasplit_map(w->dev, buf + off, len, DMASPLIT_BIDIRECTIONAL, 0, &dma);
		if (r) {
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: map of %zu bytes: got %d",
				 w->id, iter, len, r);
			break;
		}
		r = dmasplit_dev_dma_read(w->dev, dma, got, len);
		if (r || memcmp(got, buf + off, len)) {
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: device read got %d or other bytes",
				 w->id, iter, r);
			break;
		}
		r = dmasplit_dev_dma_write(w->dev, dma, src, len);
		if (!r)
			r = dmasplit_unmap(w->dev, dma, len, DMASPLIT_BIDIRECTIONAL, 0);
		if (r || memcmp(buf + off, src, len)) {
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: write and unmap got %d or other bytes",
				 w->id, iter, r);
			break;
		}
		if (!w->windows)
			continue;
		r = dmasplit_iova_alloc(w->dev, 3 * G, 0, &iova);
		if (r) {
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: window: got %d",
				 w->id, iter, r);
			break;
		}
		r = dmasplit_iova_link(iova, off % G, buf + off, len, DMASPLIT_TO_DEVICE, 0);
		if (!r)
			r = dmasplit_iova_sync(iova, off % G, len);
		if (!r)
			r = dmasplit_dev_dma_read(w->dev, dmasplit_iova_addr(iova) + off % G, got, len);
		if (r || memcmp(got, buf + off, len))
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: window read got %d or other bytes",
				 w->id, iter, r);
		else if ((r = dmasplit_iova_unlink(iova, off % G, len, DMASPLIT_TO_DEVICE, 0)))
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: unlink got %d",
				 w->id, iter, r);
		dmasplit_iova_destroy(iova);
	}
out:
	free(buf);
	free(src);
	free(got);
	return NULL;
}

/* Two threads working on one device, each on its own buffers. */
static void two_threads(const char *spec, bool windows)
{
	struct dmasplit_dev *d = open_dev(spec);
	struct dmasplit_dev_stats s;
	struct worker w[2];
	pthread_t th[2];
	unsigned int t;

	for (t = 0; t < 2; t++) {
		w[t].dev = d;
		w[t].id = t + 1;
		w[t].windows = windows;
		w[t].err[0] = '\0';
		ck_assert_int_eq(pthread_create(&th[t], NULL, work, &w[t]), 0);
	}
	for (t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	for (t = 0; t < 2; t++)
		ck_assert_msg(!w[t].err[0], "%s: %s; log:\n%s", spec, w[t].err, tu_log_text());
	s = stats_of(d);
	ck_assert_msg(s.mappings_live == 0 && s.windows_live == 0 && s.device_faults == 0,
		      "%s: %" PRIu64 " mappings, %" PRIu64 " windows live, %" PRIu64 " faults after the threads",
		      spec, s.mappings_live, s.windows_live, s.device_faults);
	dmasplit_dev_close(d);
}

START_TEST(concurrent_maps_from_two_threads)
{
	two_threads("sim:t1", false);
	two_threads("sim:t2,untrusted=1", false);
	two_threads("sim:t3,iommu=off,bounce=force", false);
	two_threads("sim:t4,iommu=off", false);
}
END_TEST

START_TEST(concurrent_windows_from_two_threads)
{
	two_threads("sim:t5", true);
	two_threads("sim:t6,untrusted=1", true);
}
END_TEST

/* Two threads syncing and mapping on one device: every invalidation
 * each makes is counted, none lost. */
#define COUNT_ITERS 20000

struct counter_worker {
	struct dmasplit_dev *dev;
	char err[200];
};

static void *count_work(void *arg)
{
	struct counter_worker *w = arg;
	uint8_t *buf = aligned_alloc(G, 2 * G);
	struct dmasplit_iova *iova = NULL;
	unsigned int i;
	uint64_t dma;
	int r;

	if (!buf || dmasplit_iova_alloc(w->dev, 2 * G, 0, &iova)) {
		snprintf(w->err, sizeof(w->err), "no buffer or window");
		free(buf);
		return NULL;
	}
	for (i = 0; i < COUNT_ITERS; i++) {
		r = dmasplit_map(w->dev, buf, G, DMASPLIT_TO_DEVICE, 0, &dma);
		if (!r)
			r = dmasplit_unmap(w->dev, dma, G, DMASPLIT_TO_DEVICE, 0);
		if (!r)
			r = dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0);
		if (!r)
			r = dmasplit_iova_sync(iova, 0, G);
		if (!r)
			r = dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0);
		if (r) {
			snprintf(w->err, sizeof(w->err), "iteration %u: got %d", i, r);
			break;
		}
	}
	dmasplit_iova_destroy(iova);
	free(buf);
	return NULL;
}

START_TEST(invalidation_count_is_exact_from_two_threads)
{
	struct dmasplit_dev *d = open_unchecked("sim:c");
	uint64_t before = stats_of(d).kernel_calls, after;
	struct counter_worker w[2] = { { .dev = d }, { .dev = d } };
	pthread_t th[2];
	unsigned int t;

	for (t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, count_work, &w[t]), 0);
	for (t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	for (t = 0; t < 2; t++)
		ck_assert_msg(!w[t].err[0], "thread %u: %s; log:\n%s", t, w[t].err,
			      tu_log_text());
	after = stats_of(d).kernel_calls;
	/* map, unmap, iova_sync and iova_unlink: one invalidation each. */
	ck_assert_msg(after - before == 2ull * COUNT_ITERS * 4,
		      "kernel_calls went up by %" PRIu64 ", expected %llu",
		      after - before, 2ull * COUNT_ITERS * 4);
	dmasplit_dev_close(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("shared");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, coherent_memory_is_shared_without_syncs);
	tcase_add_test(tc, concurrent_maps_from_two_threads);
	tcase_add_test(tc, concurrent_windows_from_two_threads);
	tcase_add_test(tc, invalidation_count_is_exact_from_two_threads);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
