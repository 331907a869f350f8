// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The direct backend on a device below a device tree PCIe node: its
 * dma-ranges move bus addresses and bound what can be mapped, checked
 * against the real /proc/self/pagemap (root).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakesys.h"
#include "directutil.h"
#include "testutil.h"


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
	tu_log_clear();
	ck_assert_int_eq(dmasplit_map(dev, buf, 10, DMASPLIT_TO_DEVICE,
				      DMASPLIT_ATTR_NO_WARN, &dma), -ERANGE);
	ck_assert_msg(tu_log_count("\n") == 0, "log:\n%s", tu_log_text());
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
	bool root_ok = can_read_phys();
	const char *no_phys = "reading physical addresses needs CAP_SYS_ADMIN (run as root)";

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, direct_setup, direct_teardown);
	tu_add_test_if(tc, device_tree_dma_offset_moves_bus_addresses, root_ok, no_phys);
	tu_add_test_if(tc, memory_outside_the_dma_ranges_is_refused, root_ok, no_phys);
	tu_add_test_if(tc, empty_or_malformed_dma_ranges, root_ok, no_phys);
	tu_add_test_if(tc, wrapping_dma_ranges_entry_is_left_out, root_ok, no_phys);
	suite_add_tcase(s, tc);
	return tu_main(s);
}

