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
#include <sys/stat.h>
#include <unistd.h>

#include "fakesys.h"
#include "p2ptree.h"
#include "testutil.h"

static struct dmasplit_ctx *ctx;

static void setup(void)
{
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	tu_log_clear();
	tree_new();
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, tree_root), 0);
}

static void teardown(void)
{
	ctx = dmasplit_ctx_unref(ctx);
	tree_free();
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

/* An ACS capability in the last dword of the extended space: its control
 * register lies past the end, which the kernel's config read answers
 * with all ones, so it redirects. */
START_TEST(acs_control_past_the_end_of_config_space_redirects)
{
	uint8_t cfg[4096] = { 0 };
	char path[PATH_MAX];
	int fd;

	switch_tree(-1, -1, -1);
	config(DSP2, 0x104c, 0x8233, DOWNSTREAM, -1);
	fakesys_path(path, "devices/" DSP2 "/config");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, cfg, sizeof(cfg)), sizeof(cfg));
	close(fd);
	put32(cfg, 0x100, 0x0001 | 1u << 16 | 0xffcu << 20);	/* AER */
	put32(cfg, 0xffc, 0x000d | 1u << 16);			/* ACS */
	fakesys_put_bytes("devices/" DSP2 "/config", cfg, sizeof(cfg));
	expect(A, B, -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
	ck_assert_msg(tu_log_has("ACS redirect on 0000:02:02.0"),
		      "expected the downstream port named, got:\n%s",
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

/* Behind an Intel VMD controller (0000:00:0e.0), NVMe drives sit in a
 * domain of the controller's own, 10000 and up, five digits in sysfs. */
#define VMD_RP HOST "/0000:00:0e.0/pci10000:e0/10000:e0:1d.0"
START_TEST(devices_behind_vmd_are_found_by_their_five_digit_domain)
{
	switch_tree(-1, -1, -1);
	pci_dev(HOST "/0000:00:0e.0", 0x8086, 0x467f, ENDPOINT, -1);
	pci_dev(VMD_RP, 0x8086, 0x7ab0, ROOT_PORT, -1);
	pci_dev(VMD_RP "/10000:e1:00.0", 0x144d, 0xa808, ENDPOINT, -1);
	pci_dev(VMD_RP "/10000:e1:00.1", 0x144d, 0xa808, ENDPOINT, -1);
	expect("10000:e1:00.0", "10000:e1:00.0", 0, DMASPLIT_P2P_BUS_ADDR);
	expect("10000:e1:00.0", "10000:e1:00.1", 2, DMASPLIT_P2P_BUS_ADDR);
	expect("pci:10000:e1:00.1", "10000:e0:1d.0", 1, DMASPLIT_P2P_BUS_ADDR);
	/* Two root buses, and the VMD's root port, standing for its host
	 * bridge, on no allow-list. */
	expect("10000:e1:00.0", A, -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
	ck_assert_msg(tu_log_has("10000:e0:1d.0"), "log:\n%s", tu_log_text());
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
	ck_assert_msg(tu_log_count("less than the 256 of a PCI configuration space") == 1 &&
		      tu_log_has("0000:01:00.0/config has 10 bytes"),
		      "expected one line about the short config, got:\n%s",
		      tu_log_text());
}
END_TEST

/* A FIFO where a file should be: refused at once, never waited on. */
START_TEST(a_fifo_for_a_file_is_an_error_not_a_wait)
{
	char path[PATH_MAX];

	switch_tree(-1, ACS_EC, -1);
	fakesys_path(path, "devices/" DSP2 "/config");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	expect(A, B, -EIO, (enum dmasplit_p2p_map)77);
	ck_assert_msg(tu_log_has("0000:02:02.0/config: not a regular file"),
		      "log:\n%s", tu_log_text());
	/* The host bridge's vendor, and the CPU's description. */
	ck_assert_int_eq(unlink(path), 0);
	config(DSP2, 0x104c, 0x8233, DOWNSTREAM, -1);
	fakesys_path(path, "devices/" HOST "/0000:00:00.0/vendor");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	tu_log_clear();
	expect(A, B, -EIO, (enum dmasplit_p2p_map)77);
	ck_assert_msg(tu_log_has("vendor: not a regular file"), "log:\n%s",
		      tu_log_text());
	ck_assert_int_eq(unlink(path), 0);
	fakesys_put("devices/" HOST "/0000:00:00.0/vendor", "0x8086\n");
	snprintf(path, sizeof(path), "%s/proc/cpuinfo", tree_base);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	tu_log_clear();
	expect(A, B, -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
	ck_assert_msg(tu_log_has("cpuinfo is not a regular file"), "log:\n%s",
		      tu_log_text());
}
END_TEST

/* A family number too large for a long is no family, not family 17h or
 * above. */
START_TEST(a_cpu_family_that_does_not_fit_is_no_zen)
{
	char path[PATH_MAX];

	switch_tree(-1, ACS_EC, -1);
	snprintf(path, sizeof(path), "%s/proc/cpuinfo", tree_base);
	tu_write_file(path, "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
			    "cpu family\t: 99999999999999999999999\n");
	expect(A, B, -EREMOTEIO, DMASPLIT_P2P_NOT_SUPPORTED);
}
END_TEST

/* bus/pci/devices/ADDR leads to the device of that address, below a root
 * bus: a link to another device, or to a directory that is not under
 * one, would answer for something else. */
START_TEST(a_device_link_that_leads_elsewhere_is_an_error)
{
	char path[PATH_MAX];

	switch_tree(-1, -1, -1);
	fakesys_path(path, "bus/pci/devices/" B);
	ck_assert_int_eq(unlink(path), 0);
	fakesys_link("../../../devices/" EP_A, "bus/pci/devices/" B);
	expect(A, B, -EIO, (enum dmasplit_p2p_map)77);
	ck_assert_msg(tu_log_has("which is not where the kernel puts it"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	pci_dev(DSP2 "/extra/0000:05:00.0", 0x1234, 0x11e8, ENDPOINT, -1);
	expect(A, "0000:05:00.0", -EIO, (enum dmasplit_p2p_map)77);
	ck_assert_msg(tu_log_has("which is not where the kernel puts it"),
		      "log:\n%s", tu_log_text());
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
	snprintf(other, sizeof(other), "%s/elsewhere", tree_base);
	tu_mkdir_p(other);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, other), 0);
	expect(A, B, -ENODEV, (enum dmasplit_p2p_map)77);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, tree_root), 0);
	expect(A, B, 4, DMASPLIT_P2P_BUS_ADDR);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("p2p");
	TCase *tc = tcase_create("distance");
	bool x86 = false;

#if defined(__x86_64__) || defined(__i386__)
	x86 = true;
#endif
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, two_devices_below_one_switch_use_bus_addresses_at_distance_4);
	tcase_add_test(tc, a_device_and_a_sibling_function_are_near);
	tcase_add_test(tc, acs_redirect_on_a_switch_port_blocks_an_unknown_host_bridge);
	tcase_add_test(tc, acs_control_past_the_end_of_config_space_redirects);
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
	tcase_add_test(tc, a_fifo_for_a_file_is_an_error_not_a_wait);
	tcase_add_test(tc, a_cpu_family_that_does_not_fit_is_no_zen);
	tcase_add_test(tc, a_device_link_that_leads_elsewhere_is_an_error);
	tcase_add_test(tc, devices_behind_vmd_are_found_by_their_five_digit_domain);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
