// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * swiotlb-sim: which devices it claims, and what the options of a "sim:"
 * spec make of the device it opens.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "simutil.h"

/* ------------------------------------------------------------------ */
/* Probe, options, information                                          */

START_TEST(probe_claims_every_sim_spec_and_no_pci_device)
{
	static const char *const specs[] = {
		"sim:a", "sim:b,iommu=off,mask=32", "sim:c,bogus=1",
	};
	struct dmasplit_backend *be = NULL;
	struct dmasplit_desc desc;
	unsigned int i;
	int score, r;

	ck_assert_int_eq(dmasplit_backend_find(ctx, "swiotlb-sim", &be), 0);
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		memset(&desc, 0, sizeof(desc));
		desc.size = sizeof(desc);
		ck_assert_int_eq(dmasplit_describe(ctx, specs[i], &desc), 0);
		score = -1;
		r = dmasplit_backend_probe(be, &desc, &score);
		ck_assert_msg(r == 0 && score == 100,
			      "probe of %s: expected 0 and score 100, got %d and %d",
			      specs[i], r, score);
	}
	/* Options are the open's business: probe never reads them; it
	 * turns away what is not simulated. */
	memset(&desc, 0, sizeof(desc));
	desc.size = sizeof(desc);
	desc.bus = DMASPLIT_BUS_PCI;
	snprintf(desc.name, sizeof(desc.name), "0000:01:00.0");
	desc.iommu_group = -1;
	desc.numa_node = -1;
	r = dmasplit_backend_probe(be, &desc, &score);
	ck_assert_msg(r == -ENODEV, "probe of a PCI device: expected -ENODEV, got %d", r);
}
END_TEST

START_TEST(info_follows_the_options)
{
	static const struct {
		const char *spec;
		uint32_t flags;
		uint64_t granule;
		unsigned int mask;
		uint64_t start, last;
	} cases[] = {
		/* The software IOMMU translates 48 bits, as VT-d's 4-level
		 * tables (dmasplit_dev_open(3)): a translated device's range
		 * ends at 2^min(mask, 48) - 1. */
		{ "sim:a",
		  DMASPLIT_DEV_WINDOWS | DMASPLIT_DEV_TRANSLATED |
		  DMASPLIT_DEV_COHERENT | DMASPLIT_DEV_DMA_RW,
		  4096, 64, 4096, (1ull << 48) - 1 },
		{ "sim:b,iommu=off,mask=32,coherent=0",
		  DMASPLIT_DEV_BOUNCE | DMASPLIT_DEV_DMA_RW,
		  4096, 32, 0x1000, 0xffffffffull },
		{ "sim:c,untrusted=1,granule=16384,mask=40",
		  DMASPLIT_DEV_WINDOWS | DMASPLIT_DEV_TRANSLATED |
		  DMASPLIT_DEV_COHERENT | DMASPLIT_DEV_BOUNCE |
		  DMASPLIT_DEV_UNTRUSTED | DMASPLIT_DEV_DMA_RW,
		  16384, 40, 16384, (1ull << 40) - 1 },
		{ "sim:d,iommu=off,bounce=force,granule=65536,pool=1M",
		  DMASPLIT_DEV_COHERENT | DMASPLIT_DEV_BOUNCE |
		  DMASPLIT_DEV_DMA_RW,
		  65536, 64, 0x1000, UINT64_MAX },
		{ "sim:e,coherent=0,mask=33",
		  DMASPLIT_DEV_WINDOWS | DMASPLIT_DEV_TRANSLATED |
		  DMASPLIT_DEV_DMA_RW,
		  4096, 33, 4096, (1ull << 33) - 1 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmasplit_dev *d = open_dev(cases[i].spec);
		struct dmasplit_dev_info info = info_of(d);
		int fd = -1;

		ck_assert_msg(info.flags == cases[i].flags,
			      "%s: flags 0x%x, expected 0x%x", cases[i].spec,
			      info.flags, cases[i].flags);
		ck_assert_msg(info.granule == cases[i].granule,
			      "%s: granule %" PRIu64 ", expected %" PRIu64,
			      cases[i].spec, info.granule, cases[i].granule);
		ck_assert_msg(info.dma_mask_bits == cases[i].mask,
			      "%s: mask %u bits, expected %u", cases[i].spec,
			      info.dma_mask_bits, cases[i].mask);
		ck_assert_msg(info.num_ranges == 1 &&
			      info.ranges[0].start == cases[i].start &&
			      info.ranges[0].last == cases[i].last,
			      "%s: %u ranges, first 0x%" PRIx64 "-0x%" PRIx64 ", expected one, 0x%" PRIx64 "-0x%" PRIx64,
			      cases[i].spec, info.num_ranges, info.ranges[0].start,
			      info.ranges[0].last, cases[i].start, cases[i].last);
		ck_assert_str_eq(info.backend, "swiotlb-sim");
		ck_assert_msg(dmasplit_dev_get_fd(d, &fd) == -EOPNOTSUPP && fd == -1,
			      "%s: a simulated device has no file descriptor",
			      cases[i].spec);
		dmasplit_dev_close(d);
	}
}
END_TEST

START_TEST(bad_options_are_refused_naming_the_key)
{
	static const struct {
		const char *opts;
		const char *key;
	} cases[] = {
		{ "bogus=1", "bogus" },
		{ "iommu=maybe", "iommu" },
		{ "iommu", "iommu" },
		{ "mask=11", "mask" },
		{ "mask=65", "mask" },
		{ "mask=abc", "mask" },
		{ "mask=", "mask" },
		{ "mask=32x", "mask" },
		{ "granule=8192", "granule" },
		{ "granule=4095", "granule" },
		{ "granule=0", "granule" },
		{ "granule=131072", "granule" },
		{ "coherent=2", "coherent" },
		{ "coherent=yes", "coherent" },
		{ "untrusted=2", "untrusted" },
		{ "untrusted=", "untrusted" },
		{ "bounce=never", "bounce" },
		{ "pool=128K", "pool" },
		{ "pool=5G", "pool" },
		{ "pool=1X", "pool" },
		{ "pool=", "pool" },
		{ "pool=-1M", "pool" },
		{ "iommu=off,pool=0", "pool" },
		{ "inval_ns=1000001", "inval_ns" },
		{ "inval_ns=-1", "inval_ns" },
		{ "inval_ns=1us", "inval_ns" },
		{ "inval_ns=", "inval_ns" },
		{ "mask=32,bogus=1", "bogus" },
		/* The pool goes above the lowest 16 MiB, with 64 KiB to
		 * align it. */
		{ "iommu=off,mask=26", "mask" },
		{ "iommu=off,mask=19,pool=256K", "mask" },
		{ "iommu=off,mask=24,pool=256K", "mask" },
	};
	char spec[128];
	unsigned int i;

	/* Only error lines: the core's debug lines name the device. */
	dmasplit_ctx_set_log_priority(ctx, LOG_ERR);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmasplit_dev *d = NULL;
		int r;

		snprintf(spec, sizeof(spec), "sim:dev,%s", cases[i].opts);
		tu_log_clear();
		r = dmasplit_dev_open(ctx, spec, &d);
		ck_assert_msg(r == -EINVAL && !d, "open %s: expected -EINVAL, got %d",
			      spec, r);
		ck_assert_msg(lines_with(cases[i].key) == 1,
			      "open %s: expected one log line naming '%s', log:\n%s",
			      spec, cases[i].key, tu_log_text());
	}
}
END_TEST

START_TEST(good_options_are_accepted)
{
	static const char *const specs[] = {
		"sim:g2,mask=64,iommu=on",
		"sim:g3,granule=65536,coherent=0,untrusted=1,bounce=auto,pool=256K",
		"sim:g4,iommu=off,bounce=force,pool=4096K",
		"sim:g5,coherent=1,untrusted=0,granule=16384,pool=262144",
		"sim:g6,iommu=off,pool=2M,mask=40",
		"sim:g7,inval_ns=0",
		"sim:g8,inval_ns=1000,granule=16384",
		"sim:g9,inval_ns=1000000,iommu=off",
	};
	unsigned int i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		dmasplit_dev_close(open_dev(specs[i]));
}
END_TEST

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A map and an unmap invalidate the IOTLB once each: with inval_ns=,
 * each waits at least that long (never less; more on a busy machine). */
START_TEST(inval_ns_makes_each_invalidation_wait)
{
	struct dmasplit_dev *d = open_dev("sim:slow,inval_ns=200000");
	static char buf[4096] __attribute__((aligned(4096)));
	uint64_t t0, t, dma;

	t0 = mono_ns();
	ck_assert_int_eq(dmasplit_map(d, buf, sizeof(buf),
				      DMASPLIT_TO_DEVICE, 0, &dma), 0);
	ck_assert_int_eq(dmasplit_unmap(d, dma, sizeof(buf),
					DMASPLIT_TO_DEVICE, 0), 0);
	t = mono_ns() - t0;
	ck_assert_msg(t >= 400000, "map + unmap took %" PRIu64 " ns, expected at least 400000",
		      t);
	dmasplit_dev_close(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("options");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, probe_claims_every_sim_spec_and_no_pci_device);
	tcase_add_test(tc, info_follows_the_options);
	tcase_add_test(tc, bad_options_are_refused_naming_the_key);
	tcase_add_test(tc, good_options_are_accepted);
	tcase_add_test(tc, inval_ns_makes_each_invalidation_wait);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
