// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit_p2p_distance() against the rules of Linux 6.12's
 * drivers/pci/p2pdma.c, on fake sysfs trees in the kernel's layout:
 * devices/pciDDDD:BB/<bridge>/.../<device>, each with vendor, device and a
 * binary config (a PCIe capability with the port type, and an ACS
 * extended capability where a test wants one), bus/pci/devices/ADDR links
 * into devices/, and proc/cpuinfo beside the sysfs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakesys.h"
#include "testutil.h"

/* pci_regs.h */
#define ACS_SV	0x0001
#define ACS_RR	0x0004
#define ACS_CR	0x0008
#define ACS_EC	0x0020

enum port { ENDPOINT = 0x0, ROOT_PORT = 0x4, UPSTREAM = 0x5,
	    DOWNSTREAM = 0x6 };

static struct dmasplit_ctx *ctx;
static char *base;
static char root[PATH_MAX];

static void setup(void)
{
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	tu_log_clear();
	base = tu_mkdtemp();
	snprintf(root, sizeof(root), "%s/sys", base);
	tu_mkdir_p(root);
	fakesys_root(root);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
}

static void teardown(void)
{
	ctx = dmasplit_ctx_unref(ctx);
	tu_rm_rf(base);
	free(base);
	base = NULL;
}

static void cpu(const char *vendor, unsigned int family)
{
	char path[PATH_MAX], text[256];

	snprintf(path, sizeof(path), "%s/proc/cpuinfo", base);
	snprintf(text, sizeof(text),
		 "processor\t: 0\nvendor_id\t: %s\ncpu family\t: %u\n"
		 "model\t\t: 1\n\nprocessor\t: 1\nvendor_id\t: Other\n"
		 "cpu family\t: 99\n", vendor, family);
	tu_write_file(path, text);
}

static void put16(uint8_t *cfg, size_t off, unsigned int v)
{
	cfg[off] = (uint8_t)v;
	cfg[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *cfg, size_t off, uint32_t v)
{
	put16(cfg, off, v & 0xffff);
	put16(cfg, off + 2, v >> 16);
}

/*
 * A PCIe function at devices/PATH (its last component is its address):
 * 4 KiB of configuration space with a PCIe capability of the given port
 * type, and, when acs_ctrl >= 0, an ACS capability with that control
 * word, placed second in the extended list so that the walk is exercised.
 */
static void config(const char *path, unsigned int vendor,
		   unsigned int device, enum port type, int acs_ctrl)
{
	uint8_t cfg[4096] = { 0 };
	char rel[PATH_MAX];

	put16(cfg, 0x00, vendor);
	put16(cfg, 0x02, device);
	put16(cfg, 0x06, 0x0010);		/* capability list */
	cfg[0x34] = 0x40;
	cfg[0x40] = 0x10;			/* PCI Express */
	cfg[0x41] = 0x00;
	put16(cfg, 0x42, 0x0002 | type << 4);
	if (acs_ctrl >= 0) {
		put32(cfg, 0x100, 0x0001 | 1u << 16 | 0x148u << 20); /* AER */
		put32(cfg, 0x148, 0x000d | 1u << 16);		/* ACS */
		put16(cfg, 0x14c, 0x005f);
		put16(cfg, 0x14e, (unsigned int)acs_ctrl);
	}
	snprintf(rel, sizeof(rel), "devices/%s/config", path);
	fakesys_put_bytes(rel, cfg, sizeof(cfg));
}

static void pci_dev(const char *path, unsigned int vendor,
		    unsigned int device, enum port type, int acs_ctrl)
{
	char devdir[PATH_MAX], ven[16], dev[16];
	const struct fakesys_pci pci = { .vendor = ven, .device = dev };

	config(path, vendor, device, type, acs_ctrl);
	snprintf(ven, sizeof(ven), "0x%04x\n", vendor);
	snprintf(dev, sizeof(dev), "0x%04x\n", device);
	snprintf(devdir, sizeof(devdir), "devices/%s", path);
	fakesys_pci(devdir, &pci);
}

#define HOST "pci0000:00"
#define RP1 HOST "/0000:00:01.0"
#define USP RP1 "/0000:01:00.0"
#define DSP1 USP "/0000:02:01.0"
#define DSP2 USP "/0000:02:02.0"
#define EP_A DSP1 "/0000:03:00.0"
#define EP_B DSP2 "/0000:04:00.0"
#define A "0000:03:00.0"
#define B "0000:04:00.0"

/* q35's host bridge, on no allow-list; a TCG CPU below family 17h. */
static void switch_tree(int acs_usp, int acs_dsp1, int acs_dsp2)
{
	cpu("AuthenticAMD", 15);
	pci_dev(HOST "/0000:00:00.0", 0x8086, 0x29c0, ENDPOINT, -1);
	pci_dev(RP1, 0x1b36, 0x000c, ROOT_PORT, ACS_SV);
	pci_dev(USP, 0x104c, 0x8232, UPSTREAM, acs_usp);
	pci_dev(DSP1, 0x104c, 0x8233, DOWNSTREAM, acs_dsp1);
	pci_dev(DSP2, 0x104c, 0x8233, DOWNSTREAM, acs_dsp2);
	pci_dev(EP_A, 0x1b36, 0x0010, ENDPOINT, -1);
	pci_dev(EP_B, 0x1234, 0x11e8, ENDPOINT, -1);
}

static void expect(const char *provider, const char *client, int want,
		   enum dmasplit_p2p_map want_map)
{
	enum dmasplit_p2p_map map = (enum dmasplit_p2p_map)77;
	int r = dmasplit_p2p_distance(ctx, provider, client, &map);

	ck_assert_msg(r == want && map == want_map,
		      "%s -> %s: expected %d map %d, got %d map %d; log:\n%s",
		      provider, client, want, want_map, r, map,
		      tu_log_text());
}

START_TEST(two_devices_below_one_switch_use_bus_addresses_at_distance_4)
{
	switch_tree(ACS_SV, ACS_SV, -1);
	expect(A, B, 4, DMASPLIT_P2P_BUS_ADDR);
	expect(B, A, 4, DMASPLIT_P2P_BUS_ADDR);
	expect("pci:" A ",mask=40", B, 4, DMASPLIT_P2P_BUS_ADDR);
	ck_assert_msg(!tu_log_count("cannot reach"), "unexpected refusal: %s",
		      tu_log_text());
}
END_TEST

START_TEST(a_device_and_a_sibling_function_are_near)
{
	switch_tree(-1, -1, -1);
	pci_dev(DSP1 "/0000:03:00.1", 0x1b36, 0x0010, ENDPOINT, -1);
	expect(A, A, 0, DMASPLIT_P2P_BUS_ADDR);
	expect(A, "0000:03:00.1", 2, DMASPLIT_P2P_BUS_ADDR);
	/* One level up: the downstream port is the provider's bridge. */
	expect(A, "0000:02:01.0", 1, DMASPLIT_P2P_BUS_ADDR);
}
END_TEST

START_TEST(acs_redirect_on_a_switch_port_blocks_an_unknown_host_bridge)
{
	static const int bits[] = { ACS_RR, ACS_CR, ACS_EC };
	unsigned int i;

	switch_tree(-1, -1, -1);
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		config(DSP2, 0x104c, 0x8233, DOWNSTREAM, ACS_SV | bits[i]);
		tu_log_clear();
		expect(A, B, -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
		ck_assert_msg(tu_log_count("cannot reach") == 1 &&
			      tu_log_has("ACS redirect on 0000:02:02.0") &&
			      tu_log_has("0000:00:00.0 (8086:29c0)") &&
			      tu_log_has("not known to route"),
			      "ACS control %#x: expected one line naming the ACS bridge and the host bridge, got:\n%s",
			      ACS_SV | bits[i], tu_log_text());
	}
}
END_TEST

START_TEST(acs_redirect_on_the_common_bridge_counts_too)
{
	switch_tree(ACS_RR, -1, -1);
	expect(A, B, -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
	ck_assert_msg(tu_log_has("ACS redirect on 0000:01:00.0"),
		      "expected the upstream port named, got:\n%s",
		      tu_log_text());
}
END_TEST

START_TEST(acs_bits_that_do_not_redirect_peer_traffic_are_ignored)
{
	/* Source validation, translation blocking, upstream forwarding,
	 * direct translated: none sends P2P requests upstream. */
	switch_tree(0x0053, 0x0053, 0x0053);
	expect(A, B, 4, DMASPLIT_P2P_BUS_ADDR);
}
END_TEST

START_TEST(acs_redirect_with_an_allowed_host_bridge_goes_through_it)
{
	switch_tree(-1, ACS_RR | ACS_CR, -1);
	fakesys_put("devices/" HOST "/0000:00:00.0/device", "0x2020\n");
	expect(A, B, 4, DMASPLIT_P2P_THRU_HOST_BRIDGE);
	ck_assert_msg(!tu_log_count("cannot reach"), "unexpected refusal: %s",
		      tu_log_text());
}
END_TEST

START_TEST(devices_on_different_root_ports_need_the_host_bridge)
{
	switch_tree(-1, -1, -1);
	pci_dev(HOST "/0000:00:02.0", 0x1b36, 0x000c, ROOT_PORT, ACS_RR);
	pci_dev(HOST "/0000:00:02.0/0000:05:00.0", 0x1234, 0x11e8, ENDPOINT,
		-1);
	expect(A, "0000:05:00.0", -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
	ck_assert_msg(tu_log_has("no common upstream bridge") &&
		      tu_log_has("8086:29c0"),
		      "expected the reason in the log, got:\n%s",
		      tu_log_text());
	/* Allowed: every level of both paths counts, 4 + 2. */
	fakesys_put("devices/" HOST "/0000:00:00.0/device", "0x2031\n");
	expect(A, "0000:05:00.0", 6, DMASPLIT_P2P_THRU_HOST_BRIDGE);
}
END_TEST

START_TEST(devices_on_the_root_bus_need_the_host_bridge)
{
	switch_tree(-1, -1, -1);
	pci_dev(HOST "/0000:00:03.0", 0x1b36, 0x0010, ENDPOINT, -1);
	pci_dev(HOST "/0000:00:04.0", 0x1234, 0x11e8, ENDPOINT, -1);
	expect("0000:00:03.0", "0000:00:04.0", -EREMOTEIO,
	       DMASPLIT_P2P_NOT_SUPPORTED);
	fakesys_put("devices/" HOST "/0000:00:00.0/device", "0x09a2\n");
	expect("0000:00:03.0", "0000:00:04.0", 2,
	       DMASPLIT_P2P_THRU_HOST_BRIDGE);
	expect("0000:00:03.0", B, 5, DMASPLIT_P2P_THRU_HOST_BRIDGE);
}
END_TEST

START_TEST(an_amd_zen_cpu_routes_through_any_host_bridge)
{
	switch_tree(-1, ACS_EC, -1);
	pci_dev(HOST "/0000:00:04.0", 0x1234, 0x11e8, ENDPOINT, -1);
	cpu("AuthenticAMD", 0x17);
	expect(A, B, 4, DMASPLIT_P2P_THRU_HOST_BRIDGE);
	expect(A, "0000:00:04.0", 5, DMASPLIT_P2P_THRU_HOST_BRIDGE);
	cpu("AuthenticAMD", 0x16);
	expect(A, "0000:00:04.0", -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
	cpu("GenuineIntel", 0x19);
	expect(A, "0000:00:04.0", -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
}
END_TEST

START_TEST(some_host_bridges_are_allowed_only_within_themselves)
{
	/* Xeon E5 (8086:3c00) routes between its own root ports only. */
	cpu("GenuineIntel", 6);
	pci_dev(HOST "/0000:00:00.0", 0x8086, 0x3c00, ENDPOINT, -1);
	pci_dev(HOST "/0000:00:01.0", 0x8086, 0x3c02, ROOT_PORT, -1);
	pci_dev(HOST "/0000:00:01.0/0000:01:00.0", 0x1b36, 0x10, ENDPOINT,
		-1);
	pci_dev(HOST "/0000:00:02.0", 0x8086, 0x3c04, ROOT_PORT, -1);
	pci_dev(HOST "/0000:00:02.0/0000:02:00.0", 0x1b36, 0x10, ENDPOINT,
		-1);
	pci_dev("pci0000:80/0000:80:00.0", 0x8086, 0x3c00, ENDPOINT, -1);
	pci_dev("pci0000:80/0000:80:01.0", 0x8086, 0x3c02, ROOT_PORT, -1);
	pci_dev("pci0000:80/0000:80:01.0/0000:81:00.0", 0x1b36, 0x10,
		ENDPOINT, -1);
	expect("0000:01:00.0", "0000:02:00.0", 4,
	       DMASPLIT_P2P_THRU_HOST_BRIDGE);
	expect("0000:01:00.0", "0000:81:00.0", -EREMOTEIO,
	       DMASPLIT_P2P_NOT_SUPPORTED);
	/* Skylake-E (8086:2030) routes between host bridges too. */
	fakesys_put("devices/" HOST "/0000:00:00.0/device", "0x2030\n");
	fakesys_put("devices/pci0000:80/0000:80:00.0/device", "0x2030\n");
	expect("0000:01:00.0", "0000:81:00.0", 4,
	       DMASPLIT_P2P_THRU_HOST_BRIDGE);
}
END_TEST

START_TEST(a_root_port_first_on_the_root_bus_stands_for_the_host_bridge)
{
	/* Skylake has no 00.0: its first root port is what is matched. */
	cpu("GenuineIntel", 6);
	pci_dev(HOST "/0000:00:01.0", 0x8086, 0x2030, ROOT_PORT, -1);
	pci_dev(HOST "/0000:00:01.0/0000:01:00.0", 0x1b36, 0x10, ENDPOINT,
		-1);
	pci_dev(HOST "/0000:00:02.0", 0x8086, 0x2031, ROOT_PORT, -1);
	pci_dev(HOST "/0000:00:02.0/0000:02:00.0", 0x1b36, 0x10, ENDPOINT,
		-1);
	expect("0000:01:00.0", "0000:02:00.0", 4,
	       DMASPLIT_P2P_THRU_HOST_BRIDGE);
}
END_TEST

START_TEST(a_root_bus_without_a_host_bridge_device_routes_nothing)
{
	/* The first device is neither 00.0 nor a root port. */
	cpu("GenuineIntel", 6);
	pci_dev(HOST "/0000:00:01.0", 0x8086, 0x2030, ENDPOINT, -1);
	pci_dev(HOST "/0000:00:02.0", 0x8086, 0x2030, ROOT_PORT, -1);
	pci_dev(HOST "/0000:00:02.0/0000:02:00.0", 0x1b36, 0x10, ENDPOINT,
		-1);
	pci_dev(HOST "/0000:00:03.0", 0x1b36, 0x10, ENDPOINT, -1);
	expect("0000:02:00.0", "0000:00:03.0", -EREMOTEIO,
	       DMASPLIT_P2P_NOT_SUPPORTED);
	ck_assert_msg(tu_log_has("none at 00.0 or a root port"),
		      "expected the missing host bridge named, got:\n%s",
		      tu_log_text());
}
END_TEST

START_TEST(a_missing_config_is_an_error_not_a_guess)
{
	char path[PATH_MAX];

	switch_tree(-1, -1, -1);
	fakesys_path(path, "devices/" DSP2 "/config");
	ck_assert_int_eq(unlink(path), 0);
	expect(A, B, -EIO, (enum dmasplit_p2p_map)77);
	ck_assert_msg(tu_log_count("configuration space of 0000:02:02.0: ") == 1 &&
		      tu_log_has("0000:02:02.0/config"),
		      "expected one line naming the config file, got:\n%s",
		      tu_log_text());
}
END_TEST

START_TEST(a_malformed_config_is_an_error_not_a_guess)
{
	static const uint8_t shortcfg[10] = { 0x4c, 0x10 };

	switch_tree(-1, -1, -1);
	fakesys_put_bytes("devices/" USP "/config", shortcfg, sizeof(shortcfg));
	expect(A, B, -EIO, (enum dmasplit_p2p_map)77);
	ck_assert_msg(tu_log_count("less than a configuration header") == 1 &&
		      tu_log_has("0000:01:00.0/config has 10 bytes"),
		      "expected one line about the short config, got:\n%s",
		      tu_log_text());
}
END_TEST

START_TEST(a_conventional_config_space_has_no_acs)
{
	uint8_t cfg[256] = { 0x4c, 0x10 };

	switch_tree(-1, -1, -1);
	fakesys_put_bytes("devices/" USP "/config", cfg, sizeof(cfg));
	expect(A, B, 4, DMASPLIT_P2P_BUS_ADDR);
}
END_TEST

START_TEST(configs_off_the_path_are_not_read)
{
	char path[PATH_MAX];

	/* The root port is above the common bridge: the kernel never
	 * looks at it for this pair. */
	switch_tree(-1, -1, -1);
	fakesys_path(path, "devices/" RP1 "/config");
	ck_assert_int_eq(unlink(path), 0);
	expect(A, B, 4, DMASPLIT_P2P_BUS_ADDR);
}
END_TEST

START_TEST(absent_devices_are_enodev)
{
	switch_tree(-1, -1, -1);
	expect(A, "0000:09:00.0", -ENODEV, (enum dmasplit_p2p_map)77);
	expect("0000:09:00.0", B, -ENODEV, (enum dmasplit_p2p_map)77);
	ck_assert_msg(tu_log_has("no PCI device 0000:09:00.0"),
		      "expected the absent device named, got:\n%s",
		      tu_log_text());
}
END_TEST

START_TEST(specs_that_are_not_pci_are_einval)
{
	switch_tree(-1, -1, -1);
	expect("sim:a", B, -EINVAL, (enum dmasplit_p2p_map)77);
	expect(A, "sim:b", -EINVAL, (enum dmasplit_p2p_map)77);
	expect(A, "nonsense", -EINVAL, (enum dmasplit_p2p_map)77);
	ck_assert_msg(tu_log_has("needs PCI devices, not 'sim:a'"),
		      "expected the sim spec named, got:\n%s", tu_log_text());
	ck_assert_int_eq(dmasplit_p2p_distance(NULL, A, B, NULL), -EINVAL);
	ck_assert_int_eq(dmasplit_p2p_distance(ctx, A, B, NULL), -EINVAL);
}
END_TEST

START_TEST(the_context_sysfs_root_is_the_only_one_read)
{
	char other[PATH_MAX];

	switch_tree(-1, -1, -1);
	snprintf(other, sizeof(other), "%s/elsewhere", base);
	tu_mkdir_p(other);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, other), 0);
	expect(A, B, -ENODEV, (enum dmasplit_p2p_map)77);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
	expect(A, B, 4, DMASPLIT_P2P_BUS_ADDR);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The p2pdma provider and a direct client                              */

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
	base = tu_mkdtemp();
	snprintf(root, sizeof(root), "%s/sys", base);
	tu_mkdir_p(root);
	fakesys_root(root);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
}

static void teardown_backends(void)
{
	tu_ctx_free(ctx);
	ctx = NULL;
	tu_rm_rf(base);
	free(base);
	base = NULL;
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
	ck_assert_int_eq(dmasplit_free_coherent(f.prov, 8192, f.cpu, f.dma),
			 0);
	/* Given back, and not freed twice (the checker, when on, sees it
	 * first and says -ENOENT; the backend says -EINVAL). */
	r = dmasplit_free_coherent(f.prov, 8192, f.cpu, f.dma);
	ck_assert_msg(r == -ENOENT || r == -EINVAL,
		      "second free: expected -ENOENT or -EINVAL, got %d", r);
	dmasplit_dev_close(f.client);
	dmasplit_dev_close(f.prov);
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

static Suite *p2p_suite(void)
{
	Suite *s = suite_create("p2p");
	TCase *tc = tcase_create("distance");
	const char *why = "physical addresses need CAP_SYS_ADMIN (pagemap)";
	bool x86 = false, phys = can_read_phys();

#if defined(__x86_64__) || defined(__i386__)
	x86 = true;
#endif
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, two_devices_below_one_switch_use_bus_addresses_at_distance_4);
	tcase_add_test(tc, a_device_and_a_sibling_function_are_near);
	tcase_add_test(tc, acs_redirect_on_a_switch_port_blocks_an_unknown_host_bridge);
	tcase_add_test(tc, acs_redirect_on_the_common_bridge_counts_too);
	tcase_add_test(tc, acs_bits_that_do_not_redirect_peer_traffic_are_ignored);
	tcase_add_test(tc, acs_redirect_with_an_allowed_host_bridge_goes_through_it);
	tcase_add_test(tc, devices_on_different_root_ports_need_the_host_bridge);
	tcase_add_test(tc, devices_on_the_root_bus_need_the_host_bridge);
	tu_add_test_if(tc, an_amd_zen_cpu_routes_through_any_host_bridge, x86,
		       "the kernel's CPU rule exists on x86 only");
	tcase_add_test(tc, some_host_bridges_are_allowed_only_within_themselves);
	tcase_add_test(tc, a_root_port_first_on_the_root_bus_stands_for_the_host_bridge);
	tcase_add_test(tc, a_root_bus_without_a_host_bridge_device_routes_nothing);
	tcase_add_test(tc, a_missing_config_is_an_error_not_a_guess);
	tcase_add_test(tc, a_malformed_config_is_an_error_not_a_guess);
	tcase_add_test(tc, a_conventional_config_space_has_no_acs);
	tcase_add_test(tc, configs_off_the_path_are_not_read);
	tcase_add_test(tc, absent_devices_are_enodev);
	tcase_add_test(tc, specs_that_are_not_pci_are_einval);
	tcase_add_test(tc, the_context_sysfs_root_is_the_only_one_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("provider and clients");
	tcase_add_checked_fixture(tc, setup_backends, teardown_backends);
	tcase_add_test(tc, p2pdma_takes_devices_with_published_peer_memory);
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
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_main(p2p_suite());
}
