// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The p2pdma backend hands out peer memory a device's driver published,
 * and clients map it at the address the PCI topology calls for: the bus
 * address below a switch, the physical one through the host bridge, or
 * not at all; dmasplit_peer_add registers a BAR by hand.  On the fake
 * PCIe hierarchy of p2ptree.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakesys.h"
#include "p2ptree.h"
#include "testutil.h"

static struct dmasplit_ctx *ctx;

/*
 * The provider's peer memory is a file here (p2pmem/allocate in the fake
 * tree), so its pages are page cache: BAR2 of the provider is made to
 * cover all physical memory, and its BAR register says the bus sees it
 * at BUS_OFFSET above, so that a bus address differs from the physical
 * one and the arithmetic shows.
 */
#define BUS_OFFSET 0x4000000000000000ull
#define POOL (64 * 1024)

static const char *const plugins[] = { "p2pdma", "direct", "swiotlb-sim",
				       NULL };

static bool can_read_phys(void)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok;

	ok = fd >= 0 && pread(fd, &e, sizeof(e),
			      (off_t)((uintptr_t)&fd / 4096 * 8)) == 8 &&
	     (e & ((1ull << 55) - 1)) != 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static uint64_t phys_of(const void *p)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE), e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &e, sizeof(e),
			       (off_t)((uintptr_t)p / ps * sizeof(e))), 8);
	close(fd);
	ck_assert_msg(e & (1ull << 63), "page %p is not present", p);
	return (e & ((1ull << 55) - 1)) * ps + (uintptr_t)p % ps;
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

static void setup_backends(void)
{
	ctx = tu_ctx_with(plugins);
	tu_log_clear();
	tree_new();
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, tree_root), 0);
}

static void teardown_backends(void)
{
	tu_ctx_free(ctx);
	ctx = NULL;
	tree_free();
}

static void put_bar(const char *path, unsigned int bar, uint64_t value)
{
	char rel[PATH_MAX], full[PATH_MAX];
	uint8_t cfg[4096];
	FILE *f;

	snprintf(rel, sizeof(rel), "devices/%s/config", path);
	fakesys_path(full, rel);
	f = fopen(full, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(cfg, 1, sizeof(cfg), f), sizeof(cfg));
	fclose(f);
	put32(cfg, 0x10 + 4 * bar, (uint32_t)value);
	put32(cfg, 0x14 + 4 * bar, (uint32_t)(value >> 32));
	fakesys_put_bytes(rel, cfg, sizeof(cfg));
}

/* A (03:00.0) an NVMe drive with a published CMB in BAR2, B (04:00.0) a
 * device bound to uio_pci_generic, below one switch. */
static void provider_and_client(int acs_dsp2, bool published)
{
	static uint8_t pool[POOL];

	switch_tree(-1, -1, acs_dsp2);
	fakesys_put("devices/" EP_A "/class", "0x010802\n");
	fakesys_put("devices/" EP_A "/resource",
		    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		    "0x0000000000000000 0x00ffffffffffffff 0x000000000014220c\n");
	put_bar(EP_A, 2, BUS_OFFSET | 0xc);
	fakesys_put("devices/" EP_A "/p2pmem/size", "65536\n");
	fakesys_put("devices/" EP_A "/p2pmem/available", "65536\n");
	fakesys_put("devices/" EP_A "/p2pmem/published", published ? "1\n" : "0\n");
	fakesys_put_bytes("devices/" EP_A "/p2pmem/allocate", pool, sizeof(pool));
	fakesys_link("../../../../../../bus/pci/drivers/nvme",
		     "devices/" EP_A "/driver");

	fakesys_put("devices/" EP_B "/class", "0x00ff00\n");
	fakesys_put("devices/" EP_B "/dma_mask_bits", "64\n");
	fakesys_link("../../../../../../bus/pci/drivers/uio_pci_generic",
		     "devices/" EP_B "/driver");
}

static int probe(const char *backend, const char *spec)
{
	struct dmasplit_backend *be;
	struct dmasplit_desc d = { .size = sizeof(d) };
	int score = -1, r;

	ck_assert_int_eq(dmasplit_backend_find(ctx, backend, &be), 0);
	r = dmasplit_describe(ctx, spec, &d);
	ck_assert_msg(r == 0, "describe %s: %d; log:\n%s", spec, r,
		      tu_log_text());
	r = dmasplit_backend_probe(be, &d, &score);
	return r < 0 ? r : score;
}

START_TEST(p2pdma_takes_devices_with_published_peer_memory)
{
	provider_and_client(-1, true);
	ck_assert_int_eq(probe("p2pdma", A), 50);
	ck_assert_int_eq(probe("p2pdma", B), -ENODEV);
	fakesys_put("devices/" EP_A "/p2pmem/published", "0\n");
	ck_assert_int_eq(probe("p2pdma", A), -ENODEV);
}
END_TEST

/* A provider whose BAR the firmware left unassigned (register 0) has no
 * range the library could report.  Asked how many with no room, as
 * dmasplit info asks first, it says 0, and touches no array. */
START_TEST(a_provider_without_a_range_counts_none)
{
	struct dmasplit_dev *d = NULL;
	unsigned int n = 0;

	provider_and_client(-1, true);
	put_bar(EP_A, 2, 0xc);
	ck_assert_int_eq(dmasplit_dev_open(ctx, A, &d), 0);
	ck_assert_int_eq(dmasplit_dev_get_ranges(d, NULL, &n), 0);
	ck_assert_uint_eq(n, 0);
	dmasplit_dev_close(d);
}
END_TEST

/* A provider hands out its memory but maps none of the application's:
 * no region on it, said in one line (dmasplit_region_new(3)). */
START_TEST(a_provider_has_no_registered_regions)
{
	static char mem[2 * 4096] __attribute__((aligned(4096)));
	struct dmasplit_region *rg = NULL;
	struct dmasplit_dev *d = NULL;

	provider_and_client(-1, true);
	ck_assert_int_eq(dmasplit_dev_open(ctx, A, &d), 0);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_region_new(d, mem, sizeof(mem),
					     DMASPLIT_TO_DEVICE, 0, &rg),
			 -EOPNOTSUPP);
	ck_assert_ptr_null(rg);
	ck_assert_msg(tu_log_count("no registered regions: the device has neither windows nor mappings") == 1,
		      "log:\n%s", tu_log_text());
	dmasplit_dev_close(d);
}
END_TEST

struct peer_fixture {
	struct dmasplit_dev *prov, *client;
	void *cpu;
	uint64_t dma;
};

static void open_both(struct peer_fixture *f)
{
	int r;

	r = dmasplit_dev_open(ctx, A, &f->prov);
	ck_assert_msg(r == 0, "open provider: %d; log:\n%s", r,
		      tu_log_text());
	ck_assert_str_eq(dmasplit_dev_backend_name(f->prov), "p2pdma");
	r = dmasplit_dev_open(ctx, B, &f->client);
	ck_assert_msg(r == 0, "open client: %d; log:\n%s", r, tu_log_text());
	ck_assert_str_eq(dmasplit_dev_backend_name(f->client), "direct");
	r = dmasplit_alloc_coherent(f->prov, 8192, 0, &f->cpu, &f->dma);
	ck_assert_msg(r == 0, "alloc_coherent: %d; log:\n%s", r,
		      tu_log_text());
}

static void close_both(struct peer_fixture *f)
{
	ck_assert_int_eq(dmasplit_free_coherent(f->prov, 8192, f->cpu, f->dma),
			 0);
	dmasplit_dev_close(f->client);
	dmasplit_dev_close(f->prov);
}

START_TEST(peer_memory_is_a_shared_mapping_at_its_bus_address)
{
	struct peer_fixture f;
	char path[PATH_MAX];
	char got[6] = "";
	FILE *fp;
	int r;

	provider_and_client(-1, true);
	open_both(&f);
	ck_assert_msg(f.dma == BUS_OFFSET + phys_of(f.cpu),
		      "expected bus address 0x%llx, got 0x%llx",
		      (unsigned long long)(BUS_OFFSET + phys_of(f.cpu)),
		      (unsigned long long)f.dma);
	/* Shared: what the CPU writes is in the provider's memory. */
	memcpy((char *)f.cpu + 100, "peer!", 6);
	fakesys_path(path, "devices/" EP_A "/p2pmem/allocate");
	fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fseek(fp, 100, SEEK_SET), 0);
	ck_assert_uint_eq(fread(got, 1, 6, fp), 6);
	fclose(fp);
	ck_assert_str_eq(got, "peer!");
	/* Its registration is the backend's, which the free removes. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_peer_remove(ctx, f.cpu), -EINVAL);
	ck_assert_msg(tu_log_has("free it with dmasplit_free_coherent()"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	ck_assert_int_eq(dmasplit_free_coherent(f.prov, 8192, f.cpu, f.dma),
			 0);
	ck_assert_msg(!tu_log_has("registry"), "log:\n%s", tu_log_text());
	/* Given back, and not freed twice (the checker, when on, sees it
	 * first and says -ENOENT; the backend says -EINVAL). */
	r = dmasplit_free_coherent(f.prov, 8192, f.cpu, f.dma);
	ck_assert_msg(r == -ENOENT || r == -EINVAL,
		      "second free: expected -ENOENT or -EINVAL, got %d", r);
	dmasplit_dev_close(f.client);
	dmasplit_dev_close(f.prov);
}
END_TEST

/* More than p2pmem/allocate holds (the kernel's is 1 TiB; a tree's file
 * may be short): -ENOMEM, not a mapping whose pages fault when zeroed. */
START_TEST(peer_memory_beyond_the_allocate_file_is_enomem)
{
	struct peer_fixture f;
	void *cpu = NULL;
	uint64_t dma = 0;

	provider_and_client(-1, true);
	open_both(&f);
	tu_log_clear();
	ck_assert_int_eq(dmasplit_alloc_coherent(f.prov, 2 * POOL, 0, &cpu, &dma),
			 -ENOMEM);
	ck_assert_ptr_null(cpu);
	ck_assert_msg(tu_log_has("the file has 65536"), "log:\n%s", tu_log_text());
	close_both(&f);
}
END_TEST

/* In a child, which may give up root for good: 0, or the step that
 * failed. */
static int alloc_unpermitted(struct dmasplit_dev *prov)
{
	uint64_t dma = 0;
	void *cpu = NULL;

	if (setresuid(65534, 65534, 65534) != 0)
		return 1;
	tu_log_clear();
	if (dmasplit_alloc_coherent(prov, 4096, 0, &cpu, &dma) != -EPERM)
		return 2;
	return tu_log_count("\n") == 1 && tu_log_has("Permission denied") ? 0 : 3;
}

/* p2pmem/allocate is root's: a process that may not open it is not
 * permitted peer memory, -EPERM as dmasplit_map(3) says, not -EIO. */
START_TEST(peer_memory_the_process_may_not_open_is_eperm)
{
	struct dmasplit_dev *prov;
	char path[PATH_MAX];

	provider_and_client(-1, true);
	ck_assert_int_eq(dmasplit_dev_open(ctx, A, &prov), 0);
	fakesys_path(path, "devices/" EP_A "/p2pmem/allocate");
	ck_assert_int_eq(chmod(path, 0600), 0);
	TU_IN_CHILD(alloc_unpermitted(prov), "the child",
		    "1: setresuid failed, 2: not -EPERM, 3: not the one line");
	dmasplit_dev_close(prov);
}
END_TEST

START_TEST(a_client_below_the_switch_maps_peer_memory_at_its_bus_address)
{
	struct peer_fixture f;
	uint64_t dma = 0;
	int r;

	long locked;

	provider_and_client(-1, true);
	open_both(&f);
	locked = locked_kb();
	r = dmasplit_map(f.client, (char *)f.cpu + 4096, 4096,
			 DMASPLIT_FROM_DEVICE, 0, &dma);
	ck_assert_msg(r == 0 && dma == f.dma + 4096,
		      "expected 0 and 0x%llx, got %d and 0x%llx; log:\n%s",
		      (unsigned long long)(f.dma + 4096), r,
		      (unsigned long long)dma, tu_log_text());
	/* Device memory is not locked: the kernel refuses to, for p2pmem. */
	ck_assert_msg(locked_kb() == locked,
		      "expected VmLck %ld kB with peer memory mapped, got %ld",
		      locked, locked_kb());
	ck_assert_int_eq(dmasplit_unmap(f.client, dma, 4096,
					DMASPLIT_FROM_DEVICE, 0), 0);
	close_both(&f);
}
END_TEST

START_TEST(a_client_through_the_host_bridge_maps_the_physical_address)
{
	struct peer_fixture f;
	uint64_t dma = 0;
	int r;

	provider_and_client(ACS_RR, true);
	fakesys_put("devices/" HOST "/0000:00:00.0/device", "0x2020\n");
	open_both(&f);
	r = dmasplit_map(f.client, f.cpu, 8192, DMASPLIT_TO_DEVICE, 0, &dma);
	ck_assert_msg(r == 0 && dma == phys_of(f.cpu),
		      "expected 0 and 0x%llx, got %d and 0x%llx; log:\n%s",
		      (unsigned long long)phys_of(f.cpu), r,
		      (unsigned long long)dma, tu_log_text());
	ck_assert_int_eq(dmasplit_unmap(f.client, dma, 8192,
					DMASPLIT_TO_DEVICE, 0), 0);
	close_both(&f);
}
END_TEST

START_TEST(a_client_that_cannot_reach_peer_memory_is_refused)
{
	struct peer_fixture f;
	struct dmasplit_seg seg[2];
	struct iovec iov = { 0 };
	unsigned int nsegs = 2;
	uint64_t dma = 0x5a5a;
	int r;

	provider_and_client(ACS_EC, true);
	open_both(&f);
	tu_log_clear();
	r = dmasplit_map(f.client, f.cpu, 4096, DMASPLIT_TO_DEVICE, 0, &dma);
	ck_assert_msg(r == -EREMOTEIO && dma == 0x5a5a &&
		      tu_log_count("cannot reach") == 1 &&
		      tu_log_has("ACS redirect on 0000:02:02.0"),
		      "expected -EREMOTEIO and one line naming the ACS port, got %d; log:\n%s",
		      r, tu_log_text());
	iov.iov_base = f.cpu;
	iov.iov_len = 8192;
	r = dmasplit_map_vec(f.client, &iov, 1, DMASPLIT_TO_DEVICE, 0, seg,
			     &nsegs);
	ck_assert_int_eq(r, -EREMOTEIO);
	/* A refusal the caller expects stays out of the log. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(f.client, f.cpu, 4096, DMASPLIT_TO_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &dma), -EREMOTEIO);
	ck_assert_msg(!tu_log_has("cannot reach"), "log:\n%s", tu_log_text());
	close_both(&f);
}
END_TEST

START_TEST(a_vector_of_ram_and_peer_memory_maps_each_by_its_kind)
{
	struct peer_fixture f;
	struct dmasplit_seg seg[4];
	struct iovec iov[2];
	unsigned int nsegs = 4;
	void *ram;
	int r;

	provider_and_client(-1, true);
	open_both(&f);
	ram = aligned_alloc(4096, 4096);
	ck_assert_ptr_nonnull(ram);
	memset(ram, 1, 4096);
	iov[0].iov_base = ram;
	iov[0].iov_len = 4096;
	iov[1].iov_base = f.cpu;
	iov[1].iov_len = 8192;
	r = dmasplit_map_vec(f.client, iov, 2, DMASPLIT_BIDIRECTIONAL, 0, seg,
			     &nsegs);
	ck_assert_msg(r == 0 && nsegs == 2, "expected 2 segments, got %d/%u; log:\n%s",
		      r, nsegs, tu_log_text());
	ck_assert_msg(seg[0].dma == phys_of(ram) && seg[0].len == 4096,
		      "RAM: expected 0x%llx+4096, got 0x%llx+%llu",
		      (unsigned long long)phys_of(ram),
		      (unsigned long long)seg[0].dma,
		      (unsigned long long)seg[0].len);
	ck_assert_msg(seg[1].dma == f.dma && seg[1].len == 8192,
		      "peer: expected 0x%llx+8192, got 0x%llx+%llu",
		      (unsigned long long)f.dma,
		      (unsigned long long)seg[1].dma,
		      (unsigned long long)seg[1].len);
	ck_assert_int_eq(dmasplit_unmap_vec(f.client, seg, nsegs,
					    DMASPLIT_BIDIRECTIONAL, 0), 0);
	free(ram);
	close_both(&f);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The registry, through dmasplit_peer_add                              */

START_TEST(peer_add_checks_the_bar_and_refuses_overlaps)
{
	void *buf = aligned_alloc(4096, 3 * 4096);

	ck_assert_ptr_nonnull(buf);
	provider_and_client(-1, true);
	ck_assert_int_eq(dmasplit_peer_add(ctx, A, 0, 0, buf, 4096), -EINVAL);
	ck_assert_msg(tu_log_has("has no memory BAR 0"),
		      "expected the missing BAR named, got:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_peer_add(ctx, "sim:x", 2, 0, buf, 4096),
			 -EINVAL);
	ck_assert_int_eq(dmasplit_peer_add(ctx, "0000:09:00.0", 2, 0, buf,
					   4096), -ENODEV);
	ck_assert_int_eq(dmasplit_peer_add(ctx, A, 2, 0x00ffffffffffff00ull,
					   buf, 4096), -ERANGE);
	ck_assert_int_eq(dmasplit_peer_add(ctx, A, 2, 0x10000, buf, 8192), 0);
	ck_assert_int_eq(dmasplit_peer_add(ctx, A, 2, 0x20000,
					   (char *)buf + 4096, 8192), -EEXIST);
	ck_assert_int_eq(dmasplit_peer_remove(ctx, (char *)buf + 4096),
			 -ENOENT);
	ck_assert_int_eq(dmasplit_peer_remove(ctx, buf), 0);
	ck_assert_int_eq(dmasplit_peer_remove(ctx, buf), -ENOENT);
	/* Bad arguments: refused in one line each; a NULL context has
	 * nowhere to log. */
	tu_log_clear();
	ck_assert_int_eq(dmasplit_peer_add(ctx, NULL, 2, 0, buf, 4096), -EINVAL);
	ck_assert_int_eq(dmasplit_peer_add(ctx, A, 2, 0, NULL, 4096), -EINVAL);
	ck_assert_int_eq(dmasplit_peer_add(ctx, A, 2, 0, buf, 0), -EINVAL);
	ck_assert_int_eq(dmasplit_peer_remove(ctx, NULL), -EINVAL);
	ck_assert_msg(tu_log_count("\n") == 4, "expected 4 lines, got:\n%s",
		      tu_log_text());
	ck_assert_int_eq(dmasplit_peer_add(NULL, A, 2, 0, buf, 4096), -EINVAL);
	ck_assert_int_eq(dmasplit_peer_remove(NULL, buf), -EINVAL);
	free(buf);
}
END_TEST

START_TEST(a_registered_bar_maps_at_its_bus_address_on_a_direct_client)
{
	struct dmasplit_dev *client = NULL;
	void *buf = aligned_alloc(4096, 2 * 4096);
	uint64_t dma = 0;
	int r;

	ck_assert_ptr_nonnull(buf);
	provider_and_client(-1, true);
	ck_assert_int_eq(dmasplit_peer_add(ctx, A, 2, 0x10000, buf, 8192), 0);
	ck_assert_int_eq(dmasplit_dev_open(ctx, B, &client), 0);
	r = dmasplit_map(client, (char *)buf + 4096, 100, DMASPLIT_TO_DEVICE,
			 0, &dma);
	ck_assert_msg(r == 0 && dma == BUS_OFFSET + 0x11000,
		      "expected 0 and 0x%llx, got %d and 0x%llx; log:\n%s",
		      (unsigned long long)(BUS_OFFSET + 0x11000), r,
		      (unsigned long long)dma, tu_log_text());
	ck_assert_int_eq(dmasplit_unmap(client, dma, 100, DMASPLIT_TO_DEVICE,
					0), 0);
	dmasplit_dev_close(client);
	ck_assert_int_eq(dmasplit_peer_remove(ctx, buf), 0);
	free(buf);
}
END_TEST

START_TEST(peer_memory_is_never_bounced)
{
	static const char *const specs[] = {
		"sim:a,iommu=off,bounce=force",
		"sim:b,iommu=on,untrusted=1",
	};
	void *buf = aligned_alloc(4096, 2 * 4096);
	unsigned int i;

	ck_assert_ptr_nonnull(buf);
	provider_and_client(-1, true);
	ck_assert_int_eq(dmasplit_peer_add(ctx, A, 2, 0, buf, 8192), 0);
	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *dev = NULL;
		struct dmasplit_seg seg[2];
		struct iovec iov = { (char *)buf + 100, 200 };
		unsigned int nsegs = 2;
		uint64_t dma = 0x5a5a;
		int r;

		ck_assert_int_eq(dmasplit_dev_open(ctx, specs[i], &dev), 0);
		tu_log_clear();
		r = dmasplit_map(dev, (char *)buf + 100, 200,
				 DMASPLIT_TO_DEVICE, 0, &dma);
		ck_assert_msg(r == -EREMOTEIO && dma == 0x5a5a &&
			      tu_log_count("never bounced") == 1,
			      "%s: expected -EREMOTEIO and one line, got %d; log:\n%s",
			      specs[i], r, tu_log_text());
		r = dmasplit_map_vec(dev, &iov, 1, DMASPLIT_TO_DEVICE, 0, seg,
				     &nsegs);
		ck_assert_msg(r == -EREMOTEIO, "%s: map_vec: expected -EREMOTEIO, got %d",
			      specs[i], r);
		/* Whole pages need no bounce on the IOMMU: they map. */
		if (i == 1) {
			r = dmasplit_map(dev, buf, 8192, DMASPLIT_TO_DEVICE,
					 0, &dma);
			ck_assert_int_eq(r, 0);
			ck_assert_int_eq(dmasplit_unmap(dev, dma, 8192,
							DMASPLIT_TO_DEVICE, 0),
					 0);
		}
		dmasplit_dev_close(dev);
	}
	ck_assert_int_eq(dmasplit_peer_remove(ctx, buf), 0);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("p2p");
	TCase *tc;
	const char *why = "physical addresses need CAP_SYS_ADMIN (pagemap)";
	bool phys = can_read_phys();

	tc = tcase_create("provider and clients");
	tcase_add_checked_fixture(tc, setup_backends, teardown_backends);
	tcase_add_test(tc, p2pdma_takes_devices_with_published_peer_memory);
	tcase_add_test(tc, a_provider_without_a_range_counts_none);
	tcase_add_test(tc, a_provider_has_no_registered_regions);
	tu_add_test_if(tc, peer_memory_is_a_shared_mapping_at_its_bus_address,
		       phys, why);
	tu_add_test_if(tc, a_client_below_the_switch_maps_peer_memory_at_its_bus_address,
		       phys, why);
	tu_add_test_if(tc, a_client_through_the_host_bridge_maps_the_physical_address,
		       phys, why);
	tu_add_test_if(tc, a_client_that_cannot_reach_peer_memory_is_refused,
		       phys, why);
	tu_add_test_if(tc, a_vector_of_ram_and_peer_memory_maps_each_by_its_kind,
		       phys, why);
	tcase_add_test(tc, peer_add_checks_the_bar_and_refuses_overlaps);
	tu_add_test_if(tc, a_registered_bar_maps_at_its_bus_address_on_a_direct_client,
		       phys, why);
	tcase_add_test(tc, peer_memory_is_never_bounced);
	tu_add_test_if(tc, peer_memory_beyond_the_allocate_file_is_enomem,
		       phys, why);
	tu_add_test_if(tc, peer_memory_the_process_may_not_open_is_eperm,
		       geteuid() == 0,
		       "only root can give up its access to the file (setresuid)");
	suite_add_tcase(s, tc);
	return tu_main(s);
}
