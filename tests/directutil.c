// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the direct backend's test programs share: a context with the
 * direct backend on a fake sysfs tree, the PCI devices the tests put in
 * it, physical addresses and locked memory read independently of the
 * backend, and huge pages reserved for a test.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fakesys.h"
#include "directutil.h"
#include "testutil.h"


static const char *const plugins[] = { "direct", "swiotlb-sim", NULL };
struct dmasplit_ctx *ctx;
char *root;
uint64_t ps;
int pagemap = -1;

/* ------------------------------------------------------------------ */
/* Physical addresses and locked memory, read independently of the     */
/* library                                                              */

uint64_t phys_of(const void *p)
{
	uint64_t e = 0;

	ck_assert_int_eq(pread(pagemap, &e, sizeof(e),
			       (off_t)((uintptr_t)p / ps * sizeof(e))), sizeof(e));
	ck_assert_msg(e & (1ull << 63), "page %p is not present", p);
	return (e & ((1ull << 55) - 1)) * ps + (uintptr_t)p % ps;
}

/* This process sees frame numbers: root with CAP_SYS_ADMIN. */
bool can_read_phys(void)
{
	static int known = -1;
	uint64_t e = 0;
	int fd;

	if (known >= 0)
		return known;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	known = fd >= 0 && pread(fd, &e, sizeof(e),
				 (off_t)((uintptr_t)&known / (uint64_t)sysconf(_SC_PAGESIZE) * 8)) == 8 &&
		(e & ((1ull << 55) - 1)) != 0;
	if (fd >= 0)
		close(fd);
	return known;
}

/* kB of this process's mlocked memory (VmLck). */
long locked_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

long meminfo(const char *key)
{
	char line[128];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	/* Also called from main, outside any test: no assertions. */
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

/* ------------------------------------------------------------------ */
/* Huge pages: reserved for a test when the system has none free, given */
/* back in its teardown                                                  */

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static long huge_added;

static long read_nr_hugepages(void)
{
	char buf[32] = "";
	int fd = open(NR_HUGEPAGES, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static bool write_nr_hugepages(long n)
{
	char buf[32];
	int fd = open(NR_HUGEPAGES, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	snprintf(buf, sizeof(buf), "%ld\n", n);
	ok = write(fd, buf, strlen(buf)) == (ssize_t)strlen(buf);
	close(fd);
	return ok;
}

bool can_reserve_huge_pages(void)
{
	return geteuid() == 0 && access(NR_HUGEPAGES, W_OK) == 0 &&
	       meminfo("Hugepagesize") > 0;
}

/* n free huge pages, reserving more if needed; relative, so that two
 * test programs at once do not undo each other. */
void want_huge_pages(long n)
{
	long free_now = meminfo("HugePages_Free"), cur;

	if (free_now >= n)
		return;
	cur = read_nr_hugepages();
	ck_assert_int_ge(cur, 0);
	ck_assert(write_nr_hugepages(cur + n - free_now));
	huge_added += n - free_now;
	ck_assert_msg(meminfo("HugePages_Free") >= n,
		      "could not reserve %ld huge pages (free: %ld)", n,
		      meminfo("HugePages_Free"));
}

static void give_back_huge_pages(void)
{
	long cur;

	if (!huge_added)
		return;
	cur = read_nr_hugepages();
	if (cur >= huge_added)
		write_nr_hugepages(cur - huge_added);
	huge_added = 0;
}

/* ------------------------------------------------------------------ */
/* Fake sysfs                                                           */

/*
 * A PCI device at devdir (under devices/), bound to driver ("" for none),
 * in IOMMU group `group` (-1 for none) of the given type and name (NULL:
 * no such attribute), with dma_mask_bits (NULL: none).
 */
void fake_at(const char *devdir, const char *driver, int group,
	     const char *type, const char *name, const char *mask)
{
	char num[16];
	struct fakesys_pci dev = {
		.vendor = "0x8086\n",
		.device = "0x10d3\n",
		.class = "0x020000\n",
		.dma_mask_bits = mask,
		.driver = driver[0] ? driver : NULL,
		.group = group >= 0 ? num : NULL,
		.group_type = type,
		.group_name = name,
		.reserved_regions = "",
	};

	snprintf(num, sizeof(num), "%d", group);
	fakesys_pci(devdir, &dev);
}

void fake(const char *driver, int group, const char *type,
	  const char *name, const char *mask)
{
	fake_at(DEVDIR, driver, group, type, name, mask);
}

/* The usual device for mapping tests: uio_pci_generic, no IOMMU. */
void fake_uio(void)
{
	fake("uio_pci_generic", -1, NULL, NULL, "64\n");
}

void direct_setup(void)
{
	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	ctx = tu_ctx_with(plugins);
	root = tu_mkdtemp();
	fakesys_root(root);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(pagemap, 0);
}

void direct_teardown(void)
{
	tu_ctx_free(ctx);
	ctx = NULL;
	tu_rm_rf(root);
	free(root);
	root = NULL;
	close(pagemap);
	pagemap = -1;
	give_back_huge_pages();
}

struct dmasplit_backend *direct(void)
{
	struct dmasplit_backend *be = NULL;

	ck_assert_int_eq(dmasplit_backend_find(ctx, "direct", &be), 0);
	return be;
}

/* The score direct gives ADDR, or the error of its probe. */
int probe(void)
{
	struct dmasplit_desc d = { .size = sizeof(d) };
	int r, score = -1;

	r = dmasplit_describe(ctx, ADDR, &d);
	ck_assert_msg(r == 0, "describe: %d, log:\n%s", r, tu_log_text());
	r = dmasplit_backend_probe(direct(), &d, &score);
	return r < 0 ? r : score;
}

const char *selected(const char *spec)
{
	struct dmasplit_desc d = { .size = sizeof(d) };
	struct dmasplit_backend *be = NULL;

	ck_assert_int_eq(dmasplit_describe(ctx, spec, &d), 0);
	if (dmasplit_select(ctx, &d, &be) < 0)
		return NULL;
	return dmasplit_backend_get_name(be);
}

struct dmasplit_dev *open_direct(const char *spec)
{
	struct dmasplit_dev *dev = NULL;
	int r;

	r = dmasplit_dev_open_backend(ctx, spec, "direct", &dev);
	ck_assert_msg(r == 0, "open %s: %d, log:\n%s", spec, r, tu_log_text());
	tu_log_clear();
	return dev;
}

struct dmasplit_dev_stats stats_of(struct dmasplit_dev *dev)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	ck_assert_int_eq(dmasplit_dev_get_stats(dev, &s), 0);
	return s;
}

/* n pages that are not physically contiguous: the even pages are written
 * first, then the odd ones.  However the page allocator hands its pages
 * out (in rising or falling order from one block, or freed pages last
 * in, first out), two virtual neighbours are far apart, and some two
 * physical neighbours are not virtual ones. */
uint8_t *scattered_pages(size_t n)
{
	uint8_t *p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	ck_assert(p != MAP_FAILED);
	for (i = 0; i < n; i += 2)
		memset(p + i * ps, (int)i, ps);
	for (i = 1; i < n; i += 2)
		memset(p + i * ps, (int)i, ps);
	return p;
}

/* The first page of p[0..n) whose successor is not physically next. */
size_t find_break(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (phys_of(p + (i + 1) * ps) != phys_of(p + i * ps) + ps)
			return i;
	ck_abort_msg("%zu pages written out of order are physically contiguous", n);
	return 0;
}

