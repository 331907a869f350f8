// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz-api's operations on the two-step path: reserve a window, link
 * into it, sync, unlink, destroy, each followed in the model.  Apart from
 * the per-range operations: only a translating device has windows, and
 * links become reachable on sync, not on the call.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-api.h"

void op_alloc(void)
{
	struct win *w = NULL;
	size_t size;
	unsigned int i;
	int ret;

	for (i = 0; i < MAX_WINS; i++)
		if (!s.w[i].iova) {
			w = &s.w[i];
			break;
		}
	size = (1 + take(1) % 8) * s.granule - (take(1) & 1 ? 1 : 0);
	if (!w)
		return;
	ret = dmasplit_iova_alloc(s.dev, size, 0, &w->iova);
	if (!s.iommu) {
		if (ret != -EOPNOTSUPP)
			fatal("iova_alloc without an IOMMU: expected -EOPNOTSUPP, got %d",
			      ret);
		w->iova = NULL;
		return;
	}
	want_ok(ret, true, "iova_alloc");
	if (ret) {
		w->iova = NULL;
		return;
	}
	w->base = dmasplit_iova_addr(w->iova);
	w->size = gup(size);
	if (w->base & s.gmask)
		fatal("iova_alloc: 0x%" PRIx64 " not granule-aligned", w->base);
	check_fresh(w->base, w->size, false, "iova_alloc");
	for (i = 0; i < MAX_WINS; i++)
		if (&s.w[i] != w && s.w[i].iova &&
		    overlaps(w->base, w->size, s.w[i].base, s.w[i].size))
			fatal("iova_alloc: 0x%" PRIx64 " overlaps window 0x%" PRIx64,
			      w->base, s.w[i].base);
}

void op_link(void)
{
	int wi = pick_win((unsigned int)take(1));
	enum dmasplit_dir dir = (enum dmasplit_dir)(take(1) % 3);
	unsigned int v = (unsigned int)take(1), i;
	struct win *w;
	uint8_t *p;
	size_t len, woff;
	bool bad = false, byte_overlap = false, gran_overlap = false;
	struct rec *r;
	int ret;

	if (wi < 0 || live_recs() >= MAX_RECS)
		return;
	w = &s.w[wi];
	pick_buf(&p, &len, w->size);
	woff = gdown(take(2) % w->size) + ((uintptr_t)p & s.gmask);
	if (v % 8 == 0) {	/* offset and address differ in the granule */
		woff ^= 512;
		bad = ((woff ^ (uintptr_t)p) & s.gmask) != 0;
	}
	if (woff + len > w->size)
		bad = true;
	for (i = 0; i < MAX_RECS; i++) {
		const struct rec *o = &s.r[i];

		if (!o->used || o->kind != K_LINK || o->win != wi)
			continue;
		if (overlaps(woff, len, o->woff, o->len))
			byte_overlap = true;
		else if (overlaps(gdown(woff), gup(woff + len) - gdown(woff),
				  gdown(o->woff),
				  gup(o->woff + o->len) - gdown(o->woff)))
			gran_overlap = true;
	}
	if (!bad && !byte_overlap && gran_overlap)
		return;	/* two links in one granule: not modelled */
	ret = dmasplit_iova_link(w->iova, woff, p, len, dir, 0);
	if (bad || byte_overlap) {
		want_fail(ret, bad ? "link outside the window or misaligned"
				   : "link over a linked range");
		return;
	}
	want_ok(ret, true, "link");
	if (ret)
		return;
	r = rec_new(K_LINK, w->base + woff, p, len, dir);
	r->win = wi;
	r->woff = woff;
}

void op_iova_sync(void)
{
	int wi = pick_win((unsigned int)take(1));
	unsigned int v = (unsigned int)take(1), i;
	size_t lo, hi;
	struct rec *one = NULL;
	bool exact = v & 1;
	int ret;

	if (wi < 0)
		return;
	lo = 0;
	hi = s.w[wi].size;
	if (exact) {
		/* Exactly one link. */
		for (i = 0; i < MAX_RECS; i++) {
			struct rec *r = &s.r[(v / 2 + i) % MAX_RECS];

			if (r->used && r->kind == K_LINK && r->win == wi) {
				one = r;
				break;
			}
		}
		if (!one)
			return;
		lo = one->woff;
		hi = one->woff + one->len;
	}
	for (i = 0; i < MAX_RECS && !one; i++)
		if (s.r[i].used && s.r[i].kind == K_LINK && s.r[i].win == wi)
			one = &s.r[i];
	ret = dmasplit_iova_sync(s.w[wi].iova, lo, hi - lo);
	/* Nothing linked: nothing to sync.  The checker also refuses a
	 * range that is not linked throughout. */
	if (!one)
		want_fail(ret, "iova_sync of a window with nothing linked");
	else if (exact || !s.check)
		want_ok(ret, false, "iova_sync");
	if (ret)
		return;
	for (i = 0; i < MAX_RECS; i++) {
		struct rec *r = &s.r[i];

		if (r->used && r->kind == K_LINK && r->win == wi &&
		    r->woff >= lo && r->woff + r->len <= hi)
			r->valid = true;
	}
}

/*
 * An unlink (or a destroy) copies a bounced link's bytes back to the CPU
 * (for a direction the device writes in) whether or not the link was
 * synced or checked: what the other mappings of those bytes show is not
 * known after it.
 */
static void unlinked_copy_back(const struct rec *r, size_t len)
{
	if (dmasplit_dir_device_writes(r->dir))
		cpu_wrote(r->host, len);
}

void op_unlink(void)
{
	unsigned int v = (unsigned int)take(1);
	struct rec *r = pick_rec(v >> 2, K_LINK), *rest;
	struct win *w;
	size_t cut;
	int ret;

	if (!r)
		return;
	w = &s.w[r->win];
	switch (v % 4) {
	case 1:	/* the first granules of a longer link */
		cut = gup(r->woff + 1) - r->woff;
		if (cut >= r->len || live_recs() >= MAX_RECS)
			break;
		ret = dmasplit_iova_unlink(w->iova, r->woff, cut, r->dir, 0);
		if (ret)
			return;
		unlinked_copy_back(r, cut);
		/* What stays linked stays reachable: later accesses prove it. */
		rest = rec_new(K_LINK, r->dma + cut, r->host + cut,
			       r->len - cut, r->dir);
		memcpy(rest->dv, r->dv + cut, r->len - cut);
		memcpy(rest->fl, r->fl + cut, r->len - cut);
		rest->valid = r->valid;
		rest->win = r->win;
		rest->woff = r->woff + cut;
		rec_free(r);
		return;
	default:
		break;
	}
	ret = dmasplit_iova_unlink(w->iova, r->woff, r->len, r->dir, 0);
	want_ok(ret, false, "unlink");
	if (r->valid)
		check_host(r, 0, r->len, "unlink");
	else
		unlinked_copy_back(r, r->len);
	ret = dmasplit_iova_unlink(w->iova, r->woff, r->len, r->dir, 0);
	rec_free(r);
	want_fail(ret, "unlink of a range unlinked already");
}

void op_destroy(void)
{
	int wi = pick_win((unsigned int)take(1));
	unsigned int i;

	if (wi < 0)
		return;
	/* Destroy unlinks what is still linked, copies back included. */
	for (i = 0; i < MAX_RECS; i++)
		if (s.r[i].used && s.r[i].kind == K_LINK && s.r[i].win == wi)
			unlinked_copy_back(&s.r[i], s.r[i].len);
	dmasplit_iova_destroy(s.w[wi].iova);
	win_gone(wi);
}
