// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The direct backend: selection from fake sysfs trees in the kernel's
 * layout (bus/pci/devices/ADDR links into devices/, driver and iommu_group
 * links) for every case, and the privilege it needs.
 */
#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakesys.h"
#include "directutil.h"
#include "internal.h"
#include "testutil.h"


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

/*
 * A description from a program built before iommu_class (a shorter
 * size), or with the class left 0 or set to a value the library does not
 * know: the core classifies it from the group's strings, so the backend
 * decides as it did before the field.
 */
START_TEST(description_without_class_is_probed_as_before)
{
	static const struct {
		const char *driver;
		int group;
		const char *type, *name;
		int score;
	} cases[] = {
		{ "uio_pci_generic", -1, NULL, NULL, 100 },
		{ "uio_pci_generic", 4, "identity\n", NULL, 100 },
		{ "uio_pci_generic", 4, "unknown\n", NULL, 100 },
		{ "vfio-pci", 12, "unknown\n", "vfio-noiommu\n", 100 },
		{ "uio_pci_generic", 9, "DMA\n", NULL, -ENODEV },
		{ "uio_pci_generic", 9, "blocked\n", NULL, -ENODEV },
		{ "uio_pci_generic", 5, NULL, NULL, -ENODEV },
		{ "vfio-pci", 7, "DMA\n", "vfio-noiommu\n", -ENODEV },
	};
	static const int classes[] = { DMASPLIT_IOMMU_UNKNOWN, 77, -1 };
	struct dmasplit_backend *be;
	unsigned int i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tu_rm_rf(root);
		fake(cases[i].driver, cases[i].group, cases[i].type,
		     cases[i].name, NULL);
		for (k = 0; k < 4; k++) {
			struct dmasplit_desc d = { .size = sizeof(d) };
			int r, score = -1;

			ck_assert_int_eq(dmasplit_describe(ctx, ADDR, &d), 0);
			if (k < 3)
				d.iommu_class = (enum dmasplit_iommu_class)classes[k];
			else	/* built before the field */
				d.size = offsetof(struct dmasplit_desc,
						  iommu_class);
			r = dmasplit_backend_probe(direct(), &d, &score);
			ck_assert_msg((r < 0 ? r : score) == cases[i].score,
				      "%s, group %d, type %s, %s: probe %d, expected %d; log:\n%s",
				      cases[i].driver, cases[i].group,
				      cases[i].type ? cases[i].type : "(none)",
				      k < 3 ? "class overwritten" : "short size",
				      r < 0 ? r : score, cases[i].score,
				      tu_log_text());
			r = dmasplit_select(ctx, &d, &be);
			ck_assert_int_eq(r == 0 && !strcmp(dmasplit_backend_get_name(be), "direct"),
					 cases[i].score > 0);
		}
	}
}
END_TEST

/* Backends read the strings of a caller's description as strings. */
START_TEST(caller_strings_reach_the_backend_terminated)
{
	struct dmasplit_desc d = { .size = sizeof(d) };
	char expect[128];
	int score = -1;

	fake_uio();
	ck_assert_int_eq(dmasplit_describe(ctx, ADDR, &d), 0);
	memset(d.driver, 'x', sizeof(d.driver));
	memset(d.iommu_group_type, 'x', sizeof(d.iommu_group_type));
	memset(d.vfio_dev, 'x', sizeof(d.vfio_dev));
	memset(d.iommu_group_name, 'x', sizeof(d.iommu_group_name));
	snprintf(expect, sizeof(expect), "bound to %.*s, not to",
		 (int)sizeof(d.driver) - 1,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	tu_log_clear();
	ck_assert_int_eq(dmasplit_backend_probe(direct(), &d, &score), -ENODEV);
	ck_assert_msg(tu_log_has(expect), "log:\n%s", tu_log_text());
}
END_TEST

/*
 * A core older than the class hands the plugin a description that ends
 * before it: the plugin refuses rather than guess, with a line that says
 * why, in probe and in open alike.
 */
START_TEST(description_from_an_older_core_is_refused)
{
	struct dmasplit_desc d = { .size = sizeof(d) };
	struct dmasplit_backend *be = direct();
	struct dmasplit_bdev *bdev = NULL;
	int score = -1;

	fake_uio();
	ck_assert_int_eq(dmasplit_describe(ctx, ADDR, &d), 0);
	d.size = offsetof(struct dmasplit_desc, iommu_class);
	d.iommu_class = DMASPLIT_IOMMU_NONE;	/* past the size: unread */
	tu_log_clear();
	ck_assert_int_eq(be->ops.probe(&ctx->host, &d, &score), -ENODEV);
	ck_assert_int_eq(be->ops.open(&ctx->host, &d, &bdev), -ENODEV);
	ck_assert_ptr_null(bdev);
	ck_assert_msg(tu_log_count("the library is older than this backend") == 2,
		      "log:\n%s", tu_log_text());
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
	fake_uio();
	if (!can_read_phys()) {
		ck_assert_int_eq(open_expecting_eperm(), 0);
		return;
	}
	/* Root: without CAP_SYS_ADMIN in a child of its own.  The context
	 * has not opened pagemap yet, and pagemap shows frames by the
	 * credentials of whoever opened it. */
	TU_IN_CHILD(drop_cap_sys_admin() < 0 ? 3 : open_expecting_eperm(),
		    "the child without CAP_SYS_ADMIN",
		    "1: wrong error, 2: no line, 3: capset failed");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("direct");
	TCase *tc = tcase_create("direct");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, direct_setup, direct_teardown);
	tcase_add_test(tc, uio_devices_without_iommu_are_direct);
	tcase_add_test(tc, uio_device_in_passthrough_group_is_direct);
	tcase_add_test(tc, uio_device_behind_translating_iommu_is_refused);
	tcase_add_test(tc, device_in_group_of_unknown_type_is_refused);
	tcase_add_test(tc, vfio_device_in_noiommu_mode_is_direct);
	tcase_add_test(tc, vfio_device_with_iommu_is_refused);
	tcase_add_test(tc, other_drivers_and_unbound_devices_are_refused);
	tcase_add_test(tc, simulated_devices_are_not_direct);
	tcase_add_test(tc, opening_by_name_refuses_what_probe_refuses);
	tcase_add_test(tc, description_without_class_is_probed_as_before);
	tcase_add_test(tc, description_from_an_older_core_is_refused);
	tcase_add_test(tc, caller_strings_reach_the_backend_terminated);
	tcase_add_test(tc, open_without_cap_sys_admin_fails_with_eperm);
	suite_add_tcase(s, tc);
	return tu_main(s);
}

