// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The direct backend: selection from fake sysfs trees in the kernel's
 * layout (bus/pci/devices/ADDR links into devices/, driver and iommu_group
 * links) for every case; the privilege it needs; and, where this process
 * may read physical addresses (root), mappings checked against the real
 * /proc/self/pagemap: addresses, pinning, the DMA mask, contiguity, vectors,
 * coherent memory from huge pages, and the device tree's DMA offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakesys.h"
#include "testutil.h"

#define ADDR "0000:01:00.0"
#define DEVDIR "devices/pci0000:00/0000:00:01.0/" ADDR

static const char *const plugins[] = { "direct", "swiotlb-sim", NULL };
static struct dmasplit_ctx *ctx;
static char *root;
static uint64_t ps;
static int pagemap = -1;

/* ------------------------------------------------------------------ */
/* Physical addresses and locked memory, read independently of the     */
/* library                                                              */

static uint64_t phys_of(const void *p)
{
	uint64_t e = 0;

	ck_assert_int_eq(pread(pagemap, &e, sizeof(e),
			       (off_t)((uintptr_t)p / ps * sizeof(e))), sizeof(e));
	ck_assert_msg(e & (1ull << 63), "page %p is not present", p);
	return (e & ((1ull << 55) - 1)) * ps + (uintptr_t)p % ps;
}

/* This process sees frame numbers: root with CAP_SYS_ADMIN. */
static bool can_read_phys(void)
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
static long locked_kb(void)
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

/* AddressSanitizer's mlock() does nothing (it would lock the shadow
 * memory too), so under it VmLck cannot show the pins. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define expect_locked(cmp, kb)                                   \
	do {                                                     \
		if (!UNDER_ASAN)                                 \
			ck_assert_int_##cmp(locked_kb(), (kb));  \
	} while (0)

static long meminfo(const char *key)
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

static bool can_reserve_huge_pages(void)
{
	return geteuid() == 0 && access(NR_HUGEPAGES, W_OK) == 0 &&
	       meminfo("Hugepagesize") > 0;
}

/* n free huge pages, reserving more if needed; relative, so that two
 * test programs at once do not undo each other. */
static void want_huge_pages(long n)
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
static void fake_at(const char *devdir, const char *driver, int group,
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

static void fake(const char *driver, int group, const char *type,
		 const char *name, const char *mask)
{
	fake_at(DEVDIR, driver, group, type, name, mask);
}

/* The usual device for mapping tests: uio_pci_generic, no IOMMU. */
static void fake_uio(void)
{
	fake("uio_pci_generic", -1, NULL, NULL, "64\n");
}

/* ------------------------------------------------------------------ */

static void setup(void)
{
	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	ctx = tu_ctx_with(plugins);
	root = tu_mkdtemp();
	fakesys_root(root);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(pagemap, 0);
}

static void teardown(void)
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

static struct dmasplit_backend *direct(void)
{
	struct dmasplit_backend *be = NULL;

	ck_assert_int_eq(dmasplit_backend_find(ctx, "direct", &be), 0);
	return be;
}

/* The score direct gives ADDR, or the error of its probe. */
static int probe(void)
{
	struct dmasplit_desc d = { .size = sizeof(d) };
	int r, score = -1;

	r = dmasplit_describe(ctx, ADDR, &d);
	ck_assert_msg(r == 0, "describe: %d, log:\n%s", r, tu_log_text());
	r = dmasplit_backend_probe(direct(), &d, &score);
	return r < 0 ? r : score;
}

static const char *selected(const char *spec)
{
	struct dmasplit_desc d = { .size = sizeof(d) };
	struct dmasplit_backend *be = NULL;

	ck_assert_int_eq(dmasplit_describe(ctx, spec, &d), 0);
	if (dmasplit_select(ctx, &d, &be) < 0)
		return NULL;
	return dmasplit_backend_get_name(be);
}

static struct dmasplit_dev *open_direct(const char *spec)
{
	struct dmasplit_dev *dev = NULL;
	int r;

	r = dmasplit_dev_open_backend(ctx, spec, "direct", &dev);
	ck_assert_msg(r == 0, "open %s: %d, log:\n%s", spec, r, tu_log_text());
	tu_log_clear();
	return dev;
}

static struct dmasplit_dev_stats stats_of(struct dmasplit_dev *dev)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	ck_assert_int_eq(dmasplit_dev_get_stats(dev, &s), 0);
	return s;
}

/* n pages, written last to first, which the page allocator hands out in
 * an order that is anything but physically contiguous. */
static uint8_t *scattered_pages(size_t n)
{
	uint8_t *p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	ck_assert(p != MAP_FAILED);
	for (i = n; i-- > 0;)
		memset(p + i * ps, (int)i, ps);
	return p;
}

/* The first page of p[0..n) whose successor is not physically next. */
static size_t find_break(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (phys_of(p + (i + 1) * ps) != phys_of(p + i * ps) + ps)
			return i;
	ck_abort_msg("%zu pages written backwards are physically contiguous", n);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Selection                                                            */

START_TEST(uio_devices_without_iommu_are_direct)
{
	static const char *const drivers[] = { "uio_pci_generic", "igb_uio" };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		tu_rm_rf(root);
		fake(drivers[i], -1, NULL, NULL, "32\n");
		ck_assert_msg(probe() == 100, "%s: probe %d, log:\n%s",
			      drivers[i], probe(), tu_log_text());
		ck_assert_str_eq(selected(ADDR), "direct");
	}
}
END_TEST

START_TEST(uio_device_in_passthrough_group_is_direct)
{
	/* iommu=pt: the group's domain is the identity. */
	fake("uio_pci_generic", 4, "identity\n", NULL, NULL);
	ck_assert_int_eq(probe(), 100);
	ck_assert_str_eq(selected(ADDR), "direct");
}
END_TEST

START_TEST(uio_device_behind_translating_iommu_is_refused)
{
	static const char *const types[] = { "DMA\n", "DMA-FQ\n", "blocked\n" };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		tu_rm_rf(root);
		fake("uio_pci_generic", 9, types[i], NULL, NULL);
		tu_log_clear();
		ck_assert_int_eq(probe(), -ENODEV);
		ck_assert_msg(tu_log_has("behind a translating IOMMU (group 9"),
			      "log:\n%s", tu_log_text());
		ck_assert_ptr_null(selected(ADDR));
	}
}
END_TEST

/* A group whose type cannot be read may translate: direct fails closed. */
START_TEST(device_in_group_of_unknown_type_is_refused)
{
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		tu_rm_rf(root);
		fake("uio_pci_generic", 5, i ? "DMA\n" : NULL, NULL, "64\n");
		if (i) {	/* dangling: the group is gone */
			fakesys_path(path, "kernel/iommu_groups/5");
			tu_rm_rf(path);
		}
		tu_log_clear();
		ck_assert_msg(probe() == -ENODEV, "%s group accepted, log:\n%s",
			      i ? "dangling" : "type-less", tu_log_text());
		ck_assert_msg(tu_log_has("in IOMMU group 5, whose type cannot be read"),
			      "log:\n%s", tu_log_text());
		ck_assert_ptr_null(selected(ADDR));
	}
}
END_TEST

START_TEST(vfio_device_in_noiommu_mode_is_direct)
{
	/* What drivers/vfio/group.c makes: a group of its own, named
	 * vfio-noiommu, with no default domain (type "unknown"). */
	fake("vfio-pci", 12, "unknown\n", "vfio-noiommu\n", "64\n");
	ck_assert_int_eq(probe(), 100);
	ck_assert_str_eq(selected(ADDR), "direct");
}
END_TEST

START_TEST(vfio_device_with_iommu_is_refused)
{
	fake("vfio-pci", 7, "DMA-FQ\n", NULL, NULL);
	ck_assert_int_eq(probe(), -ENODEV);
	ck_assert_msg(tu_log_has("bound to vfio-pci with an IOMMU (group 7, type DMA-FQ)"),
		      "log:\n%s", tu_log_text());
	/* A name alone does not make a group untranslated. */
	tu_rm_rf(root);
	fake("vfio-pci", 7, "DMA\n", "vfio-noiommu\n", NULL);
	ck_assert_int_eq(probe(), -ENODEV);
	tu_rm_rf(root);
	fake("vfio-pci", -1, NULL, NULL, NULL);
	ck_assert_int_eq(probe(), -ENODEV);
}
END_TEST

START_TEST(other_drivers_and_unbound_devices_are_refused)
{
	fake("nvme", -1, NULL, NULL, NULL);
	tu_log_clear();
	ck_assert_int_eq(probe(), -ENODEV);
	ck_assert(tu_log_has("bound to nvme, not to uio_pci_generic"));
	ck_assert_ptr_null(selected(ADDR));
	tu_rm_rf(root);
	fake("", -1, NULL, NULL, NULL);
	tu_log_clear();
	ck_assert_int_eq(probe(), -ENODEV);
	ck_assert(tu_log_has("bound to no driver"));
}
END_TEST

START_TEST(simulated_devices_are_not_direct)
{
	struct dmasplit_desc d = { .size = sizeof(d) };
	int score = -1;

	ck_assert_int_eq(dmasplit_describe(ctx, "sim:x,iommu=off", &d), 0);
	ck_assert_int_eq(dmasplit_backend_probe(direct(), &d, &score), -ENODEV);
	ck_assert_str_eq(selected("sim:x,iommu=off"), "swiotlb-sim");
}
END_TEST

START_TEST(opening_by_name_refuses_what_probe_refuses)
{
	struct dmasplit_dev *dev = NULL;

	fake("uio_pci_generic", 3, "DMA\n", NULL, NULL);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, ADDR, "direct", &dev),
			 -ENODEV);
	ck_assert_ptr_null(dev);
	ck_assert_msg(tu_log_count("direct: " ADDR ": bound to uio_pci_generic, but behind a translating IOMMU") == 1,
		      "log:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, "sim:a", "direct", &dev),
			 -ENODEV);
	ck_assert(tu_log_has("not a PCI device"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Privilege                                                            */

static int drop_cap_sys_admin(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	return (int)syscall(SYS_capset, &h, d);
}

/* 0 when the open fails with -EPERM and one line naming the capability. */
static int open_expecting_eperm(void)
{
	struct dmasplit_dev *dev = NULL;
	int r;

	tu_log_clear();
	r = dmasplit_dev_open_backend(ctx, ADDR, "direct", &dev);
	if (r != -EPERM) {
		fprintf(stderr, "open without CAP_SYS_ADMIN: %d, expected %d\n", r, -EPERM);
		return 1;
	}
	if (!tu_log_has("needs CAP_SYS_ADMIN, which this process does not have")) {
		fprintf(stderr, "no line naming CAP_SYS_ADMIN, log:\n%s", tu_log_text());
		return 2;
	}
	return 0;
}

START_TEST(open_without_cap_sys_admin_fails_with_eperm)
{
	pid_t pid;
	int status;

	fake_uio();
	if (!can_read_phys()) {
		ck_assert_int_eq(open_expecting_eperm(), 0);
		return;
	}
	/* Root: without CAP_SYS_ADMIN in a child of its own.  The context
	 * has not opened pagemap yet, and pagemap shows frames by the
	 * credentials of whoever opened it. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(drop_cap_sys_admin() < 0 ? 3 : open_expecting_eperm());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the child without CAP_SYS_ADMIN: status 0x%x (1: wrong error, 2: no line, 3: capset failed)",
		      status);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Mappings against the real pagemap (root)                             */

START_TEST(selection_opens_uio_device_with_direct)
{
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_dev_info info = { .size = sizeof(info) };

	fake("uio_pci_generic", -1, NULL, NULL, NULL);
	ck_assert_msg(dmasplit_dev_open(ctx, ADDR, &dev) == 0, "log:\n%s",
		      tu_log_text());
	ck_assert_str_eq(dmasplit_dev_backend_name(dev), "direct");
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_str_eq(info.backend, "direct");
	/* No dma_mask_bits, no mask=: the PCI default. */
	ck_assert_uint_eq(info.dma_mask_bits, 32);
	ck_assert_uint_eq(info.granule, ps);
	ck_assert_uint_eq(info.flags, DMASPLIT_DEV_COHERENT);
	ck_assert_uint_eq(info.num_ranges, 1);
	ck_assert_uint_eq(info.ranges[0].start, ps);
	ck_assert_uint_eq(info.ranges[0].last, 0xffffffffu);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(map_gives_physical_address_and_pins_until_unmap)
{
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, 2 * ps);
	uint64_t dma = 0;
	long before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 0xa5, 2 * ps);
	fake_uio();
	dev = open_direct(ADDR);
	before = locked_kb();
	ck_assert_int_eq(dmasplit_map(dev, buf + 100, 200, DMASPLIT_TO_DEVICE, 0,
				      &dma), 0);
	ck_assert_msg(dma == phys_of(buf + 100), "dma 0x%" PRIx64 ", physical 0x%" PRIx64,
		      dma, phys_of(buf + 100));
	expect_locked(eq, before + (long)(ps / 1024));
	ck_assert_uint_eq(stats_of(dev).bytes_pinned, ps);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 1);
	/* Coherent: the syncs are there and do nothing. */
	ck_assert_int_eq(dmasplit_sync_for_cpu(dev, dma, 200, DMASPLIT_TO_DEVICE), 0);
	ck_assert_int_eq(dmasplit_sync_for_device(dev, dma, 200, DMASPLIT_TO_DEVICE), 0);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 200, DMASPLIT_TO_DEVICE, 0), 0);
	expect_locked(eq, before);
	ck_assert_uint_eq(stats_of(dev).bytes_pinned, 0);
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(overlapping_mappings_unlock_with_the_last)
{
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, ps);
	uint64_t a = 0, b = 0;
	long before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, ps);
	fake_uio();
	/* The backend's own bookkeeping, without the checker before it. */
	dmasplit_ctx_set_check(ctx, 0);
	dev = open_direct(ADDR);
	before = locked_kb();
	ck_assert_int_eq(dmasplit_map(dev, buf, 64, DMASPLIT_TO_DEVICE, 0, &a), 0);
	ck_assert_int_eq(dmasplit_map(dev, buf + 64, 64, DMASPLIT_FROM_DEVICE, 0, &b), 0);
	ck_assert_uint_eq(b, a + 64);
	ck_assert_int_eq(dmasplit_unmap(dev, a, 64, DMASPLIT_TO_DEVICE, 0), 0);
	expect_locked(eq, before + (long)(ps / 1024));
	ck_assert_int_eq(dmasplit_unmap(dev, b, 64, DMASPLIT_FROM_DEVICE, 0), 0);
	expect_locked(eq, before);
	/* Unmapped already: the backend says so. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_unmap(dev, b, 64, DMASPLIT_FROM_DEVICE, 0), -ENOENT);
	ck_assert(tu_log_has("no mapping starts there"));
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(no_windows_no_device_access_no_fd)
{
	struct dmasplit_dev *dev;
	struct dmasplit_iova *iova = NULL;
	uint8_t byte;
	int fd;

	fake_uio();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_iova_alloc(dev, ps, 0, &iova), -EOPNOTSUPP);
	ck_assert_ptr_null(iova);
	ck_assert_int_eq(dmasplit_dev_dma_read(dev, 0x100000, &byte, 1), -EOPNOTSUPP);
	ck_assert_int_eq(dmasplit_dev_dma_write(dev, 0x100000, &byte, 1), -EOPNOTSUPP);
	ck_assert_int_eq(dmasplit_dev_get_fd(dev, &fd), -EOPNOTSUPP);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(mask_is_enforced_with_address_and_mask_in_log)
{
	struct dmasplit_dev *dev;
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	uint8_t *buf = aligned_alloc(ps, ps);
	uint64_t dma = 0;
	char want[64];
	long before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, ps);
	fake_uio();
	/* 1 MiB of reach: ordinary memory is above it. */
	dev = open_direct(ADDR ",mask=20");
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_eq(info.dma_mask_bits, 20);
	ck_assert_uint_eq(info.ranges[0].last, 0xfffff);
	before = locked_kb();
	ck_assert_uint_gt(phys_of(buf), 0xfffff);
	ck_assert_int_eq(dmasplit_map(dev, buf, 16, DMASPLIT_TO_DEVICE, 0, &dma), -ERANGE);
	snprintf(want, sizeof(want), "is at 0x%" PRIx64 "-0x%" PRIx64,
		 phys_of(buf), phys_of(buf) + 15);
	ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has(want) &&
		      tu_log_has("beyond the device's 20-bit DMA mask 0xfffff"),
		      "expected one line with '%s' and the mask, log:\n%s", want,
		      tu_log_text());
	ck_assert_uint_eq(dma, 0);
	/* Nothing stays pinned, nothing is live. */
	expect_locked(eq, before);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
	/* Expected failures stay quiet. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(dev, buf, 16, DMASPLIT_TO_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &dma), -ERANGE);
	ck_assert_uint_eq(tu_log_count("\n"), 0);
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(mask_from_sysfs_is_the_default)
{
	struct dmasplit_dev *dev;
	struct dmasplit_dev_info info = { .size = sizeof(info) };

	fake("igb_uio", -1, NULL, NULL, "36\n");
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_eq(info.dma_mask_bits, 36);
	ck_assert_uint_eq(info.ranges[0].last, (1ull << 36) - 1);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(discontiguous_map_gives_exdev_and_points_to_map_vec)
{
	struct dmasplit_dev *dev;
	uint8_t *p = scattered_pages(64);
	size_t i = find_break(p, 64);
	uint64_t dma = 0;
	long before;

	fake_uio();
	dev = open_direct(ADDR);
	before = locked_kb();
	ck_assert_int_eq(dmasplit_map(dev, p + i * ps + 8, ps, DMASPLIT_TO_DEVICE,
				      0, &dma), -EXDEV);
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("not physically contiguous") &&
		      tu_log_has("dmasplit_map_vec"), "log:\n%s", tu_log_text());
	expect_locked(eq, before);
	/* One page is always contiguous. */
	ck_assert_int_eq(dmasplit_map(dev, p + i * ps, ps, DMASPLIT_TO_DEVICE, 0,
				      &dma), 0);
	ck_assert_uint_eq(dma, phys_of(p + i * ps));
	ck_assert_int_eq(dmasplit_unmap(dev, dma, ps, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	munmap(p, 64 * ps);
}
END_TEST

START_TEST(map_vec_splits_where_memory_breaks_and_merges_where_it_meets)
{
	struct dmasplit_dev *dev;
	uint8_t *p = scattered_pages(64);
	size_t i = find_break(p, 64);
	uint8_t *at = p + i * ps;
	struct iovec iov[3] = {
		{ at + 100, 2 * ps - 200 },	/* across the break */
		{ at + 2 * ps + 10, 50 },	/* two buffers that meet */
		{ at + 2 * ps + 60, 40 },
	};
	struct dmasplit_seg segs[8];
	unsigned int nsegs = 1;
	long before;

	fake_uio();
	dev = open_direct(ADDR);
	before = locked_kb();
	/* Room for one segment: it takes at least three. */
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 3, DMASPLIT_BIDIRECTIONAL, 0,
					  segs, &nsegs), -ENOSPC);
	ck_assert_msg(tu_log_has("room for 1"), "log:\n%s", tu_log_text());
	ck_assert_uint_eq(nsegs, 1);
	expect_locked(eq, before);

	nsegs = 8;
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 3, DMASPLIT_BIDIRECTIONAL, 0,
					  segs, &nsegs), 0);
	ck_assert_uint_ge(nsegs, 3);
	ck_assert_uint_eq(segs[0].dma, phys_of(at + 100));
	ck_assert_uint_eq(segs[0].len, ps - 100);
	ck_assert_uint_eq(segs[1].dma, phys_of(at + ps));
	/* The last segment: two buffers in one page, merged. */
	ck_assert_uint_eq(segs[nsegs - 1].dma, phys_of(at + 2 * ps + 10));
	ck_assert_uint_eq(segs[nsegs - 1].len, 90);
	expect_locked(eq, before + 3 * (long)(ps / 1024));
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, nsegs, DMASPLIT_BIDIRECTIONAL, 0), 0);
	expect_locked(eq, before);
	ck_assert_uint_eq(stats_of(dev).mappings_live, 0);
	dmasplit_dev_close(dev);
	munmap(p, 64 * ps);
}
END_TEST

START_TEST(huge_page_maps_as_one_range)
{
	uint64_t hp = (uint64_t)meminfo("Hugepagesize") << 10;
	struct dmasplit_dev *dev;
	struct iovec iov[2];
	struct dmasplit_seg segs[2];
	unsigned int nsegs = 2;
	uint64_t dma = 0;
	uint8_t *p;

	want_huge_pages(1);
	p = mmap(NULL, hp, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	ck_assert_msg(p != MAP_FAILED, "MAP_HUGETLB: %s", strerror(errno));
	memset(p, 7, hp);
	fake_uio();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map(dev, p, hp, DMASPLIT_FROM_DEVICE, 0, &dma), 0);
	ck_assert_uint_eq(dma, phys_of(p));
	ck_assert_uint_eq(dma + hp - ps, phys_of(p + hp - ps));
	ck_assert_int_eq(dmasplit_unmap(dev, dma, hp, DMASPLIT_FROM_DEVICE, 0), 0);
	iov[0].iov_base = p;
	iov[0].iov_len = hp / 2;
	iov[1].iov_base = p + hp / 2;
	iov[1].iov_len = hp / 2;
	ck_assert_int_eq(dmasplit_map_vec(dev, iov, 2, DMASPLIT_TO_DEVICE, 0, segs,
					  &nsegs), 0);
	ck_assert_uint_eq(nsegs, 1);
	ck_assert_uint_eq(segs[0].dma, phys_of(p));
	ck_assert_uint_eq(segs[0].len, hp);
	ck_assert_int_eq(dmasplit_unmap_vec(dev, segs, 1, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	munmap(p, hp);
}
END_TEST

START_TEST(coherent_memory_is_zeroed_contiguous_and_reachable)
{
	size_t big = 1u << 20;
	struct dmasplit_dev *dev;
	uint64_t small_dma = 0, big_dma = 0;
	uint8_t *small = NULL, *cpu = NULL;
	size_t i;

	want_huge_pages(1);
	fake_uio();
	dev = open_direct(ADDR);
	/* Up to a page: any page will do. */
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 100, 0, (void **)&small,
						 &small_dma), 0);
	ck_assert_uint_eq(small_dma, phys_of(small));
	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(small[i], 0);
	/* More: from a huge page. */
	ck_assert_msg(dmasplit_alloc_coherent(dev, big, 0, (void **)&cpu, &big_dma) == 0,
		      "log:\n%s", tu_log_text());
	for (i = 0; i < big; i += ps) {
		if (cpu[i] || phys_of(cpu + i) != big_dma + i)
			ck_abort_msg("byte 0x%zx: %u at 0x%" PRIx64 ", expected 0 at 0x%" PRIx64,
				     i, cpu[i], phys_of(cpu + i), big_dma + i);
	}
	ck_assert_uint_ge(stats_of(dev).bytes_pinned, big + ps);
	ck_assert_int_eq(dmasplit_free_coherent(dev, big, cpu, big_dma), 0);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 100, small, small_dma), 0);
	ck_assert_uint_eq(stats_of(dev).bytes_pinned, 0);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(coherent_memory_without_huge_pages_says_what_to_configure)
{
	struct dmasplit_dev *dev;
	uint64_t dma = 0;
	void *cpu = NULL;

	fake_uio();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 1u << 20, 0, &cpu, &dma),
			 -ENOMEM);
	ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has("physically contiguous") &&
		      tu_log_has("vm.nr_hugepages"), "log:\n%s", tu_log_text());
	ck_assert_ptr_null(cpu);
	dmasplit_dev_close(dev);
}
END_TEST

START_TEST(close_releases_what_is_still_mapped)
{
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, 3 * ps);
	struct iovec iov = { buf + ps, ps };
	struct dmasplit_seg seg;
	unsigned int nsegs = 1;
	uint64_t dma;
	void *cpu;
	long before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 3, 3 * ps);
	fake_uio();
	dmasplit_ctx_set_check(ctx, 0);
	dev = open_direct(ADDR);
	before = locked_kb();
	ck_assert_int_eq(dmasplit_map(dev, buf, 10, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_map_vec(dev, &iov, 1, DMASPLIT_TO_DEVICE, 0, &seg,
					  &nsegs), 0);
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 64, 0, &cpu, &dma), 0);
	expect_locked(gt, before);
	dmasplit_dev_close(dev);
	expect_locked(eq, before);
	free(buf);
}
END_TEST

START_TEST(free_coherent_must_match_the_allocation)
{
	struct dmasplit_dev *dev;
	uint64_t dma = 0;
	void *cpu = NULL;

	fake_uio();
	/* The backend's own check, without the checker before it. */
	dmasplit_ctx_set_check(ctx, 0);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_alloc_coherent(dev, 64, 0, &cpu, &dma), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_free_coherent(dev, 64, cpu, dma + 4096), -EINVAL);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 64, (char *)cpu + 1, dma), -EINVAL);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 128, cpu, dma), -EINVAL);
	ck_assert_uint_eq(tu_log_count("not allocated so"), 3);
	ck_assert_int_eq(dmasplit_free_coherent(dev, 64, cpu, dma), 0);
	dmasplit_dev_close(dev);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The device tree's DMA ranges                                         */

#define DT "firmware/devicetree/base"
#define PCIE_NODE DT "/soc/pcie@7d500000"
#define PLATDIR "devices/platform/soc/fd500000.pcie"
#define DT_DEVDIR PLATDIR "/pci0000:00/0000:00:00.0/" ADDR

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_cells(const char *rel, const uint32_t *cells, size_t n)
{
	uint8_t buf[64];
	size_t i;

	for (i = 0; i < n; i++)
		be32_put(buf + 4 * i, cells[i]);
	fakesys_put_bytes(rel, buf, 4 * n);
}

/*
 * A host bridge on a device-tree platform, as the Raspberry Pi 4's: the
 * platform device's of_node is the bridge's node, whose dma-ranges (3
 * PCI address cells, 2 of the parent's, 2 of size) say where memory
 * appears on the bus.  ranges: n entries of { bus, cpu, size }.
 */
static void fake_dt(const uint64_t (*ranges)[3], size_t n)
{
	static const uint32_t two = 2, three = 3;
	uint32_t cells[56];
	size_t i;

	fake_at(DT_DEVDIR, "uio_pci_generic", -1, NULL, NULL, "64\n");
	put_cells(DT "/soc/#address-cells", &two, 1);
	put_cells(PCIE_NODE "/#address-cells", &three, 1);
	put_cells(PCIE_NODE "/#size-cells", &two, 1);
	for (i = 0; i < n; i++) {
		uint32_t *c = cells + 7 * i;

		c[0] = 0x02000000;	/* 32-bit memory space */
		c[1] = (uint32_t)(ranges[i][0] >> 32);
		c[2] = (uint32_t)ranges[i][0];
		c[3] = (uint32_t)(ranges[i][1] >> 32);
		c[4] = (uint32_t)ranges[i][1];
		c[5] = (uint32_t)(ranges[i][2] >> 32);
		c[6] = (uint32_t)ranges[i][2];
	}
	put_cells(PCIE_NODE "/dma-ranges", cells, 7 * n);
	fakesys_link("../../../../" PCIE_NODE, PLATDIR "/of_node");
}

START_TEST(device_tree_dma_offset_moves_bus_addresses)
{
	/* All memory a machine has, 1 TiB up on the bus. */
	static const uint64_t ranges[][3] = {
		{ 0x10000000000ull, 0, 0x400000000000ull },
	};
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, ps);
	uint64_t dma = 0;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, ps);
	fake_dt(ranges, 1);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_eq(info.num_ranges, 1);
	ck_assert_uint_eq(info.ranges[0].start, 0x10000000000ull);
	ck_assert_uint_eq(info.ranges[0].last, 0x10000000000ull + 0x400000000000ull - 1);
	ck_assert_int_eq(dmasplit_map(dev, buf + 5, 10, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_uint_eq(dma, phys_of(buf + 5) + 0x10000000000ull);
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 10, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(memory_outside_the_dma_ranges_is_refused)
{
	/* Only the first page of memory is on the bus. */
	static const uint64_t ranges[][3] = { { 0xc0000000, 0, 0x1000 } };
	struct dmasplit_dev *dev;
	uint8_t *buf = aligned_alloc(ps, ps);
	uint64_t dma = 0;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, ps);
	fake_dt(ranges, 1);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_map(dev, buf, 10, DMASPLIT_TO_DEVICE, 0, &dma),
			 -ERANGE);
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("outside the platform's DMA ranges"),
		      "log:\n%s", tu_log_text());
	dmasplit_dev_close(dev);
	free(buf);
}
END_TEST

START_TEST(empty_or_malformed_dma_ranges)
{
	struct dmasplit_dev *dev = NULL;
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	uint8_t *buf = aligned_alloc(ps, ps);
	uint64_t dma = 0;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 1, ps);
	/* Empty: no translation. */
	fake_dt(NULL, 0);
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_eq(info.ranges[0].start, ps);
	ck_assert_uint_eq(info.ranges[0].last, UINT64_MAX);
	ck_assert_int_eq(dmasplit_map(dev, buf, 10, DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_uint_eq(dma, phys_of(buf));
	ck_assert_int_eq(dmasplit_unmap(dev, dma, 10, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(dev);
	/* Not a whole number of entries. */
	fakesys_put_bytes(PCIE_NODE "/dma-ranges", "\0\0\0\1\0", 5);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, ADDR, "direct", &dev), -EIO);
	ck_assert_msg(tu_log_has("cannot use dma-ranges of device-tree node " PCIE_NODE),
		      "log:\n%s", tu_log_text());
	free(buf);
}
END_TEST

/* A dma-ranges entry whose bus or memory range wraps past 2^64 is left
 * out, with a line; with no entry left the device is refused. */
START_TEST(wrapping_dma_ranges_entry_is_left_out)
{
	static const uint64_t one[][3] = {
		{ 0xffffffff00000000ull, 0, 0x200000000ull },
	};
	static const uint64_t two[][3] = {
		{ 0xffffffff00000000ull, 0, 0x200000000ull },
		{ 0, 0, 0x400000000000ull },
	};
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_dev *dev = NULL;

	fake_dt(one, 1);
	ck_assert_int_eq(dmasplit_dev_open_backend(ctx, ADDR, "direct", &dev), -EIO);
	ck_assert_msg(tu_log_has("dma-ranges entry 0 of device-tree node " PCIE_NODE) &&
		      tu_log_has("wraps past 2^64: ignored") &&
		      tu_log_has("no usable entry in dma-ranges"),
		      "log:\n%s", tu_log_text());
	tu_rm_rf(root);
	fake_dt(two, 2);
	tu_log_clear();
	dev = open_direct(ADDR);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_uint_eq(info.num_ranges, 1);
	ck_assert_uint_eq(info.ranges[0].start, ps);
	ck_assert_uint_eq(info.ranges[0].last, 0x400000000000ull - 1);
	dmasplit_dev_close(dev);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("direct");
	TCase *tc = tcase_create("direct");
	bool root_ok = can_read_phys(), huge = can_reserve_huge_pages();
	const char *no_phys = "reading physical addresses needs CAP_SYS_ADMIN (run as root)";

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, uio_devices_without_iommu_are_direct);
	tcase_add_test(tc, uio_device_in_passthrough_group_is_direct);
	tcase_add_test(tc, uio_device_behind_translating_iommu_is_refused);
	tcase_add_test(tc, device_in_group_of_unknown_type_is_refused);
	tcase_add_test(tc, vfio_device_in_noiommu_mode_is_direct);
	tcase_add_test(tc, vfio_device_with_iommu_is_refused);
	tcase_add_test(tc, other_drivers_and_unbound_devices_are_refused);
	tcase_add_test(tc, simulated_devices_are_not_direct);
	tcase_add_test(tc, opening_by_name_refuses_what_probe_refuses);
	tcase_add_test(tc, open_without_cap_sys_admin_fails_with_eperm);
	tu_add_test_if(tc, selection_opens_uio_device_with_direct, root_ok, no_phys);
	tu_add_test_if(tc, map_gives_physical_address_and_pins_until_unmap, root_ok, no_phys);
	tu_add_test_if(tc, overlapping_mappings_unlock_with_the_last, root_ok, no_phys);
	tu_add_test_if(tc, no_windows_no_device_access_no_fd, root_ok, no_phys);
	tu_add_test_if(tc, mask_is_enforced_with_address_and_mask_in_log, root_ok, no_phys);
	tu_add_test_if(tc, mask_from_sysfs_is_the_default, root_ok, no_phys);
	tu_add_test_if(tc, discontiguous_map_gives_exdev_and_points_to_map_vec, root_ok, no_phys);
	tu_add_test_if(tc, map_vec_splits_where_memory_breaks_and_merges_where_it_meets,
		       root_ok, no_phys);
	tu_add_test_if(tc, huge_page_maps_as_one_range, root_ok && huge,
		       root_ok ? "no huge pages can be reserved here (/proc/sys/vm/nr_hugepages)" : no_phys);
	tu_add_test_if(tc, coherent_memory_is_zeroed_contiguous_and_reachable, root_ok && huge,
		       root_ok ? "no huge pages can be reserved here (/proc/sys/vm/nr_hugepages)" : no_phys);
	tu_add_test_if(tc, coherent_memory_without_huge_pages_says_what_to_configure,
		       root_ok && meminfo("HugePages_Free") == 0,
		       root_ok ? "this system has huge pages free" : no_phys);
	tu_add_test_if(tc, close_releases_what_is_still_mapped, root_ok, no_phys);
	tu_add_test_if(tc, free_coherent_must_match_the_allocation, root_ok, no_phys);
	tu_add_test_if(tc, device_tree_dma_offset_moves_bus_addresses, root_ok, no_phys);
	tu_add_test_if(tc, memory_outside_the_dma_ranges_is_refused, root_ok, no_phys);
	tu_add_test_if(tc, empty_or_malformed_dma_ranges, root_ok, no_phys);
	tu_add_test_if(tc, wrapping_dma_ranges_entry_is_left_out, root_ok, no_phys);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
