// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The reference model's misuse step: calls on what a device does not
 * hold, which it must refuse with one log line and no change.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sim-model.h"

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

void step_misuse(struct mdev *d)
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

