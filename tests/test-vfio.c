// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Selection of the vfio backend from fake sysfs trees in the kernel's
 * layout: a vfio-pci device in a translating group is taken, identity
 * and blocked groups and other drivers are not, and the interface the
 * backend would use is logged with the reason.  Windows and range
 * reports are in test-vfio-kernel.c.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fakesys.h"
#include "internal.h"
#include "testutil.h"
#include "uapi.h"
#include "vfio.h"

static const char *const plugins[] = { "vfio", "swiotlb-sim", NULL };
static struct dmasplit_ctx *ctx;
static char *root;

#define DEVDIR "devices/pci0000:00/0000:00:04.0"

/* The edu device as the VM shows it, with the driver, group type and
 * cdev given. */
static void fake_device(const char *driver, const char *group_type,
			bool cdev)
{
	struct fakesys_pci dev = {
		.vendor = "0x1234\n",
		.device = "0x11e8\n",
		.class = "0x00ff00\n",
		.dma_mask_bits = "32\n",
		.driver = driver,
		.group = group_type ? "4" : NULL,
		.group_type = group_type,
		.reserved_regions = "0x00000000fee00000 0x00000000feefffff msi\n",
		.vfio_dev = cdev ? "511:0\n" : NULL,
	};

	fakesys_pci(DEVDIR, &dev);
}

static void setup(void)
{
	ctx = tu_ctx_with(plugins);
	root = tu_mkdtemp();
	fakesys_root(root);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
}

static void teardown(void)
{
	tu_ctx_free(ctx);
	tu_rm_rf(root);
	free(root);
}

/* The vfio backend's probe of spec: its score, or the error. */
static int probe(const char *spec)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	struct dmasplit_backend *be;
	int score = -1, r;

	ck_assert_int_eq(dmasplit_backend_find(ctx, "vfio", &be), 0);
	r = dmasplit_describe(ctx, spec, &desc);
	ck_assert_msg(r == 0, "describe %s: %d, log:\n%s", spec, r, tu_log_text());
	r = dmasplit_backend_probe(be, &desc, &score);
	return r < 0 ? r : score;
}

static const char *selected(const char *spec)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	struct dmasplit_backend *be;

	ck_assert_int_eq(dmasplit_describe(ctx, spec, &desc), 0);
	if (dmasplit_select(ctx, &desc, &be) < 0)
		return "(none)";
	return dmasplit_backend_get_name(be);
}

START_TEST(vfio_pci_in_a_dma_group_is_selected)
{
	fake_device("vfio-pci", "DMA\n", true);
	ck_assert_int_gt(probe("0000:00:04.0"), 0);
	ck_assert_str_eq(selected("0000:00:04.0"), "vfio");
	ck_assert_str_eq(selected("00:04.0,mask=28"), "vfio");
}
END_TEST

/* A variant driver of vfio-pci (mlx5_vfio_pci, ...) makes a VFIO device
 * too: known by its name, or by its VFIO device file where it has one. */
START_TEST(vfio_pci_variant_drivers_are_selected)
{
	fake_device("mlx5_vfio_pci", "DMA\n", false);
	ck_assert_str_eq(selected("0000:00:04.0"), "vfio");
	tu_rm_rf(root);
	tu_mkdir_p(root);
	fake_device("some_variant", "DMA\n", true);
	ck_assert_str_eq(selected("0000:00:04.0"), "vfio");
	tu_rm_rf(root);
	tu_mkdir_p(root);
	/* "vfio_pci" alone is no variant's name. */
	fake_device("notvfio_pcix", "DMA\n", false);
	ck_assert_int_eq(probe("0000:00:04.0"), -ENODEV);
}
END_TEST

START_TEST(vfio_pci_in_a_dma_fq_group_is_selected)
{
	fake_device("vfio-pci", "DMA-FQ\n", true);
	ck_assert_int_gt(probe("0000:00:04.0"), 0);
}
END_TEST

/* The unlink mode the backend takes for spec, as vfio_open decides it. */
static bool lazy_for(const char *spec)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };

	ck_assert_int_eq(dmasplit_describe(ctx, spec, &desc), 0);
	return win_unlink_lazy(&ctx->host, &desc);
}

START_TEST(unlink_mode_follows_the_group_unless_the_spec_says)
{
	fake_device("vfio-pci", "DMA\n", true);
	ck_assert_msg(!lazy_for("0000:00:04.0"), "DMA group: expected strict");
	ck_assert_msg(lazy_for("0000:00:04.0,unlink=lazy"),
		      "DMA group, unlink=lazy: expected lazy");
	fakesys_put("kernel/iommu_groups/4/type", "DMA-FQ\n");
	ck_assert_msg(lazy_for("0000:00:04.0"), "DMA-FQ group: expected lazy");
	ck_assert_msg(!lazy_for("0000:00:04.0,unlink=strict"),
		      "DMA-FQ group, unlink=strict: expected strict");
	/* The kernel's untrusted devices are strict whatever is asked. */
	fakesys_put(DEVDIR "/removable", "removable\n");
	tu_log_clear();
	ck_assert_msg(!lazy_for("0000:00:04.0"),
		      "removable device in a DMA-FQ group: expected strict");
	ck_assert_msg(!lazy_for("0000:00:04.0,unlink=lazy"),
		      "removable device, unlink=lazy: expected strict");
}
END_TEST

START_TEST(identity_or_blocked_group_is_not_selected)
{
	static const char *const types[] = { "identity\n", "blocked\n", "unmanaged\n" };
	unsigned int i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		tu_rm_rf(root);
		tu_mkdir_p(root);
		fake_device("vfio-pci", types[i], true);
		tu_log_clear();
		ck_assert_int_eq(probe("0000:00:04.0"), -ENODEV);
		ck_assert_msg(tu_log_has("does not translate"), "%s: log:\n%s",
			      types[i], tu_log_text());
		ck_assert_str_eq(selected("0000:00:04.0"), "(none)");
	}
}
END_TEST

START_TEST(other_drivers_and_no_group_are_not_selected)
{
	fake_device("nvme", "DMA\n", false);
	ck_assert_int_eq(probe("0000:00:04.0"), -ENODEV);
	tu_rm_rf(root);
	tu_mkdir_p(root);
	fake_device(NULL, NULL, false);
	ck_assert_int_eq(probe("0000:00:04.0"), -ENODEV);
	tu_rm_rf(root);
	tu_mkdir_p(root);
	fake_device("vfio-pci", NULL, false);
	ck_assert_int_eq(probe("0000:00:04.0"), -ENODEV);
	/* A simulated device is never vfio's. */
	ck_assert_str_eq(selected("sim:nic0"), "swiotlb-sim");
}
END_TEST

/* Named by the application, a backend that cannot drive the device says
 * why, in one line, and opens nothing: vfio a device not bound to
 * vfio-pci or not PCI at all, the simulated device anything but sim:. */
START_TEST(a_named_backend_refuses_a_device_it_cannot_drive)
{
	static const struct {
		const char *spec, *backend, *line;
	} cases[] = {
		{ "0000:00:04.0", "vfio", "vfio: 0000:00:04.0: bound to driver 'nvme', not vfio-pci or a variant of it" },
		{ "sim:nic0", "vfio", "vfio: nic0: not a PCI device" },
		{ "0000:00:04.0", "swiotlb-sim", "swiotlb-sim: 0000:00:04.0: not a simulated device" },
	};
	unsigned int i;

	fake_device("nvme", "DMA\n", false);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmasplit_dev *dev = NULL;
		int r;

		tu_log_clear();
		r = dmasplit_dev_open_backend(ctx, cases[i].spec,
					      cases[i].backend, &dev);
		ck_assert_msg(r == -ENODEV && !dev, "%s on %s: %d",
			      cases[i].backend, cases[i].spec, r);
		ck_assert_msg(tu_log_has(cases[i].line) &&
			      !tu_log_has("cannot open"),
			      "%s on %s, log:\n%s", cases[i].backend,
			      cases[i].spec, tu_log_text());
	}
}
END_TEST

/*
 * A description from a program built before iommu_class, or with it left
 * 0 or set to a value the library does not know: the core classifies it
 * from the group's strings, and the backend decides as before the field.
 */
START_TEST(description_without_class_is_probed_as_before)
{
	static const struct {
		const char *type;
		bool taken;
	} cases[] = {
		{ "DMA\n", true }, { "DMA-FQ\n", true },
		{ "identity\n", false }, { "blocked\n", false },
		{ NULL, false },
	};
	static const int classes[] = { DMASPLIT_IOMMU_UNKNOWN, 77 };
	struct dmasplit_backend *be;
	unsigned int i, k;

	ck_assert_int_eq(dmasplit_backend_find(ctx, "vfio", &be), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tu_rm_rf(root);
		tu_mkdir_p(root);
		fake_device("vfio-pci", cases[i].type, true);
		for (k = 0; k < 3; k++) {
			struct dmasplit_desc desc = { .size = sizeof(desc) };
			int r, score = -1;

			ck_assert_int_eq(dmasplit_describe(ctx, "0000:00:04.0",
							   &desc), 0);
			if (k < 2)
				desc.iommu_class = (enum dmasplit_iommu_class)classes[k];
			else	/* built before the field */
				desc.size = offsetof(struct dmasplit_desc,
						     iommu_class);
			r = dmasplit_backend_probe(be, &desc, &score);
			ck_assert_msg(cases[i].taken ? r == 0 && score > 0
						     : r == -ENODEV,
				      "type %s, case %u: probe %d; log:\n%s",
				      cases[i].type ? cases[i].type : "(none)",
				      k, r, tu_log_text());
		}
	}
}
END_TEST

/* A core older than the class: the plugin refuses rather than guess. */
START_TEST(description_from_an_older_core_is_refused)
{
	struct dmasplit_desc desc = { .size = sizeof(desc) };
	struct dmasplit_backend *be;
	int score = -1;

	ck_assert_int_eq(dmasplit_backend_find(ctx, "vfio", &be), 0);
	fake_device("vfio-pci", "DMA\n", true);
	ck_assert_int_eq(dmasplit_describe(ctx, "0000:00:04.0", &desc), 0);
	desc.size = offsetof(struct dmasplit_desc, iommu_class);
	tu_log_clear();
	ck_assert_int_eq(be->ops.probe(&ctx->host, &desc, &score), -ENODEV);
	ck_assert_msg(tu_log_has("the library is older than this backend"),
		      "log:\n%s", tu_log_text());
	/* The class as the core fills it: taken. */
	desc.size = sizeof(desc);
	ck_assert_int_eq(be->ops.probe(&ctx->host, &desc, &score), 0);
}
END_TEST

START_TEST(interface_choice_is_logged_with_its_reason)
{
	bool has_iommufd = access("/dev/iommu", F_OK) == 0 &&
			   access("/dev/vfio/devices/vfio0", F_OK) == 0;

	fake_device("vfio-pci", "DMA\n", false);
	tu_log_clear();
	ck_assert_int_gt(probe("0000:00:04.0"), 0);
	ck_assert_msg(tu_log_has("would use type1: no vfio-dev entry in sysfs"),
		      "log:\n%s", tu_log_text());

	tu_rm_rf(root);
	tu_mkdir_p(root);
	fake_device("vfio-pci", "DMA\n", true);
	tu_log_clear();
	ck_assert_int_gt(probe("0000:00:04.0"), 0);
	ck_assert_msg(tu_log_has(has_iommufd ? "would use iommufd"
					     : "would use type1: no /dev/iommu"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	ck_assert_int_gt(probe("0000:00:04.0,vfio=type1"), 0);
	ck_assert_msg(tu_log_has("would use type1: vfio=type1 in the spec"),
		      "log:\n%s", tu_log_text());
}
END_TEST

START_TEST(open_without_the_kernel_interface_fails_cleanly)
{
	struct dmasplit_dev *dev = NULL;
	int r;

	if (access("/dev/vfio/vfio", F_OK) == 0)
		return;	/* a real VFIO host: covered by the VM tests */
	fake_device("vfio-pci", "DMA\n", true);
	tu_log_clear();
	r = dmasplit_dev_open(ctx, "0000:00:04.0", &dev);
	ck_assert_int_eq(r, -ENOENT);
	ck_assert_ptr_null(dev);
	ck_assert_msg(tu_log_has("open /dev/vfio/vfio: No such file or directory"),
		      "log:\n%s", tu_log_text());
	tu_log_clear();
	r = dmasplit_dev_open(ctx, "0000:00:04.0,vfio=iommufd", &dev);
	ck_assert_int_eq(r, -EOPNOTSUPP);
	ck_assert_msg(tu_log_has("vfio=iommufd asked, but"), "log:\n%s",
		      tu_log_text());
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio");
	TCase *tc = tcase_create("select");

	if (!tu_backend_built("vfio"))
		tu_skip_all("the vfio backend is not built");
	tu_plugin_dir();
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vfio_pci_in_a_dma_group_is_selected);
	tcase_add_test(tc, vfio_pci_in_a_dma_fq_group_is_selected);
	tcase_add_test(tc, unlink_mode_follows_the_group_unless_the_spec_says);
	tcase_add_test(tc, identity_or_blocked_group_is_not_selected);
	tcase_add_test(tc, other_drivers_and_no_group_are_not_selected);
	tcase_add_test(tc, vfio_pci_variant_drivers_are_selected);
	tcase_add_test(tc, a_named_backend_refuses_a_device_it_cannot_drive);
	tcase_add_test(tc, description_without_class_is_probed_as_before);
	tcase_add_test(tc, description_from_an_older_core_is_refused);
	tcase_add_test(tc, interface_choice_is_logged_with_its_reason);
	tcase_add_test(tc, open_without_the_kernel_interface_fails_cleanly);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
