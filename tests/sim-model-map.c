// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reference model steps on the per-range path: map and unmap, vectors,
 * their syncs, and coherent memory.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-model.h"

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
void piece_release(struct mdev *d, struct mpiece *p,
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

void step_map(struct mdev *d)
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

void step_unmap(struct mdev *d)
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

void step_map_sync_for_cpu(struct mdev *d)
{
	step_map_sync_for(d, true);
}

void step_map_sync_for_device(struct mdev *d)
{
	step_map_sync_for(d, false);
}

void step_map_vec(struct mdev *d)
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

void step_unmap_vec(struct mdev *d)
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

void step_alloc_coherent(struct mdev *d)
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

void free_coherent(struct mdev *d, struct mmapping *m)
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

void step_free_coherent(struct mdev *d)
{
	unsigned int i, start = (unsigned int)below(d->nm + 1u);

	for (i = 0; i < d->nm; i++)
		if (d->m[(start + i) % d->nm].kind == MK_COH) {
			free_coherent(d, &d->m[(start + i) % d->nm]);
			return;
		}
}

/* -- misuse, on the devices opened with the checker off -- */

