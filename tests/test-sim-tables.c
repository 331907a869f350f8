// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim's page tables: taken down with what spans them, kept in a
 * bounded reserve, and built again where links and maps need them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
