// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim's page tables: taken down with what spans them, kept in a
 * bounded reserve, given back by dmasplit_dev_trim, and built again
 * where links and maps need them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simutil.h"

/* Resident anonymous memory of the process (RssAnon), bytes. */
static long long rss_anon(void)
{
	char line[128];
	long long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %lld kB", &kb) == 1)
			break;
	fclose(f);
	ck_assert_int_ge(kb, 0);
	return kb * 1024;
}

/* Resident memory is the process's own, not a tool's: valgrind and the
 * sanitizers keep theirs in the same counts. */
static bool rss_is_ours(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return !dlsym(RTLD_DEFAULT, "__asan_init") &&
	       !dlsym(RTLD_DEFAULT, "__tsan_init") &&
	       !(pre && strstr(pre, "vgpreload"));
}

/* The page table's reserve of freed tables (PT_RESERVE_BYTES). */
#define RESERVE (512 * 1024)

/*
 * A window of 2 GiB, every granule linked, needs 1024 leaf tables (4 MiB):
 * its destroy gives them back but for the reserve, so memory returns to
 * within the reserve of what it was before (less than one table per
 * level and end of the window stays).  The second window takes its
 * tables from the reserve first, so it leaves nothing more.  The links
 * themselves must have raised it by most of the 4 MiB, or the measure
 * would prove nothing.  The checker is off: its records of destroyed
 * windows are its own memory, not the page table's.
 */
START_TEST(destroy_gives_page_tables_back)
{
	const size_t size = 2048ul * 1024 * 1024, tables = 4ul << 20;
	struct dmasplit_dev *d = open_unchecked("sim:pt");
	uint8_t *buf = buf_new(G);
	struct dmasplit_iova *iova;
	long long before, linked, after;
	size_t off;
	int round, r = 0;

	/* Twice: the second window reuses the reserve the first left. */
	for (round = 0; round < 2; round++) {
		before = rss_anon();
		iova = window(d, size);
		/* Half a million links: one assertion after them, as each
		 * passing one costs Check a write. */
		for (off = 0; off < size && r == 0; off += G)
			r = dmasplit_iova_link(iova, off, buf, G,
					       DMASPLIT_BIDIRECTIONAL, 0);
		ck_assert_msg(r == 0, "round %d: link at 0x%zx: %d", round,
			      off - G, r);
		sync_ok(iova, 0, size);
		linked = rss_anon();
		ck_assert_msg(linked - before >= (long long)tables * 3 / 4,
			      "round %d: linking 2 GiB added only %lld bytes",
			      round, linked - before);
		/* Destroy with the links still there, then expect a fault
		 * where they were. */
		dmasplit_iova_destroy(iova);
		after = rss_anon();
		ck_assert_msg(after - before <= (round ? 0 : RESERVE) + 64 * 1024,
			      "round %d: %lld bytes still held after destroy (%lld linked)",
			      round, after - before, linked - before);
	}
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/* Links and maps after tables went are made anew, and reach the right
 * bytes; a large mapping's unmap gives its tables back too. */
START_TEST(tables_come_back_after_release)
{
	const size_t size = 64ul * 1024 * 1024;
	struct dmasplit_dev *d = open_dev("sim:pr");
	uint8_t *buf = buf_new(size);
	struct dmasplit_iova *iova;
	uint64_t base, dma;
	int round;

	fill(buf, size, 7);
	for (round = 0; round < 3; round++) {
		iova = window(d, size);
		base = dmasplit_iova_addr(iova);
		link_ok(iova, 0, buf, size, DMASPLIT_BIDIRECTIONAL, 0);
		sync_ok(iova, 0, size);
		expect_read(d, base + size / 2, buf + size / 2, G, "window after release");
		expect_read(d, base + size - G, buf + size - G, G, "window's end");
		dmasplit_iova_destroy(iova);
		expect_fault(d, base + size / 2, 1, false, "destroyed window");
		dma = map_ok(d, buf, size, DMASPLIT_TO_DEVICE, 0);
		expect_read(d, dma + size - G, buf + size - G, G, "mapping after release");
		unmap_ok(d, dma, size, DMASPLIT_TO_DEVICE, 0);
		expect_fault(d, dma + size / 2, 1, false, "unmapped mapping");
	}
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

struct racer {
	struct dmasplit_dev *d;
	size_t size;
	_Atomic uint64_t base;
	atomic_bool stop;
	unsigned long reads, other;
	int last_other;
};

/* Reads the upper half of the current window, a byte every leaf
 * table's span, over and over. */
static void *race_reader(void *arg)
{
	struct racer *r = arg;
	uint8_t b[8];
	size_t off;

	while (!atomic_load(&r->stop)) {
		uint64_t base = atomic_load(&r->base);

		for (off = r->size / 2; off < r->size; off += 2u << 20) {
			int e = dmasplit_dev_dma_read(r->d, base + off + 7 * G,
						      b, sizeof(b));

			r->reads++;
			if (e != 0 && e != -EFAULT) {
				r->other++;
				r->last_other = e;
			}
		}
	}
	return NULL;
}

/*
 * Windows of size made, every page linked, synced and destroyed (and,
 * with trim, the device trimmed) over and over, while another thread on
 * the same CPU reads the upper half of the current one: every read
 * either reads or faults.  Both threads share one CPU, so that the
 * scheduler also stops the reader inside a walk.  A race, so a run that
 * misses it proves nothing.  Under a tool, one round.
 */
static void race_teardowns(const char *spec, size_t size, bool trim)
{
	const bool ours = rss_is_ours();
	struct racer r = { .size = size };
	cpu_set_t one, before;
	uint8_t *buf = buf_new(G);
	struct timespec t0, t;
	pthread_t reader;
	unsigned int i;
	bool pinned;

	tu_log_discard(ctx);
	r.d = open_unchecked(spec);
	pinned = pthread_getaffinity_np(pthread_self(), sizeof(before),
					&before) == 0;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	pinned = pinned && pthread_setaffinity_np(pthread_self(), sizeof(one),
						  &one) == 0;
	ck_assert_int_eq(pthread_create(&reader, NULL, race_reader, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0;; i++) {
		struct dmasplit_iova *iova;
		size_t off;
		int e = 0;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (i >= (ours ? 20u : 1u) &&
		    (t.tv_sec - t0.tv_sec > 3 || i >= 200))
			break;
		ck_assert_int_eq(dmasplit_iova_alloc(r.d, size, 0, &iova), 0);
		for (off = 0; off < size && e == 0; off += G)
			e = dmasplit_iova_link(iova, off, buf, G,
					       DMASPLIT_BIDIRECTIONAL, 0);
		ck_assert_int_eq(e, 0);
		ck_assert_int_eq(dmasplit_iova_sync(iova, 0, size), 0);
		atomic_store(&r.base, dmasplit_iova_addr(iova));
		dmasplit_iova_destroy(iova);
		if (trim)
			ck_assert_int_eq(dmasplit_dev_trim(r.d), 0);
	}
	atomic_store(&r.stop, true);
	pthread_join(reader, NULL);
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
	tu_log_capture(ctx);
	ck_assert_msg(r.other == 0, "%lu of %lu reads failed with neither 0 nor -EFAULT (last %d)",
		      r.other, r.reads, r.last_other);
	ck_assert_msg(r.reads > 0, "the reader never read");
	dmasplit_dev_close(r.d);
	free(buf);
}

/*
 * The device walks the page table without a lock, so an access may race
 * the destroy of the window it reaches.  It must fault (or, before the
 * destroy, read), never take the process down: the tables' memory goes
 * back at destroy, beyond the reserve.  The window spans 384 leaf
 * tables, three times what the reserve holds, and the reader aims at its
 * upper half, whose tables are freed last and so not kept.  With the
 * tables' chunks unmapped at destroy, about one run in five took the
 * process down (SIGSEGV in the device's walk) on a loaded 2-CPU machine.
 */
START_TEST(device_access_racing_a_destroy_faults)
{
	race_teardowns("sim:race", 768ul << 20, false);
}
END_TEST

/*
 * A trim unmaps the chunks whose tables are all free.  A device access
 * racing it (and the destroy before it) on the addresses those tables
 * served must fault, never find its table gone: the trim waits for the
 * walks that may have read a table's address.  Without that wait, one
 * run in five or two in five died (SIGSEGV in the device's walk).
 * Under a tool, a smaller window: the race is then not the point, only
 * that a walk and a trim make no error.
 */
START_TEST(device_access_racing_a_trim_faults)
{
	race_teardowns("sim:trimfault", (rss_is_ours() ? 768ul : 128ul) << 20,
		       true);
}
END_TEST

/* One window made, linked and taken down, and the device trimmed: what a
 * device makes on first use (the thread's counters, the top of its page
 * table) is then in the level a test measures from. */
static void first_use(struct dmasplit_dev *d, uint8_t *buf)
{
	struct dmasplit_iova *iova = window(d, G);

	link_ok(iova, 0, buf, G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, G);
	dmasplit_iova_destroy(iova);
	ck_assert_int_eq(dmasplit_dev_trim(d), 0);
}

/* Slack for what is not the tables': the heap's bookkeeping of their
 * chunks and of the address allocator. */
#define TRIM_SLACK (16 * 1024)

/*
 * What destroy keeps for reuse (the reserve, tables that span several
 * windows' addresses, the records of per-range mappings) dmasplit_dev_trim
 * gives back: memory returns to the level before.  Each part must first
 * have been held, or the trim would prove nothing.
 */
START_TEST(trim_gives_back_what_destroy_keeps)
{
	const size_t big = 1024ul << 20, n = 20000, nmaps = 4000;
	struct dmasplit_dev *d = open_unchecked("sim:trim");
	struct dmasplit_iova *iova, **w = calloc(n, sizeof(*w));
	uint64_t *dma = calloc(nmaps, sizeof(*dma));
	uint8_t *buf = buf_new(G);
	long long before, held, after;
	size_t i, off;
	int r = 0;

	ck_assert_ptr_nonnull(w);
	ck_assert_ptr_nonnull(dma);
	/* The lists resident now: calloc() maps lists this large
	 * untouched, and their pages would count as the device's. */
	for (i = 0; i < n; i++)
		((struct dmasplit_iova *volatile *)w)[i] = NULL;
	for (i = 0; i < nmaps; i++)
		((volatile uint64_t *)dma)[i] = 0;
	first_use(d, buf);

	/* One large window: the reserve. */
	before = rss_anon();
	iova = window(d, big);
	for (off = 0; off < big && r == 0; off += G)
		r = dmasplit_iova_link(iova, off, buf, G,
				       DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_int_eq(r, 0);
	dmasplit_iova_destroy(iova);
	held = rss_anon() - before;
	ck_assert_msg(held >= RESERVE / 2, "a 1 GiB window left only %lld bytes to trim", held);
	ck_assert_int_eq(dmasplit_dev_trim(d), 0);
	after = rss_anon() - before;
	ck_assert_msg(after <= TRIM_SLACK, "%lld bytes held after the trim (%lld before it)",
		      after, held);

	/* Many one-page windows and mappings: shared tables, records. */
	before = rss_anon();
	for (i = 0; i < n && r == 0; i++) {
		r = dmasplit_iova_alloc(d, G, 0, &w[i]);
		if (r == 0)
			r = dmasplit_iova_link(w[i], 0, buf, G,
					       DMASPLIT_BIDIRECTIONAL, 0);
	}
	FAIL_UNLESS(r == 0, "window %zu: %d", i - 1, r);
	for (i = 0; i < nmaps && r == 0; i++)
		r = dmasplit_map(d, buf, G, DMASPLIT_TO_DEVICE, 0, &dma[i]);
	FAIL_UNLESS(r == 0, "map %zu: %d", i - 1, r);
	for (i = 0; i < nmaps && r == 0; i++)
		r = dmasplit_unmap(d, dma[i], G, DMASPLIT_TO_DEVICE, 0);
	FAIL_UNLESS(r == 0, "unmap %zu: %d", i - 1, r);
	for (i = 0; i < n; i++)
		dmasplit_iova_destroy(w[i]);
	held = rss_anon() - before;
	ck_assert_msg(held >= 64 * 1024, "%zu windows and %zu mappings left only %lld bytes to trim",
		      n, nmaps, held);
	ck_assert_int_eq(dmasplit_dev_trim(d), 0);
	after = rss_anon() - before;
	ck_assert_msg(after <= TRIM_SLACK, "%lld bytes held after the trim (%lld before it)",
		      after, held);
	/* Trimmed tables come back where they are needed. */
	iova = window(d, big);
	link_ok(iova, big - G, buf, G, DMASPLIT_TO_DEVICE, 0);
	sync_ok(iova, big - G, G);
	expect_read(d, dmasplit_iova_addr(iova) + big - G, buf, G,
		    "a window made after the trim");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(dma);
	free(w);
	free(buf);
}
END_TEST

/*
 * A trim takes nothing still in use: windows and mappings live beside
 * destroyed ones in the same leaf tables read right after it, and their
 * records still tell their syncs and unmaps what they are.  The
 * destroyed ones fault.
 */
START_TEST(trim_keeps_what_is_live)
{
	enum { N = 64 };
	struct dmasplit_dev *d = open_dev("sim:keep");
	struct dmasplit_iova *w[N];
	uint8_t *buf = buf_new((size_t)N * G);
	uint64_t dma[N], gone_win, gone_map;
	unsigned int i;

	fill(buf, (size_t)N * G, 3);
	for (i = 0; i < N; i++) {
		w[i] = window(d, G);
		link_ok(w[i], 0, buf + (size_t)i * G, G, DMASPLIT_TO_DEVICE, 0);
		sync_ok(w[i], 0, G);
		dma[i] = map_ok(d, buf + (size_t)i * G, G,
				DMASPLIT_BIDIRECTIONAL, 0);
	}
	/* Every other one goes. */
	gone_win = dmasplit_iova_addr(w[1]);
	gone_map = dma[1];
	for (i = 1; i < N; i += 2) {
		dmasplit_iova_destroy(w[i]);
		unmap_ok(d, dma[i], G, DMASPLIT_BIDIRECTIONAL, 0);
	}
	ck_assert_int_eq(dmasplit_dev_trim(d), 0);
	ck_assert_int_eq(dmasplit_dev_trim(d), 0);
	for (i = 0; i < N; i += 2) {
		expect_read(d, dmasplit_iova_addr(w[i]), buf + (size_t)i * G, G,
			    "a live window after the trim");
		expect_read(d, dma[i], buf + (size_t)i * G, G,
			    "a live mapping after the trim");
		ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma[i], G,
						       DMASPLIT_BIDIRECTIONAL), 0);
		unmap_ok(d, dma[i], G, DMASPLIT_BIDIRECTIONAL, 0);
		dmasplit_iova_destroy(w[i]);
	}
	expect_fault(d, gone_win, 1, false, "a destroyed window");
	expect_fault(d, gone_map, 1, false, "an unmapped mapping");
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

struct trimmer {
	struct dmasplit_dev *d;
	atomic_bool stop;
	unsigned long trims;
};

/* Trims with a pause between, so that the others get the locks a trim
 * takes: mutexes are not fair, and a thread that trims without a pause
 * could keep them from a close for the test's whole time. */
static void *trim_loop(void *arg)
{
	const struct timespec pause = { 0, 20000 };
	struct trimmer *t = arg;

	while (!atomic_load(&t->stop)) {
		if (dmasplit_dev_trim(t->d) != 0)
			break;
		t->trims++;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/*
 * Trims in another thread, over and over, while this one makes and takes
 * down windows and mappings (a leaf table's span at a time and single
 * pages) and the device reads through them: every read sees its bytes,
 * so no trim took a table from under a link, a map or a walk.
 */
START_TEST(trim_races_links_maps_and_device_reads)
{
	const size_t span = 2u << 20;
	struct trimmer t = { 0 };
	uint8_t *buf = buf_new(span), got[8];
	struct timespec t0, now;
	pthread_t th;
	unsigned int i;

	fill(buf, span, 9);
	t.d = open_unchecked("sim:trimrace");
	ck_assert_int_eq(pthread_create(&th, NULL, trim_loop, &t), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0;; i++) {
		struct dmasplit_iova *iova = window(t.d, span);
		uint64_t base = dmasplit_iova_addr(iova), dma;
		size_t at = ((size_t)i * 7919 * G) % span;

		link_ok(iova, 0, buf, span, DMASPLIT_TO_DEVICE, 0);
		sync_ok(iova, 0, span);
		dma = map_ok(t.d, buf + at, G, DMASPLIT_TO_DEVICE, 0);
		ck_assert_int_eq(dmasplit_dev_dma_read(t.d, base + at, got, 8), 0);
		FAIL_UNLESS(!memcmp(got, buf + at, 8), "round %u: the window read wrong bytes", i);
		ck_assert_int_eq(dmasplit_dev_dma_read(t.d, dma, got, 8), 0);
		FAIL_UNLESS(!memcmp(got, buf + at, 8), "round %u: the mapping read wrong bytes", i);
		unmap_ok(t.d, dma, G, DMASPLIT_TO_DEVICE, 0);
		dmasplit_iova_destroy(iova);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (i >= 20 && (now.tv_sec - t0.tv_sec >= 1 || i >= 2000))
			break;
	}
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	ck_assert_msg(t.trims > 0, "the trimming thread never trimmed");
	dmasplit_dev_close(t.d);
	free(buf);
}
END_TEST

/*
 * In a shared address space a trim is the space's: a member's trim
 * keeps the other member's mappings, and racing a member that closes
 * with mappings still live (its close walks their records) costs
 * neither anything.
 */
START_TEST(trim_in_a_shared_space)
{
	struct dmasplit_dev *keep, *leave;
	struct trimmer t = { 0 };
	uint8_t *buf = buf_new(64 * G);
	uint64_t dma, d2;
	pthread_t th;
	unsigned int round, i;

	fill(buf, 64 * G, 5);
	keep = open_unchecked("sim:tk,as=trim");
	dma = map_ok(keep, buf, G, DMASPLIT_TO_DEVICE, 0);
	t.d = keep;
	ck_assert_int_eq(pthread_create(&th, NULL, trim_loop, &t), 0);
	for (round = 0; round < 50; round++) {
		leave = open_unchecked("sim:tl,as=trim");
		for (i = 1; i < 64; i++)
			d2 = map_ok(leave, buf + (size_t)i * G, G,
				    DMASPLIT_TO_DEVICE, 0);
		expect_read(leave, d2, buf + 63 * G, G, "the leaving member's mapping");
		/* Closed with its mappings live: the close unmaps them. */
		dmasplit_dev_close(leave);
		expect_read(keep, dma, buf, G, "the staying member's mapping");
	}
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	ck_assert_msg(t.trims > 0, "the trimming thread never trimmed");
	unmap_ok(keep, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(keep);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("tables");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tu_add_test_if(tc, destroy_gives_page_tables_back, rss_is_ours(),
		       "resident memory is a tool's too (valgrind, a sanitizer)");
	tcase_add_test(tc, tables_come_back_after_release);
	tcase_add_test(tc, device_access_racing_a_destroy_faults);
	tcase_add_test(tc, device_access_racing_a_trim_faults);
	tu_add_test_if(tc, trim_gives_back_what_destroy_keeps, rss_is_ours(),
		       "resident memory is a tool's too (valgrind, a sanitizer)");
	tcase_add_test(tc, trim_keeps_what_is_live);
	tcase_add_test(tc, trim_races_links_maps_and_device_reads);
	tcase_add_test(tc, trim_in_a_shared_space);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
