// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz-api's reference model: the records of what is mapped, linked and
 * allocated, the device addresses each occupies, and the checks every
 * operation runs against them (a fresh address overlaps nothing live, the
 * CPU sees what the device wrote, a translated address is reachable in
 * this direction or must fault).  Apart from the operations so that what
 * the library must do is read in one place, whichever call led there.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-api.h"

/* Device addresses a record occupies: whole granules when translated. */
void dev_span(const struct rec *r, uint64_t *lo, uint64_t *hi)
{
	if (s.iommu) {
		*lo = gdown(r->dma);
		*hi = gup(r->dma + r->len);
	} else {
		*lo = r->dma;
		*hi = r->dma + r->len;
	}
}

/* The direction the device may use r in: its region's, when mapped
 * through one (the whole region is reachable so). */
enum dmasplit_dir dev_dir(const struct rec *r)
{
	return r->region >= 0 ? s.g_reg[r->region].dir : r->dir;
}

bool bounced(const struct rec *r)
{
	return r->kind != K_COH && r->dma != (uintptr_t)r->host;
}

struct rec *rec_new(enum kind kind, uint64_t dma, uint8_t *host,
		    size_t len, enum dmasplit_dir dir)
{
	struct rec *r = NULL;
	unsigned int i;

	for (i = 0; i < MAX_RECS; i++) {
		if (!s.r[i].used) {
			r = &s.r[i];
			break;
		}
	}
	if (!r)
		fatal("model: out of records");
	memset(r, 0, sizeof(*r));
	r->used = true;
	r->kind = kind;
	r->dma = dma;
	r->host = host;
	r->len = len;
	r->dir = dir;
	r->valid = kind != K_LINK;
	r->win = r->group = r->region = -1;
	r->dv = malloc(len);
	r->fl = malloc(len);
	if (!r->dv || !r->fl)
		abort();
	memcpy(r->dv, host, len);
	memset(r->fl, B_KNOWN, len);
	return r;
}

void rec_free(struct rec *r)
{
	free(r->dv);
	free(r->fl);
	memset(r, 0, sizeof(*r));
}

unsigned int live_recs(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < MAX_RECS; i++)
		n += s.r[i].used;
	return n;
}

/* A new device range must not share an address with a live one: the
 * device would reach two buffers through one address. */
void check_fresh(uint64_t dma, size_t len, bool is_bounce,
		 const char *what)
{
	uint64_t lo = dma, hi = dma + len, a, b;
	unsigned int i;

	if (dma == 0)
		fatal("%s: device address 0", what);
	if (hi - 1 > s.limit || hi < lo)
		fatal("%s: 0x%" PRIx64 "+0x%zx beyond the %u-bit mask", what,
		      dma, len, s.mask_bits);
	if (s.iommu) {
		lo = gdown(lo);
		hi = gup(hi);
	} else if (!is_bounce) {
		return;
	}
	for (i = 0; i < MAX_RECS; i++) {
		if (!s.r[i].used || (!s.iommu && !bounced(&s.r[i])))
			continue;
		dev_span(&s.r[i], &a, &b);
		if (overlaps(lo, hi - lo, a, b - a))
			fatal("%s: 0x%" PRIx64 "+0x%zx overlaps live 0x%" PRIx64 "+0x%zx",
			      what, dma, len, s.r[i].dma, s.r[i].len);
	}
	for (i = 0; s.iommu && i < MAX_REGIONS; i++)
		if (s.g_reg[i].reg && s.g_reg[i].dma != dma &&
		    overlaps(lo, hi - lo, s.g_reg[i].dma, s.g_reg[i].len))
			fatal("%s: 0x%" PRIx64 "+0x%zx inside region 0x%" PRIx64,
			      what, dma, len, s.g_reg[i].dma);
	for (i = 0; s.iommu && i < MAX_WINS; i++) {
		if (s.w[i].iova && s.w[i].base != dma &&
		    overlaps(lo, hi - lo, s.w[i].base, s.w[i].size))
			fatal("%s: 0x%" PRIx64 "+0x%zx inside window 0x%" PRIx64,
			      what, dma, len, s.w[i].base);
	}
}

/* The device view of r's bytes inside [p, p + len) is no longer known. */
static void forget(struct rec *r, const uint8_t *p, size_t len)
{
	const uint8_t *lo = p > r->host ? p : r->host;
	const uint8_t *hi = p + len < r->host + r->len ? p + len
						      : r->host + r->len;

	if (lo < hi)
		memset(r->fl + (lo - r->host), 0, (size_t)(hi - lo));
}

/* The CPU wrote [p, p + len): device views of those bytes are unknown
 * (except to one record, when it made the write). */
static void host_changed(const uint8_t *p, size_t len, const struct rec *by)
{
	unsigned int i;

	for (i = 0; i < MAX_RECS; i++) {
		struct rec *r = &s.r[i];

		if (r->used && r->kind != K_COH && r != by)
			forget(r, p, len);
	}
}

void cpu_wrote(const uint8_t *p, size_t len)
{
	host_changed(p, len, NULL);
}

/* After a copy back to the CPU: what the device wrote is in host memory.
 * The copy may also have written the bytes another mapping of the same
 * memory shows. */
MODEL_BYTE_LOOP
void check_host(struct rec *r, size_t off, size_t len, const char *what)
{
	size_t k;

	if (!dmasplit_dir_device_writes(r->dir))
		return;
	for (k = off; k < off + len; k++) {
		if ((r->fl[k] & B_KNOWN) && r->host[k] != r->dv[k])
			fatal("%s: host byte %zu of 0x%" PRIx64 "+0x%zx: expected 0x%02x (%s), got 0x%02x",
			      what, k, r->dma, r->len, r->dv[k],
			      r->fl[k] & B_WRITTEN ? "device wrote it" : "device view",
			      r->host[k]);
		r->fl[k] &= (uint8_t)~B_WRITTEN;
	}
	if (bounced(r))
		host_changed(r->host + off, len, r);
}

/* What the device read from [off, off + len) of r: every known byte. */
MODEL_BYTE_LOOP
void check_dev_read(const struct rec *r, size_t off, const uint8_t *buf,
		    size_t len)
{
	size_t k;

	for (k = 0; k < len; k++)
		if ((r->fl[off + k] & B_KNOWN) && buf[k] != r->dv[off + k])
			fatal("device read of byte %zu of 0x%" PRIx64 "+0x%zx (%s%s): expected 0x%02x, got 0x%02x",
			      off + k, r->dma, r->len,
			      r->dir == DMASPLIT_TO_DEVICE ? "TO_DEVICE" :
			      r->dir == DMASPLIT_FROM_DEVICE ? "FROM_DEVICE" : "BIDIRECTIONAL",
			      bounced(r) ? ", bounced" : "", r->dv[off + k], buf[k]);
}

/* After sync_for_device of [off, off + len): a device that reads sees the
 * CPU's bytes; one that only writes may or may not have had them copied
 * in, so where they differ nothing is known. */
MODEL_BYTE_LOOP
void synced_for_device(struct rec *r, size_t off, size_t len)
{
	size_t k;

	if (dmasplit_dir_device_reads(r->dir)) {
		memcpy(r->dv + off, r->host + off, len);
		memset(r->fl + off, B_KNOWN, len);
		return;
	}
	for (k = off; k < off + len; k++)
		if (r->dv[k] != r->host[k])
			r->fl[k] = 0;
}

/* Translated: may the device reach [dma, dma + len) for this access? */
bool reachable(uint64_t dma, size_t len, bool write)
{
	uint64_t g = gdown(dma), a, b;
	unsigned int i;

	for (; g < dma + len; g += s.granule) {
		bool ok = in_region(g, s.granule, write, false);

		for (i = 0; i < MAX_RECS && !ok; i++) {
			const struct rec *r = &s.r[i];

			if (!r->used || !r->valid)
				continue;
			dev_span(r, &a, &b);
			if (g >= a && g < b)
				ok = write ? dmasplit_dir_device_writes(r->dir)
					   : dmasplit_dir_device_reads(r->dir);
		}
		if (!ok)
			return false;
	}
	return true;
}

void group_gone(int gi, bool copied)
{
	unsigned int i, j;

	/* Segments of one vector over the same bytes: the copies back of
	 * the bounced ones land in an order the model does not follow, so
	 * what either segment shows there is not known. */
	for (i = 0; copied && i < MAX_RECS; i++) {
		struct rec *x = &s.r[i];

		if (!x->used || x->kind != K_VEC || x->group != gi)
			continue;
		for (j = 0; j < MAX_RECS; j++) {
			struct rec *y = &s.r[j];

			if (j != i && y->used && y->kind == K_VEC &&
			    y->group == gi)
				forget(y, x->host, x->len);
		}
	}
	for (i = 0; i < MAX_RECS; i++) {
		struct rec *r = &s.r[i];

		if (r->used && r->kind == K_VEC && r->group == gi) {
			if (copied)
				check_host(r, 0, r->len, "unmap_vec");
			rec_free(r);
		}
	}
	s.g[gi].used = false;
}

void win_gone(int wi)
{
	unsigned int i;

	for (i = 0; i < MAX_RECS; i++)
		if (s.r[i].used && s.r[i].kind == K_LINK && s.r[i].win == wi)
			rec_free(&s.r[i]);
	s.w[wi].iova = NULL;
}
