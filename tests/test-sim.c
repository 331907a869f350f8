// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The swiotlb-sim backend against its contract (dmasplit_dev_open(3)): every
 * rule has a test named after the behaviour it proves, verified from the
 * device side with dmasplit_dev_dma_read/_write, and a seeded random run
 * compares long call sequences over several devices, four of them in one
 * shared address space, with a reference model
 * of the software IOMMU and the bounce pool.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define G 4096u
#define K64 65536u
#define SEG (256u * 1024u)	/* one bounce pool segment */

/* Check records a checkpoint for every assertion that holds; checks in
 * loops over bytes or steps assert only when they fail. */
#define FAIL_UNLESS(cond, ...)                  \
	do {                                    \
		if (!(cond))                    \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

static const char *const sim[] = { "swiotlb-sim", NULL };
static struct dmasplit_ctx *ctx;

static void setup(void)
{
	ctx = tu_ctx_with(sim);
}

static void teardown(void)
{
	tu_ctx_free(ctx);
	ctx = NULL;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static struct dmasplit_dev *open_dev(const char *spec)
{
	struct dmasplit_dev *d = NULL;
	int r;

	r = dmasplit_dev_open(ctx, spec, &d);
	ck_assert_msg(r == 0, "open %s: expected 0, got %d; log:\n%s", spec, r,
		      tu_log_text());
	ck_assert_msg(!strcmp(dmasplit_dev_backend_name(d), "swiotlb-sim"),
		      "open %s: expected backend swiotlb-sim, got %s", spec,
		      dmasplit_dev_backend_name(d));
	tu_log_clear();
	return d;
}

static struct dmasplit_dev_info info_of(struct dmasplit_dev *d)
{
	struct dmasplit_dev_info info = { .size = sizeof(info) };

	ck_assert_int_eq(dmasplit_dev_get_info(d, &info), 0);
	return info;
}

static struct dmasplit_dev_stats stats_of(struct dmasplit_dev *d)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	ck_assert_int_eq(dmasplit_dev_get_stats(d, &s), 0);
	return s;
}

/* Zeroed memory aligned to the largest granule, so that every granule
 * size lines up with it. */
static uint8_t *buf_new(size_t len)
{
	size_t rounded = (len + K64 - 1) & ~(size_t)(K64 - 1);
	uint8_t *p = aligned_alloc(K64, rounded);

	ck_assert_ptr_nonnull(p);
	memset(p, 0, rounded);
	return p;
}

static uint8_t pat(unsigned int seed, size_t i)
{
	return (uint8_t)(seed * 37u + i * 13u + (i >> 7) + 1u);
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pat(seed, i);
}

static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len && a[i] == b[i]; i++)
		;
	return i;
}

/* Host bytes equal the pattern: the byte that differs is named. */
static void expect_pattern(const uint8_t *p, size_t len, unsigned int seed,
			   const char *what)
{
	size_t i;

	for (i = 0; i < len; i++)
		FAIL_UNLESS(p[i] == pat(seed, i),
			    "%s: host byte %zu is 0x%02x, expected 0x%02x",
			    what, i, p[i], pat(seed, i));
}

static void expect_read(struct dmasplit_dev *d, uint64_t dma,
			const void *want, size_t len, const char *what)
{
	uint8_t *got = malloc(len);
	size_t i;
	int r;

	ck_assert_ptr_nonnull(got);
	memset(got, 0xa5, len);
	r = dmasplit_dev_dma_read(d, dma, got, len);
	ck_assert_msg(r == 0, "%s: device read of 0x%" PRIx64 "+0x%zx: expected 0, got %d; log:\n%s",
		      what, dma, len, r, tu_log_text());
	i = first_diff(got, want, len);
	ck_assert_msg(i == len, "%s: device read of 0x%" PRIx64 "+0x%zx: byte %zu is 0x%02x, expected 0x%02x",
		      what, dma, len, i, got[i], ((const uint8_t *)want)[i]);
	free(got);
}

static void expect_write(struct dmasplit_dev *d, uint64_t dma,
			 const void *data, size_t len, const char *what)
{
	int r = dmasplit_dev_dma_write(d, dma, data, len);

	ck_assert_msg(r == 0, "%s: device write of 0x%" PRIx64 "+0x%zx: expected 0, got %d; log:\n%s",
		      what, dma, len, r, tu_log_text());
}

static uint8_t read_byte(struct dmasplit_dev *d, uint64_t dma)
{
	uint8_t b = 0;
	int r = dmasplit_dev_dma_read(d, dma, &b, 1);

	ck_assert_msg(r == 0, "device read of 0x%" PRIx64 ": expected 0, got %d; log:\n%s",
		      dma, r, tu_log_text());
	return b;
}

static void write_byte(struct dmasplit_dev *d, uint64_t dma, uint8_t b)
{
	expect_write(d, dma, &b, 1, "one byte");
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/*
 * A fault report names an address of the access [lo, hi), or the start of
 * its 4 KiB page as fault recording hardware does: some hexadecimal
 * number in the line falls in [lo & ~0xfff, hi).
 */
static bool names_addr(const char *line, const char *end, uint64_t lo,
		       uint64_t hi)
{
	const char *p = line;

	lo &= ~(uint64_t)0xfff;
	while (p < end) {
		uint64_t v = 0;
		unsigned int digits = 0;

		if (p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
			p += 2;
		if (!is_hex(*p) || (p > line && (is_hex(p[-1]) || p[-1] == '_'))) {
			p++;
			continue;
		}
		for (; p < end && is_hex(*p); p++, digits++) {
			char c = *p;

			v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		if (digits <= 16 && v >= lo && v < hi)
			return true;
	}
	return false;
}

/* A DMAR fault report: the line starts with "DMAR: ", after the
 * backend's name as every line of a backend does. */
static bool is_dmar(const char *line)
{
	static const char own[] = "swiotlb-sim: ";

	if (!strncmp(line, own, sizeof(own) - 1))
		line += sizeof(own) - 1;
	return !strncmp(line, "DMAR: ", 6);
}

/* Captured DMAR lines; *named: the first names an address of
 * [addr, addr + len). */
static unsigned int dmar_lines(uint64_t addr, uint64_t len, bool *named)
{
	const char *p = tu_log_text();
	unsigned int n = 0;

	*named = false;
	while (*p) {
		const char *end = strchr(p, '\n');

		if (!end)
			end = p + strlen(p);
		if (is_dmar(p)) {
			if (!n)
				*named = names_addr(p, end, addr, addr + len);
			n++;
		}
		p = *end ? end + 1 : end;
	}
	return n;
}

/* Captured lines containing needle. */
static unsigned int lines_with(const char *needle)
{
	const char *p = tu_log_text();
	unsigned int n = 0;

	while (*p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (memmem(p, len, needle, strlen(needle)))
			n++;
		p += len + (end ? 1 : 0);
	}
	return n;
}

/* A faulting device access: -EFAULT, one DMAR line naming the address,
 * one more fault counted, and (for writes) no host byte changed, which
 * the callers check on their buffers. */
static void expect_fault(struct dmasplit_dev *d, uint64_t dma, size_t len,
			 bool write, const char *what)
{
	struct dmasplit_dev_stats before = stats_of(d), after;
	uint8_t *tmp = malloc(len);
	unsigned int lines;
	bool named;
	int r;

	ck_assert_ptr_nonnull(tmp);
	memset(tmp, 0xee, len);
	tu_log_clear();
	r = write ? dmasplit_dev_dma_write(d, dma, tmp, len)
		  : dmasplit_dev_dma_read(d, dma, tmp, len);
	ck_assert_msg(r == -EFAULT, "%s: device %s of 0x%" PRIx64 "+0x%zx: expected -EFAULT, got %d",
		      what, write ? "write" : "read", dma, len, r);
	lines = dmar_lines(dma, len, &named);
	ck_assert_msg(lines == 1 && named,
		      "%s: expected one log line starting \"DMAR: \" naming 0x%" PRIx64 ", got %u lines (naming it: %d); log:\n%s",
		      what, dma, lines, named, tu_log_text());
	after = stats_of(d);
	ck_assert_msg(after.device_faults == before.device_faults + 1,
		      "%s: device_faults went from %" PRIu64 " to %" PRIu64 ", expected one more",
		      what, before.device_faults, after.device_faults);
	free(tmp);
	tu_log_clear();
}

static uint64_t map_ok(struct dmasplit_dev *d, void *vaddr, size_t len,
		       enum dmasplit_dir dir, uint32_t attrs)
{
	uint64_t dma = 0;
	int r = dmasplit_map(d, vaddr, len, dir, attrs, &dma);

	ck_assert_msg(r == 0, "map of %p+0x%zx dir %d attrs 0x%x: expected 0, got %d; log:\n%s",
		      vaddr, len, (int)dir, attrs, r, tu_log_text());
	ck_assert_msg(dma != 0, "map of %p+0x%zx handed out device address 0",
		      vaddr, len);
	return dma;
}

static void unmap_ok(struct dmasplit_dev *d, uint64_t dma, size_t len,
		     enum dmasplit_dir dir, uint32_t attrs)
{
	int r = dmasplit_unmap(d, dma, len, dir, attrs);

	ck_assert_msg(r == 0, "unmap of 0x%" PRIx64 "+0x%zx: expected 0, got %d; log:\n%s",
		      dma, len, r, tu_log_text());
}

static struct dmasplit_iova *window(struct dmasplit_dev *d, size_t size)
{
	struct dmasplit_iova *iova = NULL;
	int r = dmasplit_iova_alloc(d, size, 0, &iova);

	ck_assert_msg(r == 0, "window of 0x%zx bytes: expected 0, got %d; log:\n%s",
		      size, r, tu_log_text());
	return iova;
}

static void link_ok(struct dmasplit_iova *iova, size_t off, void *vaddr,
		    size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	int r = dmasplit_iova_link(iova, off, vaddr, len, dir, attrs);

	ck_assert_msg(r == 0, "link of %p+0x%zx at offset 0x%zx: expected 0, got %d; log:\n%s",
		      vaddr, len, off, r, tu_log_text());
}

static void sync_ok(struct dmasplit_iova *iova, size_t off, size_t len)
{
	int r = dmasplit_iova_sync(iova, off, len);

	ck_assert_msg(r == 0, "iova_sync of 0x%zx+0x%zx: expected 0, got %d; log:\n%s",
		      off, len, r, tu_log_text());
}

static void unlink_ok(struct dmasplit_iova *iova, size_t off, size_t len,
		      enum dmasplit_dir dir, uint32_t attrs)
{
	int r = dmasplit_iova_unlink(iova, off, len, dir, attrs);

	ck_assert_msg(r == 0, "unlink of 0x%zx+0x%zx: expected 0, got %d; log:\n%s",
		      off, len, r, tu_log_text());
}

static bool fits_mask(uint64_t start, uint64_t len, unsigned int mask)
{
	return mask >= 64 || ((start + len - 1) >> mask) == 0;
}

/*
 * Anonymous memory placed at a chosen height in the address space, for
 * buffers above or below a DMA mask.  64 KiB aligned, so every granule
 * lines up with it.
 */
struct hostmem {
	void *raw;
	size_t rawlen;
	uint8_t *p;
};

static bool try_at(struct hostmem *m, uint64_t hint, size_t len, int flags)
{
	void *p = mmap((void *)(uintptr_t)hint, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED)
		return false;
	if ((uintptr_t)p != hint) {
		/* A kernel without MAP_FIXED_NOREPLACE took it as a hint. */
		munmap(p, len);
		return false;
	}
	m->raw = m->p = p;
	m->rawlen = len;
	return true;
}

/* Inside [lo, hi), or false. */
static bool hostmem_at(struct hostmem *m, size_t len, uint64_t lo,
		       uint64_t hi)
{
	unsigned int i;

	if (hi <= lo || hi - lo < 2 * len)
		return false;
	for (i = 1; i < 32; i++) {
		uint64_t hint = lo + (hi - lo - len) / 32 * i;

		hint &= ~(uint64_t)(K64 - 1);
		if (hint < lo)
			continue;
		if (try_at(m, hint, len, MAP_FIXED_NOREPLACE) ||
		    try_at(m, hint, len, 0))
			return true;
	}
	return false;
}

static void hostmem_any(struct hostmem *m, size_t len)
{
	uintptr_t p;

	m->rawlen = len + K64;
	m->raw = mmap(NULL, m->rawlen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_msg(m->raw != MAP_FAILED, "mmap of %zu bytes: %s", m->rawlen,
		      strerror(errno));
	p = ((uintptr_t)m->raw + K64 - 1) & ~(uintptr_t)(K64 - 1);
	m->p = (uint8_t *)p;
}

static void hostmem_free(struct hostmem *m)
{
	if (m->raw)
		munmap(m->raw, m->rawlen);
	m->raw = m->p = NULL;
}

#define FOUR_GIB (1ull << 32)
#define USER_TOP (1ull << 47)

static bool high_memory_available(void)
{
	struct hostmem m = { 0 };
	bool ok = hostmem_at(&m, K64, FOUR_GIB, USER_TOP);

	hostmem_free(&m);
	return ok;
}

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
		{ "mask=32,bogus=1", "bogus" },
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
	};
	unsigned int i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		dmasplit_dev_close(open_dev(specs[i]));
}
END_TEST

/* ------------------------------------------------------------------ */
/* iommu=on: windows                                                    */

START_TEST(link_is_invisible_until_sync)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(4 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 4 * G, 1);
	iova = window(d, 4 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, base, 16, false, "read of a link before its sync");
	expect_fault(d, base + G, 16, true, "write into a link before its sync");
	expect_pattern(buf, 4 * G, 1, "the faulting write changed nothing");
	sync_ok(iova, 0, 2 * G);
	expect_read(d, base, buf, 2 * G, "read after the sync");

	/* A second link waits for its own sync; the first stays visible. */
	link_ok(iova, 2 * G, buf + 2 * G, G, DMASPLIT_TO_DEVICE, 0);
	expect_fault(d, base + 2 * G, 1, false, "read of the second link before its sync");
	expect_read(d, base, buf, 2 * G, "the first link meanwhile");
	sync_ok(iova, 2 * G, G);
	expect_read(d, base + 2 * G, buf + 2 * G, G, "the second link after its sync");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(unlink_faults_immediately)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(3 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 3 * G, 2);
	iova = window(d, 3 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 3 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 3 * G);
	expect_read(d, base, buf, 3 * G, "linked and synced");

	/* The middle granule of the link only. */
	unlink_ok(iova, G, G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, base + G, 1, false, "read of the unlinked granule");
	expect_fault(d, base + 2 * G - 1, 1, true, "write into the unlinked granule");
	expect_fault(d, base + G - 8, 16, false, "read straddling into the unlinked granule");
	expect_read(d, base, buf, G, "the granule before it");
	expect_read(d, base + 2 * G, buf + 2 * G, G, "the granule after it");

	unlink_ok(iova, 0, G, DMASPLIT_BIDIRECTIONAL, 0);
	unlink_ok(iova, 2 * G, G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, base, 1, false, "read after the last unlink");
	expect_fault(d, base + 3 * G - 1, 1, false, "read of the window's last byte");
	expect_pattern(buf, 3 * G, 2, "after unlinking");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(device_write_into_to_device_link_faults)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(3 * G), b;
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 3 * G, 3);
	iova = window(d, 3 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0);
	link_ok(iova, G, buf + G, G, DMASPLIT_FROM_DEVICE, 0);
	link_ok(iova, 2 * G, buf + 2 * G, G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 3 * G);

	expect_fault(d, base + 10, 4, true, "write into a TO_DEVICE link");
	expect_read(d, base, buf, G, "read of a TO_DEVICE link");
	expect_fault(d, base + G + 10, 4, false, "read of a FROM_DEVICE link");
	write_byte(d, base + G + 10, 0x5a);
	ck_assert_msg(buf[G + 10] == 0x5a, "write into a FROM_DEVICE link: host has 0x%02x, expected 0x5a",
		      buf[G + 10]);
	write_byte(d, base + 2 * G + 20, 0x6b);
	ck_assert_msg(buf[2 * G + 20] == 0x6b, "write into a BIDIRECTIONAL link: host has 0x%02x, expected 0x6b",
		      buf[2 * G + 20]);
	b = read_byte(d, base + 2 * G + 20);
	ck_assert_msg(b == 0x6b, "read of a BIDIRECTIONAL link: 0x%02x, expected 0x6b", b);
	/* The faulting write changed no byte. */
	expect_pattern(buf, G, 3, "TO_DEVICE buffer after the faulting write");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(access_outside_any_window_faults)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 2 * G);
	expect_fault(d, base + 2 * G, 1, false, "read just past the window");
	expect_fault(d, base + 2 * G - 8, 16, false, "read running past the window");
	expect_fault(d, base + 2 * G, 8, true, "write just past the window");
	expect_fault(d, base + 0x40000000ull, 8, false, "read far from any window");
	dmasplit_iova_destroy(iova);
	expect_fault(d, base, 1, false, "read of a destroyed window");
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(destroy_unlinks_what_is_still_linked)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	struct dmasplit_dev_stats s;
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 2 * G, 4);
	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 2 * G);
	expect_read(d, base, buf, 2 * G, "before destroy");
	dmasplit_iova_destroy(iova);
	expect_fault(d, base, 1, false, "read after destroy");
	expect_fault(d, base + G, 1, true, "write after destroy");
	s = stats_of(d);
	ck_assert_uint_eq(s.windows_live, 0);
	/* The address space came back: a new window of the size fits. */
	iova = window(d, 2 * G);
	dmasplit_iova_destroy(iova);
	expect_pattern(buf, 2 * G, 4, "after destroy");
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(bytes_land_exactly_where_linked)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(4 * G), *src = buf_new(2 * G), *zero = buf_new(4 * G);
	struct dmasplit_iova *iova;
	uint64_t base;
	size_t i;

	fill(src, 2 * G, 5);
	iova = window(d, 8 * G);
	base = dmasplit_iova_addr(iova);
	/* Window [3G+100, 5G+100) shows host [G+100, 3G+100). */
	link_ok(iova, 3 * G + 100, buf + G + 100, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 3 * G + 100, 2 * G);
	expect_write(d, base + 3 * G + 100, src, 2 * G, "write of the whole link");
	for (i = 0; i < 4 * G; i++) {
		uint8_t want = i >= G + 100 && i < 3 * G + 100 ? src[i - G - 100] : 0;

		FAIL_UNLESS(buf[i] == want, "host byte %zu is 0x%02x, expected 0x%02x (link is host 0x%x-0x%x)",
			    i, buf[i], want, G + 100, 3 * G + 100);
	}
	expect_read(d, base + 3 * G + 100, src, 2 * G, "read back");
	write_byte(d, base + 5 * G + 99, 0x77);
	ck_assert_msg(buf[3 * G + 99] == 0x77 && buf[3 * G + 100] == 0,
		      "last linked byte: host 0x%02x 0x%02x, expected 0x77 0x00",
		      buf[3 * G + 99], buf[3 * G + 100]);
	/* The window's granules before the link's own are unreachable. */
	expect_fault(d, base + 2 * G, 1, false, "granule before the link");
	expect_fault(d, base + 6 * G, 1, false, "granule after the link");
	ck_assert_int_eq(memcmp(buf, zero, G), 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
	free(src);
	free(zero);
}
END_TEST

START_TEST(trusted_link_reaches_whole_granules)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 2 * G, 6);
	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	/* 50 bytes in the middle of the granule: the device reaches it all,
	 * as a trusted device does through the kernel's IOMMU mapping. */
	link_ok(iova, 100, buf + 100, 50, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 100, 50);
	expect_read(d, base, buf, G, "the whole first granule");
	write_byte(d, base + 4000, 0x42);
	ck_assert_msg(buf[4000] == 0x42, "write beside the link: host 0x%02x, expected 0x42",
		      buf[4000]);
	expect_fault(d, base + G, 1, false, "the next, unlinked granule");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(every_granule_4k_16k_64k)
{
	static const uint64_t granules[] = { 4096, 16384, 65536 };
	char spec[96];
	unsigned int i, untrusted;

	for (i = 0; i < 3; i++) {
		for (untrusted = 0; untrusted < 2; untrusted++) {
			const size_t n = granules[i];
			struct dmasplit_dev *d;
			struct dmasplit_dev_info info;
			struct dmasplit_iova *iova;
			uint8_t *buf = buf_new(4 * n), b[100];
			uint64_t base, dma;
			char what[96];

			snprintf(spec, sizeof(spec), "sim:g%zu,granule=%zu%s", n, n,
				 untrusted ? ",untrusted=1" : "");
			snprintf(what, sizeof(what), "%s", spec);
			d = open_dev(spec);
			info = info_of(d);
			ck_assert_msg(info.granule == n && info.ranges[0].start == n,
				      "%s: granule %" PRIu64 ", range start 0x%" PRIx64 ", expected both %zu",
				      what, info.granule, info.ranges[0].start, n);
			iova = window(d, 1);
			ck_assert_msg(dmasplit_iova_size(iova) == n &&
				      dmasplit_iova_addr(iova) % n == 0 &&
				      dmasplit_iova_addr(iova) != 0,
				      "%s: window of 1 byte is 0x%" PRIx64 "+0x%zx, expected one aligned granule",
				      what, dmasplit_iova_addr(iova), dmasplit_iova_size(iova));
			dmasplit_iova_destroy(iova);

			fill(buf, 4 * n, 7 + i);
			iova = window(d, 3 * n);
			base = dmasplit_iova_addr(iova);
			/* Partial head and tail granules (bounced when untrusted),
			 * and an aligned one (never bounced). */
			link_ok(iova, n + 5, buf + n + 5, 2 * n - 10, DMASPLIT_BIDIRECTIONAL, 0);
			link_ok(iova, 0, buf, n, DMASPLIT_BIDIRECTIONAL, 0);
			sync_ok(iova, 0, 3 * n);
			expect_read(d, base + n + 5, buf + n + 5, 2 * n - 10, what);
			expect_read(d, base, buf, n, what);

			buf[3] = 0x99;
			ck_assert_msg(read_byte(d, base + 3) == 0x99,
				      "%s: an aligned link shows host writes at once", what);
			memset(b, 0x3c, sizeof(b));
			expect_write(d, base + 2 * n - 50, b, sizeof(b), what);
			if (untrusted) {
				ck_assert_msg(buf[2 * n - 50] == pat(7 + i, 2 * n - 50),
					      "%s: a bounced granule showed a device write before sync_for_cpu", what);
				ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 2 * n - 50, sizeof(b),
								       DMASPLIT_BIDIRECTIONAL), 0);
			}
			ck_assert_msg(first_diff(buf + 2 * n - 50, b, sizeof(b)) == sizeof(b),
				      "%s: the device write did not reach the host", what);
			unlink_ok(iova, n + 5, 2 * n - 10, DMASPLIT_BIDIRECTIONAL, 0);
			expect_fault(d, base + n + 5, 1, false, what);
			unlink_ok(iova, 0, n, DMASPLIT_BIDIRECTIONAL, 0);
			dmasplit_iova_destroy(iova);

			dma = map_ok(d, buf + 7, 10, DMASPLIT_TO_DEVICE, 0);
			if (!untrusted)
				ck_assert_msg(dma % n == 7, "%s: map of an address 7 into its granule gave 0x%" PRIx64,
					      what, dma);
			expect_read(d, dma, buf + 7, 10, what);
			unmap_ok(d, dma, 10, DMASPLIT_TO_DEVICE, 0);
			dmasplit_dev_close(d);
			free(buf);
		}
	}
}
END_TEST

START_TEST(link_offset_and_address_must_agree_within_granule)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	struct dmasplit_dev *d16 = open_dev("sim:b,granule=16384");
	uint8_t *buf = buf_new(4 * 16384);
	struct dmasplit_iova *iova, *iova16;
	int r;

	iova = window(d, 4 * G);
	tu_log_clear();
	r = dmasplit_iova_link(iova, 0, buf + 1, 10, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL, "offset 0 with an address 1 into its granule: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("\n") >= 1, "the refused link was not logged");
	/* Refused without a trace: the same granule links when they agree. */
	link_ok(iova, G + 1, buf + 1, 10, DMASPLIT_TO_DEVICE, 0);
	link_ok(iova, 1, buf + 1, 10, DMASPLIT_TO_DEVICE, 0);
	r = dmasplit_iova_link(iova, 2 * G + 100, buf + G + 99, 10, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL, "offset 100 with an address 99 into its granule: expected -EINVAL, got %d", r);
	dmasplit_iova_destroy(iova);

	/* Agreement is modulo the device's granule, not the page. */
	iova16 = window(d16, 4 * 16384);
	r = dmasplit_iova_link(iova16, 0, buf + G, 10, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL, "16 KiB granule, offset 0, address 4096 into it: expected -EINVAL, got %d", r);
	link_ok(iova16, G, buf + G, 10, DMASPLIT_TO_DEVICE, 0);
	link_ok(iova16, 16384 + 2 * G + 3, buf + 2 * G + 3, 10, DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(iova16);
	dmasplit_dev_close(d);
	dmasplit_dev_close(d16);
	free(buf);
}
END_TEST

START_TEST(untrusted_link_bounces_partial_head_and_tail)
{
	struct dmasplit_dev *d = open_dev("sim:u,untrusted=1");
	uint8_t *buf = buf_new(4 * G), *want = buf_new(3 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 4 * G, 8);
	iova = window(d, 4 * G);
	base = dmasplit_iova_addr(iova);
	/* Buffer [100, 2G+300): head granule bounced, middle one direct,
	 * tail granule bounced; outside the buffer the slots are zero. */
	link_ok(iova, 100, buf + 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL, 0);
	link_ok(iova, 3 * G, buf + 3 * G, G, DMASPLIT_BIDIRECTIONAL, 0);
	sync_ok(iova, 0, 4 * G);
	memcpy(want + 100, buf + 100, 2 * G + 200);
	expect_read(d, base, want, 3 * G, "bounced head and tail, direct middle");
	expect_read(d, base + 3 * G, buf + 3 * G, G, "an aligned link");

	/* Direct granules share the host's bytes; bounced ones do not. */
	buf[G + 5] = 0x11;
	buf[200] = 0x22;
	buf[3 * G + 9] = 0x23;
	ck_assert_msg(read_byte(d, base + G + 5) == 0x11, "a direct granule must show a host write at once");
	ck_assert_msg(read_byte(d, base + 3 * G + 9) == 0x23, "an aligned link must show a host write at once");
	ck_assert_msg(read_byte(d, base + 200) == pat(8, 200),
		      "the bounced head must keep the bytes copied at link");
	write_byte(d, base + G + 7, 0x33);
	ck_assert_msg(buf[G + 7] == 0x33, "a direct granule must pass a device write at once");
	write_byte(d, base + 150, 0x44);
	write_byte(d, base + 50, 0x55);		/* head padding */
	write_byte(d, base + 2 * G + 10, 0x66);
	write_byte(d, base + 2 * G + 400, 0x67);	/* tail padding */
	ck_assert_msg(buf[150] == pat(8, 150) && buf[2 * G + 10] == pat(8, 2 * G + 10),
		      "bounced granules passed a device write before any sync");

	/* sync_for_cpu on the window address copies just its range. */
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, base + 150, 1, DMASPLIT_BIDIRECTIONAL), 0);
	ck_assert_msg(buf[150] == 0x44, "sync_for_cpu of one byte: host 0x%02x, expected 0x44", buf[150]);
	ck_assert_msg(buf[200] == 0x22, "sync_for_cpu copied beyond its range");

	/* Unlink copies back the buffer's bytes, not the padding. */
	unlink_ok(iova, 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(buf[200] == pat(8, 200), "unlink copies the whole head back: host 0x%02x, expected 0x%02x",
		      buf[200], pat(8, 200));
	ck_assert_msg(buf[2 * G + 10] == 0x66, "unlink copies the tail back: host 0x%02x, expected 0x66",
		      buf[2 * G + 10]);
	ck_assert_msg(buf[50] == pat(8, 50) && buf[2 * G + 400] == pat(8, 2 * G + 400) &&
		      buf[99] == pat(8, 99) && buf[2 * G + 300] == pat(8, 2 * G + 300),
		      "bytes outside the buffer changed at unlink");
	expect_fault(d, base + 100, 1, false, "after unlink");

	/* With SKIP_CPU_SYNC nothing is copied back; padding is zero. */
	link_ok(iova, 100, buf + 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL,
		DMASPLIT_ATTR_SKIP_CPU_SYNC);
	sync_ok(iova, 100, 2 * G + 200);
	memset(want, 0xff, G);
	memset(want, 0, 100);
	expect_read(d, base, want, 100, "head padding with SKIP_CPU_SYNC");
	write_byte(d, base + 160, 0x88);
	unlink_ok(iova, 100, 2 * G + 200, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	ck_assert_msg(buf[160] == pat(8, 160), "unlink with SKIP_CPU_SYNC copied back");
	unlink_ok(iova, 3 * G, G, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
	free(want);
}
END_TEST

START_TEST(untrusted_link_copies_back_by_direction)
{
	struct dmasplit_dev *d = open_dev("sim:u,untrusted=1");
	uint8_t *buf = buf_new(4 * G);
	struct dmasplit_iova *iova;
	uint64_t base;

	fill(buf, 4 * G, 9);
	iova = window(d, 4 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 10, buf + 10, 100, DMASPLIT_FROM_DEVICE, 0);
	link_ok(iova, G + 10, buf + G + 10, 100, DMASPLIT_TO_DEVICE, 0);
	sync_ok(iova, 0, 2 * G);
	write_byte(d, base + 20, 0x31);
	expect_fault(d, base + G + 20, 1, true, "write into a bounced TO_DEVICE link");
	expect_fault(d, base + 20, 1, false, "read of a bounced FROM_DEVICE link");
	/* The host changed its TO_DEVICE buffer: unlink must not undo it. */
	buf[G + 30] = 0x32;
	unlink_ok(iova, 10, 100, DMASPLIT_FROM_DEVICE, 0);
	unlink_ok(iova, G + 10, 100, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(buf[20] == 0x31, "FROM_DEVICE unlink copies back: host 0x%02x, expected 0x31", buf[20]);
	ck_assert_msg(buf[G + 30] == 0x32, "TO_DEVICE unlink copied back over a host write");
	dmasplit_iova_destroy(iova);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------ */
/* iommu=on: the per-range path                                         */

START_TEST(map_is_visible_at_once_and_faults_after_unmap)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(3 * G);
	uint64_t dma, dma2;

	fill(buf, 3 * G, 10);
	dma = map_ok(d, buf + 100, 5000, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(dma % G == 100, "map keeps the offset in the granule: 0x%" PRIx64, dma);
	expect_read(d, dma, buf + 100, 5000, "right after map");
	buf[200] = 0xab;
	ck_assert_msg(read_byte(d, dma + 100) == 0xab, "a translated map shows host writes at once");
	/* A new device range per call, even for the same buffer. */
	dma2 = map_ok(d, buf + 100, 5000, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(dma2 != dma, "two maps of one buffer got one address 0x%" PRIx64, dma);
	unmap_ok(d, dma, 5000, DMASPLIT_TO_DEVICE, 0);
	expect_fault(d, dma, 1, false, "after unmap");
	expect_fault(d, dma + 4999, 1, false, "last byte after unmap");
	expect_read(d, dma2, buf + 100, 5000, "the other mapping");
	unmap_ok(d, dma2, 5000, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(map_direction_is_enforced)
{
	struct dmasplit_dev *d = open_dev("sim:a");
	uint8_t *buf = buf_new(3 * G);
	uint64_t to, from, bidi;

	fill(buf, 3 * G, 11);
	to = map_ok(d, buf, 100, DMASPLIT_TO_DEVICE, 0);
	from = map_ok(d, buf + G, 100, DMASPLIT_FROM_DEVICE, 0);
	bidi = map_ok(d, buf + 2 * G, 100, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, to, 4, true, "write into a TO_DEVICE map");
	expect_read(d, to, buf, 100, "read of a TO_DEVICE map");
	expect_fault(d, from, 4, false, "read of a FROM_DEVICE map");
	write_byte(d, from + 1, 0x12);
	write_byte(d, bidi + 2, 0x13);
	ck_assert_msg(buf[G + 1] == 0x12 && buf[2 * G + 2] == 0x13,
		      "device writes: host 0x%02x 0x%02x, expected 0x12 0x13",
		      buf[G + 1], buf[2 * G + 2]);
	ck_assert_msg(read_byte(d, bidi + 2) == 0x13, "read of a BIDIRECTIONAL map");
	expect_pattern(buf, 100, 11, "TO_DEVICE buffer after the faulting write");
	unmap_ok(d, to, 100, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, from, 100, DMASPLIT_FROM_DEVICE, 0);
	unmap_ok(d, bidi, 100, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(untrusted_map_bounces_unaligned_buffer)
{
	struct dmasplit_dev *d = open_dev("sim:u,untrusted=1");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(4 * G);
	uint64_t dma;

	fill(buf, 4 * G, 12);
	dma = map_ok(d, buf + 10, 3000, DMASPLIT_BIDIRECTIONAL, 0);
	expect_read(d, dma, buf + 10, 3000, "copied in at map");
	buf[20] = 0x01;
	ck_assert_msg(read_byte(d, dma + 10) == pat(12, 20),
		      "a bounced map showed a host write before sync_for_device");
	write_byte(d, dma + 30, 0x02);
	ck_assert_msg(buf[40] == pat(12, 40), "a bounced map passed a device write before sync_for_cpu");
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma + 30, 1, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_msg(buf[40] == 0x02, "sync_for_cpu: host 0x%02x, expected 0x02", buf[40]);
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma + 10, 1, DMASPLIT_TO_DEVICE), 0);
	ck_assert_msg(read_byte(d, dma + 10) == 0x01, "sync_for_device did not copy the host write");
	write_byte(d, dma + 2999, 0x03);
	unmap_ok(d, dma, 3000, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(buf[3009] == 0x03, "unmap copies back: host 0x%02x, expected 0x03", buf[3009]);
	ck_assert_msg(buf[9] == pat(12, 9) && buf[3010] == pat(12, 3010),
		      "bytes beside the buffer changed at unmap");

	/* Aligned at one end only: still bounced. */
	dma = map_ok(d, buf, G + 1, DMASPLIT_TO_DEVICE, 0);
	buf[5] = 0x04;
	ck_assert_msg(read_byte(d, dma + 5) != 0x04, "a buffer ending inside a granule must be bounced");
	unmap_ok(d, dma, G + 1, DMASPLIT_TO_DEVICE, 0);

	/* Whole granules are mapped in place. */
	s0 = stats_of(d);
	dma = map_ok(d, buf + G, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dma % G == 0, "an aligned map gave 0x%" PRIx64, dma);
	buf[G + 6] = 0x05;
	ck_assert_msg(read_byte(d, dma + 6) == 0x05, "an aligned map must show host writes at once");
	write_byte(d, dma + 7, 0x06);
	ck_assert_msg(buf[G + 7] == 0x06, "an aligned map must pass device writes at once");
	unmap_ok(d, dma, 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.bytes_bounced == s0.bytes_bounced,
		      "an aligned map bounced %" PRIu64 " bytes", s1.bytes_bounced - s0.bytes_bounced);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(maps_stay_below_mask)
{
	struct dmasplit_dev *d = open_dev("sim:m,mask=28");
	uint8_t *buf = buf_new(16 * G);
	uint64_t dma[20], cdma;
	void *cpu;
	unsigned int i;

	for (i = 0; i < 20; i++) {
		dma[i] = map_ok(d, buf + i * 501, 1 + i * 777, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(fits_mask(dma[i], 1 + i * 777, 28),
			      "map %u at 0x%" PRIx64 "+0x%x is beyond the 28-bit mask", i, dma[i], 1 + i * 777);
	}
	ck_assert_int_eq(dmasplit_alloc_coherent(d, 3 * G, 0, &cpu, &cdma), 0);
	ck_assert_msg(cdma != 0 && fits_mask(cdma, 3 * G, 28), "coherent memory at 0x%" PRIx64, cdma);
	ck_assert_int_eq(dmasplit_free_coherent(d, 3 * G, cpu, cdma), 0);
	for (i = 0; i < 20; i++)
		unmap_ok(d, dma[i], 1 + i * 777, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(windows_stay_below_mask)
{
	static const size_t sizes[] = { 16u << 20, 64u << 10, 4096 };
	struct dmasplit_dev *d = open_dev("sim:w,mask=28");
	struct dmasplit_iova **w;
	unsigned int n = 0, i, max = 1024;
	uint64_t total = 0;
	int r;

	w = calloc(max, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < 3; i++) {
		for (;;) {
			uint64_t a;

			ck_assert_uint_lt(n, max);
			r = dmasplit_iova_alloc(d, sizes[i], 0, &w[n]);
			if (r == -ENOSPC)
				break;
			ck_assert_msg(r == 0, "window %u of 0x%zx bytes: expected 0 or -ENOSPC, got %d",
				      n, sizes[i], r);
			a = dmasplit_iova_addr(w[n]);
			ck_assert_msg(a != 0 && a % G == 0 && fits_mask(a, sizes[i], 28),
				      "window %u at 0x%" PRIx64 "+0x%zx: expected nonzero, aligned, below 2^28",
				      n, a, sizes[i]);
			total += sizes[i];
			n++;
		}
	}
	/* Exhausted means every granule below the mask but address 0. */
	ck_assert_msg(total == (1ull << 28) - G,
		      "windows covered 0x%" PRIx64 " bytes before -ENOSPC, expected 0x%llx",
		      total, (1ull << 28) - G);
	for (i = 0; i < n; i++)
		dmasplit_iova_destroy(w[i]);
	free(w);
	dmasplit_dev_close(d);

	/* 13 bits: room for exactly one granule, at 0x1000. */
	d = open_dev("sim:w13,mask=13");
	w = calloc(2, sizeof(*w));
	ck_assert_int_eq(dmasplit_iova_alloc(d, G, 0, &w[0]), 0);
	ck_assert_uint_eq(dmasplit_iova_addr(w[0]), 0x1000);
	r = dmasplit_iova_alloc(d, G, 0, &w[1]);
	ck_assert_msg(r == -ENOSPC, "second window under a 13-bit mask: expected -ENOSPC, got %d", r);
	dmasplit_iova_destroy(w[0]);
	free(w);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(address_zero_never_handed_out)
{
	struct dmasplit_dev *d = open_dev("sim:z,mask=16");
	struct dmasplit_dev *off = open_dev("sim:zo,iommu=off,bounce=force,pool=256K");
	struct dmasplit_iova *w[17];
	uint8_t *buf = buf_new(G);
	unsigned int n = 0, i;
	uint64_t dma, cdma, maps[15], x = 0;
	void *cpu;
	int r;

	/* 16 bits: 0x1000-0xffff, fifteen granules. */
	while ((r = dmasplit_iova_alloc(d, G, 0, &w[n])) == 0) {
		ck_assert_msg(dmasplit_iova_addr(w[n]) != 0, "window %u at address 0", n);
		ck_assert_uint_lt(++n, 17);
	}
	ck_assert_msg(r == -ENOSPC && n == 15, "expected 15 windows then -ENOSPC, got %u then %d", n, r);
	for (i = 0; i < n; i++)
		dmasplit_iova_destroy(w[i]);
	/* A buffer at the start of its granule maps to the start of an IOVA
	 * granule: fifteen fit, none of them at 0 (map_ok checks). */
	for (i = 0; i < 15; i++)
		maps[i] = map_ok(d, buf, 1, DMASPLIT_TO_DEVICE, 0);
	r = dmasplit_map(d, buf, 1, DMASPLIT_TO_DEVICE, DMASPLIT_ATTR_NO_WARN, &x);
	ck_assert_msg(r < 0 && x == 0, "a sixteenth map under a 16-bit mask: got %d at 0x%" PRIx64, r, x);
	for (i = 0; i < 15; i++)
		unmap_ok(d, maps[i], 1, DMASPLIT_TO_DEVICE, 0);
	expect_fault(d, 0, 1, false, "read of device address 0");

	dma = map_ok(off, buf, 1, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(off, dma, 1, DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_alloc_coherent(off, G, 0, &cpu, &cdma), 0);
	ck_assert_msg(cdma != 0, "coherent memory at device address 0");
	ck_assert_int_eq(dmasplit_free_coherent(off, G, cpu, cdma), 0);
	dmasplit_dev_close(d);
	dmasplit_dev_close(off);
	free(buf);
}
END_TEST

START_TEST(stats_count_one_invalidation_per_sync)
{
	struct dmasplit_dev *d = open_dev("sim:s");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(16 * G);
	struct dmasplit_iova *iova;
	uint64_t dma[16];
	unsigned int i;

	iova = window(d, 16 * G);
	s0 = stats_of(d);
	for (i = 0; i < 16; i++)
		link_ok(iova, i * G, buf + i * G, G, DMASPLIT_TO_DEVICE, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls,
		      "16 links: %" PRIu64 " invalidations, expected none before the sync",
		      s1.kernel_calls - s0.kernel_calls);
	sync_ok(iova, 0, 16 * G);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls + 1,
		      "one sync over 16 links: %" PRIu64 " invalidations, expected 1",
		      s1.kernel_calls - s0.kernel_calls);
	ck_assert_uint_eq(s1.links - s0.links, 16);
	ck_assert_uint_eq(s1.syncs - s0.syncs, 1);

	s0 = stats_of(d);
	unlink_ok(iova, 0, 8 * G, DMASPLIT_TO_DEVICE, 0);
	for (i = 8; i < 16; i++)
		unlink_ok(iova, i * G, G, DMASPLIT_TO_DEVICE, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls + 9,
		      "nine unlink calls over 16 granules: %" PRIu64 " invalidations, expected 9",
		      s1.kernel_calls - s0.kernel_calls);
	dmasplit_iova_destroy(iova);

	s0 = stats_of(d);
	for (i = 0; i < 16; i++)
		dma[i] = map_ok(d, buf + i * G, G, DMASPLIT_TO_DEVICE, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls + 16,
		      "16 maps: %" PRIu64 " invalidations, expected 16", s1.kernel_calls - s0.kernel_calls);
	/* Syncs of a coherent translated mapping have nothing to flush. */
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma[0], G, DMASPLIT_TO_DEVICE), 0);
	for (i = 0; i < 16; i++)
		unmap_ok(d, dma[i], G, DMASPLIT_TO_DEVICE, 0);
	s1 = stats_of(d);
	ck_assert_msg(s1.kernel_calls == s0.kernel_calls + 32,
		      "16 maps and 16 unmaps: %" PRIu64 " invalidations, expected 32",
		      s1.kernel_calls - s0.kernel_calls);
	ck_assert_msg(s1.bytes_bounced == 0, "a trusted translated device bounced %" PRIu64 " bytes",
		      s1.bytes_bounced);
	ck_assert_uint_eq(s1.device_faults, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(map_vec_merges_aligned_buffers)
{
	struct dmasplit_dev *d = open_dev("sim:v");
	struct dmasplit_dev *u = open_dev("sim:vu,untrusted=1");
	uint8_t *buf = buf_new(8 * G), *want = buf_new(4 * G);
	struct iovec iov[4] = {
		{ buf, G },			/* ends on a boundary */
		{ buf + 4 * G, 2 * G },		/* starts on one: merges */
		{ buf + 2 * G + 100, 50 },	/* starts inside a granule */
		{ buf + 7 * G, G },		/* previous ends inside one */
	};
	struct dmasplit_seg segs[4];
	unsigned int nsegs = 4, i;

	fill(buf, 8 * G, 13);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 4, DMASPLIT_BIDIRECTIONAL, 0, segs, &nsegs), 0);
	ck_assert_msg(nsegs == 3 && segs[0].len == 3 * G && segs[1].len == 50 && segs[2].len == G,
		      "trusted: %u segments (0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 "), expected 3 (0x3000, 0x32, 0x1000)",
		      nsegs, segs[0].len, nsegs > 1 ? segs[1].len : 0, nsegs > 2 ? segs[2].len : 0);
	ck_assert_msg(segs[1].dma % G == 100, "unmerged buffer keeps its offset: 0x%" PRIx64, segs[1].dma);
	memcpy(want, buf, G);
	memcpy(want + G, buf + 4 * G, 2 * G);
	expect_read(d, segs[0].dma, want, 3 * G, "merged segment");
	expect_read(d, segs[1].dma, buf + 2 * G + 100, 50, "second segment");
	expect_read(d, segs[2].dma, buf + 7 * G, G, "third segment");
	write_byte(d, segs[0].dma + G + 1, 0x71);
	ck_assert_msg(buf[4 * G + 1] == 0x71, "write through the merged segment landed elsewhere");
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, nsegs, DMASPLIT_BIDIRECTIONAL, 0), 0);
	for (i = 0; i < nsegs; i++)
		expect_fault(d, segs[i].dma, 1, false, "after unmap_vec");

	/* Untrusted: each buffer on its own, the unaligned one bounced. */
	nsegs = 4;
	ck_assert_int_eq(dmasplit_map_vec(u, iov, 4, DMASPLIT_BIDIRECTIONAL, 0, segs, &nsegs), 0);
	ck_assert_msg(nsegs == 4, "untrusted: %u segments, expected one per buffer", nsegs);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(segs[i].len, iov[i].iov_len);
		expect_read(u, segs[i].dma, iov[i].iov_base, iov[i].iov_len, "untrusted segment");
	}
	buf[2 * G + 101] = 0x72;
	buf[7 * G + 1] = 0x73;
	ck_assert_msg(read_byte(u, segs[2].dma + 1) == pat(13, 2 * G + 101),
		      "the unaligned buffer must be bounced");
	ck_assert_msg(read_byte(u, segs[3].dma + 1) == 0x73, "an aligned buffer must be mapped in place");
	write_byte(u, segs[2].dma + 2, 0x74);
	ck_assert_int_eq(dmasplit_unmap_vec(u, segs, nsegs, DMASPLIT_BIDIRECTIONAL, 0), 0);
	ck_assert_msg(buf[2 * G + 102] == 0x74, "unmap_vec copies a bounced buffer back");
	dmasplit_dev_close(d);
	dmasplit_dev_close(u);
	free(buf);
	free(want);
}
END_TEST

START_TEST(coherent_zero_keeps_the_data_behaviour)
{
	struct dmasplit_dev *d = open_dev("sim:nc,coherent=0");
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *iova;
	uint64_t base, dma;

	ck_assert_uint_eq(info_of(d).flags & DMASPLIT_DEV_COHERENT, 0);
	fill(buf, 2 * G, 14);
	iova = window(d, 2 * G);
	base = dmasplit_iova_addr(iova);
	link_ok(iova, 0, buf, G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(d, base, 1, false, "before the sync");
	sync_ok(iova, 0, G);
	expect_read(d, base, buf, G, "after the sync");
	write_byte(d, base + 9, 0x81);
	ck_assert_msg(buf[9] == 0x81, "host memory is coherent within one process");
	dmasplit_iova_destroy(iova);
	dma = map_ok(d, buf + G + 3, 100, DMASPLIT_BIDIRECTIONAL, 0);
	expect_read(d, dma, buf + G + 3, 100, "map");
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, 100, DMASPLIT_BIDIRECTIONAL), 0);
	unmap_ok(d, dma, 100, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------ */
/* iommu=off: direct and bounced                                        */

START_TEST(iommu_off_has_no_windows)
{
	struct dmasplit_dev *d = open_dev("sim:o,iommu=off");
	struct dmasplit_iova *iova = NULL;
	int r;

	ck_assert_uint_eq(info_of(d).flags & DMASPLIT_DEV_WINDOWS, 0);
	dmasplit_ctx_set_log_priority(ctx, LOG_ERR);
	tu_log_clear();
	r = dmasplit_iova_alloc(d, G, 0, &iova);
	ck_assert_msg(r == -EOPNOTSUPP && !iova, "expected -EOPNOTSUPP, got %d", r);
	ck_assert_msg(tu_log_count("\n") == 0, "an expected fallback was logged as an error:\n%s",
		      tu_log_text());
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(iommu_off_direct_when_below_mask)
{
	static const char *const specs[] = { "sim:d,iommu=off", "sim:d48,iommu=off,mask=48" };
	uint8_t *buf = buf_new(2 * G);
	unsigned int i;

	ck_assert_msg(fits_mask((uintptr_t)buf, 2 * G, 48), "the heap is above 2^48 here");
	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *d = open_dev(specs[i]);
		struct dmasplit_dev_stats s;
		uint64_t dma;

		fill(buf, 2 * G, 15 + i);
		dma = map_ok(d, buf + 5, 1000, DMASPLIT_BIDIRECTIONAL, 0);
		ck_assert_msg(dma == (uintptr_t)(buf + 5), "%s: dma 0x%" PRIx64 ", expected the address %p",
			      specs[i], dma, (void *)(buf + 5));
		buf[10] = 0x91;
		ck_assert_msg(read_byte(d, dma + 5) == 0x91, "%s: no copy: the device sees host writes at once",
			      specs[i]);
		write_byte(d, dma + 6, 0x92);
		ck_assert_msg(buf[11] == 0x92, "%s: no copy: the host sees device writes at once", specs[i]);
		ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, 1000, DMASPLIT_BIDIRECTIONAL), 0);
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma, 1000, DMASPLIT_BIDIRECTIONAL), 0);
		ck_assert_msg(buf[10] == 0x91 && buf[11] == 0x92, "%s: a sync of a direct mapping copied", specs[i]);
		unmap_ok(d, dma, 1000, DMASPLIT_BIDIRECTIONAL, 0);
		s = stats_of(d);
		ck_assert_msg(s.bytes_bounced == 0, "%s: %" PRIu64 " bytes bounced, expected none",
			      specs[i], s.bytes_bounced);
		ck_assert_msg(s.kernel_calls == 0, "%s: %" PRIu64 " invalidations without an IOMMU",
			      specs[i], s.kernel_calls);
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

START_TEST(buffer_above_mask_is_bounced)
{
	struct dmasplit_dev *d = open_dev("sim:b,iommu=off,mask=32");
	struct hostmem hi = { 0 }, lo = { 0 };
	uint64_t dma;
	uint8_t *p;

	ck_assert(hostmem_at(&hi, 4 * G, FOUR_GIB, USER_TOP));
	p = hi.p;
	fill(p, 4 * G, 17);
	dma = map_ok(d, p + 3, 5000, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dma != (uintptr_t)(p + 3) && fits_mask(dma, 5000, 32),
		      "buffer at %p: dma 0x%" PRIx64 ", expected a pool address below 4 GiB",
		      (void *)(p + 3), dma);
	expect_read(d, dma, p + 3, 5000, "the bounce slot");
	expect_fault(d, (uintptr_t)p, 8, false, "the buffer itself, above the mask");
	p[10] = 0xa1;
	ck_assert_msg(read_byte(d, dma + 7) == pat(17, 10), "the slot changed before sync_for_device");
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma, 5000, DMASPLIT_TO_DEVICE), 0);
	ck_assert_msg(read_byte(d, dma + 7) == 0xa1, "sync_for_device did not copy");
	write_byte(d, dma + 8, 0xa2);
	ck_assert_msg(p[11] == pat(17, 11), "the host saw a device write before sync_for_cpu");
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, 5000, DMASPLIT_FROM_DEVICE), 0);
	ck_assert_msg(p[11] == 0xa2, "sync_for_cpu did not copy");
	unmap_ok(d, dma, 5000, DMASPLIT_BIDIRECTIONAL, 0);

	/* A buffer below 4 GiB on the same device is reached in place. */
	if (hostmem_at(&lo, 4 * G, 0x10000000ull, 0x80000000ull)) {
		dma = map_ok(d, lo.p + 1, 100, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(dma == (uintptr_t)(lo.p + 1), "buffer at %p below the mask: dma 0x%" PRIx64,
			      (void *)(lo.p + 1), dma);
		unmap_ok(d, dma, 100, DMASPLIT_TO_DEVICE, 0);
	}
	hostmem_free(&hi);
	hostmem_free(&lo);
	dmasplit_dev_close(d);
}
END_TEST

START_TEST(iommu_off_device_reaches_host_memory_and_faults_elsewhere)
{
	struct dmasplit_dev *d = open_dev("sim:r,iommu=off");
	struct dmasplit_dev *d32 = open_dev("sim:r32,iommu=off,mask=32");
	char stack[16] = "reach me";
	char got[16];
	void *gone;

	/* Without an IOMMU a device reaches any memory. */
	ck_assert_int_eq(dmasplit_dev_dma_read(d, (uintptr_t)stack, got, sizeof(got)), 0);
	ck_assert_str_eq(got, "reach me");
	ck_assert_int_eq(dmasplit_dev_dma_write(d, (uintptr_t)stack, "written", 8), 0);
	ck_assert_str_eq(stack, "written");

	gone = mmap(NULL, G, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(gone != MAP_FAILED);
	ck_assert_int_eq(munmap(gone, G), 0);
	expect_fault(d, (uintptr_t)gone, 8, false, "memory that is not there");
	expect_fault(d, (uintptr_t)gone, 8, true, "write to memory that is not there");
	expect_fault(d32, FOUR_GIB, 4, false, "first address above a 32-bit mask");
	expect_fault(d32, FOUR_GIB - 4, 8, false, "a read crossing the mask");
	dmasplit_dev_close(d);
	dmasplit_dev_close(d32);
}
END_TEST

START_TEST(bounce_visible_only_after_sync_for_device)
{
	static const char *const specs[] = { "sim:f,iommu=off,bounce=force", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(3 * G);
	unsigned int i;

	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *d = open_dev(specs[i]);
		uint64_t dma;

		fill(buf, 3 * G, 18);
		dma = map_ok(d, buf + 5, 5000, DMASPLIT_TO_DEVICE, 0);
		expect_read(d, dma, buf + 5, 5000, specs[i]);
		fill(buf, 3 * G, 19);
		ck_assert_msg(read_byte(d, dma + 100) == pat(18, 105),
			      "%s: the device saw a host write before sync_for_device", specs[i]);
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma, 5000, DMASPLIT_TO_DEVICE), 0);
		expect_read(d, dma, buf + 5, 5000, specs[i]);
		unmap_ok(d, dma, 5000, DMASPLIT_TO_DEVICE, 0);
		dmasplit_dev_close(d);
	}
	/* Copied in at map whatever the direction: without an IOMMU the
	 * device can read a FROM_DEVICE slot, and finds the buffer there. */
	{
		struct dmasplit_dev *d = open_dev("sim:f2,iommu=off,bounce=force");
		uint64_t dma = map_ok(d, buf + 1, 300, DMASPLIT_FROM_DEVICE, 0);

		expect_read(d, dma, buf + 1, 300, "FROM_DEVICE slot");
		unmap_ok(d, dma, 300, DMASPLIT_FROM_DEVICE, 0);
		expect_pattern(buf, 3 * G, 19, "after a FROM_DEVICE unmap of unchanged data");
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

START_TEST(host_sees_device_write_only_after_sync_for_cpu)
{
	static const enum dmasplit_dir dirs[] = { DMASPLIT_FROM_DEVICE, DMASPLIT_BIDIRECTIONAL };
	struct dmasplit_dev *d = open_dev("sim:f,iommu=off,bounce=force");
	uint8_t *buf = buf_new(2 * G), *src = buf_new(3000);
	unsigned int i;

	for (i = 0; i < 2; i++) {
		uint64_t dma;

		fill(buf, 2 * G, 20);
		fill(src, 3000, 21 + i);
		dma = map_ok(d, buf + 1, 3000, dirs[i], 0);
		expect_write(d, dma, src, 3000, "device write");
		expect_pattern(buf, 2 * G, 20, "before sync_for_cpu");
		ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma, 3000, dirs[i]), 0);
		ck_assert_msg(first_diff(buf + 1, src, 3000) == 3000, "dir %d: sync_for_cpu did not copy",
			      (int)dirs[i]);
		ck_assert_msg(buf[0] == pat(20, 0) && buf[3001] == pat(20, 3001),
			      "dir %d: sync_for_cpu wrote beside the buffer", (int)dirs[i]);
		unmap_ok(d, dma, 3000, dirs[i], DMASPLIT_ATTR_SKIP_CPU_SYNC);
	}
	dmasplit_dev_close(d);
	free(buf);
	free(src);
}
END_TEST

START_TEST(unmap_copies_back_from_device)
{
	static const enum dmasplit_dir dirs[] = {
		DMASPLIT_FROM_DEVICE, DMASPLIT_BIDIRECTIONAL, DMASPLIT_TO_DEVICE,
	};
	static const char *const specs[] = { "sim:f,iommu=off,bounce=force", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(2 * G), *src = buf_new(3000);
	unsigned int i, j;

	for (j = 0; j < 2; j++) {
		struct dmasplit_dev *d = open_dev(specs[j]);

		for (i = 0; i < 3; i++) {
			uint64_t dma;

			fill(buf, 2 * G, 22);
			fill(src, 3000, 23);
			dma = map_ok(d, buf + 1, 3000, dirs[i], 0);
			if (dirs[i] == DMASPLIT_TO_DEVICE && j == 1) {
				/* Behind the IOMMU the direction is enforced. */
				expect_fault(d, dma, 3000, true, "write into TO_DEVICE");
			} else {
				expect_write(d, dma, src, 3000, specs[j]);
			}
			expect_pattern(buf, 2 * G, 22, "before unmap");
			unmap_ok(d, dma, 3000, dirs[i], 0);
			if (dirs[i] == DMASPLIT_TO_DEVICE) {
				expect_pattern(buf, 2 * G, 22, "a TO_DEVICE unmap copies nothing back");
				continue;
			}
			ck_assert_msg(first_diff(buf + 1, src, 3000) == 3000,
				      "%s dir %d: unmap did not copy back", specs[j], (int)dirs[i]);
			ck_assert_msg(buf[0] == pat(22, 0) && buf[3001] == pat(22, 3001),
				      "%s dir %d: unmap wrote beside the buffer", specs[j], (int)dirs[i]);
		}
		dmasplit_dev_close(d);
	}
	free(buf);
	free(src);
}
END_TEST

/* Bytes bounced on d since *mark, and a new mark. */
static uint64_t bounced_since(struct dmasplit_dev *d, uint64_t *mark)
{
	uint64_t now = stats_of(d).bytes_bounced, n = now - *mark;

	*mark = now;
	return n;
}

/*
 * SKIP_CPU_SYNC skips the copies back; the copy in at map or link is
 * made always, as the kernel's swiotlb does since its DMA_FROM_DEVICE
 * information-leak fix, so that a device never sees what an earlier
 * mapping left in the pool.
 */
START_TEST(skip_cpu_sync_skips_copies_back)
{
	struct dmasplit_dev *d = open_dev("sim:f,iommu=off,bounce=force");
	struct dmasplit_dev *u = open_dev("sim:u,untrusted=1");
	uint8_t *buf = buf_new(G), *src = buf_new(3000);
	uint64_t dma, mark = 0, umark = 0, at_map, at_map2, at_link, n;
	struct dmasplit_iova *iova;

	fill(buf, G, 24);
	fill(src, 3000, 25);
	bounced_since(d, &mark);
	dma = map_ok(d, buf, 3000, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	at_map = bounced_since(d, &mark);
	expect_write(d, dma, src, 3000, "device write");
	unmap_ok(d, dma, 3000, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	expect_pattern(buf, G, 24, "unmap with SKIP_CPU_SYNC");
	n = bounced_since(d, &mark);
	ck_assert_msg(n == 0, "unmap with SKIP_CPU_SYNC bounced %" PRIu64 " bytes, expected none", n);

	/* An explicit sync copies again, whatever the map did. */
	dma = map_ok(d, buf, 3000, DMASPLIT_TO_DEVICE, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	at_map2 = bounced_since(d, &mark);
	ck_assert_int_eq(dmasplit_sync_for_device(d, dma, 3000, DMASPLIT_TO_DEVICE), 0);
	n = bounced_since(d, &mark);
	ck_assert_msg(n == 3000, "an explicit sync of 3000 bytes bounced %" PRIu64, n);
	expect_read(d, dma, buf, 3000, "after the explicit sync");
	unmap_ok(d, dma, 3000, DMASPLIT_TO_DEVICE, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	dma = map_ok(d, buf, 3000, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, dma, 3000, DMASPLIT_TO_DEVICE, 0);
	n = bounced_since(d, &mark);
	ck_assert_msg(n == 3000, "TO_DEVICE map and unmap of 3000 bytes bounced %" PRIu64 ", expected 3000", n);

	/* A bounced link granule alike. */
	bounced_since(u, &umark);
	iova = window(u, G);
	link_ok(iova, 100, buf + 100, 200, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	at_link = bounced_since(u, &umark);
	sync_ok(iova, 100, 200);
	write_byte(u, dmasplit_iova_addr(iova) + 150, 0x5c);
	unlink_ok(iova, 100, 200, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
	expect_pattern(buf, G, 24, "unlink with SKIP_CPU_SYNC");
	n = bounced_since(u, &umark);
	ck_assert_msg(n == 0, "unlink with SKIP_CPU_SYNC bounced %" PRIu64 " bytes, expected none", n);
	dmasplit_iova_destroy(iova);

	ck_assert_msg(at_map == 3000 && at_map2 == 3000 && at_link == 200,
		      "with SKIP_CPU_SYNC the buffer is still copied in: BIDIRECTIONAL map bounced %" PRIu64 ", TO_DEVICE map %" PRIu64 ", link %" PRIu64 " bytes, expected 3000, 3000, 200",
		      at_map, at_map2, at_link);
	dmasplit_dev_close(d);
	dmasplit_dev_close(u);
	free(buf);
	free(src);
}
END_TEST

START_TEST(partial_sync_at_any_offset)
{
	static const char *const specs[] = { "sim:f,iommu=off,bounce=force", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(3 * G), *c = buf_new(10000), *want = buf_new(10000);
	unsigned int j;

	fill(c, 10000, 28);
	for (j = 0; j < 2; j++) {
		struct dmasplit_dev *d = open_dev(specs[j]);
		struct dmasplit_dev_stats s0 = stats_of(d), s1;
		uint64_t dma;
		size_t i;

		fill(buf, 3 * G, 26);
		dma = map_ok(d, buf + 3, 10000, DMASPLIT_BIDIRECTIONAL, 0);
		fill(buf, 3 * G, 27);
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma + 1234, 777, DMASPLIT_TO_DEVICE), 0);
		for (i = 0; i < 10000; i++)
			want[i] = i >= 1234 && i < 2011 ? pat(27, i + 3) : pat(26, i + 3);
		expect_read(d, dma, want, 10000, "after sync_for_device of 777 bytes at 1234");

		expect_write(d, dma, c, 10000, "device write");
		ck_assert_int_eq(dmasplit_sync_for_cpu(d, dma + 5001, 13, DMASPLIT_FROM_DEVICE), 0);
		for (i = 0; i < 3 * G; i++) {
			uint8_t w = i >= 5004 && i < 5017 ? c[i - 3] : pat(27, i);

			FAIL_UNLESS(buf[i] == w, "%s: after sync_for_cpu of 13 bytes at 5001, host byte %zu is 0x%02x, expected 0x%02x",
				    specs[j], i, buf[i], w);
		}
		unmap_ok(d, dma, 10000, DMASPLIT_BIDIRECTIONAL, DMASPLIT_ATTR_SKIP_CPU_SYNC);
		s1 = stats_of(d);
		ck_assert_msg(s1.bytes_bounced - s0.bytes_bounced == 10000 + 777 + 13,
			      "%s: %" PRIu64 " bytes bounced, expected %u", specs[j],
			      s1.bytes_bounced - s0.bytes_bounced, 10000 + 777 + 13);
		dmasplit_dev_close(d);
	}
	free(buf);
	free(c);
	free(want);
}
END_TEST

START_TEST(large_bounce_slots_start_on_4k)
{
	struct dmasplit_dev *d = open_dev("sim:f,iommu=off,bounce=force,pool=1M");
	uint8_t *buf = buf_new(4 * G);
	uint64_t small, a, b;

	small = map_ok(d, buf + 5, 100, DMASPLIT_TO_DEVICE, 0);
	a = map_ok(d, buf + 3, 5000, DMASPLIT_TO_DEVICE, 0);
	b = map_ok(d, buf + 1, 4096, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(a % G == 0 && b % G == 0,
		      "mappings of 4 KiB or more start on 4 KiB: got 0x%" PRIx64 " and 0x%" PRIx64, a, b);
	unmap_ok(d, small, 100, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, a, 5000, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, b, 4096, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(pool_exhaustion_is_enomem_and_harmless)
{
	struct dmasplit_dev *d = open_dev("sim:p,iommu=off,bounce=force,pool=256K");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(9 * 32768);
	uint64_t dma[9], x = 0;
	unsigned int i;
	int r;

	for (i = 0; i < 9; i++)
		fill(buf + i * 32768, 32768, 30 + i);
	for (i = 0; i < 8; i++)
		dma[i] = map_ok(d, buf + i * 32768, 32768, DMASPLIT_BIDIRECTIONAL, 0);
	s0 = stats_of(d);
	tu_log_clear();
	r = dmasplit_map(d, buf + 8 * 32768, 32768, DMASPLIT_BIDIRECTIONAL, 0, &x);
	ck_assert_msg(r == -ENOMEM && x == 0, "ninth 32 KiB mapping in 256 KiB: expected -ENOMEM, got %d", r);
	ck_assert_msg(tu_log_has("swiotlb buffer is full (sz: 32768 bytes), total 128 (slots), used 128 (slots)"),
		      "expected the kernel's pool-full line, log:\n%s", tu_log_text());
	r = dmasplit_map(d, buf, 100, DMASPLIT_TO_DEVICE, 0, &x);
	ck_assert_msg(r == -ENOMEM, "100 bytes in a full pool: expected -ENOMEM, got %d", r);
	ck_assert(tu_log_has("swiotlb buffer is full (sz: 100 bytes)"));
	s1 = stats_of(d);
	ck_assert_uint_eq(s1.maps, s0.maps);
	ck_assert_uint_eq(s1.bytes_bounced, s0.bytes_bounced);

	/* The others kept their slots and data. */
	for (i = 0; i < 8; i++)
		expect_read(d, dma[i], buf + i * 32768, 32768, "a mapping made before the pool filled");
	unmap_ok(d, dma[3], 32768, DMASPLIT_BIDIRECTIONAL, 0);
	dma[3] = map_ok(d, buf + 8 * 32768, 32768, DMASPLIT_BIDIRECTIONAL, 0);
	expect_read(d, dma[3], buf + 8 * 32768, 32768, "the mapping made after a free");
	for (i = 0; i < 8; i++)
		unmap_ok(d, dma[i], 32768, DMASPLIT_BIDIRECTIONAL, 0);
	for (i = 0; i < 9; i++)
		expect_pattern(buf + i * 32768, 32768, 30 + i, "after unmapping everything");
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(pool_size_rounds_up_to_whole_segments)
{
	static const struct {
		const char *pool;	/* NULL: the default, 64M */
		unsigned int segs;
	} cases[] = {
		{ "256K", 1 }, { "262144", 1 }, { "300K", 2 }, { "1M", 4 },
		{ NULL, 256 },
	};
	uint8_t *buf = buf_new(SEG);
	char spec[64], line[96];
	unsigned int i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmasplit_dev *d;
		uint64_t *dma = calloc(cases[i].segs, sizeof(*dma)), x;
		int r;

		ck_assert_ptr_nonnull(dma);
		if (cases[i].pool)
			snprintf(spec, sizeof(spec), "sim:p,iommu=off,bounce=force,pool=%s", cases[i].pool);
		else
			snprintf(spec, sizeof(spec), "sim:p,iommu=off,bounce=force");
		d = open_dev(spec);
		for (j = 0; j < cases[i].segs; j++)
			dma[j] = map_ok(d, buf, SEG, DMASPLIT_TO_DEVICE, 0);
		tu_log_clear();
		r = dmasplit_map(d, buf, SEG, DMASPLIT_TO_DEVICE, 0, &x);
		snprintf(line, sizeof(line), "total %u (slots)", cases[i].segs * 128);
		ck_assert_msg(r == -ENOMEM && tu_log_has(line),
			      "%s: mapping %u of a whole segment: expected -ENOMEM and \"%s\", got %d, log:\n%s",
			      spec, cases[i].segs + 1, line, r, tu_log_text());
		for (j = 0; j < cases[i].segs; j++)
			unmap_ok(d, dma[j], SEG, DMASPLIT_TO_DEVICE, 0);
		dmasplit_dev_close(d);
		free(dma);
	}
	free(buf);
}
END_TEST

START_TEST(mapping_never_crosses_a_segment)
{
	struct dmasplit_dev *d = open_dev("sim:p,iommu=off,bounce=force,pool=512K");
	uint8_t *buf = buf_new(SEG);
	uint64_t a, x, y, z, w = 0;
	int r;

	/* Slots 0-99, 100-127, 128-155, 156-255 of two segments; freeing
	 * the middle two leaves 56 free slots, but 28 on each side of the
	 * segment boundary. */
	a = map_ok(d, buf, 100 * 2048, DMASPLIT_TO_DEVICE, 0);
	x = map_ok(d, buf, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	y = map_ok(d, buf, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	z = map_ok(d, buf, 100 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, x, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, y, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	tu_log_clear();
	r = dmasplit_map(d, buf, 50 * 2048, DMASPLIT_TO_DEVICE, 0, &w);
	ck_assert_msg(r == -ENOMEM, "50 slots when only 28 are free in each segment: expected -ENOMEM, got %d at 0x%" PRIx64,
		      r, w);
	ck_assert_msg(tu_log_has("total 256 (slots), used 200 (slots)"), "log:\n%s", tu_log_text());
	x = map_ok(d, buf, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	y = map_ok(d, buf, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, x, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, y, 28 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, a, 100 * 2048, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, z, 100 * 2048, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(bounce_force_needs_iommu_off)
{
	struct dmasplit_dev *d = open_dev("sim:bf,bounce=force");
	struct dmasplit_dev_stats s;
	uint8_t *buf = buf_new(G);
	uint64_t dma;

	ck_assert_uint_eq(info_of(d).flags & DMASPLIT_DEV_BOUNCE, 0);
	dma = map_ok(d, buf + 5, 100, DMASPLIT_BIDIRECTIONAL, 0);
	ck_assert_msg(dma % G == 5, "a trusted translated map gave 0x%" PRIx64, dma);
	buf[6] = 0x21;
	ck_assert_msg(read_byte(d, dma + 1) == 0x21, "bounce=force bounced behind an IOMMU");
	unmap_ok(d, dma, 100, DMASPLIT_BIDIRECTIONAL, 0);
	s = stats_of(d);
	ck_assert_uint_eq(s.bytes_bounced, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(mapping_larger_than_a_segment_is_refused)
{
	struct dmasplit_dev *d = open_dev("sim:p,iommu=off,bounce=force,pool=1M");
	struct dmasplit_dev_stats s0, s1;
	uint8_t *buf = buf_new(SEG + 1);
	uint64_t dma = 0;
	int r;

	fill(buf, SEG + 1, 40);
	s0 = stats_of(d);
	tu_log_clear();
	r = dmasplit_map(d, buf, SEG + 1, DMASPLIT_TO_DEVICE, 0, &dma);
	ck_assert_msg(r == -EINVAL && dma == 0, "256 KiB + 1: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("\n") >= 1, "the refusal was not logged");
	s1 = stats_of(d);
	ck_assert_uint_eq(s1.maps, s0.maps);
	dma = map_ok(d, buf, SEG, DMASPLIT_TO_DEVICE, 0);
	expect_read(d, dma, buf, SEG, "a whole segment");
	unmap_ok(d, dma, SEG, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(coherent_memory_is_shared_without_syncs)
{
	static const struct {
		const char *spec;
		bool iommu;
		unsigned int mask;
		size_t gran;
	} cases[] = {
		{ "sim:c1", true, 64, 4096 },
		{ "sim:c2,untrusted=1", true, 64, 4096 },
		{ "sim:c3,coherent=0", true, 64, 4096 },
		{ "sim:c4,granule=65536", true, 64, 65536 },
		{ "sim:c5,mask=30", true, 30, 4096 },
		{ "sim:c6,iommu=off", false, 64, 4096 },
		{ "sim:c7,iommu=off,bounce=force", false, 64, 4096 },
		{ "sim:c8,iommu=off,mask=32", false, 32, 4096 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dmasplit_dev *d = open_dev(cases[i].spec);
		struct dmasplit_dev_stats s0 = stats_of(d), s1;
		const size_t size = 3 * G + 5;
		uint8_t *cpu = NULL, data[64];
		uint64_t dma = 0;
		size_t j;

		ck_assert_int_eq(dmasplit_alloc_coherent(d, size, 0, (void **)&cpu, &dma), 0);
		ck_assert_msg(cpu && dma && fits_mask(dma, size, cases[i].mask),
			      "%s: coherent memory %p at 0x%" PRIx64, cases[i].spec, (void *)cpu, dma);
		if (cases[i].iommu) {
			ck_assert_msg((uintptr_t)cpu % cases[i].gran == 0,
				      "%s: coherent memory %p is not granule aligned", cases[i].spec, (void *)cpu);
			for (j = 0; j < size; j++)
				FAIL_UNLESS(cpu[j] == 0, "%s: coherent byte %zu is 0x%02x, expected zero",
					    cases[i].spec, j, cpu[j]);
		} else {
			ck_assert_msg(dma == (uintptr_t)cpu, "%s: dma 0x%" PRIx64 " for memory at %p",
				      cases[i].spec, dma, (void *)cpu);
		}
		fill(cpu, size, 41);
		expect_read(d, dma, cpu, size, cases[i].spec);
		fill(data, sizeof(data), 42);
		expect_write(d, dma + size - sizeof(data), data, sizeof(data), cases[i].spec);
		ck_assert_msg(first_diff(cpu + size - sizeof(data), data, sizeof(data)) == sizeof(data),
			      "%s: the host did not see the device write", cases[i].spec);
		s1 = stats_of(d);
		ck_assert_msg(s1.bytes_bounced == s0.bytes_bounced, "%s: coherent memory bounced", cases[i].spec);
		ck_assert_int_eq(dmasplit_free_coherent(d, size, cpu, dma), 0);
		if (cases[i].iommu)
			expect_fault(d, dma, 1, false, "coherent memory after free");
		dmasplit_dev_close(d);
	}
}
END_TEST

START_TEST(map_vec_on_iommu_off_maps_each_buffer)
{
	struct dmasplit_dev *d = open_dev("sim:vo,iommu=off");
	struct dmasplit_dev *f = open_dev("sim:vf,iommu=off,bounce=force");
	uint8_t *buf = buf_new(4 * G);
	struct iovec iov[3] = {
		{ buf + 10, 100 }, { buf + 110, 200 }, { buf + 2 * G, 300 },
	};
	struct dmasplit_seg segs[3];
	unsigned int nsegs = 3, i;

	fill(buf, 4 * G, 43);
	ck_assert_int_eq(dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	/* The first two are contiguous in memory: they may merge. */
	if (nsegs == 2) {
		ck_assert_msg(segs[0].dma == (uintptr_t)(buf + 10) && segs[0].len == 300,
			      "merged direct segment 0x%" PRIx64 "+0x%" PRIx64, segs[0].dma, segs[0].len);
		ck_assert_uint_eq(segs[1].dma, (uintptr_t)(buf + 2 * G));
	} else {
		ck_assert_msg(nsegs == 3, "%u segments for 3 buffers", nsegs);
		for (i = 0; i < 3; i++)
			ck_assert_msg(segs[i].dma == (uintptr_t)iov[i].iov_base && segs[i].len == iov[i].iov_len,
				      "segment %u is 0x%" PRIx64 "+0x%" PRIx64 ", expected the buffer", i,
				      segs[i].dma, segs[i].len);
	}
	ck_assert_int_eq(dmasplit_unmap_vec(d, segs, nsegs, DMASPLIT_TO_DEVICE, 0), 0);

	nsegs = 3;
	ck_assert_int_eq(dmasplit_map_vec(f, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs), 0);
	ck_assert_msg(nsegs == 3, "bounced buffers: %u segments, expected one per buffer", nsegs);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(segs[i].len, iov[i].iov_len);
		ck_assert_msg(segs[i].dma != (uintptr_t)iov[i].iov_base, "buffer %u was not bounced", i);
		expect_read(f, segs[i].dma, iov[i].iov_base, iov[i].iov_len, "bounced segment");
	}
	ck_assert_int_eq(dmasplit_unmap_vec(f, segs, nsegs, DMASPLIT_TO_DEVICE, 0), 0);
	dmasplit_dev_close(d);
	dmasplit_dev_close(f);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Threads                                                              */

struct worker {
	struct dmasplit_dev *dev;
	unsigned int id;
	bool windows;
	char err[256];		/* empty: no failure */
};

/* Check's assertions cannot leave a thread: failures are reported back
 * and asserted on by the main thread. */
static void *work(void *arg)
{
	struct worker *w = arg;
	uint8_t *buf = aligned_alloc(K64, K64), *src = malloc(9000), *got = malloc(9000);
	unsigned int iter;

	if (!buf || !src || !got) {
		snprintf(w->err, sizeof(w->err), "thread %u: out of memory", w->id);
		goto out;
	}
	for (iter = 0; iter < 200 && !w->err[0]; iter++) {
		size_t off = (iter * 37u + w->id * 11u) % 3000u;
		size_t len = 1 + (iter * 101u + w->id) % 9000u;
		struct dmasplit_iova *iova;
		uint64_t dma;
		int r;

		fill(buf + off, len, w->id * 1000 + iter);
		fill(src, len, w->id * 1000 + iter + 500);
		r = dmasplit_map(w->dev, buf + off, len, DMASPLIT_BIDIRECTIONAL, 0, &dma);
		if (r) {
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: map of %zu bytes: got %d",
				 w->id, iter, len, r);
			break;
		}
		r = dmasplit_dev_dma_read(w->dev, dma, got, len);
		if (r || memcmp(got, buf + off, len)) {
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: device read got %d or other bytes",
				 w->id, iter, r);
			break;
		}
		r = dmasplit_dev_dma_write(w->dev, dma, src, len);
		if (!r)
			r = dmasplit_unmap(w->dev, dma, len, DMASPLIT_BIDIRECTIONAL, 0);
		if (r || memcmp(buf + off, src, len)) {
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: write and unmap got %d or other bytes",
				 w->id, iter, r);
			break;
		}
		if (!w->windows)
			continue;
		r = dmasplit_iova_alloc(w->dev, 3 * G, 0, &iova);
		if (r) {
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: window: got %d",
				 w->id, iter, r);
			break;
		}
		r = dmasplit_iova_link(iova, off % G, buf + off, len, DMASPLIT_TO_DEVICE, 0);
		if (!r)
			r = dmasplit_iova_sync(iova, off % G, len);
		if (!r)
			r = dmasplit_dev_dma_read(w->dev, dmasplit_iova_addr(iova) + off % G, got, len);
		if (r || memcmp(got, buf + off, len))
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: window read got %d or other bytes",
				 w->id, iter, r);
		else if ((r = dmasplit_iova_unlink(iova, off % G, len, DMASPLIT_TO_DEVICE, 0)))
			snprintf(w->err, sizeof(w->err), "thread %u iteration %u: unlink got %d",
				 w->id, iter, r);
		dmasplit_iova_destroy(iova);
	}
out:
	free(buf);
	free(src);
	free(got);
	return NULL;
}

/* Two threads working on one device, each on its own buffers. */
static void two_threads(const char *spec, bool windows)
{
	struct dmasplit_dev *d = open_dev(spec);
	struct dmasplit_dev_stats s;
	struct worker w[2];
	pthread_t th[2];
	unsigned int t;

	for (t = 0; t < 2; t++) {
		w[t].dev = d;
		w[t].id = t + 1;
		w[t].windows = windows;
		w[t].err[0] = '\0';
		ck_assert_int_eq(pthread_create(&th[t], NULL, work, &w[t]), 0);
	}
	for (t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	for (t = 0; t < 2; t++)
		ck_assert_msg(!w[t].err[0], "%s: %s; log:\n%s", spec, w[t].err, tu_log_text());
	s = stats_of(d);
	ck_assert_msg(s.mappings_live == 0 && s.windows_live == 0 && s.device_faults == 0,
		      "%s: %" PRIu64 " mappings, %" PRIu64 " windows live, %" PRIu64 " faults after the threads",
		      spec, s.mappings_live, s.windows_live, s.device_faults);
	dmasplit_dev_close(d);
}

START_TEST(concurrent_maps_from_two_threads)
{
	two_threads("sim:t1", false);
	two_threads("sim:t2,untrusted=1", false);
	two_threads("sim:t3,iommu=off,bounce=force", false);
	two_threads("sim:t4,iommu=off", false);
}
END_TEST

START_TEST(concurrent_windows_from_two_threads)
{
	two_threads("sim:t5", true);
	two_threads("sim:t6,untrusted=1", true);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Misuse, refused by the device itself                                 */

/*
 * These devices are opened with the checker off: the device must refuse
 * on its own what it does not hold, because that is how applications run.
 */
static struct dmasplit_dev *open_unchecked(const char *spec)
{
	dmasplit_ctx_set_check(ctx, 0);
	return open_dev(spec);
}

static const char *const every_device[] = {
	"sim:a", "sim:u,untrusted=1", "sim:d,iommu=off",
	"sim:b,iommu=off,bounce=force",
};

#define N_DEVICES (sizeof(every_device) / sizeof(every_device[0]))

/* A refused call: one of the errnos allowed, and one log line. */
static void expect_refused(int r, int e1, int e2, const char *spec,
			   const char *what)
{
	unsigned int lines = lines_with("");

	ck_assert_msg(r == e1 || r == e2, "%s: %s: expected %d or %d, got %d; log:\n%s",
		      spec, what, e1, e2, r, tu_log_text());
	ck_assert_msg(lines == 1, "%s: %s: expected one log line, got %u; log:\n%s",
		      spec, what, lines, tu_log_text());
	tu_log_clear();
}

static bool dev_translated(struct dmasplit_dev *d)
{
	return info_of(d).flags & DMASPLIT_DEV_TRANSLATED;
}

START_TEST(double_unmap_on_a_bounce_device_is_refused_and_the_pool_stays_intact)
{
	const char *spec = "sim:b,iommu=off,bounce=force";
	struct dmasplit_dev *d = open_unchecked(spec);
	uint8_t *buf = buf_new(2 * G), *other = buf_new(2 * G);
	uint8_t *src = buf_new(2 * G);
	uint64_t dma, a, b;

	dma = map_ok(d, buf, 2 * G, DMASPLIT_FROM_DEVICE, 0);
	fill(src, 2 * G, 1);
	expect_write(d, dma, src, 2 * G, "device write before unmap");
	unmap_ok(d, dma, 2 * G, DMASPLIT_FROM_DEVICE, 0);
	expect_pattern(buf, 2 * G, 1, "copied back at unmap");
	tu_log_clear();
	expect_refused(dmasplit_unmap(d, dma, 2 * G, DMASPLIT_FROM_DEVICE, 0),
		       -ENOENT, -ENOENT, spec, "second unmap");
	expect_refused(dmasplit_unmap(d, dma + G, G, DMASPLIT_FROM_DEVICE, 0),
		       -ENOENT, -EINVAL, spec, "unmap of its second page");
	expect_refused(dmasplit_unmap(d, dma + 2 * SEG, G, DMASPLIT_FROM_DEVICE, 0),
		       -ENOENT, -ENOENT, spec, "unmap of a slot never mapped");
	expect_refused(dmasplit_unmap(d, (uintptr_t)other, G, DMASPLIT_FROM_DEVICE, 0),
		       -ENOENT, -ENOENT, spec, "unmap of a host address never mapped");

	/* Had the slots been freed twice, two live mappings would share
	 * them: each must read its own bytes, and no byte of the other's. */
	fill(buf, 2 * G, 2);
	fill(other, 2 * G, 3);
	a = map_ok(d, buf, 2 * G, DMASPLIT_TO_DEVICE, 0);
	b = map_ok(d, other, 2 * G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(a + 2 * G <= b || b + 2 * G <= a,
		      "two live bounce mappings overlap: 0x%" PRIx64 " and 0x%" PRIx64, a, b);
	expect_read(d, a, buf, 2 * G, "first new mapping");
	expect_read(d, b, other, 2 * G, "second new mapping");
	unmap_ok(d, a, 2 * G, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, b, 2 * G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(stats_of(d).mappings_live == 0, "%" PRIu64 " mappings live, expected 0",
		      stats_of(d).mappings_live);
	tu_log_clear();
	dmasplit_dev_close(d);
	ck_assert_msg(!tu_log_has("still live"), "close reports live mappings:\n%s",
		      tu_log_text());
	free(buf);
	free(other);
	free(src);
}
END_TEST

START_TEST(double_unmap_is_refused_on_every_device)
{
	uint8_t *buf = buf_new(3 * G), *never = buf_new(G);
	unsigned int i;

	fill(buf, 3 * G, 4);
	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		uint64_t dma = map_ok(d, buf + 100, 5000, DMASPLIT_BIDIRECTIONAL, 0);

		unmap_ok(d, dma, 5000, DMASPLIT_BIDIRECTIONAL, 0);
		tu_log_clear();
		expect_refused(dmasplit_unmap(d, dma, 5000, DMASPLIT_BIDIRECTIONAL, 0),
			       -ENOENT, -ENOENT, spec, "second unmap");
		expect_refused(dmasplit_unmap(d, dma - 100 + G, G, DMASPLIT_BIDIRECTIONAL, 0),
			       -ENOENT, -EINVAL, spec, "unmap of its second page");
		expect_refused(dmasplit_unmap(d, dev_translated(d) ? dma + 64 * G : (uintptr_t)never,
					      G, DMASPLIT_BIDIRECTIONAL, 0),
			       -ENOENT, -ENOENT, spec, "unmap of an address never mapped");
		/* The device still maps and unmaps as before. */
		dma = map_ok(d, buf + 100, 5000, DMASPLIT_TO_DEVICE, 0);
		expect_read(d, dma, buf + 100, 5000, spec);
		unmap_ok(d, dma, 5000, DMASPLIT_TO_DEVICE, 0);
		tu_log_clear();
		dmasplit_dev_close(d);
		ck_assert_msg(!tu_log_has("still live"), "%s: close reports live mappings:\n%s",
			      spec, tu_log_text());
	}
	free(buf);
	free(never);
}
END_TEST

START_TEST(unmap_with_a_wrong_length_or_direction_changes_nothing)
{
	const size_t len = 3 * G - 200;
	uint8_t *buf = buf_new(4 * G);
	unsigned int i;

	fill(buf, 4 * G, 5);
	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		uint64_t dma = map_ok(d, buf + 100, len, DMASPLIT_TO_DEVICE, 0);
		const struct {
			uint64_t dma;
			size_t len;
			enum dmasplit_dir dir;
			const char *what;
		} bad[] = {
			{ dma, len - 1, DMASPLIT_TO_DEVICE, "one byte shorter" },
			{ dma, len + 1, DMASPLIT_TO_DEVICE, "one byte longer" },
			{ dma, G, DMASPLIT_TO_DEVICE, "its first page only" },
			{ dma + 1, len - 1, DMASPLIT_TO_DEVICE, "from its second byte" },
			{ dma - 100 + G, G, DMASPLIT_TO_DEVICE, "its middle page" },
			{ dma, len, DMASPLIT_FROM_DEVICE, "in another direction" },
			{ dma, len, DMASPLIT_BIDIRECTIONAL, "bidirectional" },
		};
		unsigned int j;

		tu_log_clear();
		for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			expect_refused(dmasplit_unmap(d, bad[j].dma, bad[j].len, bad[j].dir, 0),
				       -EINVAL, -ENOENT, spec, bad[j].what);
			expect_read(d, dma, buf + 100, len, bad[j].what);
		}
		unmap_ok(d, dma, len, DMASPLIT_TO_DEVICE, 0);
		if (dev_translated(d))
			expect_fault(d, dma, 1, false, "after the right unmap");
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

#define CACHE_PROBES 1500

START_TEST(refused_partial_unmap_keeps_the_iova_cache_out_of_live_mappings)
{
	struct dmasplit_dev *d = open_unchecked("sim:a");
	uint8_t *buf = buf_new(3 * G), *page = buf_new(G);
	uint64_t *got = calloc(CACHE_PROBES, sizeof(*got));
	uint64_t dma;
	unsigned int i;

	ck_assert_ptr_nonnull(got);
	fill(buf, 3 * G, 6);
	dma = map_ok(d, buf, 3 * G, DMASPLIT_TO_DEVICE, 0);
	tu_log_clear();
	expect_refused(dmasplit_unmap(d, dma + G, G, DMASPLIT_TO_DEVICE, 0),
		       -ENOENT, -EINVAL, "sim:a", "unmap of the middle page");
	/* Every address the per-CPU caches hold is handed out again. */
	for (i = 0; i < CACHE_PROBES; i++) {
		got[i] = map_ok(d, page, G, DMASPLIT_TO_DEVICE, 0);
		FAIL_UNLESS(got[i] + G <= dma || got[i] >= dma + 3 * G,
			    "map %u got 0x%" PRIx64 ", inside the live mapping 0x%" PRIx64 "+0x%x",
			    i, got[i], dma, 3 * G);
	}
	expect_read(d, dma, buf, 3 * G, "the live mapping after the other maps");
	for (i = 0; i < CACHE_PROBES; i++)
		unmap_ok(d, got[i], G, DMASPLIT_TO_DEVICE, 0);
	unmap_ok(d, dma, 3 * G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(d);
	free(got);
	free(buf);
	free(page);
}
END_TEST

/* Three buffers that no device merges into one segment. */
static unsigned int map_three(struct dmasplit_dev *d, uint8_t *buf,
			      struct dmasplit_seg *segs)
{
	struct iovec iov[3] = {
		{ buf + 100, 300 }, { buf + 2 * G + 50, 3000 }, { buf + 5 * G, 2 * G },
	};
	unsigned int nsegs = 3;
	int r = dmasplit_map_vec(d, iov, 3, DMASPLIT_TO_DEVICE, 0, segs, &nsegs);

	ck_assert_msg(r == 0 && nsegs == 3, "map_vec of 3 buffers: expected 0 and 3 segments, got %d and %u; log:\n%s",
		      r, nsegs, tu_log_text());
	return nsegs;
}

static void expect_segs_read(struct dmasplit_dev *d, const struct dmasplit_seg *s,
			     const uint8_t *buf, const char *what)
{
	static const size_t at[3] = { 100, 2 * G + 50, 5 * G };
	unsigned int i;

	for (i = 0; i < 3; i++)
		expect_read(d, s[i].dma, buf + at[i], s[i].len, what);
}

/* Without an IOMMU the same bytes are at the same device address in
 * every mapping of them: two vectors of one buffer start at one address,
 * and each must still unmap as itself, in either order. */
START_TEST(vectors_of_the_same_bytes_unmap_each_as_itself)
{
	const char *const specs[] = { "sim:f,iommu=off,mask=48", "sim:a" };
	uint8_t *buf = aligned_alloc(4096, 8192);
	unsigned int i, order;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < 2; i++) {
		for (order = 0; order < 2; order++) {
			struct dmasplit_dev *d = open_unchecked(specs[i]);
			struct iovec big = { buf, 8192 }, small = { buf, 4096 };
			struct dmasplit_seg vb, vs;
			unsigned int nb = 1, ns = 1;
			int r1, r2;

			ck_assert_int_eq(dmasplit_map_vec(d, &big, 1, DMASPLIT_BIDIRECTIONAL, 0, &vb, &nb), 0);
			ck_assert_int_eq(dmasplit_map_vec(d, &small, 1, DMASPLIT_BIDIRECTIONAL, 0, &vs, &ns), 0);
			if (order) {
				r1 = dmasplit_unmap_vec(d, &vb, 1, DMASPLIT_BIDIRECTIONAL, 0);
				r2 = dmasplit_unmap_vec(d, &vs, 1, DMASPLIT_BIDIRECTIONAL, 0);
			} else {
				r1 = dmasplit_unmap_vec(d, &vs, 1, DMASPLIT_BIDIRECTIONAL, 0);
				r2 = dmasplit_unmap_vec(d, &vb, 1, DMASPLIT_BIDIRECTIONAL, 0);
			}
			ck_assert_msg(r1 == 0 && r2 == 0,
				      "%s, %s first: expected both unmap_vec to give 0, got %d and %d; log:\n%s",
				      specs[i], order ? "the larger" : "the smaller",
				      r1, r2, tu_log_text());
			ck_assert_uint_eq(stats_of(d).mappings_live, 0);
			dmasplit_dev_close(d);
		}
	}
	free(buf);
}
END_TEST

START_TEST(unmap_vec_refuses_vectors_it_did_not_return)
{
	/* Segments by index: 0-2 of the vector, 3-5 of another one. */
	static const struct {
		unsigned int idx[3], n;
		const char *what;
	} bad[] = {
		{ { 1, 0 }, 2, "two segments swapped" },
		{ { 2, 1, 0 }, 3, "three segments reversed" },
		{ { 0, 2, 1 }, 3, "the last two swapped" },
		{ { 0, 1 }, 2, "the first two only" },
		{ { 1, 2 }, 2, "the last two only" },
		{ { 0, 0, 1 }, 3, "the first segment twice" },
		{ { 0, 1, 1 }, 3, "the second segment twice" },
		{ { 0, 1, 5 }, 3, "another vector's last segment" },
		{ { 3, 1, 2 }, 3, "another vector's first segment" },
	};
	uint8_t *buf = buf_new(8 * G), *obuf = buf_new(8 * G);
	unsigned int i, j, k;

	fill(buf, 8 * G, 7);
	fill(obuf, 8 * G, 8);
	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		struct dmasplit_seg s[6], v[3];
		int r;

		map_three(d, buf, s);
		map_three(d, obuf, s + 3);
		tu_log_clear();
		for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			for (k = 0; k < bad[j].n; k++)
				v[k] = s[bad[j].idx[k]];
			r = dmasplit_unmap_vec(d, v, bad[j].n, DMASPLIT_TO_DEVICE, 0);
			/* The device's refusal, and its line saying
			 * nothing was unmapped. */
			ck_assert_msg(r == -EINVAL, "%s: unmap_vec, %s: expected -EINVAL, got %d",
				      spec, bad[j].what, r);
			ck_assert_msg(lines_with("nothing unmapped") == 1,
				      "%s: unmap_vec, %s: expected the device's one refusal line; log:\n%s",
				      spec, bad[j].what, tu_log_text());
			tu_log_clear();
			expect_segs_read(d, s, buf, bad[j].what);
			expect_segs_read(d, s + 3, obuf, bad[j].what);
		}
		/* A vector's segment is not a dmasplit_map mapping. */
		expect_refused(dmasplit_unmap(d, s[1].dma, s[1].len, DMASPLIT_TO_DEVICE, 0),
			       -EINVAL, -ENOENT, spec, "unmap of a vector's segment");
		expect_refused(dmasplit_unmap_vec(d, s, 3, DMASPLIT_FROM_DEVICE, 0),
			       -EINVAL, 0, spec, "unmap_vec in another direction");
		r = dmasplit_unmap_vec(d, s, 3, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(r == 0, "%s: the right unmap_vec: expected 0, got %d; log:\n%s",
			      spec, r, tu_log_text());
		if (dev_translated(d))
			for (k = 0; k < 3; k++)
				expect_fault(d, s[k].dma, 1, false, "after unmap_vec");
		expect_segs_read(d, s + 3, obuf, "the other vector");
		tu_log_clear();
		r = dmasplit_unmap_vec(d, s, 3, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(lines_with("nothing unmapped") == 1,
			      "%s: second unmap_vec (got %d): expected the device's one refusal line; log:\n%s",
			      spec, r, tu_log_text());
		r = dmasplit_unmap_vec(d, s + 3, 3, DMASPLIT_TO_DEVICE, 0);
		ck_assert_msg(r == 0, "%s: the other unmap_vec: expected 0, got %d; log:\n%s",
			      spec, r, tu_log_text());
		dmasplit_dev_close(d);
	}
	free(buf);
	free(obuf);
}
END_TEST

/* Whether p lies in a mapping of this process (/proc/self/maps). */
static bool in_process_maps(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;
	char line[512];
	bool found = false;

	ck_assert_msg(f != NULL, "/proc/self/maps: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
			(uintptr_t)p >= lo && (uintptr_t)p < hi;
	fclose(f);
	return found;
}

START_TEST(coherent_memory_left_at_close_is_released)
{
	static const char *const specs[] = {
		"sim:a", "sim:g,granule=65536", "sim:d,iommu=off",
	};
	unsigned int i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct dmasplit_dev *d = open_unchecked(specs[i]);
		void *cpu = NULL;
		uint64_t dma = 0;
		int r = dmasplit_alloc_coherent(d, 3 * G + 5, 0, &cpu, &dma);

		ck_assert_msg(r == 0, "%s: alloc_coherent: expected 0, got %d; log:\n%s",
			      specs[i], r, tu_log_text());
		memset(cpu, 0x5a, 3 * G + 5);
		dmasplit_dev_close(d);
		/* The pages themselves are gone, not merely unmapped from
		 * the device. */
		ck_assert_msg(!in_process_maps(cpu),
			      "%s: coherent memory at %p is still mapped after close",
			      specs[i], cpu);
	}
}
END_TEST

/* Two threads syncing and mapping on one device: every invalidation
 * each makes is counted, none lost. */
#define COUNT_ITERS 20000

struct counter_worker {
	struct dmasplit_dev *dev;
	char err[200];
};

static void *count_work(void *arg)
{
	struct counter_worker *w = arg;
	uint8_t *buf = aligned_alloc(G, 2 * G);
	struct dmasplit_iova *iova = NULL;
	unsigned int i;
	uint64_t dma;
	int r;

	if (!buf || dmasplit_iova_alloc(w->dev, 2 * G, 0, &iova)) {
		snprintf(w->err, sizeof(w->err), "no buffer or window");
		free(buf);
		return NULL;
	}
	for (i = 0; i < COUNT_ITERS; i++) {
		r = dmasplit_map(w->dev, buf, G, DMASPLIT_TO_DEVICE, 0, &dma);
		if (!r)
			r = dmasplit_unmap(w->dev, dma, G, DMASPLIT_TO_DEVICE, 0);
		if (!r)
			r = dmasplit_iova_link(iova, 0, buf, G, DMASPLIT_TO_DEVICE, 0);
		if (!r)
			r = dmasplit_iova_sync(iova, 0, G);
		if (!r)
			r = dmasplit_iova_unlink(iova, 0, G, DMASPLIT_TO_DEVICE, 0);
		if (r) {
			snprintf(w->err, sizeof(w->err), "iteration %u: got %d", i, r);
			break;
		}
	}
	dmasplit_iova_destroy(iova);
	free(buf);
	return NULL;
}

START_TEST(invalidation_count_is_exact_from_two_threads)
{
	struct dmasplit_dev *d = open_unchecked("sim:c");
	uint64_t before = stats_of(d).kernel_calls, after;
	struct counter_worker w[2] = { { .dev = d }, { .dev = d } };
	pthread_t th[2];
	unsigned int t;

	for (t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, count_work, &w[t]), 0);
	for (t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	for (t = 0; t < 2; t++)
		ck_assert_msg(!w[t].err[0], "thread %u: %s; log:\n%s", t, w[t].err,
			      tu_log_text());
	after = stats_of(d).kernel_calls;
	/* map, unmap, iova_sync and iova_unlink: one invalidation each. */
	ck_assert_msg(after - before == 2ull * COUNT_ITERS * 4,
		      "kernel_calls went up by %" PRIu64 ", expected %llu",
		      after - before, 2ull * COUNT_ITERS * 4);
	dmasplit_dev_close(d);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Without an IOMMU the same bytes may be mapped twice: a sync from the
 * start of a short mapping into the rest of a longer one that holds it
 * is right, and the device must not refuse it. */
START_TEST(sync_inside_a_longer_mapping_of_the_same_bytes_is_not_refused)
{
	uint8_t *buf = buf_new(4 * G);
	struct dmasplit_dev *d = open_unchecked("sim:d,iommu=off");
	uint64_t outer = map_ok(d, buf, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
	uint64_t inner = map_ok(d, buf + 100, 10, DMASPLIT_BIDIRECTIONAL, 0);
	int r;

	ck_assert_uint_eq(inner, outer + 100);
	r = dmasplit_sync_for_cpu(d, inner, 2 * G, DMASPLIT_BIDIRECTIONAL);
	ck_assert_msg(r == 0, "sync inside the longer mapping: expected 0, got %d; log:\n%s",
		      r, tu_log_text());
	/* Longer than any mapping held: surely outside. */
	ck_assert_int_eq(dmasplit_sync_for_cpu(d, inner, 8 * G, DMASPLIT_BIDIRECTIONAL),
			 -EINVAL);
	unmap_ok(d, inner, 10, DMASPLIT_BIDIRECTIONAL, 0);
	unmap_ok(d, outer, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
	dmasplit_dev_close(d);
	free(buf);
}
END_TEST

START_TEST(sync_outside_one_mapping_is_refused_at_once)
{
	uint8_t *buf = buf_new(4 * G), *never = buf_new(G);
	unsigned int i;

	fill(buf, 4 * G, 9);
	for (i = 0; i < N_DEVICES; i++) {
		const char *spec = every_device[i];
		struct dmasplit_dev *d = open_unchecked(spec);
		bool direct = strstr(spec, "iommu=off") && !strstr(spec, "bounce");
		uint64_t dma = map_ok(d, buf + 100, 2 * G, DMASPLIT_TO_DEVICE, 0);
		double t0 = now_s(), took;

		tu_log_clear();
		expect_refused(dmasplit_sync_for_cpu(d, dma, 1ull << 40, DMASPLIT_TO_DEVICE),
			       -ENOENT, -EINVAL, spec, "sync_for_cpu of 2^40 bytes");
		took = now_s() - t0;
		ck_assert_msg(took < 1.0, "%s: the refusal of a 2^40-byte sync took %.1f s",
			      spec, took);
		expect_refused(dmasplit_sync_for_device(d, dma, 2 * G + 1, DMASPLIT_TO_DEVICE),
			       -EINVAL, -ENOENT, spec, "sync one byte longer than the mapping");
		if (!direct) {
			/* A direct mapping is known by its start only: the
			 * rest of host memory is reachable anyway. */
			expect_refused(dmasplit_sync_for_device(d, dev_translated(d) ? dma + 64 * G
										   : dma + SEG,
								G, DMASPLIT_TO_DEVICE),
				       -ENOENT, -ENOENT, spec, "sync of an address never mapped");
			expect_refused(dmasplit_sync_for_cpu(d, dma, 16, DMASPLIT_FROM_DEVICE),
				       -EINVAL, -EINVAL, spec, "sync in another direction");
		}
		ck_assert_int_eq(dmasplit_sync_for_device(d, dma + 10, 2 * G - 10,
							  DMASPLIT_TO_DEVICE), 0);
		unmap_ok(d, dma, 2 * G, DMASPLIT_TO_DEVICE, 0);
		tu_log_clear();
		if (!direct)
			expect_refused(dmasplit_sync_for_cpu(d, dma, 16, DMASPLIT_TO_DEVICE),
				       -ENOENT, -EINVAL, spec, "sync after unmap");
		dmasplit_dev_close(d);
	}
	free(buf);
	free(never);
}
END_TEST

START_TEST(window_sync_and_unlink_of_nothing_linked_are_refused)
{
	static const char *const specs[] = { "sim:a", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(4 * G);
	unsigned int i;

	fill(buf, 4 * G, 10);
	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *d = open_unchecked(specs[i]);
		struct dmasplit_iova *w = window(d, 4 * G);
		uint64_t base = dmasplit_iova_addr(w);

		link_ok(w, G, buf + G, G, DMASPLIT_TO_DEVICE, 0);
		tu_log_clear();
		expect_refused(dmasplit_iova_sync(w, 2 * G, G), -ENOENT, -ENOENT,
			       specs[i], "iova_sync of a page not linked");
		expect_refused(dmasplit_iova_unlink(w, 3 * G, G, DMASPLIT_TO_DEVICE, 0),
			       -ENOENT, -ENOENT, specs[i], "unlink of a page not linked");
		/* Holes in a range are a batch's whole-window sync. */
		sync_ok(w, 0, 4 * G);
		expect_read(d, base + G, buf + G, G, specs[i]);
		expect_refused(dmasplit_sync_for_cpu(d, base + 2 * G, 16, DMASPLIT_TO_DEVICE),
			       -ENOENT, -ENOENT, specs[i], "sync_for_cpu of a window page not linked");
		expect_refused(dmasplit_sync_for_cpu(d, base + G, 2 * G, DMASPLIT_TO_DEVICE),
			       -ENOENT, -ENOENT, specs[i], "sync_for_cpu past the link");
		unlink_ok(w, 0, 4 * G, DMASPLIT_TO_DEVICE, 0);
		expect_refused(dmasplit_iova_unlink(w, G, G, DMASPLIT_TO_DEVICE, 0),
			       -ENOENT, -ENOENT, specs[i], "second unlink");
		dmasplit_iova_destroy(w);
		dmasplit_dev_close(d);
	}
	free(buf);
}
END_TEST

START_TEST(link_over_a_link_is_refused_and_changes_nothing)
{
	static const char *const specs[] = { "sim:a", "sim:u,untrusted=1" };
	uint8_t *buf = buf_new(4 * G), *other = buf_new(4 * G);
	unsigned int i;

	fill(buf, 4 * G, 11);
	fill(other, 4 * G, 12);
	for (i = 0; i < 2; i++) {
		struct dmasplit_dev *d = open_unchecked(specs[i]);
		struct dmasplit_iova *w = window(d, 4 * G);
		uint64_t base = dmasplit_iova_addr(w);

		link_ok(w, 100, buf + 100, 2 * G - 200, DMASPLIT_TO_DEVICE, 0);
		sync_ok(w, 0, 2 * G);
		tu_log_clear();
		expect_refused(dmasplit_iova_link(w, G, other + G, 2 * G, DMASPLIT_TO_DEVICE, 0),
			       -EEXIST, -EEXIST, specs[i], "link over the second page");
		expect_refused(dmasplit_iova_link(w, 2 * G - 50, other + 2 * G - 50, 10,
						  DMASPLIT_TO_DEVICE, 0),
			       -EEXIST, -EEXIST, specs[i], "link into the linked tail granule");
		expect_read(d, base + 100, buf + 100, 2 * G - 200, specs[i]);
		/* The page after the link was taken back with the refusal. */
		expect_fault(d, base + 2 * G, 1, false, "the page the refused link began");
		unlink_ok(w, 100, 2 * G - 200, DMASPLIT_TO_DEVICE, 0);
		link_ok(w, G, other + G, 2 * G, DMASPLIT_TO_DEVICE, 0);
		sync_ok(w, G, 2 * G);
		expect_read(d, base + G, other + G, 2 * G, "after the link is free");
		dmasplit_iova_destroy(w);
		dmasplit_dev_close(d);
	}
	free(buf);
	free(other);
}
END_TEST


/* ------------------------------------------------------------------ */
/* Shared address spaces (as=NAME)                                      */

static void expect_open_fails(const char *spec, int err, const char *needle)
{
	struct dmasplit_dev *d = NULL;
	int r;

	tu_log_clear();
	r = dmasplit_dev_open(ctx, spec, &d);
	ck_assert_msg(r == err, "open %s: expected %d, got %d; log:\n%s", spec,
		      err, r, tu_log_text());
	ck_assert_ptr_null(d);
	ck_assert_msg(tu_log_count(needle) == 1,
		      "open %s: expected one line naming '%s'; log:\n%s", spec,
		      needle, tu_log_text());
	tu_log_clear();
}

START_TEST(members_report_their_space_and_others_none)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=pool0,mask=40");
	struct dmasplit_dev *b = open_dev("sim:b,as=pool0");
	struct dmasplit_dev *c = open_dev("sim:c,mask=40");

	ck_assert_str_eq(info_of(a).address_space, "pool0");
	ck_assert_str_eq(info_of(b).address_space, "pool0");
	ck_assert_str_eq(info_of(c).address_space, "");
	/* as= is the core's: the backend's own options stay as they were. */
	ck_assert_uint_eq(info_of(a).dma_mask_bits, 40);
	dmasplit_dev_close(c);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
}
END_TEST

START_TEST(window_linked_on_one_member_is_read_and_written_by_another)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=pool0");
	struct dmasplit_dev *b = open_dev("sim:b,as=pool0");
	struct dmasplit_dev *out = open_dev("sim:out");
	uint8_t *buf = buf_new(4 * G), *data = buf_new(G);
	struct dmasplit_iova *w = window(a, 4 * G);
	uint64_t addr = dmasplit_iova_addr(w);

	fill(buf, 4 * G, 21);
	link_ok(w, 0, buf, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(b, addr, 1, false, "linked on a, not synced yet");
	sync_ok(w, 0, 4 * G);
	expect_read(b, addr, buf, 4 * G, "member b reads a's window");
	fill(data, G, 22);
	expect_write(b, addr + G, data, G, "member b writes a's window");
	expect_pattern(buf + G, G, 22, "host after b's write");
	expect_read(a, addr + G, data, G, "a sees b's write");
	/* One page table for the space, none for the device outside. */
	expect_fault(out, addr, 1, false, "a device outside the space");
	unlink_ok(w, 0, 4 * G, DMASPLIT_BIDIRECTIONAL, 0);
	expect_fault(b, addr, 1, false, "after a's unlink");
	dmasplit_iova_destroy(w);
	dmasplit_dev_close(out);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(data);
	free(buf);
}
END_TEST

START_TEST(three_members_reach_every_map_at_one_address)
{
	static const char *const specs[] = {
		"sim:m0,as=tri", "sim:m1,as=tri,untrusted=1", "sim:m2,as=tri",
	};
	struct dmasplit_dev *d[3];
	uint8_t *buf[3];
	uint64_t dma[3];
	unsigned int i, j;

	for (i = 0; i < 3; i++)
		d[i] = open_dev(specs[i]);
	for (i = 0; i < 3; i++) {
		buf[i] = buf_new(2 * G);
		fill(buf[i], 2 * G, 30 + i);
		dma[i] = map_ok(d[i], buf[i], 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
		for (j = 0; j < i; j++)
			ck_assert_msg(dma[i] != dma[j], "members %u and %u got one address 0x%" PRIx64,
				      i, j, dma[i]);
	}
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			expect_read(d[j], dma[i], buf[i], 2 * G,
				    "a member reads another's map");
	/* A map_vec and coherent memory are the space's too. */
	{
		struct iovec iov[2] = { { buf[0], G }, { buf[1] + G, G } };
		struct dmasplit_seg segs[2];
		unsigned int n = 2;
		void *cpu;
		uint64_t cdma;

		ck_assert_int_eq(dmasplit_map_vec(d[2], iov, 2,
						  DMASPLIT_TO_DEVICE, 0, segs,
						  &n), 0);
		expect_read(d[0], segs[0].dma, buf[0], G, "vector seg 0 from m0");
		expect_read(d[1], segs[n - 1].dma + segs[n - 1].len - G,
			    buf[1] + G, G, "vector's last granule from m1");
		ck_assert_int_eq(dmasplit_unmap_vec(d[2], segs, n,
						    DMASPLIT_TO_DEVICE, 0), 0);
		ck_assert_int_eq(dmasplit_alloc_coherent(d[1], G, 0, &cpu,
							 &cdma), 0);
		memset(cpu, 0x5c, G);
		ck_assert_msg(read_byte(d[0], cdma + 7) == 0x5c,
			      "m0 reads m1's coherent memory");
		ck_assert_int_eq(dmasplit_free_coherent(d[1], G, cpu, cdma), 0);
	}
	for (i = 0; i < 3; i++) {
		unmap_ok(d[i], dma[i], 2 * G, DMASPLIT_BIDIRECTIONAL, 0);
		for (j = 0; j < 3; j++)
			expect_fault(d[j], dma[i], 1, false, "after the unmap");
	}
	for (i = 0; i < 3; i++) {
		dmasplit_dev_close(d[i]);
		free(buf[i]);
	}
}
END_TEST

START_TEST(only_the_member_that_mapped_unmaps_or_syncs)
{
	struct dmasplit_dev *a, *b;
	uint8_t *buf = buf_new(G);
	uint64_t dma;
	int r;

	/* The library's checker would refuse first: the device must, on
	 * its own. */
	dmasplit_ctx_set_check(ctx, 0);
	a = open_dev("sim:a,as=own");
	b = open_dev("sim:b,as=own");
	dma = map_ok(a, buf, G, DMASPLIT_TO_DEVICE, 0);
	r = dmasplit_unmap(b, dma, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(r == -EINVAL, "b unmaps a's map: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("another device of address space own mapped it") == 1,
		      "expected one line naming the owner's space; log:\n%s",
		      tu_log_text());
	fill(buf, G, 40);
	expect_read(b, dma, buf, G, "a's map after b's refused unmap");
	tu_log_clear();
	r = dmasplit_sync_for_cpu(b, dma, G, DMASPLIT_TO_DEVICE);
	ck_assert_msg(r == -EINVAL, "b syncs a's map: expected -EINVAL, got %d", r);
	ck_assert_msg(tu_log_count("another device of address space own mapped it") == 1,
		      "expected one line naming the owner's space; log:\n%s",
		      tu_log_text());
	unmap_ok(a, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(buf);
}
END_TEST

START_TEST(addresses_fit_the_smallest_mask_of_the_members)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=m");
	struct dmasplit_dev *b = open_dev("sim:b,as=m,mask=24");
	struct dmasplit_iova *w = NULL, *w2;
	int r;

	/* 16 MiB of addresses below b's mask, less the first granule. */
	w2 = window(a, 8u << 20);
	ck_assert_msg(dmasplit_iova_addr(w2) + (8u << 20) - 1 < (1u << 24),
		      "window 0x%" PRIx64 " of a member beyond b's 24-bit mask",
		      dmasplit_iova_addr(w2));
	r = dmasplit_iova_alloc(a, 8u << 20, 0, &w);
	ck_assert_msg(r == -ENOSPC, "a second 8 MiB window below 2^24: expected -ENOSPC, got %d", r);
	dmasplit_dev_close(b);
	/* The narrow member gone, a reaches its whole width again. */
	w = window(a, 8u << 20);
	ck_assert_msg(dmasplit_iova_addr(w) + (8u << 20) - 1 >= (1u << 24),
		      "second window at 0x%" PRIx64 ", expected beyond 2^24",
		      dmasplit_iova_addr(w));
	dmasplit_iova_destroy(w);
	dmasplit_iova_destroy(w2);
	dmasplit_dev_close(a);
}
END_TEST

START_TEST(late_joiner_that_cannot_reach_a_mapping_is_refused)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=late");
	struct dmasplit_dev *c;
	uint8_t *buf = buf_new(G);
	struct dmasplit_iova *w = window(a, 2u << 20);
	uint64_t dma;

	fill(buf, G, 50);
	dma = map_ok(a, buf, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(dma >= (1u << 20), "map at 0x%" PRIx64 ", above the window", dma);
	expect_open_fails("sim:b,as=late,mask=20", -ERANGE,
			  "as=late: the device reaches 0xfffff (mask=20), but address space late has windows or mappings up to 0x");
	/* Nothing changed for the space. */
	expect_read(a, dma, buf, G, "a's map after the refused join");
	/* One that reaches everything mapped joins, and sees it. */
	c = open_dev("sim:c,as=late,mask=32");
	expect_read(c, dma, buf, G, "the later member reads the map");
	unmap_ok(a, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_iova_destroy(w);
	/* Nothing is mapped now beyond 2^20: the narrow device may join. */
	dmasplit_dev_close(open_dev("sim:b,as=late,mask=20"));
	dmasplit_dev_close(c);
	dmasplit_dev_close(a);
	free(buf);
}
END_TEST

START_TEST(as_is_refused_where_it_cannot_hold)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=g,granule=16384");

	expect_open_fails("sim:b,as=g", -EINVAL, "one page table has one granule");
	expect_open_fails("sim:c,iommu=off,as=h", -EINVAL, "as=h");
	expect_open_fails("sim:d,as=", -EINVAL, "as=: expected a name");
	expect_open_fails("sim:e,as=x,as=y", -EINVAL, "'as' repeated");
	expect_open_fails("sim:f,as=a/b", -EINVAL, "as=a/b: expected a name");
	dmasplit_dev_close(a);
}
END_TEST

START_TEST(closing_the_creator_removes_its_windows_and_maps_for_all)
{
	struct dmasplit_dev *a, *b;
	uint8_t *buf = buf_new(2 * G);
	struct dmasplit_iova *w;
	uint64_t addr, dma;

	/* Without the checker, so that the device itself must take what
	 * a closing member left. */
	dmasplit_ctx_set_check(ctx, 0);
	a = open_dev("sim:a,as=cl");
	b = open_dev("sim:b,as=cl");
	fill(buf, 2 * G, 60);
	w = window(a, G);
	addr = dmasplit_iova_addr(w);
	link_ok(w, 0, buf, G, DMASPLIT_TO_DEVICE, 0);
	sync_ok(w, 0, G);
	dma = map_ok(a, buf + G, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(a);
	/* The window keeps a: all of it stays until the window goes. */
	expect_read(b, addr, buf, G, "a's window after a's close");
	expect_read(b, dma, buf + G, G, "a's map while its window keeps a");
	dmasplit_iova_destroy(w);
	expect_fault(b, addr, 1, false, "a's window once destroyed");
	expect_fault(b, dma, 1, false, "a's map, gone with a");
	/* The space lives on with b: b maps and reads as before. */
	dma = map_ok(b, buf, G, DMASPLIT_TO_DEVICE, 0);
	expect_read(b, dma, buf, G, "b after a is gone");
	unmap_ok(b, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(b);
	free(buf);
}
END_TEST

START_TEST(spaces_are_per_context_and_vanish_with_their_last_member)
{
	struct dmasplit_ctx *other = NULL;
	struct dmasplit_dev *a = open_dev("sim:a,as=p"), *x = NULL, *a2;
	uint8_t *buf = buf_new(G);
	uint64_t dma;

	ck_assert_int_eq(dmasplit_ctx_new(&other), 0);
	ck_assert_int_eq(dmasplit_ctx_set_backend_path(other,
			 getenv("DMASPLIT_TEST_BACKENDS")), 0);
	ck_assert_int_eq(dmasplit_dev_open(other, "sim:x,as=p", &x), 0);
	fill(buf, G, 70);
	dma = map_ok(a, buf, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_int_eq(dmasplit_dev_dma_read(x, dma, &(uint8_t){ 0 }, 1),
			 -EFAULT);
	unmap_ok(a, dma, G, DMASPLIT_TO_DEVICE, 0);
	dmasplit_dev_close(a);
	/* A new space of the same name: a granule the old one refused. */
	a2 = open_dev("sim:a2,as=p,granule=65536");
	dmasplit_dev_close(a2);
	dmasplit_dev_close(x);
	dmasplit_ctx_unref(other);
	free(buf);
}
END_TEST

START_TEST(stats_count_an_invalidation_once_for_the_space)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=st");
	struct dmasplit_dev *b = open_dev("sim:b,as=st");
	uint8_t *buf = buf_new(G);
	uint64_t before = stats_of(b).kernel_calls, dma;

	dma = map_ok(a, buf, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_msg(stats_of(b).kernel_calls == before + 1,
		      "b's space count after a's map: expected %" PRIu64 ", got %" PRIu64,
		      before + 1, stats_of(b).kernel_calls);
	ck_assert_uint_eq(stats_of(a).kernel_calls, stats_of(b).kernel_calls);
	unmap_ok(a, dma, G, DMASPLIT_TO_DEVICE, 0);
	ck_assert_uint_eq(stats_of(b).kernel_calls, before + 2);
	/* The library's own counts stay the device's. */
	ck_assert_uint_eq(stats_of(b).maps, 0);
	ck_assert_uint_eq(stats_of(a).maps, 1);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(buf);
}
END_TEST

START_TEST(batch_on_one_member_is_read_by_another)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=bt");
	struct dmasplit_dev *b = open_dev("sim:b,as=bt");
	uint8_t *buf = buf_new(4 * G), *want = buf_new(3 * G);
	const struct dmasplit_seg *segs;
	struct dmasplit_batch *bt = NULL;
	unsigned int n, i;
	size_t off = 0;
	uint64_t first;

	fill(buf, 4 * G, 80);
	ck_assert_int_eq(dmasplit_batch_new(a, DMASPLIT_TO_DEVICE, 0, &bt), 0);
	ck_assert_int_eq(dmasplit_batch_add(bt, buf, G), 0);
	ck_assert_int_eq(dmasplit_batch_add(bt, buf + 2 * G, 2 * G), 0);
	ck_assert_int_eq(dmasplit_batch_map(bt, &segs, &n), 0);
	ck_assert_int_eq(dmasplit_batch_uses_window(bt), 1);
	/* The segments, in order, carry the buffers in order. */
	memcpy(want, buf, G);
	memcpy(want + G, buf + 2 * G, 2 * G);
	for (i = 0; i < n; i++) {
		expect_read(b, segs[i].dma, want + off, segs[i].len,
			    "b reads a's batch");
		off += segs[i].len;
	}
	ck_assert_uint_eq(off, 3 * G);
	/* The segments are the batch's: gone with its unmap. */
	first = segs[0].dma;
	ck_assert_int_eq(dmasplit_batch_unmap(bt), 0);
	expect_fault(b, first, 1, false, "after the batch's unmap");
	dmasplit_batch_free(bt);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
	free(want);
	free(buf);
}
END_TEST

struct member_thread {
	struct dmasplit_dev *self, *peer;
	unsigned int seed;
	int failures;
};

/* Each thread maps on its own member and reads through the other:
 * one allocator, one table, two devices at once. */
static void *member_thread(void *arg)
{
	struct member_thread *t = arg;
	uint8_t *buf = aligned_alloc(G, 4 * G), got[64];
	unsigned int i;

	if (!buf)
		return NULL;
	for (i = 0; i < 2000; i++) {
		size_t len = G * (1 + (i + t->seed) % 4);
		uint64_t dma;

		memset(buf, (int)(t->seed + i), len);
		if (dmasplit_map(t->self, buf, len, DMASPLIT_TO_DEVICE, 0,
				 &dma) < 0) {
			t->failures++;
			continue;
		}
		if (dmasplit_dev_dma_read(t->peer, dma + len - sizeof(got),
					  got, sizeof(got)) < 0 ||
		    got[0] != (uint8_t)(t->seed + i) ||
		    got[sizeof(got) - 1] != (uint8_t)(t->seed + i))
			t->failures++;
		if (dmasplit_unmap(t->self, dma, len, DMASPLIT_TO_DEVICE,
				   0) < 0)
			t->failures++;
	}
	free(buf);
	return NULL;
}

START_TEST(members_map_from_two_threads_at_once)
{
	struct dmasplit_dev *a = open_dev("sim:a,as=thr");
	struct dmasplit_dev *b = open_dev("sim:b,as=thr,mask=32");
	struct member_thread t[2] = {
		{ .self = a, .peer = b, .seed = 1 },
		{ .self = b, .peer = a, .seed = 101 },
	};
	pthread_t th[2];
	unsigned int i;

	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, member_thread,
						&t[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++)
		ck_assert_msg(t[i].failures == 0, "thread %u: %d failed steps; log:\n%s",
			      i, t[i].failures, tu_log_text());
	ck_assert_uint_eq(stats_of(a).mappings_live, 0);
	dmasplit_dev_close(b);
	dmasplit_dev_close(a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The reference model                                                  */

/*
 * What each byte should hold: the host's memory, each bounce slot.  A byte
 * the contract leaves open (a slot filled with SKIP_CPU_SYNC, say) is
 * unknown until something defined overwrites it.
 */
struct shadow {
	uint8_t *v;	/* expected value */
	uint8_t *k;	/* 1: known */
};

/* Host memory the model tracks: two arenas and coherent allocations. */
struct mregion {
	uint8_t *base;
	size_t len;
	struct shadow s;
	bool live;
};

struct mpiece {
	uint64_t dma;
	size_t len;
	uint8_t *host;
	bool bounced;
	struct shadow slot;	/* len bytes, when bounced */
};

enum mkind { MK_MAP, MK_VEC, MK_COH };

#define M_VEC 4
struct mmapping {
	enum mkind kind;
	enum dmasplit_dir dir;
	unsigned int n;
	struct mpiece p[M_VEC];
	unsigned int nsegs;
	struct dmasplit_seg segs[M_VEC];
	int region;		/* MK_COH */
};

enum { GS_FREE, GS_LINKED, GS_SYNCED };

struct mgran {
	uint8_t state;
	enum dmasplit_dir dir;
	uint8_t *host;		/* the host granule behind it */
	bool bounced;
	struct shadow slot;	/* one granule, when bounced */
	size_t lo, hi;		/* the buffer's bytes in it, when bounced */
};

struct mlink {
	size_t off, len;
	enum dmasplit_dir dir;
};

#define M_LINKS 10
struct mwin {
	struct dmasplit_iova *iova;
	uint64_t base;
	size_t size;
	struct mgran *g;
	unsigned int nl;
	struct mlink l[M_LINKS];
};

#define M_WINS 4
#define M_MAPS 8
#define M_COH 2
#define M_FREED 8
struct mdev {
	const char *spec;
	struct dmasplit_dev *dev;
	bool iommu, untrusted, force;
	unsigned int mask;
	size_t gran;
	size_t maxlen;		/* keeps a bounce-only pool from filling */
	unsigned int nw, nm, ncoh;
	struct mwin w[M_WINS];
	struct mmapping m[M_MAPS];
	struct dmasplit_range freed[M_FREED];	/* device addresses let go */
	unsigned int nfreed;
	/* Opened with the checker off: misuse reaches the device, which
	 * must refuse it on its own. */
	bool unchecked;
	struct {
		uint64_t dma;
		size_t len;
		enum dmasplit_dir dir;
	} gone[M_FREED];		/* dmasplit_map mappings unmapped */
	unsigned int ngone;
	struct dmasplit_dev_stats st;	/* as last read */
	/* 0: an address space of its own; else the devices with this
	 * number share one (as=), and reach one another's mappings. */
	unsigned int space;
};

#define M_DEVS 10
#define M_REGIONS (2 + M_DEVS * M_COH)
#define ARENA (128u * 1024u)
#define M_STEPS 100000
#define M_DIRTY 16

static struct {
	uint64_t seed, rng;
	unsigned int step;
	char what[200];
	struct mdev d[M_DEVS];
	struct mregion r[M_REGIONS];
	struct hostmem mem[2];
	/* Expected change of the counters over this step. */
	uint64_t faults, bounced, kcalls;
	bool bounced_known, kcalls_known;
	/* A shared space's kernel_calls as last read: any member's step
	 * moves every member's count. */
	uint64_t space_kcalls[2];
	struct {
		uint8_t *p;
		size_t len;
	} dirty[M_DIRTY];
	unsigned int ndirty;
	unsigned int accesses, faulted, skipped;
	unsigned int refused;	/* misuse the devices refused */
	unsigned int peer_hits;	/* predictions from another member's maps */
	/* The log: DMAR lines counted, the last lines kept for messages. */
	uint64_t dmar;
	char last[4][200];
	unsigned int nlast;
	char lastbuf[4 * 204];
} M;

static const char *last_log(void)
{
	unsigned int i, n = M.nlast < 4 ? M.nlast : 4;
	size_t pos = 0;

	M.lastbuf[0] = '\0';
	for (i = 0; i < n; i++) {
		int w = snprintf(M.lastbuf + pos, sizeof(M.lastbuf) - pos, "%s%s",
				 i ? " | " : "", M.last[(M.nlast - n + i) % 4]);

		if (w < 0 || (size_t)w >= sizeof(M.lastbuf) - pos)
			break;
		pos += (size_t)w;
	}
	return M.lastbuf;
}

/* Every failure names the seed and step, so that it can be replayed. */
#define MASSERT(cond, fmt, ...)                                              \
	FAIL_UNLESS(cond, "DMASPLIT_TEST_SEED=%" PRIu64 " step %u (%s): " fmt \
		    "; last log lines: %s", M.seed, M.step, M.what,            \
		    ##__VA_ARGS__, last_log())

static void model_log(void *data, int priority, const char *file, int line,
		      const char *fn, const char *format, va_list args)
{
	char *msg = M.last[M.nlast++ % 4];

	vsnprintf(msg, sizeof(M.last[0]), format, args);
	if (is_dmar(msg))
		M.dmar++;
}

static uint64_t rnd(void)
{
	uint64_t z = (M.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int percent)
{
	return below(100) < percent;
}

static void sh_new(struct shadow *s, size_t len, bool known_zero)
{
	s->v = calloc(len ? len : 1, 1);
	s->k = malloc(len ? len : 1);
	ck_assert(s->v && s->k);
	memset(s->k, known_zero, len);
}

static void sh_free(struct shadow *s)
{
	free(s->v);
	free(s->k);
	s->v = s->k = NULL;
}

static struct shadow sh_at(const struct shadow *s, size_t off)
{
	struct shadow r = { s->v + off, s->k + off };

	return r;
}

static void sh_copy(struct shadow dst, struct shadow src, size_t len)
{
	memmove(dst.v, src.v, len);
	memmove(dst.k, src.k, len);
}

static void sh_unknown(struct shadow s, size_t len)
{
	memset(s.k, 0, len);
}

/* The shadow of host bytes [p, p + len), or false when untracked. */
static bool host_shadow(const uint8_t *p, size_t len, struct shadow *out)
{
	unsigned int i;

	for (i = 0; i < M_REGIONS; i++) {
		struct mregion *r = &M.r[i];

		if (r->live && p >= r->base && len <= r->len &&
		    (size_t)(p - r->base) <= r->len - len) {
			*out = sh_at(&r->s, (size_t)(p - r->base));
			return true;
		}
	}
	return false;
}

static struct shadow host_sh(const uint8_t *p, size_t len)
{
	struct shadow s = { NULL, NULL };

	MASSERT(host_shadow(p, len, &s), "host %p+0x%zx is not tracked", (void *)p, len);
	return s;
}

static void dirty(uint8_t *p, size_t len)
{
	if (M.ndirty < M_DIRTY) {
		M.dirty[M.ndirty].p = p;
		M.dirty[M.ndirty].len = len;
	}
	M.ndirty++;
}

static void verify_host(const uint8_t *p, size_t len, const char *why)
{
	struct shadow s = host_sh(p, len);
	size_t i;

	for (i = 0; i < len; i++)
		MASSERT(!s.k[i] || p[i] == s.v[i],
			"%s: host byte %p is 0x%02x, expected 0x%02x", why,
			(const void *)(p + i), p[i], s.v[i]);
}

static void verify_all(void)
{
	unsigned int i;

	for (i = 0; i < M_REGIONS; i++)
		if (M.r[i].live)
			verify_host(M.r[i].base, M.r[i].len, "host memory");
}

static void host_to_slot(struct shadow slot, const uint8_t *host, size_t len)
{
	sh_copy(slot, host_sh(host, len), len);
}

static void slot_to_host(uint8_t *host, struct shadow slot, size_t len)
{
	sh_copy(host_sh(host, len), slot, len);
	dirty(host, len);
}

static uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static bool dir_allows(enum dmasplit_dir dir, bool write)
{
	return write ? dir != DMASPLIT_TO_DEVICE : dir != DMASPLIT_FROM_DEVICE;
}

static bool is_bounced(const struct mdev *d, const uint8_t *p, size_t len)
{
	if (d->iommu)
		return d->untrusted && (((uintptr_t)p | (uintptr_t)(p + len)) & (d->gran - 1));
	return d->force || !fits_mask((uintptr_t)p, len, d->mask);
}

static void push_freed(struct mdev *d, uint64_t dma, uint64_t len)
{
	struct dmasplit_range *f = &d->freed[d->nfreed++ % M_FREED];

	f->start = align_down(dma, d->gran);
	f->last = align_down(dma + len - 1, d->gran) + d->gran - 1;
}

/* Whether [p, p + len) overlaps a live mapping made in place: on a
 * device without an IOMMU the checker refuses two live owners of one
 * device address. */
static bool overlaps_direct(const struct mdev *d, const uint8_t *p, size_t len)
{
	unsigned int i, j;

	for (i = 0; i < d->nm; i++) {
		const struct mmapping *m = &d->m[i];

		for (j = 0; j < m->n; j++)
			if (!m->p[j].bounced && p < m->p[j].host + m->p[j].len &&
			    m->p[j].host < p + len)
				return true;
	}
	return false;
}

/* ---- Predicting a device access ---- */

enum { C_OK, C_FAULT, C_AMBIG };

struct chunk {
	struct shadow s;
	uint8_t *host;		/* host bytes, or NULL for a slot */
	size_t len;
	int st;
};

#define M_CHUNKS 32

static const struct mpiece *piece_at(const struct mdev *d, uint64_t x,
				     const struct mmapping **mm)
{
	unsigned int i, j;

	for (i = 0; i < d->nm; i++)
		for (j = 0; j < d->m[i].n; j++) {
			const struct mpiece *p = &d->m[i].p[j];

			if (x >= p->dma && x - p->dma < p->len) {
				*mm = &d->m[i];
				return p;
			}
		}
	return NULL;
}

/* Inside the granules a live mapping occupies, outside its bytes: the
 * contract does not say what a device finds there. */
static bool in_footprint(const struct mdev *d, uint64_t x)
{
	unsigned int i, j;

	for (i = 0; i < d->nm; i++)
		for (j = 0; j < d->m[i].n; j++) {
			const struct mpiece *p = &d->m[i].p[j];
			uint64_t s = align_down(p->dma, d->gran);
			uint64_t l = align_down(p->dma + p->len - 1, d->gran) + d->gran - 1;

			if (x >= s && x <= l)
				return true;
		}
	return false;
}

static void chunk_host(struct chunk *c, uint8_t *host)
{
	c->host = host;
	if (!host_shadow(host, c->len, &c->s))
		c->st = C_AMBIG;
}

/* e and d translate through one page table: d itself, or a member of
 * its space. */
static bool peers(const struct mdev *d, const struct mdev *e)
{
	return e == d || (d->space && e->space == d->space && e->dev);
}

static bool peer_footprint(const struct mdev *d, uint64_t x)
{
	unsigned int i;

	for (i = 0; i < M_DEVS; i++)
		if (peers(d, &M.d[i]) && in_footprint(&M.d[i], x))
			return true;
	return false;
}

/* What a window or mapping of d holds at [x, y), if one does. */
static bool predict_in(const struct mdev *d, uint64_t x, uint64_t y,
		       bool write, struct chunk *c)
{
	const struct mmapping *m = NULL;
	const struct mpiece *p;
	unsigned int i;

	c->len = y - x;
	c->st = C_OK;
	c->host = NULL;
	for (i = 0; i < d->nw; i++) {
		const struct mwin *w = &d->w[i];
		const struct mgran *g;
		size_t in;

		if (x < w->base || x - w->base >= w->size)
			continue;
		g = &w->g[(x - w->base) / d->gran];
		in = (x - w->base) % d->gran;
		if (g->state != GS_SYNCED || !dir_allows(g->dir, write))
			c->st = C_FAULT;
		else if (g->bounced)
			c->s = sh_at(&g->slot, in);
		else
			chunk_host(c, g->host + in);
		return true;
	}
	p = piece_at(d, x, &m);
	if (p) {
		if (y - p->dma > p->len)
			c->st = C_AMBIG;
		else if (!dir_allows(m->dir, write))
			c->st = C_FAULT;
		else if (p->bounced)
			c->s = sh_at(&p->slot, x - p->dma);
		else
			chunk_host(c, p->host + (x - p->dma));
		return true;
	}
	return false;
}

/* Every member of a space reaches what any member mapped. */
static void predict_on(const struct mdev *d, uint64_t x, uint64_t y,
		       bool write, struct chunk *c)
{
	unsigned int i;

	for (i = 0; i < M_DEVS; i++)
		if (peers(d, &M.d[i]) && predict_in(&M.d[i], x, y, write, c)) {
			M.peer_hits += &M.d[i] != d;
			return;
		}
	c->st = peer_footprint(d, x) ? C_AMBIG : C_FAULT;
}

static void predict_off(const struct mdev *d, uint64_t x, uint64_t end,
			struct chunk *c)
{
	const struct mmapping *m = NULL;
	const struct mpiece *p = piece_at(d, x, &m);
	unsigned int i;

	c->st = C_OK;
	c->host = NULL;
	if (p && p->bounced) {
		c->len = end - x < p->dma + p->len - x ? end - x : p->dma + p->len - x;
		c->s = sh_at(&p->slot, x - p->dma);
		return;
	}
	/* Without an IOMMU the device reaches host memory in place. */
	for (i = 0; i < M_REGIONS; i++) {
		const struct mregion *r = &M.r[i];
		uint64_t b = (uintptr_t)r->base;

		if (r->live && x >= b && x - b < r->len) {
			c->len = end - x < b + r->len - x ? end - x : b + r->len - x;
			chunk_host(c, (uint8_t *)(uintptr_t)x);
			return;
		}
	}
	c->len = end - x;
	c->st = C_AMBIG;
}

/* The outcome of an access of [a, a + n): chunks up to and including
 * the first that does not simply succeed. */
static int predict(const struct mdev *d, uint64_t a, size_t n, bool write,
		   struct chunk *c, unsigned int *nc)
{
	uint64_t x = a, end = a + n;

	*nc = 0;
	if (!d->iommu && !fits_mask(a, n, d->mask)) {
		c[0].len = n;
		c[0].st = C_FAULT;
		*nc = 1;
		return C_FAULT;
	}
	while (x < end) {
		struct chunk *ck = &c[(*nc)++];

		MASSERT(*nc <= M_CHUNKS, "access of 0x%zx bytes split too far", n);
		if (d->iommu) {
			uint64_t y = align_down(x, d->gran) + d->gran;

			predict_on(d, x, y < end ? y : end, write, ck);
		} else {
			predict_off(d, x, end, ck);
		}
		if (ck->st != C_OK)
			return ck->st;
		x += ck->len;
	}
	return C_OK;
}

/* ---- Steps ---- */

static enum dmasplit_dir rand_dir(void)
{
	return (enum dmasplit_dir)below(3);
}

static uint32_t rand_attrs(void)
{
	return (chance(25) ? DMASPLIT_ATTR_SKIP_CPU_SYNC : 0) |
	       (chance(10) ? DMASPLIT_ATTR_NO_WARN : 0);
}

static const char *dir_str(enum dmasplit_dir dir)
{
	return dir == DMASPLIT_TO_DEVICE ? "TO" : dir == DMASPLIT_FROM_DEVICE ? "FROM" : "BIDI";
}

static struct mregion *rand_arena(void)
{
	return &M.r[below(2)];
}

static uint8_t scratch_a[2 * K64], scratch_b[2 * K64];

static void step_host_write(struct mdev *d)
{
	struct mregion *r;
	size_t off, n, i;

	do
		r = &M.r[below(M_REGIONS)];
	while (!r->live);
	off = below(r->len);
	n = 1 + below(r->len - off < 2 * G ? r->len - off : 2 * G);
	snprintf(M.what, sizeof(M.what), "host write %p+0x%zx", (void *)(r->base + off), n);
	for (i = 0; i < n; i++)
		r->base[off + i] = r->s.v[off + i] = (uint8_t)rnd();
	memset(r->s.k + off, 1, n);
	dirty(r->base + off, n);
}

static void step_access(struct mdev *d)
{
	const struct mdev *src = d;
	struct chunk c[M_CHUNKS];
	unsigned int nc, i, t = (unsigned int)below(100);
	bool write = chance(45);
	uint64_t a = 0;
	size_t n = 0, pos;
	int st, r;

	/* A member of a space reaches for its peers' windows and maps as
	 * often as for its own. */
	if (d->space && chance(50)) {
		const struct mdev *e = &M.d[below(M_DEVS)];

		if (peers(d, e))
			src = e;
	}
	if (t < 35 && src->nw) {
		const struct mwin *w = &src->w[below(src->nw)];

		a = w->base + below(w->size);
		n = 1 + below(2 * d->gran);
	} else if (t < 70 && src->nm) {
		const struct mmapping *m = &src->m[below(src->nm)];
		const struct mpiece *p = &m->p[below(m->n)];
		uint64_t in = below(p->len);

		a = p->dma + in;
		n = 1 + below(p->len - in);
	} else if (t < 85 && d->iommu && d->nfreed) {
		const struct dmasplit_range *f =
			&d->freed[below(d->nfreed < M_FREED ? d->nfreed : M_FREED)];

		a = f->start + below(f->last - f->start + 1);
		n = 1 + below(64);
	} else if (!d->iommu) {
		const struct mregion *ar = rand_arena();
		size_t off = below(ar->len);

		a = (uintptr_t)ar->base + off;
		n = 1 + below(ar->len - off < 2 * G ? ar->len - off : 2 * G);
	} else {
		a = below(1ull << 30);
		n = 1 + below(64);
	}
	/* Drawn whatever the prediction, so that the steps a seed gives do
	 * not depend on the addresses the backend chose. */
	for (i = 0; i < n; i++)
		scratch_a[i] = (uint8_t)rnd();
	st = predict(d, a, n, write, c, &nc);
	if (st == C_AMBIG) {
		M.skipped++;
		return;
	}
	/* A write that would fault part-way: how much of it lands first is
	 * the backend's choice, so write only what is sure to land. */
	if (write && st == C_FAULT && c[0].st == C_OK) {
		n = c[0].len;
		st = predict(d, a, n, write, c, &nc);
	}
	snprintf(M.what, sizeof(M.what), "device %s 0x%" PRIx64 "+0x%zx, predicted %s",
		 write ? "write" : "read", a, n, st == C_OK ? "success" : "fault");
	if (write) {
		r = dmasplit_dev_dma_write(d->dev, a, scratch_a, n);
	} else {
		memset(scratch_b, 0xa5, n);
		r = dmasplit_dev_dma_read(d->dev, a, scratch_b, n);
	}
	M.accesses++;
	if (st == C_FAULT) {
		MASSERT(r == -EFAULT, "expected -EFAULT, got %d", r);
		M.faults = 1;
		M.faulted++;
		return;
	}
	MASSERT(r == 0, "expected 0, got %d", r);
	for (i = 0, pos = 0; i < nc; pos += c[i].len, i++) {
		size_t j;

		if (write) {
			memcpy(c[i].s.v, scratch_a + pos, c[i].len);
			memset(c[i].s.k, 1, c[i].len);
			if (c[i].host)
				dirty(c[i].host, c[i].len);
			continue;
		}
		for (j = 0; j < c[i].len; j++)
			MASSERT(!c[i].s.k[j] || scratch_b[pos + j] == c[i].s.v[j],
				"byte 0x%zx read 0x%02x, expected 0x%02x (%s)", pos + j,
				scratch_b[pos + j], c[i].s.v[j],
				c[i].host ? "host memory" : "a bounce slot");
	}
}

/* -- windows -- */

static void step_alloc(struct mdev *d)
{
	struct mwin *w;
	size_t size, want;
	int r;

	if (!d->iommu || d->nw == M_WINS)
		return;
	size = chance(25) ? 1 + below(4 * d->gran) : (1 + below(6)) * d->gran;
	want = (size + d->gran - 1) & ~(d->gran - 1);
	w = &d->w[d->nw];
	snprintf(M.what, sizeof(M.what), "%s: window of 0x%zx", d->spec, size);
	r = dmasplit_iova_alloc(d->dev, size, 0, &w->iova);
	MASSERT(r == 0, "expected 0, got %d", r);
	w->base = dmasplit_iova_addr(w->iova);
	w->size = dmasplit_iova_size(w->iova);
	MASSERT(w->size == want && w->base && w->base % d->gran == 0 &&
		fits_mask(w->base, w->size, d->mask),
		"window 0x%" PRIx64 "+0x%zx: expected a nonzero, aligned 0x%zx below the mask",
		w->base, w->size, want);
	w->g = calloc(w->size / d->gran, sizeof(*w->g));
	ck_assert_ptr_nonnull(w->g);
	w->nl = 0;
	d->nw++;
	M.kcalls = 0;
}

static void step_link(struct mdev *d)
{
	const size_t gr = d->gran;
	struct mwin *w;
	struct mregion *ar;
	size_t ng, g0, k, kk, h, s, len, off, j;
	enum dmasplit_dir dir = rand_dir();
	uint32_t attrs = rand_attrs();
	uint8_t *vaddr;
	int r;

	if (!d->nw)
		return;
	w = &d->w[below(d->nw)];
	ng = w->size / gr;
	if (w->nl == M_LINKS)
		return;
	g0 = below(ng);
	while (g0 < ng && w->g[g0].state != GS_FREE)
		g0++;
	if (g0 == ng)
		return;
	for (k = 0; g0 + k < ng && k < 3 && w->g[g0 + k].state == GS_FREE; k++)
		;
	kk = 1 + below(k);
	ar = rand_arena();
	h = below(ar->len / gr - kk + 1);
	s = chance(40) ? 0 : below(gr);
	if (kk == 1)
		len = 1 + below(gr - s);
	else
		len = (kk - 1) * gr - s + 1 + below(gr);
	if (chance(30))
		len = kk * gr - s;
	off = g0 * gr + s;
	vaddr = ar->base + h * gr + s;
	snprintf(M.what, sizeof(M.what), "%s: link %p+0x%zx at 0x%" PRIx64 "+0x%zx %s attrs %u",
		 d->spec, (void *)vaddr, len, w->base, off, dir_str(dir), attrs);
	r = dmasplit_iova_link(w->iova, off, vaddr, len, dir, attrs);
	MASSERT(r == 0, "expected 0, got %d", r);
	for (j = 0; j < kk; j++) {
		struct mgran *g = &w->g[g0 + j];

		g->state = GS_LINKED;
		g->dir = dir;
		g->host = ar->base + (h + j) * gr;
		g->lo = j == 0 ? s : 0;
		g->hi = j == kk - 1 ? s + len - (kk - 1) * gr : gr;
		g->bounced = d->untrusted && (g->lo || g->hi != gr);
		if (!g->bounced)
			continue;
		/* The slot: the buffer's bytes, zero around them. */
		sh_new(&g->slot, gr, true);
		if (attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC)
			sh_unknown(sh_at(&g->slot, g->lo), g->hi - g->lo);
		else
			host_to_slot(sh_at(&g->slot, g->lo), g->host + g->lo, g->hi - g->lo);
	}
	w->l[w->nl].off = off;
	w->l[w->nl].len = len;
	w->l[w->nl].dir = dir;
	w->nl++;
	M.kcalls = 0;
	M.bounced_known &= !d->untrusted;
}

/* Granules [*first, *last] a byte range of a window covers. */
static void gspan(const struct mdev *d, size_t off, size_t len, size_t *first,
		  size_t *last)
{
	*first = off / d->gran;
	*last = (off + len - 1) / d->gran;
}

static void step_sync(struct mdev *d)
{
	struct mwin *w;
	const struct mlink *l;
	size_t first, last, off, len, j;
	int r;

	if (!d->nw)
		return;
	w = &d->w[below(d->nw)];
	if (!w->nl)
		return;
	l = &w->l[below(w->nl)];
	gspan(d, l->off, l->len, &first, &last);
	if (chance(50)) {
		off = l->off;
		len = l->len;
	} else {
		/* Whole granules, through the linked neighbours: every link
		 * inside is covered completely. */
		while (first > 0 && w->g[first - 1].state != GS_FREE)
			first--;
		while (last + 1 < w->size / d->gran && w->g[last + 1].state != GS_FREE)
			last++;
		off = first * d->gran;
		len = (last - first + 1) * d->gran;
	}
	snprintf(M.what, sizeof(M.what), "%s: iova_sync 0x%" PRIx64 "+0x%zx+0x%zx",
		 d->spec, w->base, off, len);
	r = dmasplit_iova_sync(w->iova, off, len);
	MASSERT(r == 0, "expected 0, got %d", r);
	for (j = first; j <= last; j++)
		w->g[j].state = GS_SYNCED;
	M.kcalls = 1;
}

/* Unlink granules [first, last] of w, copying bounced bytes back. */
static void model_unlink(struct mdev *d, struct mwin *w, size_t first,
			 size_t last, bool copy)
{
	size_t j;

	for (j = first; j <= last; j++) {
		struct mgran *g = &w->g[j];

		if (g->bounced) {
			if (copy && g->dir != DMASPLIT_TO_DEVICE)
				slot_to_host(g->host + g->lo, sh_at(&g->slot, g->lo), g->hi - g->lo);
			sh_free(&g->slot);
		}
		memset(g, 0, sizeof(*g));
	}
}

static void step_unlink(struct mdev *d)
{
	struct mwin *w;
	struct mlink *l, rest[2];
	size_t first, last, off, len, a, b;
	uint32_t attrs = rand_attrs();
	unsigned int li, nrest = 0;
	int r;

	if (!d->nw)
		return;
	w = &d->w[below(d->nw)];
	if (!w->nl)
		return;
	li = (unsigned int)below(w->nl);
	l = &w->l[li];
	gspan(d, l->off, l->len, &first, &last);
	off = l->off;
	len = l->len;
	if (l->off % d->gran == 0 && l->len % d->gran == 0 && last > first &&
	    w->nl < M_LINKS && chance(40)) {
		/* Part of a granule-aligned link. */
		a = first + below(last - first + 1);
		b = a + below(last - a + 1);
		off = a * d->gran;
		len = (b - a + 1) * d->gran;
		if (a > first) {
			rest[nrest].off = l->off;
			rest[nrest].len = off - l->off;
			rest[nrest++].dir = l->dir;
		}
		if (b < last) {
			rest[nrest].off = off + len;
			rest[nrest].len = l->off + l->len - off - len;
			rest[nrest++].dir = l->dir;
		}
		first = a;
		last = b;
	}
	snprintf(M.what, sizeof(M.what), "%s: unlink 0x%" PRIx64 "+0x%zx+0x%zx %s attrs %u",
		 d->spec, w->base, off, len, dir_str(l->dir), attrs);
	r = dmasplit_iova_unlink(w->iova, off, len, l->dir, attrs);
	MASSERT(r == 0, "expected 0, got %d", r);
	model_unlink(d, w, first, last, !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC));
	w->l[li] = w->l[--w->nl];
	while (nrest)
		w->l[w->nl++] = rest[--nrest];
	M.kcalls = 1;
	M.bounced_known &= !d->untrusted;
}

static void destroy_window(struct mdev *d, unsigned int i)
{
	struct mwin *w = &d->w[i];
	size_t j;

	snprintf(M.what, sizeof(M.what), "%s: destroy window 0x%" PRIx64 "+0x%zx with %u links",
		 d->spec, w->base, w->size, w->nl);
	dmasplit_iova_destroy(w->iova);
	/* Whether destroy copies bounced bytes back is left open. */
	for (j = 0; j < w->size / d->gran; j++) {
		struct mgran *g = &w->g[j];

		if (g->bounced && g->dir != DMASPLIT_TO_DEVICE)
			sh_unknown(host_sh(g->host + g->lo, g->hi - g->lo), g->hi - g->lo);
		if (g->bounced)
			sh_free(&g->slot);
	}
	push_freed(d, w->base, w->size);
	free(w->g);
	*w = d->w[--d->nw];
	M.kcalls_known = false;
	M.bounced_known &= !d->untrusted;
}

static void step_destroy(struct mdev *d)
{
	if (d->nw)
		destroy_window(d, (unsigned int)below(d->nw));
}

/* A direction for a sync of something mapped or linked with dir that
 * makes the copy certain: the mapping's own, or BIDIRECTIONAL. */
static enum dmasplit_dir sync_dir(enum dmasplit_dir dir, bool for_cpu,
				  bool *copy)
{
	enum dmasplit_dir want = for_cpu ? DMASPLIT_FROM_DEVICE : DMASPLIT_TO_DEVICE;

	if (dir == DMASPLIT_BIDIRECTIONAL) {
		*copy = true;
		return chance(50) ? DMASPLIT_BIDIRECTIONAL : want;
	}
	*copy = dir == want;
	return dir;
}

static void step_window_sync_for(struct mdev *d, bool for_cpu)
{
	struct mwin *w;
	const struct mlink *l;
	enum dmasplit_dir dir;
	size_t a, n, first, last, j;
	bool copy;
	int r;

	if (!d->nw)
		return;
	w = &d->w[below(d->nw)];
	if (!w->nl)
		return;
	l = &w->l[below(w->nl)];
	a = l->off + below(l->len);
	n = 1 + below(l->off + l->len - a);
	dir = sync_dir(l->dir, for_cpu, &copy);
	snprintf(M.what, sizeof(M.what), "%s: sync_for_%s of window 0x%" PRIx64 "+0x%zx+0x%zx %s",
		 d->spec, for_cpu ? "cpu" : "device", w->base, a, n, dir_str(dir));
	r = (for_cpu ? dmasplit_sync_for_cpu : dmasplit_sync_for_device)(d->dev, w->base + a, n, dir);
	MASSERT(r == 0, "expected 0, got %d", r);
	M.kcalls = 0;
	M.bounced_known &= !d->untrusted;
	if (!copy)
		return;
	gspan(d, a, n, &first, &last);
	for (j = first; j <= last; j++) {
		struct mgran *g = &w->g[j];
		size_t lo = j * d->gran + g->lo, hi = j * d->gran + g->hi;

		if (!g->bounced)
			continue;
		lo = lo > a ? lo : a;
		hi = hi < a + n ? hi : a + n;
		if (lo >= hi)
			continue;
		if (for_cpu)
			slot_to_host(g->host + lo % d->gran, sh_at(&g->slot, lo % d->gran), hi - lo);
		else
			host_to_slot(sh_at(&g->slot, lo % d->gran), g->host + lo % d->gran, hi - lo);
	}
}

static void step_window_sync_for_cpu(struct mdev *d)
{
	step_window_sync_for(d, true);
}

static void step_window_sync_for_device(struct mdev *d)
{
	step_window_sync_for(d, false);
}

/* -- mappings -- */

static void piece_init(struct mdev *d, struct mpiece *p, uint8_t *host,
		       size_t len, uint32_t attrs)
{
	p->host = host;
	p->len = len;
	p->bounced = is_bounced(d, host, len);
	if (!p->bounced)
		return;
	sh_new(&p->slot, len, false);
	if (!(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC)) {
		host_to_slot(p->slot, host, len);
		M.bounced += len;
	} else {
		/* The slot's bytes are left open; what such a map counts
		 * is skip_cpu_sync_skips_copies_back' to check, not the model's. */
		M.bounced_known = false;
	}
}

static void piece_check(struct mdev *d, const struct mpiece *p)
{
	MASSERT(p->dma && fits_mask(p->dma, p->len, d->mask),
		"piece %p+0x%zx at 0x%" PRIx64 ": expected nonzero, below the mask",
		(void *)p->host, p->len, p->dma);
	if (!d->iommu && !p->bounced)
		MASSERT(p->dma == (uintptr_t)p->host, "direct piece %p at 0x%" PRIx64,
			(void *)p->host, p->dma);
	if (!d->iommu && p->bounced) {
		MASSERT(p->dma != (uintptr_t)p->host, "piece %p was not bounced", (void *)p->host);
		if (p->len >= G)
			MASSERT(p->dma % G == 0, "bounced piece of 0x%zx at 0x%" PRIx64 " is not on 4 KiB",
				p->len, p->dma);
	}
	if (d->iommu && !p->bounced)
		MASSERT(p->dma % d->gran == (uintptr_t)p->host % d->gran,
			"piece %p at 0x%" PRIx64 ": offsets in the granule differ",
			(void *)p->host, p->dma);
}

/* Unmap copies back; both unmap paths share it. */
static void piece_release(struct mdev *d, struct mpiece *p,
			  enum dmasplit_dir dir, uint32_t attrs)
{
	if (p->bounced) {
		if (dir != DMASPLIT_TO_DEVICE && !(attrs & DMASPLIT_ATTR_SKIP_CPU_SYNC)) {
			slot_to_host(p->host, p->slot, p->len);
			M.bounced += p->len;
		}
		sh_free(&p->slot);
	}
	if (d->iommu)
		push_freed(d, p->dma, p->len);
}

static void rand_buffer(struct mdev *d, uint8_t **host, size_t *len)
{
	struct mregion *ar = rand_arena();
	size_t off, n;

	off = chance(30) ? below(ar->len / d->gran) * d->gran : below(ar->len - 1);
	n = chance(25) ? (1 + below(3)) * d->gran : 1 + below(3 * d->gran);
	if (n > d->maxlen)
		n = 1 + below(d->maxlen);
	if (n > ar->len - off)
		n = ar->len - off;
	*host = ar->base + off;
	*len = n;
}

static void step_map(struct mdev *d)
{
	struct mmapping *m;
	enum dmasplit_dir dir = rand_dir();
	uint32_t attrs = rand_attrs();
	uint8_t *host;
	size_t len;
	int r;

	if (d->nm == M_MAPS)
		return;
	rand_buffer(d, &host, &len);
	if (!d->iommu && !is_bounced(d, host, len) && overlaps_direct(d, host, len))
		return;
	m = &d->m[d->nm];
	memset(m, 0, sizeof(*m));
	m->kind = MK_MAP;
	m->dir = dir;
	m->n = 1;
	snprintf(M.what, sizeof(M.what), "%s: map %p+0x%zx %s attrs %u", d->spec,
		 (void *)host, len, dir_str(dir), attrs);
	r = dmasplit_map(d->dev, host, len, dir, attrs, &m->p[0].dma);
	MASSERT(r == 0, "expected 0, got %d", r);
	piece_init(d, &m->p[0], host, len, attrs);
	piece_check(d, &m->p[0]);
	d->nm++;
	M.kcalls = d->iommu;
}

static void step_unmap(struct mdev *d)
{
	struct mmapping *m = NULL;
	uint32_t attrs = rand_attrs();
	unsigned int i, start = (unsigned int)below(d->nm + 1u);
	int r;

	for (i = 0; i < d->nm; i++)
		if (d->m[(start + i) % d->nm].kind == MK_MAP) {
			m = &d->m[(start + i) % d->nm];
			break;
		}
	if (!m)
		return;
	snprintf(M.what, sizeof(M.what), "%s: unmap 0x%" PRIx64 "+0x%zx %s attrs %u", d->spec,
		 m->p[0].dma, m->p[0].len, dir_str(m->dir), attrs);
	r = dmasplit_unmap(d->dev, m->p[0].dma, m->p[0].len, m->dir, attrs);
	MASSERT(r == 0, "expected 0, got %d", r);
	d->gone[d->ngone % M_FREED].dma = m->p[0].dma;
	d->gone[d->ngone % M_FREED].len = m->p[0].len;
	d->gone[d->ngone++ % M_FREED].dir = m->dir;
	piece_release(d, &m->p[0], m->dir, attrs);
	*m = d->m[--d->nm];
	M.kcalls = d->iommu;
}

static void step_map_sync_for(struct mdev *d, bool for_cpu)
{
	struct mmapping *m;
	enum dmasplit_dir dir;
	uint64_t start, len, a, n;
	unsigned int j;
	bool copy;
	int r;

	if (!d->nm)
		return;
	m = &d->m[below(d->nm)];
	if (m->kind == MK_VEC) {
		const struct dmasplit_seg *s = &m->segs[below(m->nsegs)];

		start = s->dma;
		len = s->len;
	} else {
		start = m->p[0].dma;
		len = m->p[0].len;
	}
	a = start + below(len);
	n = 1 + below(start + len - a);
	dir = sync_dir(m->dir, for_cpu, &copy);
	snprintf(M.what, sizeof(M.what), "%s: sync_for_%s 0x%" PRIx64 "+0x%" PRIx64 " %s",
		 d->spec, for_cpu ? "cpu" : "device", a, n, dir_str(dir));
	r = (for_cpu ? dmasplit_sync_for_cpu : dmasplit_sync_for_device)(d->dev, a, n, dir);
	MASSERT(r == 0, "expected 0, got %d", r);
	M.kcalls = 0;
	if (!copy)
		return;
	for (j = 0; j < m->n; j++) {
		struct mpiece *p = &m->p[j];
		uint64_t lo = p->dma > a ? p->dma : a;
		uint64_t hi = p->dma + p->len < a + n ? p->dma + p->len : a + n;

		if (!p->bounced || lo >= hi)
			continue;
		if (for_cpu)
			slot_to_host(p->host + (lo - p->dma), sh_at(&p->slot, lo - p->dma), hi - lo);
		else
			host_to_slot(sh_at(&p->slot, lo - p->dma), p->host + (lo - p->dma), hi - lo);
		M.bounced += hi - lo;
	}
}

static void step_map_sync_for_cpu(struct mdev *d)
{
	step_map_sync_for(d, true);
}

static void step_map_sync_for_device(struct mdev *d)
{
	step_map_sync_for(d, false);
}

static void step_map_vec(struct mdev *d)
{
	struct mregion *ar = rand_arena();
	struct mmapping *m;
	struct iovec iov[M_VEC];
	enum dmasplit_dir dir = rand_dir();
	uint32_t attrs = rand_attrs();
	unsigned int n, want = 0, i, j, nsegs;
	size_t pos = below(ar->len / 2), used;
	int r;

	if (d->nm == M_MAPS)
		return;
	for (n = 0; n < 2 + below(3); n++) {
		size_t len;

		if (chance(50))
			pos = (pos + d->gran - 1) & ~(d->gran - 1);
		len = chance(40) ? (1 + below(2)) * d->gran : 1 + below(2 * d->gran);
		if (len > d->maxlen)
			len = 1 + below(d->maxlen);
		if (pos + len > ar->len)
			break;
		iov[n].iov_base = ar->base + pos;
		iov[n].iov_len = len;
		if (!d->iommu && !is_bounced(d, ar->base + pos, len) &&
		    overlaps_direct(d, ar->base + pos, len))
			return;
		pos += len;
		if (chance(50))
			pos += below(2 * d->gran);
	}
	if (!n)
		return;
	m = &d->m[d->nm];
	memset(m, 0, sizeof(*m));
	m->kind = MK_VEC;
	m->dir = dir;
	m->n = n;
	nsegs = n;
	snprintf(M.what, sizeof(M.what), "%s: map_vec of %u buffers from %p %s attrs %u",
		 d->spec, n, iov[0].iov_base, dir_str(dir), attrs);
	r = dmasplit_map_vec(d->dev, iov, n, dir, attrs, m->segs, &nsegs);
	MASSERT(r == 0, "expected 0, got %d", r);
	m->nsegs = nsegs;
	/* Each segment carries whole buffers, in order. */
	for (i = 0, j = 0, used = 0; i < n; i++) {
		if (used == m->segs[j].len) {
			j++;
			used = 0;
			MASSERT(j < nsegs, "segments end before buffer %u", i);
		}
		piece_init(d, &m->p[i], iov[i].iov_base, iov[i].iov_len, attrs);
		m->p[i].dma = m->segs[j].dma + used;
		used += iov[i].iov_len;
		MASSERT(used <= m->segs[j].len, "buffer %u does not end in segment %u", i, j);
		piece_check(d, &m->p[i]);
		if (used != iov[i].iov_len && !d->iommu)
			MASSERT(!m->p[i].bounced && !m->p[i - 1].bounced &&
				m->p[i - 1].host + m->p[i - 1].len == m->p[i].host,
				"buffers %u and %u merged without being contiguous in place", i - 1, i);
		if (i == 0 || d->untrusted || !d->iommu ||
		    ((uintptr_t)iov[i].iov_base | ((uintptr_t)iov[i - 1].iov_base + iov[i - 1].iov_len)) % d->gran)
			want++;
	}
	MASSERT(j == nsegs - 1 && used == m->segs[j].len, "%u segments for %u buffers do not add up",
		nsegs, n);
	if (d->iommu)
		MASSERT(nsegs == want, "%u segments, expected %u", nsegs, want);
	d->nm++;
	M.kcalls_known = false;
}

static void step_unmap_vec(struct mdev *d)
{
	struct mmapping *m = NULL;
	uint32_t attrs = rand_attrs();
	unsigned int i, start = (unsigned int)below(d->nm + 1u);
	int r;

	for (i = 0; i < d->nm; i++)
		if (d->m[(start + i) % d->nm].kind == MK_VEC) {
			m = &d->m[(start + i) % d->nm];
			break;
		}
	if (!m)
		return;
	snprintf(M.what, sizeof(M.what), "%s: unmap_vec of %u segments from 0x%" PRIx64 " %s attrs %u",
		 d->spec, m->nsegs, m->segs[0].dma, dir_str(m->dir), attrs);
	r = dmasplit_unmap_vec(d->dev, m->segs, m->nsegs, m->dir, attrs);
	MASSERT(r == 0, "expected 0, got %d", r);
	for (i = 0; i < m->n; i++)
		piece_release(d, &m->p[i], m->dir, attrs);
	*m = d->m[--d->nm];
	M.kcalls_known = false;
}

static void step_alloc_coherent(struct mdev *d)
{
	struct mmapping *m;
	struct mregion *reg = NULL;
	size_t size = 1 + below(3 * d->gran);
	void *cpu = NULL;
	uint64_t dma = 0;
	unsigned int i;
	int r;

	if (d->ncoh == M_COH || d->nm == M_MAPS)
		return;
	for (i = 2; i < M_REGIONS && !reg; i++)
		if (!M.r[i].live)
			reg = &M.r[i];
	snprintf(M.what, sizeof(M.what), "%s: alloc_coherent 0x%zx", d->spec, size);
	r = dmasplit_alloc_coherent(d->dev, size, 0, &cpu, &dma);
	MASSERT(r == 0, "expected 0, got %d", r);
	MASSERT(dma && fits_mask(dma, size, d->mask), "coherent memory at 0x%" PRIx64, dma);
	if (d->iommu)
		MASSERT((uintptr_t)cpu % d->gran == 0, "coherent memory at %p is not granule aligned", cpu);
	else
		MASSERT(dma == (uintptr_t)cpu, "coherent memory %p at 0x%" PRIx64, cpu, dma);
	reg->base = cpu;
	reg->len = size;
	/* Zeroed, where the contract says so. */
	sh_new(&reg->s, size, d->iommu);
	reg->live = true;
	verify_host(cpu, size, "new coherent memory");
	m = &d->m[d->nm++];
	memset(m, 0, sizeof(*m));
	m->kind = MK_COH;
	m->dir = DMASPLIT_BIDIRECTIONAL;
	m->n = 1;
	m->p[0].dma = dma;
	m->p[0].len = size;
	m->p[0].host = cpu;
	m->region = (int)(reg - M.r);
	d->ncoh++;
	M.kcalls_known = false;
}

static void free_coherent(struct mdev *d, struct mmapping *m)
{
	struct mregion *reg = &M.r[m->region];
	int r;

	snprintf(M.what, sizeof(M.what), "%s: free_coherent 0x%" PRIx64 "+0x%zx", d->spec,
		 m->p[0].dma, m->p[0].len);
	verify_host(reg->base, reg->len, "coherent memory before its free");
	r = dmasplit_free_coherent(d->dev, m->p[0].len, m->p[0].host, m->p[0].dma);
	MASSERT(r == 0, "expected 0, got %d", r);
	if (d->iommu)
		push_freed(d, m->p[0].dma, m->p[0].len);
	sh_free(&reg->s);
	reg->live = false;
	*m = d->m[--d->nm];
	d->ncoh--;
	M.kcalls_known = false;
	M.ndirty = 0;
}

static void step_free_coherent(struct mdev *d)
{
	unsigned int i, start = (unsigned int)below(d->nm + 1u);

	for (i = 0; i < d->nm; i++)
		if (d->m[(start + i) % d->nm].kind == MK_COH) {
			free_coherent(d, &d->m[(start + i) % d->nm]);
			return;
		}
}

/* -- misuse, on the devices opened with the checker off -- */

/* Whether x lies in a live window of d. */
static bool in_window(const struct mdev *d, uint64_t x)
{
	unsigned int i;

	for (i = 0; i < d->nw; i++)
		if (x >= d->w[i].base && x - d->w[i].base < d->w[i].size)
			return true;
	return false;
}

static bool peer_window(const struct mdev *d, uint64_t x)
{
	unsigned int i;

	for (i = 0; i < M_DEVS; i++)
		if (peers(d, &M.d[i]) && in_window(&M.d[i], x))
			return true;
	return false;
}

static struct mmapping *rand_mapping(struct mdev *d, enum mkind kind)
{
	unsigned int i, start = (unsigned int)below(d->nm + 1u);

	for (i = 0; i < d->nm; i++)
		if (d->m[(start + i) % d->nm].kind == kind)
			return &d->m[(start + i) % d->nm];
	return NULL;
}

/* The refusal of what step_misuse tried: an allowed errno, one log line,
 * and (checked by the caller's step) no invalidation and no copy. */
static void expect_misuse_refused(int r, unsigned int nlast, bool vec)
{
	if (vec)
		MASSERT(r == -EINVAL && strstr(M.last[(M.nlast - 1) % 4], "nothing unmapped"),
			"expected -EINVAL and the device's refusal, got %d", r);
	else
		MASSERT(r == -ENOENT || r == -EINVAL, "expected -ENOENT or -EINVAL, got %d", r);
	MASSERT(M.nlast - nlast == 1, "expected one log line, got %u", M.nlast - nlast);
	M.refused++;
}

/* What a device without an IOMMU holds by address: its mappings that
 * were not bounced, and its coherent memory. */
static unsigned int direct_ranges(const struct mdev *d)
{
	unsigned int i, k, n = 0;

	for (i = 0; i < d->nm; i++) {
		if (d->m[i].kind == MK_COH) {
			n++;
			continue;
		}
		for (k = 0; k < d->m[i].n; k++)
			n += !d->m[i].p[k].bounced;
	}
	return n;
}

static void step_misuse(struct mdev *d)
{
	unsigned int nlast = M.nlast, i, n;
	struct dmasplit_seg v[M_VEC + 1];
	struct mmapping *m;
	enum dmasplit_dir dir;
	uint64_t dma;
	size_t len;
	int r;

	if (!d->unchecked)
		return;
	switch (below(7)) {
	case 0:	/* unmap again what was unmapped */
		if (!d->ngone)
			return;
		i = (unsigned int)below(d->ngone < M_FREED ? d->ngone : M_FREED);
		dma = d->gone[i].dma;
		/* Unless the address went to a mapping or window since. */
		if (peer_footprint(d, dma) || peer_window(d, dma))
			return;
		snprintf(M.what, sizeof(M.what), "%s: misuse: unmap again 0x%" PRIx64 "+0x%zx",
			 d->spec, dma, d->gone[i].len);
		r = dmasplit_unmap(d->dev, dma, d->gone[i].len, d->gone[i].dir, 0);
		break;
	case 1:	/* a wrong length, start or direction */
		m = rand_mapping(d, MK_MAP);
		if (!m)
			return;
		dma = m->p[0].dma;
		len = m->p[0].len;
		dir = m->dir;
		switch (below(4)) {
		case 0:
			len++;
			break;
		case 1:
			if (len == 1)
				return;
			len--;
			break;
		case 2:
			if (align_down(dma, d->gran) + d->gran >= dma + len)
				return;
			/* A later granule of the mapping. */
			dma = align_down(dma, d->gran) + d->gran;
			len = d->gran;
			break;
		default:
			dir = (enum dmasplit_dir)((dir + 1 + below(2)) % 3);
			break;
		}
		snprintf(M.what, sizeof(M.what), "%s: misuse: unmap 0x%" PRIx64 "+0x%zx %s of 0x%" PRIx64 "+0x%zx %s",
			 d->spec, dma, len, dir_str(dir), m->p[0].dma, m->p[0].len, dir_str(m->dir));
		r = dmasplit_unmap(d->dev, dma, len, dir, 0);
		break;
	case 2:	/* a vector reordered, cut short or with a segment twice */
		m = rand_mapping(d, MK_VEC);
		if (!m)
			return;
		n = m->nsegs;
		memcpy(v, m->segs, n * sizeof(v[0]));
		i = (unsigned int)below(n);
		if (n >= 2 && chance(40)) {
			unsigned int j = (i + 1 + (unsigned int)below(n - 1)) % n;
			struct dmasplit_seg t = v[i];

			v[i] = v[j];
			v[j] = t;
		} else if (n >= 2 && chance(50)) {
			n--;
		} else {
			v[n++] = v[i];
		}
		snprintf(M.what, sizeof(M.what), "%s: misuse: unmap_vec of %u segments for %u from 0x%" PRIx64,
			 d->spec, n, m->nsegs, m->segs[0].dma);
		r = dmasplit_unmap_vec(d->dev, v, n, m->dir, 0);
		expect_misuse_refused(r, nlast, true);
		return;
	case 3:	/* a sync one granule longer than a mapping */
		m = rand_mapping(d, MK_MAP);
		if (!m)
			return;
		/* Without an IOMMU a direct mapping is known by its start:
		 * the range may lie in another mapping of the same bytes,
		 * so only the device's one mapping is sure to be overrun. */
		if (!d->iommu && !m->p[0].bounced && direct_ranges(d) != 1)
			return;
		snprintf(M.what, sizeof(M.what), "%s: misuse: sync_for_device 0x%" PRIx64 "+0x%zx of 0x%zx bytes",
			 d->spec, m->p[0].dma, m->p[0].len + d->gran, m->p[0].len);
		r = dmasplit_sync_for_device(d->dev, m->p[0].dma, m->p[0].len + d->gran, m->dir);
		break;
	case 4:	/* a sync of an address let go */
		if (!d->ngone || (!d->iommu && !d->force))
			return;
		i = (unsigned int)below(d->ngone < M_FREED ? d->ngone : M_FREED);
		dma = d->gone[i].dma;
		if (peer_footprint(d, dma) || peer_window(d, dma))
			return;
		snprintf(M.what, sizeof(M.what), "%s: misuse: sync_for_cpu of 0x%" PRIx64 " let go",
			 d->spec, dma);
		r = dmasplit_sync_for_cpu(d->dev, dma, d->gone[i].len, d->gone[i].dir);
		break;
	default: {	/* a window sync or unlink of a granule not linked */
		bool sync = chance(50);
		struct mwin *w;
		size_t j;

		if (!d->nw)
			return;
		w = &d->w[below(d->nw)];
		j = below(w->size / d->gran);
		if (w->g[j].state != GS_FREE)
			return;
		snprintf(M.what, sizeof(M.what), "%s: misuse: iova_%s of window 0x%" PRIx64 " granule %zu, not linked",
			 d->spec, sync ? "sync" : "unlink", w->base, j);
		r = sync ? dmasplit_iova_sync(w->iova, j * d->gran, d->gran)
			    : dmasplit_iova_unlink(w->iova, j * d->gran, d->gran,
						   DMASPLIT_BIDIRECTIONAL, 0);
		break;
	}
	}
	expect_misuse_refused(r, nlast, false);
}

static const struct {
	void (*fn)(struct mdev *d);
	unsigned int weight;
	bool windows;		/* only for translated devices */
} steps[] = {
	{ step_host_write, 8, false },
	{ step_access, 30, false },
	{ step_alloc, 4, true },
	{ step_link, 14, true },
	{ step_sync, 8, true },
	{ step_unlink, 7, true },
	{ step_destroy, 2, true },
	{ step_window_sync_for_cpu, 4, true },
	{ step_window_sync_for_device, 4, true },
	{ step_map, 9, false },
	{ step_unmap, 8, false },
	{ step_map_sync_for_cpu, 4, false },
	{ step_map_sync_for_device, 4, false },
	{ step_map_vec, 3, false },
	{ step_unmap_vec, 3, false },
	{ step_alloc_coherent, 2, false },
	{ step_free_coherent, 2, false },
	{ step_misuse, 6, false },
};

/* The counters moved as predicted over the step just run. */
static void check_stats(struct mdev *d)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };
	uint64_t *kc = d->space ? &M.space_kcalls[d->space] : &d->st.kernel_calls;

	ck_assert_int_eq(dmasplit_dev_get_stats(d->dev, &s), 0);
	MASSERT(s.device_faults - d->st.device_faults == M.faults,
		"device_faults went up by %" PRIu64 ", expected %" PRIu64,
		s.device_faults - d->st.device_faults, M.faults);
	if (M.kcalls_known)
		MASSERT(s.kernel_calls - *kc == M.kcalls,
			"kernel_calls went up by %" PRIu64 ", expected %" PRIu64,
			s.kernel_calls - *kc, M.kcalls);
	if (M.bounced_known)
		MASSERT(s.bytes_bounced - d->st.bytes_bounced == M.bounced,
			"bytes_bounced went up by %" PRIu64 ", expected %" PRIu64,
			s.bytes_bounced - d->st.bytes_bounced, M.bounced);
	MASSERT(s.bytes_bounced >= d->st.bytes_bounced, "bytes_bounced went down");
	MASSERT(s.windows_live == d->nw, "%" PRIu64 " windows live, expected %u",
		s.windows_live, d->nw);
	d->st = s;
	*kc = s.kernel_calls;
}

static void model_open(struct mdev *d, const char *spec, bool iommu,
		       bool untrusted, bool force, unsigned int mask,
		       size_t gran, bool unchecked)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->unchecked = unchecked;
	dmasplit_ctx_set_check(ctx, !unchecked);
	d->spec = spec;
	d->iommu = iommu;
	d->untrusted = untrusted;
	d->force = force;
	/* The IOMMU's 48-bit aperture bounds what a translated device is
	 * handed, whatever its mask. */
	d->mask = iommu && mask > 48 ? 48 : mask;
	d->gran = gran;
	/* A full pool would fail a map the model expects to succeed: with
	 * at most 8 live mappings of up to 4 pieces of 16 KiB (8 slots), one
	 * of the 16 segments of a 4 MiB pool holds at most 2 pieces, so it
	 * has a free run of more than 36 slots for the next. */
	d->maxlen = force ? 4 * G : 3 * gran;
	r = dmasplit_dev_open(ctx, spec, &d->dev);
	MASSERT(r == 0, "open %s: expected 0, got %d", spec, r);
	d->st.size = sizeof(d->st);
	ck_assert_int_eq(dmasplit_dev_get_stats(d->dev, &d->st), 0);
}

static void model_close(struct mdev *d)
{
	M.faults = M.bounced = M.kcalls = 0;
	M.bounced_known = true;
	M.kcalls_known = false;
	while (d->nm) {
		struct mmapping *m = &d->m[d->nm - 1];

		if (m->kind == MK_MAP) {
			snprintf(M.what, sizeof(M.what), "%s: final unmap", d->spec);
			MASSERT(dmasplit_unmap(d->dev, m->p[0].dma, m->p[0].len, m->dir, 0) == 0,
				"unmap failed");
			piece_release(d, &m->p[0], m->dir, 0);
			d->nm--;
		} else if (m->kind == MK_VEC) {
			unsigned int i;

			snprintf(M.what, sizeof(M.what), "%s: final unmap_vec", d->spec);
			MASSERT(dmasplit_unmap_vec(d->dev, m->segs, m->nsegs, m->dir, 0) == 0,
				"unmap_vec failed");
			for (i = 0; i < m->n; i++)
				piece_release(d, &m->p[i], m->dir, 0);
			d->nm--;
		} else {
			free_coherent(d, m);
		}
	}
	while (d->nw)
		destroy_window(d, d->nw - 1);
	check_stats(d);
	dmasplit_dev_close(d->dev);
}

START_TEST(random_sequences_match_the_reference_model)
{
	const char *env = getenv("DMASPLIT_TEST_SEED");
	unsigned int total = 0, i;
	size_t k;

	memset(&M, 0, sizeof(M));
	M.seed = env && *env ? strtoull(env, NULL, 0) : 20241031;
	M.rng = M.seed;
	/* Host memory below 2 GiB (reached in place under a 32-bit mask)
	 * and above 4 GiB (bounced under it), wherever the system allows. */
	if (!hostmem_at(&M.mem[0], ARENA, 0x10000000ull, 0x80000000ull))
		hostmem_any(&M.mem[0], ARENA);
	if (!hostmem_at(&M.mem[1], ARENA, FOUR_GIB, USER_TOP))
		hostmem_any(&M.mem[1], ARENA);
	for (i = 0; i < 2; i++) {
		M.r[i].base = M.mem[i].p;
		M.r[i].len = ARENA;
		M.r[i].live = true;
		sh_new(&M.r[i].s, ARENA, true);
		for (k = 0; k < ARENA; k++)
			M.r[i].base[k] = M.r[i].s.v[k] = (uint8_t)rnd();
	}
	dmasplit_ctx_set_log_fn(ctx, model_log, NULL);
	snprintf(M.what, sizeof(M.what), "opening the devices");
	for (i = 0; i < 2; i++) {
		/* The same devices with the checker on, then off. */
		bool off = i;

		model_open(&M.d[4 * i], off ? "sim:n1,as=s" : "sim:m1,as=s", true, false, false, 64, 4096, off);
		M.d[4 * i].space = 1;
		model_open(&M.d[4 * i + 1], off ? "sim:n2,iommu=off,bounce=force,pool=4M"
						: "sim:m2,iommu=off,bounce=force,pool=4M",
			   false, false, true, 64, 4096, off);
		model_open(&M.d[4 * i + 2], off ? "sim:n3,untrusted=1,granule=16384"
						: "sim:m3,untrusted=1,granule=16384",
			   true, true, false, 64, 16384, off);
		model_open(&M.d[4 * i + 3], off ? "sim:n4,iommu=off,mask=32" : "sim:m4,iommu=off,mask=32",
			   false, false, false, 32, 4096, off);
	}
	/* One address space for four devices, checked and not, of three
	 * reaches, one untrusted: the narrowest bounds every address. */
	model_open(&M.d[8], "sim:m5,as=s,mask=40", true, false, false, 40, 4096, false);
	model_open(&M.d[9], "sim:n5,as=s,untrusted=1,mask=36", true, true, false, 36, 4096, true);
	M.d[8].space = M.d[9].space = 1;
	for (i = 0; i < M_DEVS; i++)
		if (M.d[i].space)
			M.space_kcalls[M.d[i].space] = M.d[i].st.kernel_calls;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		total += steps[i].weight;

	for (M.step = 0; M.step < M_STEPS; M.step++) {
		struct mdev *d = &M.d[below(M_DEVS)];
		uint64_t dmar = M.dmar;

		do {
			unsigned int pick = (unsigned int)below(total);

			for (i = 0; pick >= steps[i].weight; i++)
				pick -= steps[i].weight;
		} while (steps[i].windows && !d->iommu);
		snprintf(M.what, sizeof(M.what), "%s: nothing", d->spec);
		M.faults = M.bounced = M.kcalls = 0;
		M.kcalls_known = M.bounced_known = true;
		M.ndirty = 0;
		steps[i].fn(d);
		if (!d->iommu) {
			/* No IOMMU, nothing to invalidate. */
			M.kcalls_known = true;
			M.kcalls = 0;
		}
		check_stats(d);
		MASSERT(M.dmar - dmar == M.faults, "%" PRIu64 " DMAR lines, expected %" PRIu64,
			M.dmar - dmar, M.faults);
		if (M.ndirty > M_DIRTY || M.step % 64 == 63) {
			verify_all();
		} else {
			for (k = 0; k < M.ndirty; k++)
				verify_host(M.dirty[k].p, M.dirty[k].len, "host bytes the step changed");
		}
	}
	for (i = 0; i < M_DEVS; i++)
		model_close(&M.d[i]);
	snprintf(M.what, sizeof(M.what), "after closing the devices");
	verify_all();
	MASSERT(M.skipped < M_STEPS / 4, "%u of %u steps were left open by the contract",
		M.skipped, M_STEPS);
	MASSERT(M.refused > M_STEPS / 200, "only %u misuses tried and refused", M.refused);
	MASSERT(M.peer_hits > M_STEPS / 1000, "only %u accesses reached another member's mapping",
		M.peer_hits);
	fprintf(stderr, "model: seed %" PRIu64 ", %u steps, %u device accesses checked (%u faults), %u accesses the contract leaves open, %u misuses refused, %u predictions from another member's mapping\n",
		M.seed, M_STEPS, M.accesses, M.faulted, M.skipped, M.refused, M.peer_hits);
	for (i = 0; i < M_REGIONS; i++)
		if (M.r[i].live)
			sh_free(&M.r[i].s);
	hostmem_free(&M.mem[0]);
	hostmem_free(&M.mem[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tu_plugin_dir();
	tc = tcase_create("options");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, probe_claims_every_sim_spec_and_no_pci_device);
	tcase_add_test(tc, info_follows_the_options);
	tcase_add_test(tc, bad_options_are_refused_naming_the_key);
	tcase_add_test(tc, good_options_are_accepted);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("windows");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, link_is_invisible_until_sync);
	tcase_add_test(tc, unlink_faults_immediately);
	tcase_add_test(tc, device_write_into_to_device_link_faults);
	tcase_add_test(tc, access_outside_any_window_faults);
	tcase_add_test(tc, destroy_unlinks_what_is_still_linked);
	tcase_add_test(tc, bytes_land_exactly_where_linked);
	tcase_add_test(tc, trusted_link_reaches_whole_granules);
	tcase_add_test(tc, every_granule_4k_16k_64k);
	tcase_add_test(tc, link_offset_and_address_must_agree_within_granule);
	tcase_add_test(tc, untrusted_link_bounces_partial_head_and_tail);
	tcase_add_test(tc, untrusted_link_copies_back_by_direction);
	tcase_add_test(tc, windows_stay_below_mask);
	tcase_add_test(tc, address_zero_never_handed_out);
	tcase_add_test(tc, stats_count_one_invalidation_per_sync);
	tcase_add_test(tc, coherent_zero_keeps_the_data_behaviour);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("translated maps");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, map_is_visible_at_once_and_faults_after_unmap);
	tcase_add_test(tc, map_direction_is_enforced);
	tcase_add_test(tc, untrusted_map_bounces_unaligned_buffer);
	tcase_add_test(tc, maps_stay_below_mask);
	tcase_add_test(tc, map_vec_merges_aligned_buffers);
	tcase_add_test(tc, bounce_force_needs_iommu_off);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("no iommu");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, iommu_off_has_no_windows);
	tcase_add_test(tc, iommu_off_direct_when_below_mask);
	tu_add_test_if(tc, buffer_above_mask_is_bounced, high_memory_available(),
		       "no memory can be mapped above 4 GiB here");
	tcase_add_test(tc, iommu_off_device_reaches_host_memory_and_faults_elsewhere);
	tcase_add_test(tc, bounce_visible_only_after_sync_for_device);
	tcase_add_test(tc, host_sees_device_write_only_after_sync_for_cpu);
	tcase_add_test(tc, unmap_copies_back_from_device);
	tcase_add_test(tc, skip_cpu_sync_skips_copies_back);
	tcase_add_test(tc, partial_sync_at_any_offset);
	tcase_add_test(tc, large_bounce_slots_start_on_4k);
	tcase_add_test(tc, pool_exhaustion_is_enomem_and_harmless);
	tcase_add_test(tc, pool_size_rounds_up_to_whole_segments);
	tcase_add_test(tc, mapping_never_crosses_a_segment);
	tcase_add_test(tc, mapping_larger_than_a_segment_is_refused);
	tcase_add_test(tc, map_vec_on_iommu_off_maps_each_buffer);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("misuse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, double_unmap_on_a_bounce_device_is_refused_and_the_pool_stays_intact);
	tcase_add_test(tc, double_unmap_is_refused_on_every_device);
	tcase_add_test(tc, unmap_with_a_wrong_length_or_direction_changes_nothing);
	tcase_add_test(tc, refused_partial_unmap_keeps_the_iova_cache_out_of_live_mappings);
	tcase_add_test(tc, unmap_vec_refuses_vectors_it_did_not_return);
	tcase_add_test(tc, vectors_of_the_same_bytes_unmap_each_as_itself);
	tcase_add_test(tc, coherent_memory_left_at_close_is_released);
	tcase_add_test(tc, sync_outside_one_mapping_is_refused_at_once);
	tcase_add_test(tc, sync_inside_a_longer_mapping_of_the_same_bytes_is_not_refused);
	tcase_add_test(tc, window_sync_and_unlink_of_nothing_linked_are_refused);
	tcase_add_test(tc, link_over_a_link_is_refused_and_changes_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("shared");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, coherent_memory_is_shared_without_syncs);
	tcase_add_test(tc, concurrent_maps_from_two_threads);
	tcase_add_test(tc, concurrent_windows_from_two_threads);
	tcase_add_test(tc, random_sequences_match_the_reference_model);
	tcase_add_test(tc, invalidation_count_is_exact_from_two_threads);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("address spaces");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, members_report_their_space_and_others_none);
	tcase_add_test(tc, window_linked_on_one_member_is_read_and_written_by_another);
	tcase_add_test(tc, three_members_reach_every_map_at_one_address);
	tcase_add_test(tc, only_the_member_that_mapped_unmaps_or_syncs);
	tcase_add_test(tc, addresses_fit_the_smallest_mask_of_the_members);
	tcase_add_test(tc, late_joiner_that_cannot_reach_a_mapping_is_refused);
	tcase_add_test(tc, as_is_refused_where_it_cannot_hold);
	tcase_add_test(tc, closing_the_creator_removes_its_windows_and_maps_for_all);
	tcase_add_test(tc, spaces_are_per_context_and_vanish_with_their_last_member);
	tcase_add_test(tc, stats_count_an_invalidation_once_for_the_space);
	tcase_add_test(tc, batch_on_one_member_is_read_by_another);
	tcase_add_test(tc, members_map_from_two_threads_at_once);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return tu_main(s);
}
