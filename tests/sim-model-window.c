// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reference model steps on windows: reserve, link, sync, unlink, destroy,
 * and the syncs for CPU and device.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-model.h"

void step_alloc(struct mdev *d)
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

void step_link(struct mdev *d)
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

void step_sync(struct mdev *d)
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

void step_unlink(struct mdev *d)
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

void destroy_window(struct mdev *d, unsigned int i)
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

void step_destroy(struct mdev *d)
{
	if (d->nw)
		destroy_window(d, (unsigned int)below(d->nw));
}

/* A direction for a sync of something mapped or linked with dir that
 * makes the copy certain: the mapping's own, or BIDIRECTIONAL. */
enum dmasplit_dir sync_dir(enum dmasplit_dir dir, bool for_cpu,
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

void step_window_sync_for_cpu(struct mdev *d)
{
	step_window_sync_for(d, true);
}

void step_window_sync_for_device(struct mdev *d)
{
	step_window_sync_for(d, false);
}

/* -- mappings -- */

