// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device specs and the device description read from sysfs.  The sysfs
 * trees are built by the tests in the kernel's layout: bus/pci/devices/ADDR
 * is a link into devices/, and driver and iommu_group are links too.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakesys.h"
#include "testutil.h"

static struct dmasplit_ctx *ctx;
static char *root;

static void setup(void)
{
	ck_assert_int_eq(dmasplit_ctx_new(&ctx), 0);
	tu_log_capture(ctx);
	tu_log_clear();
	root = tu_mkdtemp();
	fakesys_root(root);
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(ctx, root), 0);
}

static void teardown(void)
{
	ctx = dmasplit_ctx_unref(ctx);
	tu_rm_rf(root);
	free(root);
	root = NULL;
}

#define DEVDIR "devices/pci0000:00/0000:00:01.0/0000:01:00.0"

/* A device bound to vfio-pci in a DMA-translated group, with a CMB. */
static void fake_device(void)
{
	static const struct fakesys_pci dev = {
		.vendor = "0x1234\n",
		.device = "0x11e8\n",
		.class = "0x00ff00\n",
		.dma_mask_bits = "28\n",
		.numa_node = "-1\n",
		.resource =
		"0x00000000fea00000 0x00000000feafffff 0x0000000000040200\n"
		"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		"0x00000000fe000000 0x00000000fe3fffff 0x000000000014220c\n",
		.vfio_dev = "240:0\n",
		.driver = "vfio-pci",
		.group = "7",
		.group_type = "DMA-FQ\n",
	};

	fakesys_pci(DEVDIR, &dev);
	fakesys_put(DEVDIR "/p2pmem/size", "4194304\n");
	fakesys_put(DEVDIR "/p2pmem/available", "1048576\n");
	fakesys_put(DEVDIR "/p2pmem/published", "1\n");
}

static int describe(const char *spec, struct dmasplit_desc *desc)
{
	memset(desc, 0x5a, sizeof(*desc));
	desc->size = sizeof(*desc);
	return dmasplit_describe(ctx, spec, desc);
}

START_TEST(sim_spec_keeps_name_and_options)
{
	struct dmasplit_desc d;

	ck_assert_int_eq(describe("sim:nic0", &d), 0);
	ck_assert_int_eq(d.bus, DMASPLIT_BUS_SIM);
	ck_assert_str_eq(d.name, "nic0");
	ck_assert_str_eq(d.options, "");
	ck_assert_int_eq(d.iommu_group, -1);
	ck_assert_int_eq(d.numa_node, -1);
	ck_assert_int_eq(describe("sim:my_dev-1.a,iommu=off,mask=32", &d), 0);
	ck_assert_str_eq(d.name, "my_dev-1.a");
	/* Options of sim: specs are the backend's to validate. */
	ck_assert_str_eq(d.options, "iommu=off,mask=32");
}
END_TEST

START_TEST(bad_sim_specs_are_refused_with_reason)
{
	static const char *const bad[] = {
		"sim:", "sim:,iommu=on", "sim:a b", "sim:nic/0", "sim:n\xc3\xa9",
		"sim:a,", "sim:a,,iommu=on", "sim:a,iommu=on,",
	};
	struct dmasplit_desc d;
	char long_name[80], long_opts[300];
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_log_clear();
		ck_assert_msg(describe(bad[i], &d) == -EINVAL, "'%s' accepted", bad[i]);
		ck_assert_msg(tu_log_count("device spec") == 1, "'%s': log:\n%s",
			      bad[i], tu_log_text());
	}
	memset(long_name, 'x', sizeof(long_name));
	memcpy(long_name, "sim:", 4);
	long_name[sizeof(long_name) - 1] = '\0';
	ck_assert_int_eq(describe(long_name, &d), -EINVAL);
	memset(long_opts, 'y', sizeof(long_opts));
	memcpy(long_opts, "sim:a,", 6);
	long_opts[sizeof(long_opts) - 1] = '\0';
	ck_assert_int_eq(describe(long_opts, &d), -EINVAL);
	ck_assert(tu_log_has("options too long"));
}
END_TEST

START_TEST(empty_options_are_refused_alike_for_every_bus)
{
	static const char *const bad[] = { "sim:a,", "0000:01:00.0," };
	struct dmasplit_desc d;
	unsigned int i;

	fake_device();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_log_clear();
		ck_assert_msg(describe(bad[i], &d) == -EINVAL, "'%s' accepted",
			      bad[i]);
		ck_assert_msg(tu_log_count("\n") == 1 &&
			      tu_log_has("empty option (a stray ',')"),
			      "'%s': expected one line naming the empty option, log:\n%s",
			      bad[i], tu_log_text());
	}
}
END_TEST

START_TEST(pci_mask_is_decimal)
{
	struct dmasplit_desc d;

	fake_device();
	ck_assert_int_eq(describe("0000:01:00.0,mask=040", &d), 0);
	ck_assert_msg(d.spec_mask_bits == 40, "mask=040: expected 40 bits, got %u",
		      d.spec_mask_bits);
	tu_log_clear();
	ck_assert_int_eq(describe("0000:01:00.0,mask=0x20", &d), -EINVAL);
	ck_assert(tu_log_has("mask=0x20: expected 1 to 64 bits"));
}
END_TEST

/* What a log function was last given, whole: its length and its end. */
static size_t whole_lines, whole_len;
static char whole_end[16];

TU_LOG_FN
static void keep_whole(void *data, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	char *msg;

	(void)data, (void)priority, (void)file, (void)line, (void)fn;
	ck_assert_int_ge(vasprintf(&msg, format, args), 0);
	whole_lines++;
	whole_len = strlen(msg);
	snprintf(whole_end, sizeof(whole_end), "%s",
		 msg + (whole_len > 6 ? whole_len - 6 : 0));
	free(msg);
}

/* A spec of a megabyte is refused in one line a reader can take in:
 * cut at 8 KiB, and saying so; a path's length (PATH_MAX) is kept. */
START_TEST(a_line_quoting_a_huge_spec_is_cut)
{
	static const size_t sizes[] = { 1u << 20, PATH_MAX };
	struct dmasplit_ctx *c;
	struct dmasplit_desc d = { .size = sizeof(d) };
	unsigned int i;
	char *spec;

	ck_assert_int_eq(dmasplit_ctx_new(&c), 0);
	dmasplit_ctx_set_log_fn(c, keep_whole, NULL);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		spec = malloc(sizes[i] + 1);
		ck_assert_ptr_nonnull(spec);
		memset(spec, 'z', sizes[i]);
		spec[sizes[i]] = '\0';
		whole_lines = 0;
		ck_assert_int_eq(dmasplit_describe(c, spec, &d), -EINVAL);
		ck_assert_uint_eq(whole_lines, 1);
		if (sizes[i] > 8192) {
			ck_assert_uint_le(whole_len, 8191);
			ck_assert_str_eq(whole_end, " [cut]");
		} else {
			ck_assert_uint_gt(whole_len, sizes[i]);
			ck_assert_str_ne(whole_end, " [cut]");
		}
		free(spec);
	}
	dmasplit_ctx_unref(c);
}
END_TEST

START_TEST(control_characters_reach_the_log_escaped)
{
	struct dmasplit_desc d;

	ck_assert_int_eq(describe("sim:a\x1b[2J\n", &d), -EINVAL);
	ck_assert_msg(tu_log_has("'\\x1b'") && !strchr(tu_log_text(), '\x1b'),
		      "expected the escape character as \\x1b, log:\n%s",
		      tu_log_text());
	tu_log_clear();
	ck_assert_int_eq(describe("0000:01:00.0,vfio=\x07\x7f", &d), -EINVAL);
	ck_assert_msg(tu_log_has("vfio=\\x07\\x7f: expected") &&
		      tu_log_count("\n") == 1,
		      "expected one line with \\x07\\x7f, log:\n%s", tu_log_text());
}
END_TEST

/* C1 controls, raw (0x9b: CSI where the terminal is not in UTF-8) or
 * encoded, and bytes that are not UTF-8 leave escaped; UTF-8 text in
 * other scripts is kept. */
START_TEST(c1_controls_and_bytes_not_utf8_reach_the_log_escaped)
{
	static const struct {
		const char *value, *logged;
	} cases[] = {
		{ "\x9b" "31m", "\\x9b31m" },
		{ "\xc2\x9b" "31m", "\\xc2\\x9b31m" },
		{ "\xc2\x85", "\\xc2\\x85" },
		{ "\xff\xfe", "\\xff\\xfe" },
		{ "\xc0\xaf", "\\xc0\\xaf" },		/* overlong '/' */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },	/* a surrogate */
		{ "\xe2\x82", "\\xe2\\x82" },		/* cut short */
		{ "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80",
		  "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80" },
		{ "\xc2\xa0", "\xc2\xa0" },			/* no-break space */
	};
	struct dmasplit_desc d;
	char spec[64], want[64];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(spec, sizeof(spec), "0000:01:00.0,vfio=%s", cases[i].value);
		snprintf(want, sizeof(want), "vfio=%s: expected", cases[i].logged);
		tu_log_clear();
		ck_assert_int_eq(describe(spec, &d), -EINVAL);
		ck_assert_msg(tu_log_has(want) && tu_log_count("\n") == 1,
			      "case %u: expected one line with '%s', log:\n%s",
			      i, want, tu_log_text());
	}
}
END_TEST

/* The simulated device's options read numbers by the core's rule. */
START_TEST(sim_numbers_follow_the_spec_rule)
{
	static const char *const sim[] = { "swiotlb-sim", NULL };
	static const struct {
		const char *spec;
		const char *log;
	} bad[] = {
		{ "sim:a,pool=17179869185G", "pool=17179869185G: out of range" },
		{ "sim:a,pool=99999999999999999999", "pool=99999999999999999999: out of range" },
		{ "sim:a,mask=12", "mask=12: expected 13 to 64 bits" },
		{ "sim:a,mask=0x20", "mask=0x20: expected 13 to 64 bits" },
		{ "sim:a,mask=16,granule=65536", "mask=16: a translated device with granule=65536 needs at least 17 bits" },
		{ "sim:a,iommu=off,mask=20", "mask=20: the bounce pool" },
	};
	struct dmasplit_dev_info info = { .size = sizeof(info) };
	struct dmasplit_ctx *c = tu_ctx_with(sim);
	struct dmasplit_dev *dev;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_log_clear();
		ck_assert_msg(dmasplit_dev_open(c, bad[i].spec, &dev) == -EINVAL,
			      "'%s' accepted", bad[i].spec);
		ck_assert_msg(tu_log_has(bad[i].log),
			      "'%s': expected a line with '%s', log:\n%s",
			      bad[i].spec, bad[i].log, tu_log_text());
	}
	/* Not octal: 040 is forty. */
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:a,mask=040", &dev), 0);
	ck_assert_int_eq(dmasplit_dev_get_info(dev, &info), 0);
	ck_assert_msg(info.dma_mask_bits == 40, "mask=040: expected 40 bits, got %u",
		      info.dma_mask_bits);
	dmasplit_dev_close(dev);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:a,mask=13", &dev), 0);
	dmasplit_dev_close(dev);
	ck_assert_int_eq(dmasplit_dev_open(c, "sim:a,iommu=off,pool=0x40000", &dev), 0);
	dmasplit_dev_close(dev);
	tu_ctx_free(c);
}
END_TEST

START_TEST(pci_address_forms_are_canonicalised)
{
	static const char *const forms[] = {
		"0000:01:00.0", "01:00.0", "pci:0000:01:00.0", "pci:01:00.0",
		"0:1:0.0", "0000:01:00.0,mask=32",
	};
	struct dmasplit_desc d;
	unsigned int i;

	fake_device();
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		ck_assert_msg(describe(forms[i], &d) == 0, "'%s': log:\n%s",
			      forms[i], tu_log_text());
		ck_assert_int_eq(d.bus, DMASPLIT_BUS_PCI);
		ck_assert_str_eq(d.name, "0000:01:00.0");
	}
	/* A domain past four digits (VMD's) keeps them all; eight at most,
	 * as the kernel's 32-bit domain. */
	fakesys_pci("devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:1d.0/10000:e1:00.0",
		    &(const struct fakesys_pci){ .vendor = "0x144d\n",
						 .device = "0xa808\n",
						 .class = "0x010802\n" });
	ck_assert_msg(describe("pci:00010000:E1:00.0", &d) == 0, "log:\n%s",
		      tu_log_text());
	ck_assert_str_eq(d.name, "10000:e1:00.0");
	ck_assert_int_eq(describe("100000000:e1:00.0", &d), -EINVAL);
}
END_TEST

START_TEST(bad_pci_specs_are_refused_with_reason)
{
	static const struct {
		const char *spec;
		const char *log;
	} bad[] = {
		{ "01:00", "expected sim:NAME or a PCI address" },
		{ "0000:100:00.0", "expected sim:NAME or a PCI address" },
		{ "0000:01:20.0", "expected sim:NAME or a PCI address" },
		{ "0000:01:00.8", "expected sim:NAME or a PCI address" },
		{ "0000:01:00.0x", "expected sim:NAME or a PCI address" },
		{ "usb:1-2", "expected sim:NAME or a PCI address" },
		{ "0000:01:00.0,mask=0", "mask=0: expected 1 to 64 bits" },
		{ "0000:01:00.0,mask=65", "mask=65: expected 1 to 64 bits" },
		{ "0000:01:00.0,mask=-1", "mask=-1: expected 1 to 64 bits" },
		{ "0000:01:00.0,mask=32k", "mask=32k: expected 1 to 64 bits" },
		{ "0000:01:00.0,vfio=legacy", "vfio=legacy: expected iommufd or type1" },
		{ "0000:01:00.0,unlink=deferred", "unlink=deferred: expected strict or lazy" },
		{ "0000:01:00.0,unlink=lazy,unlink=strict", "repeated option 'unlink'" },
		{ "0000:01:00.0,unlink", "valueless option 'unlink'" },
		{ "0000:01:00.0,speed=fast", "unknown option 'speed'" },
		{ "0000:01:00.0,mask=32,mask=40", "repeated option 'mask'" },
		{ "0000:01:00.0,mask", "valueless option 'mask'" },
		{ "0000:01:00.0,", "empty option (a stray ',')" },
		{ "0000:01:00.0,,mask=32", "empty option (a stray ',')" },
		{ "0000:01:00.0,mask=18446744073709551617", "expected 1 to 64 bits" },
	};
	struct dmasplit_desc d;
	unsigned int i;

	fake_device();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_log_clear();
		ck_assert_msg(describe(bad[i].spec, &d) == -EINVAL, "'%s' accepted",
			      bad[i].spec);
		ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has(bad[i].log),
			      "'%s': expected one line with '%s', log:\n%s",
			      bad[i].spec, bad[i].log, tu_log_text());
	}
}
END_TEST

START_TEST(pci_description_comes_from_sysfs)
{
	struct dmasplit_desc d;

	fake_device();
	ck_assert_msg(describe("0000:01:00.0,vfio=type1", &d) == 0, "log:\n%s",
		      tu_log_text());
	ck_assert_uint_eq(d.vendor, 0x1234);
	ck_assert_uint_eq(d.device, 0x11e8);
	ck_assert_uint_eq(d.pci_class, 0xff00);
	ck_assert_str_eq(d.driver, "vfio-pci");
	ck_assert_int_eq(d.iommu_group, 7);
	ck_assert_str_eq(d.iommu_group_type, "DMA-FQ");
	ck_assert_str_eq(d.iommu_group_name, "");
	ck_assert_str_eq(d.vfio_dev, "vfio0");
	ck_assert_uint_eq(d.dma_mask_bits, 28);
	ck_assert_uint_eq(d.spec_mask_bits, 0);
	ck_assert_int_eq(d.spec_vfio, DMASPLIT_VFIO_TYPE1);
	ck_assert_int_eq(d.numa_node, -1);
	ck_assert_int_eq(d.has_p2pmem, 1);
	ck_assert_uint_eq(d.p2pmem_size, 4194304);
	ck_assert_uint_eq(d.p2pmem_available, 1048576);
	ck_assert_int_eq(d.p2pmem_published, 1);
	ck_assert_uint_eq(d.num_resources, 3);
	ck_assert_uint_eq(d.resource[0].start, 0xfea00000);
	ck_assert_uint_eq(d.resource[0].end, 0xfeafffff);
	ck_assert_uint_eq(d.resource[2].flags, 0x14220c);

	/* The spec's mask is the device's real reach: it wins over sysfs. */
	ck_assert_int_eq(describe("0000:01:00.0,mask=40,vfio=iommufd", &d), 0);
	ck_assert_uint_eq(d.dma_mask_bits, 40);
	ck_assert_uint_eq(d.spec_mask_bits, 40);
	ck_assert_int_eq(d.spec_vfio, DMASPLIT_VFIO_IOMMUFD);
}
END_TEST

START_TEST(unlink_mode_comes_from_the_spec)
{
	static const struct {
		const char *spec;
		enum dmasplit_unlink_mode mode;
	} cases[] = {
		{ "0000:01:00.0", DMASPLIT_UNLINK_AUTO },
		{ "0000:01:00.0,unlink=strict", DMASPLIT_UNLINK_STRICT },
		{ "0000:01:00.0,mask=40,unlink=lazy,vfio=type1",
		  DMASPLIT_UNLINK_LAZY },
	};
	struct dmasplit_desc d;
	unsigned int i;

	fake_device();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(describe(cases[i].spec, &d) == 0, "%s: log:\n%s",
			      cases[i].spec, tu_log_text());
		ck_assert_msg(d.spec_unlink == cases[i].mode,
			      "%s: expected unlink mode %d, got %d",
			      cases[i].spec, cases[i].mode, d.spec_unlink);
	}
}
END_TEST

START_TEST(unbound_device_without_group_has_empty_fields)
{
	static const struct fakesys_pci dev = {
		.vendor = "0x8086\n",
		.device = "0x10d3\n",
		.class = "0x020000\n",
	};
	struct dmasplit_desc d;

	fakesys_pci(DEVDIR, &dev);
	ck_assert_int_eq(describe("01:00.0", &d), 0);
	ck_assert_str_eq(d.driver, "");
	ck_assert_int_eq(d.iommu_group, -1);
	ck_assert_str_eq(d.iommu_group_type, "");
	ck_assert_str_eq(d.iommu_group_name, "");
	ck_assert_str_eq(d.vfio_dev, "");
	ck_assert_uint_eq(d.dma_mask_bits, 0);
	ck_assert_int_eq(d.has_p2pmem, 0);
	ck_assert_uint_eq(d.num_resources, 0);
}
END_TEST

/*
 * VFIO in no-IOMMU mode (drivers/vfio/group.c): a group of its own, named
 * "vfio-noiommu", without a default domain, and a device cdev named
 * noiommu-vfioN.
 */
START_TEST(noiommu_group_name_comes_from_sysfs)
{
	static const struct fakesys_pci dev = {
		.vendor = "0x8086\n",
		.device = "0x10d3\n",
		.class = "0x020000\n",
		.driver = "vfio-pci",
		.group = "3",
		.group_type = "unknown\n",
		.group_name = "vfio-noiommu\n",
	};
	struct dmasplit_desc d;

	fakesys_pci(DEVDIR, &dev);
	fakesys_put(DEVDIR "/vfio-dev/noiommu-vfio0/dev", "511:0\n");
	ck_assert_msg(describe("0000:01:00.0", &d) == 0, "log:\n%s", tu_log_text());
	ck_assert_str_eq(d.driver, "vfio-pci");
	ck_assert_int_eq(d.iommu_group, 3);
	ck_assert_str_eq(d.iommu_group_type, "unknown");
	ck_assert_str_eq(d.iommu_group_name, "vfio-noiommu");
}
END_TEST

/* One case per kind of group the kernel shows, and the ones it cannot. */
START_TEST(iommu_class_follows_the_group_type_and_name)
{
	static const struct {
		const char *group, *type, *name;
		enum dmasplit_iommu_class class;
	} cases[] = {
		{ "4", "DMA\n", NULL, DMASPLIT_IOMMU_TRANSLATED },
		{ "4", "DMA-FQ\n", NULL, DMASPLIT_IOMMU_TRANSLATED },
		{ "4", "identity\n", NULL, DMASPLIT_IOMMU_IDENTITY },
		{ "4", "blocked\n", NULL, DMASPLIT_IOMMU_BLOCKED },
		{ NULL, NULL, NULL, DMASPLIT_IOMMU_NONE },
		{ "3", "unknown\n", "vfio-noiommu\n",
		  DMASPLIT_IOMMU_VFIO_NOIOMMU },
		{ "3", "identity\n", "vfio-noiommu\n",
		  DMASPLIT_IOMMU_VFIO_NOIOMMU },
		{ "3", "unknown\n", NULL, DMASPLIT_IOMMU_NO_DOMAIN },
		/* A name does not make a translating group untranslated. */
		{ "3", "DMA\n", "vfio-noiommu\n", DMASPLIT_IOMMU_TRANSLATED },
		{ "3", "blocked\n", "vfio-noiommu\n", DMASPLIT_IOMMU_BLOCKED },
		/* What the library cannot tell may translate. */
		{ "4", NULL, NULL, DMASPLIT_IOMMU_UNKNOWN },
		{ "4", NULL, "vfio-noiommu\n", DMASPLIT_IOMMU_UNKNOWN },
		{ "4", "unmanaged\n", NULL, DMASPLIT_IOMMU_UNKNOWN },
		{ "4", "DMA-XL\n", NULL, DMASPLIT_IOMMU_UNKNOWN },
		{ "4", "dma\n", NULL, DMASPLIT_IOMMU_UNKNOWN },
	};
	struct dmasplit_desc d;
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fakesys_pci dev = {
			.vendor = "0x8086\n",
			.device = "0x10d3\n",
			.class = "0x020000\n",
			.driver = "vfio-pci",
			.group = cases[i].group,
			.group_type = cases[i].type,
			.group_name = cases[i].name,
		};

		tu_rm_rf(root);
		fakesys_pci(DEVDIR, &dev);
		ck_assert_msg(describe("0000:01:00.0", &d) == 0, "log:\n%s",
			      tu_log_text());
		ck_assert_msg(d.iommu_class == cases[i].class,
			      "group %s, type '%s', name '%s': class %d, expected %d",
			      cases[i].group ? cases[i].group : "none",
			      cases[i].type ? cases[i].type : "(none)",
			      cases[i].name ? cases[i].name : "(none)",
			      (int)d.iommu_class, (int)cases[i].class);
	}
	/* The class is PCI's: a simulated device's stays 0. */
	ck_assert_int_eq(describe("sim:x,iommu=off", &d), 0);
	ck_assert_int_eq(d.iommu_class, DMASPLIT_IOMMU_UNKNOWN);
}
END_TEST

/* The dangling link: the group's directory is gone, its number stays. */
START_TEST(iommu_class_of_a_dangling_group_is_unknown)
{
	struct dmasplit_desc d;
	char path[PATH_MAX];

	fake_device();
	ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	ck_assert_int_eq(d.iommu_class, DMASPLIT_IOMMU_TRANSLATED);
	fakesys_path(path, "kernel/iommu_groups/7");
	tu_rm_rf(path);
	ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	ck_assert_int_eq(d.iommu_group, 7);
	ck_assert_int_eq(d.iommu_class, DMASPLIT_IOMMU_UNKNOWN);
}
END_TEST

/* A caller built before the field: nothing written past its size. */
START_TEST(describe_leaves_the_class_to_callers_with_room_for_it)
{
	struct dmasplit_desc d;
	size_t old_size = offsetof(struct dmasplit_desc, iommu_class);

	fake_device();
	memset(&d, 0x5a, sizeof(d));
	d.size = old_size;
	ck_assert_int_eq(dmasplit_describe(ctx, "0000:01:00.0", &d), 0);
	ck_assert_str_eq(d.iommu_group_type, "DMA-FQ");
	ck_assert_uint_eq(((unsigned char *)&d)[old_size], 0x5a);
}
END_TEST

START_TEST(missing_or_malformed_sysfs_is_an_error)
{
	struct dmasplit_desc d;

	ck_assert_int_eq(describe("0000:02:00.0", &d), -ENODEV);
	ck_assert(tu_log_has("no PCI device 0000:02:00.0 under"));
	fake_device();
	fakesys_put(DEVDIR "/vendor", "banana\n");
	tu_log_clear();
	ck_assert_int_eq(describe("0000:01:00.0", &d), -EIO);
	ck_assert_msg(tu_log_has("unexpected content 'banana'") &&
		      tu_log_has("/vendor"), "log:\n%s", tu_log_text());
	fakesys_put(DEVDIR "/vendor", "0x1234\n");
	fakesys_put(DEVDIR "/numa_node", "x\n");
	ck_assert_int_eq(describe("0000:01:00.0", &d), -EIO);
	fakesys_put(DEVDIR "/numa_node", "0\n");
	fakesys_put(DEVDIR "/resource", "garbage\n");
	ck_assert_int_eq(describe("0000:01:00.0", &d), -EIO);
}
END_TEST

/* A resource line is the kernel's three fields of 64 bits, its end not
 * below its start; p2pmem/published a bool.  Anything else would hand a
 * backend addresses that mean nothing. */
START_TEST(resource_lines_are_read_exactly)
{
	static const char *const bad[] = {
		"0x100000000fe000000 0x00000000fe0fffff 0x0000000000040200\n",
		"-0x1000 0x0000000000001fff 0x0000000000040200\n",
		"0x00000000fe100000 0x00000000fe0fffff 0x0000000000040200\n",
		"0x00000000fe000000 0x00000000fe0fffff 0x0000000000040200 0x1\n",
		"0x00000000fe000000 0x00000000fe0fffff\n",
	};
	struct dmasplit_desc d;
	unsigned int i;

	fake_device();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fakesys_put(DEVDIR "/resource", bad[i]);
		tu_log_clear();
		ck_assert_msg(describe("0000:01:00.0", &d) == -EIO,
			      "accepted resource line %s", bad[i]);
		ck_assert_msg(tu_log_count("\n") == 1 &&
			      tu_log_has("/resource"), "log:\n%s", tu_log_text());
	}
	/* A BAR the device does not have is all zeros. */
	fakesys_put(DEVDIR "/resource",
		    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		    "0x00000000fe000000 0x00000000fe0fffff 0x0000000000040200\n");
	ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	ck_assert_uint_eq(d.num_resources, 2);
	ck_assert_uint_eq(d.resource[1].end, 0xfe0fffff);
	fakesys_put(DEVDIR "/p2pmem/published", "2\n");
	ck_assert_int_eq(describe("0000:01:00.0", &d), -EIO);
}
END_TEST

/* A FIFO where an attribute should be: refused at once, not waited on. */
START_TEST(sysfs_fifo_is_refused_without_blocking)
{
	struct dmasplit_desc d;
	char path[PATH_MAX];

	fake_device();
	fakesys_path(path, DEVDIR "/vendor");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	ck_assert_int_eq(describe("0000:01:00.0", &d), -EINVAL);
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("/vendor: not a regular file"),
		      "expected one line naming the FIFO, log:\n%s", tu_log_text());
}
END_TEST

START_TEST(sysfs_dma_mask_bits_is_not_truncated)
{
	struct dmasplit_desc d;

	fake_device();
	fakesys_put(DEVDIR "/dma_mask_bits", "4294967308\n");
	ck_assert_int_eq(describe("0000:01:00.0", &d), -EIO);
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("'4294967308' in") && tu_log_has("more than 64 bits"),
		      "log:\n%s", tu_log_text());
	fakesys_put(DEVDIR "/dma_mask_bits", "64\n");
	tu_log_clear();
	ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	ck_assert_uint_eq(d.dma_mask_bits, 64);
}
END_TEST

/* A PCI ID wider than its field names no device: not cut to another's.
 * Nor is a blank and a sign, which strtoull passes over, taken for a
 * number. */
START_TEST(sysfs_numbers_are_not_truncated_or_wrapped)
{
	static const struct {
		const char *attr, *wide, *fits;
	} ids[] = {
		{ "vendor", "0x12345\n", "0xffff\n" },
		{ "device", "0x10011\n", "0xffff\n" },
		{ "class", "0x1010802\n", "0xffffff\n" },
	};
	struct dmasplit_desc d;
	char path[64];
	unsigned int i;

	fake_device();
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		snprintf(path, sizeof(path), DEVDIR "/%s", ids[i].attr);
		fakesys_put(path, ids[i].wide);
		tu_log_clear();
		ck_assert_int_eq(describe("0000:01:00.0", &d), -EIO);
		ck_assert_msg(tu_log_count("\n") == 1 &&
			      tu_log_has("unexpected content") &&
			      tu_log_has(ids[i].attr),
			      "%s: log:\n%s", ids[i].attr, tu_log_text());
		fakesys_put(path, ids[i].fits);
		ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	}
	ck_assert_uint_eq(d.pci_class, 0xffffff);
	/* " -1" was 2^64 - 1 bytes of peer memory. */
	fakesys_put(DEVDIR "/p2pmem/size", " -1\n");
	tu_log_clear();
	ck_assert_int_eq(describe("0000:01:00.0", &d), -EIO);
	ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has("p2pmem/size"),
		      "log:\n%s", tu_log_text());
	fakesys_put(DEVDIR "/p2pmem/size", "1048576\n");
	ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	ck_assert_uint_eq(d.p2pmem_size, 1048576);
}
END_TEST

/* An IOMMU group type too long for the description's field: the
 * description fails with one line naming the attribute. */
static void expect_type_too_long(const char *type)
{
	struct dmasplit_desc d;

	fakesys_put("kernel/iommu_groups/7/type", type);
	tu_log_clear();
	ck_assert_int_eq(describe("0000:01:00.0", &d), -ENAMETOOLONG);
	ck_assert_msg(tu_log_count("\n") == 1 &&
		      tu_log_has("iommu_group/type: content or path too long"),
		      "ENAMETOOLONG: expected one line, log:\n%s", tu_log_text());
}

/* Every failure to read the tree says what and why, loops and names too
 * long for a buffer included. */
START_TEST(sysfs_loops_and_overlong_content_are_logged)
{
	struct dmasplit_desc d;
	char long_type[200], path[PATH_MAX];

	fake_device();
	fakesys_path(path, DEVDIR "/numa_node");
	ck_assert_int_eq(unlink(path), 0);
	fakesys_link("numa_b", DEVDIR "/numa_a");
	fakesys_link("numa_a", DEVDIR "/numa_b");
	fakesys_link("numa_a", DEVDIR "/numa_node");
	ck_assert_int_eq(describe("0000:01:00.0", &d), -ELOOP);
	ck_assert_msg(tu_log_count("\n") == 1 && tu_log_has("/numa_node:"),
		      "ELOOP: expected one line, log:\n%s", tu_log_text());
	tu_rm_rf(root);
	fake_device();
	memset(long_type, 'x', sizeof(long_type) - 2);
	long_type[sizeof(long_type) - 2] = '\n';
	long_type[sizeof(long_type) - 1] = '\0';
	expect_type_too_long(long_type);
}
END_TEST

/* Content that fills the buffer to its last byte fits when that byte is
 * the trailing newline, which the terminating NUL replaces; one more
 * character does not. */
START_TEST(sysfs_content_fills_the_buffer_exactly)
{
	enum { FIELD = sizeof(((struct dmasplit_desc *)0)->iommu_group_type) };
	char text[FIELD + 2];
	struct dmasplit_desc d;

	fake_device();
	/* FIELD - 1 characters and a newline: FIELD bytes, read whole. */
	memset(text, 'y', FIELD - 1);
	strcpy(text + FIELD - 1, "\n");
	fakesys_put("kernel/iommu_groups/7/type", text);
	ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	ck_assert_uint_eq(strlen(d.iommu_group_type), FIELD - 1);
	ck_assert_int_eq(memcmp(d.iommu_group_type, text, FIELD - 1), 0);
	/* FIELD characters and a newline: the NUL has no room. */
	memset(text, 'y', FIELD);
	strcpy(text + FIELD, "\n");
	expect_type_too_long(text);
	/* FIELD characters and no newline: no room either. */
	text[FIELD] = '\0';
	expect_type_too_long(text);
}
END_TEST

/* A group link whose type cannot be read stays a group, with an empty
 * type, so that no backend takes the device for untranslated. */
START_TEST(iommu_group_without_type_is_described_as_such)
{
	struct dmasplit_desc d;
	char path[PATH_MAX];

	fake_device();
	fakesys_path(path, "kernel/iommu_groups/7/type");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	ck_assert_int_eq(d.iommu_group, 7);
	ck_assert_str_eq(d.iommu_group_type, "");
	tu_rm_rf(root);
	fake_device();
	fakesys_path(path, "kernel/iommu_groups/7");
	tu_rm_rf(path);
	ck_assert_int_eq(describe("0000:01:00.0", &d), 0);
	ck_assert_int_eq(d.iommu_group, 7);
	ck_assert_str_eq(d.iommu_group_type, "");
}
END_TEST


START_TEST(as_names_the_space_for_every_bus)
{
	struct dmasplit_desc d;

	ck_assert_int_eq(describe("sim:a,mask=32,as=pool-0.x,iommu=on", &d), 0);
	ck_assert_str_eq(d.address_space, "pool-0.x");
	/* The core's option: the backend sees its own options only. */
	ck_assert_str_eq(d.options, "mask=32,iommu=on");
	ck_assert_int_eq(describe("sim:a,as=p", &d), 0);
	ck_assert_str_eq(d.options, "");
	ck_assert_int_eq(describe("sim:a,mask=32", &d), 0);
	ck_assert_str_eq(d.address_space, "");
	fake_device();
	ck_assert_int_eq(describe("0000:01:00.0,as=pool0,mask=40", &d), 0);
	ck_assert_str_eq(d.address_space, "pool0");
	ck_assert_uint_eq(d.spec_mask_bits, 40);
	ck_assert_str_eq(d.options, "mask=40");
	ck_assert_int_eq(describe("0000:01:00.0,as=pool0", &d), 0);
	ck_assert_str_eq(d.options, "");
}
END_TEST

START_TEST(bad_as_is_refused_naming_the_key)
{
	static const char *const bad[] = {
		"sim:a,as=", "sim:a,as", "sim:a,as=x,as=x", "sim:a,as=a:b",
		"01:00.0,as=", "01:00.0,as", "01:00.0,as=p,as=q",
		"01:00.0,as=p q",
		"sim:a,as=0123456789012345678901234567890123456789012345678901234567890123",
	};
	struct dmasplit_desc d;
	unsigned int i;

	fake_device();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_log_clear();
		ck_assert_msg(describe(bad[i], &d) == -EINVAL, "'%s' accepted", bad[i]);
		ck_assert_msg(tu_log_count("device spec") == 1 &&
			      (tu_log_has("as=") || tu_log_has("'as'")),
			      "'%s': expected one line naming as; log:\n%s",
			      bad[i], tu_log_text());
	}
}
END_TEST

static int open_with_backend(const char *spec, const char *backend)
{
	struct dmasplit_dev *dev = NULL;
	int r;

	tu_log_clear();
	r = dmasplit_dev_open_backend(ctx, spec, backend, &dev);
	ck_assert_ptr_null(dev);
	return r;
}

START_TEST(pci_as_reaches_vfio_and_is_refused_without_an_iommu)
{
	int r;

	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx,
			 getenv("DMASPLIT_TEST_BACKENDS")), 0);
	fake_device();
	/* Behind an IOMMU, vfio shares: the core lets as= through to the
	 * backend, which fails here only for want of a real group. */
	r = open_with_backend("0000:01:00.0,as=pool0", "vfio");
	ck_assert_msg(r < 0, "vfio on a fake device: expected an error, got %d",
		      r);
	ck_assert_msg(tu_log_count("cannot share") == 0,
		      "vfio with as=: expected no refusal of as=; log:\n%s",
		      tu_log_text());
	/* No IOMMU: nothing to share, whatever the backend. */
	fakesys_put("kernel/iommu_groups/7/type", "identity\n");
	r = open_with_backend("0000:01:00.0,as=pool0", "direct");
	ck_assert_msg(r == -EINVAL, "identity domain with as=: expected -EINVAL, got %d; log:\n%s",
		      r, tu_log_text());
	ck_assert_msg(tu_log_count("as=pool0: the device is not behind an IOMMU") == 1,
		      "expected one line naming as=; log:\n%s", tu_log_text());
}
END_TEST

/* as= is refused by the IOMMU class, the same one the backends read. */
START_TEST(pci_as_is_refused_by_the_iommu_class)
{
	static const struct {
		const char *group, *type, *name;
		int r;
	} cases[] = {
		{ NULL, NULL, NULL, -EINVAL },
		{ "3", "unknown\n", "vfio-noiommu\n", -EINVAL },
		{ "3", "identity\n", "vfio-noiommu\n", -EINVAL },
		/* The core lets these through; direct cannot share. */
		{ "3", "unknown\n", NULL, -EOPNOTSUPP },
		{ "3", "blocked\n", NULL, -EOPNOTSUPP },
	};
	unsigned int i;
	int r;

	ck_assert_int_eq(dmasplit_ctx_set_backend_path(ctx,
			 getenv("DMASPLIT_TEST_BACKENDS")), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fakesys_pci dev = {
			.vendor = "0x8086\n",
			.device = "0x10d3\n",
			.class = "0x020000\n",
			.driver = "uio_pci_generic",
			.group = cases[i].group,
			.group_type = cases[i].type,
			.group_name = cases[i].name,
		};

		tu_rm_rf(root);
		fakesys_pci(DEVDIR, &dev);
		r = open_with_backend("0000:01:00.0,as=pool0", "direct");
		ck_assert_msg(r == cases[i].r,
			      "group %s, type %s: expected %d, got %d; log:\n%s",
			      cases[i].group ? cases[i].group : "none",
			      cases[i].type ? cases[i].type : "(none)",
			      cases[i].r, r, tu_log_text());
	}
}
END_TEST

START_TEST(sysfs_root_from_environment_and_setter)
{
	struct dmasplit_ctx *other;
	struct dmasplit_desc d = { .size = sizeof(d) };

	fake_device();
	setenv("DMASPLIT_SYSFS_ROOT", root, 1);
	ck_assert_int_eq(dmasplit_ctx_new(&other), 0);
	unsetenv("DMASPLIT_SYSFS_ROOT");
	tu_log_capture(other);
	ck_assert_str_eq(dmasplit_ctx_get_sysfs_root(other), root);
	ck_assert_int_eq(dmasplit_describe(other, "0000:01:00.0", &d), 0);
	ck_assert_str_eq(d.driver, "vfio-pci");
	/* NULL restores the real /sys. */
	ck_assert_int_eq(dmasplit_ctx_set_sysfs_root(other, NULL), 0);
	ck_assert_str_eq(dmasplit_ctx_get_sysfs_root(other), "/sys");
	dmasplit_ctx_unref(other);
}
END_TEST

START_TEST(describe_fills_only_what_the_caller_has_room_for)
{
	struct {
		struct dmasplit_desc d;
		char guard[16];
	} small;
	size_t old_size = offsetof(struct dmasplit_desc, spec_mask_bits);

	memset(&small, 0x5a, sizeof(small));
	small.d.size = old_size;
	ck_assert_int_eq(dmasplit_describe(ctx, "sim:n", &small.d), 0);
	ck_assert_uint_eq(small.d.size, old_size);
	ck_assert_str_eq(small.d.name, "n");
	/* Past the caller's size nothing was written. */
	ck_assert_uint_eq((unsigned char)((char *)&small.d)[old_size], 0x5a);
	small.d.size = 2;
	ck_assert_int_eq(dmasplit_describe(ctx, "sim:n", &small.d), -EINVAL);
	ck_assert_int_eq(dmasplit_describe(NULL, "sim:n", &small.d), -EINVAL);
	ck_assert_int_eq(dmasplit_describe(ctx, NULL, &small.d), -EINVAL);
	ck_assert_int_eq(dmasplit_describe(ctx, "sim:n", NULL), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spec");
	TCase *tc = tcase_create("spec");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sim_spec_keeps_name_and_options);
	tcase_add_test(tc, bad_sim_specs_are_refused_with_reason);
	tcase_add_test(tc, empty_options_are_refused_alike_for_every_bus);
	tcase_add_test(tc, pci_mask_is_decimal);
	tcase_add_test(tc, control_characters_reach_the_log_escaped);
	tcase_add_test(tc, a_line_quoting_a_huge_spec_is_cut);
	tcase_add_test(tc, c1_controls_and_bytes_not_utf8_reach_the_log_escaped);
	tu_add_test_if(tc, sim_numbers_follow_the_spec_rule,
		       tu_backend_built("swiotlb-sim"),
		       "the swiotlb-sim backend is not built");
	tcase_add_test(tc, pci_address_forms_are_canonicalised);
	tcase_add_test(tc, bad_pci_specs_are_refused_with_reason);
	tcase_add_test(tc, pci_description_comes_from_sysfs);
	tcase_add_test(tc, unlink_mode_comes_from_the_spec);
	tcase_add_test(tc, unbound_device_without_group_has_empty_fields);
	tcase_add_test(tc, noiommu_group_name_comes_from_sysfs);
	tcase_add_test(tc, iommu_class_follows_the_group_type_and_name);
	tcase_add_test(tc, iommu_class_of_a_dangling_group_is_unknown);
	tcase_add_test(tc, describe_leaves_the_class_to_callers_with_room_for_it);
	tcase_add_test(tc, missing_or_malformed_sysfs_is_an_error);
	tcase_add_test(tc, sysfs_fifo_is_refused_without_blocking);
	tcase_add_test(tc, sysfs_dma_mask_bits_is_not_truncated);
	tcase_add_test(tc, sysfs_numbers_are_not_truncated_or_wrapped);
	tcase_add_test(tc, sysfs_loops_and_overlong_content_are_logged);
	tcase_add_test(tc, sysfs_content_fills_the_buffer_exactly);
	tcase_add_test(tc, iommu_group_without_type_is_described_as_such);
	tcase_add_test(tc, sysfs_root_from_environment_and_setter);
	tcase_add_test(tc, as_names_the_space_for_every_bus);
	tcase_add_test(tc, bad_as_is_refused_naming_the_key);
	tcase_add_test(tc, pci_as_reaches_vfio_and_is_refused_without_an_iommu);
	tcase_add_test(tc, pci_as_is_refused_by_the_iommu_class);
	tcase_add_test(tc, describe_fills_only_what_the_caller_has_room_for);
	tcase_add_test(tc, resource_lines_are_read_exactly);
	suite_add_tcase(s, tc);
	return tu_main(s);
}
