// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz-api's operations on the per-range path, the kernel's dma_map_*
 * family: map and unmap (also of wrong and dead ranges), their syncs,
 * vectors and coherent memory, each followed in the model.  Apart from
 * the two-step windows, whose rules differ.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "fuzz-api.h"

void op_map(void)
{
	enum dmasplit_dir dir = (enum dmasplit_dir)(take(1) % 3);
	uint8_t *p;
	size_t len;
	uint64_t dma = 0;
	struct rec *r;
	int ri, ret;

	/* The model keeps MAX_RECS records: past them, no more mappings. */
	if (live_recs() >= MAX_RECS)
		return;
	pick_buf(&p, &len, MAX_LEN);
	ri = region_of(p, len, dir);
	ret = dmasplit_map(s.dev, p, len, dir, 0, &dma);
	if (ri >= 0) {
		const struct region *g = &s.g_reg[ri];

		want_ok(ret, false, "map inside a region");
		if (dma != g->dma + (uint64_t)(p - g->host))
			fatal("map inside region 0x%" PRIx64 ": got 0x%" PRIx64 ", expected 0x%" PRIx64,
			      g->dma, dma, g->dma + (uint64_t)(p - g->host));
		r = rec_new(K_MAP, dma, p, len, dir);
		r->region = ri;
		s.g_reg[ri].live++;
		return;
	}
	want_ok(ret, true, "map");
	if (ret)
		return;
	if (s.iommu && ((dma ^ (uintptr_t)p) & s.gmask))
		fatal("map: 0x%" PRIx64 " does not keep %p's offset in the granule",
		      dma, p);
	check_fresh(dma, len, dma != (uintptr_t)p, "map");
	r = rec_new(K_MAP, dma, p, len, dir);
	(void)r;
}

/* The backend holds what it mapped when it translates or bounces. */
static bool backend_knows(const struct rec *r)
{
	return s.iommu || bounced(r);
}

static void remember_dead(const struct rec *r)
{
	struct dead *d = &s.d[s.ndead++ % MAX_DEAD];

	d->dma = r->dma;
	d->len = r->len;
	d->dir = r->dir;
	d->known = backend_knows(r);
}

/* Would an unmap or sync of [dma, dma + len) touch something live? */
static bool dev_range_live(uint64_t dma, size_t len)
{
	uint64_t a, b, lo = s.iommu ? gdown(dma) : dma;
	uint64_t hi = s.iommu ? gup(dma + len) : dma + len;
	unsigned int i;

	for (i = 0; i < MAX_RECS; i++) {
		if (!s.r[i].used)
			continue;
		dev_span(&s.r[i], &a, &b);
		if (overlaps(lo, hi - lo, a, b - a))
			return true;
	}
	for (i = 0; i < MAX_WINS; i++)
		if (s.w[i].iova && overlaps(lo, hi - lo, s.w[i].base, s.w[i].size))
			return true;
	for (i = 0; i < MAX_REGIONS; i++)
		if (s.g_reg[i].reg &&
		    overlaps(lo, hi - lo, s.g_reg[i].dma, s.g_reg[i].len))
			return true;
	return false;
}

/* Without translation the same bytes mapped twice share addresses: a
 * "wrong" unmap may name another live mapping exactly, and is right. */
static bool names_a_live_map(uint64_t dma, size_t len, enum dmasplit_dir dir)
{
	unsigned int i;

	for (i = 0; i < MAX_RECS; i++)
		if (s.r[i].used && s.r[i].kind == K_MAP && s.r[i].dma == dma &&
		    s.r[i].len == len && s.r[i].dir == dir)
			return true;
	return false;
}

void op_unmap(void)
{
	unsigned int v = (unsigned int)take(1);
	struct rec *r = pick_rec(v >> 3, K_MAP);
	uint64_t dma;
	size_t len;
	int ret;

	if (!r)
		return;
	/* A region cannot tell a wrong range of one mapping through it from
	 * another mapping: only exact unmaps there. */
	if (r->region >= 0 && (v % 8 == 5 || v % 8 == 6))
		return;
	switch (v % 8) {
	case 5:	/* a wrong length */
	case 6:	/* a part: the second granule (or the second half) */
		dma = r->dma;
		len = r->len + s.granule;
		if (v % 8 == 6 && r->len > 1) {
			size_t h = r->len > s.granule ? s.granule : r->len / 2;

			dma += h;
			len = r->len - h;
		}
		if (names_a_live_map(dma, len, r->dir))
			return;
		ret = dmasplit_unmap(s.dev, dma, len, r->dir, 0);
		if (backend_knows(r))
			want_fail(ret, "unmap of a wrong range of a mapping");
		if (ret == 0)	/* nothing the backend could see */
			goto gone;
		return;
	default:
		break;
	}
	ret = dmasplit_unmap(s.dev, r->dma, r->len, r->dir, 0);
	want_ok(ret, false, "unmap");
	check_host(r, 0, r->len, "unmap");
	if (r->region >= 0)
		s.g_reg[r->region].live--;
gone:
	remember_dead(r);
	rec_free(r);
}

/* Unmap again what is gone: refused wherever the backend can know. */
void op_unmap_dead(void)
{
	struct dead *d;
	int ret;

	if (!s.ndead)
		return;
	d = &s.d[take(1) % (s.ndead < MAX_DEAD ? s.ndead : MAX_DEAD)];
	if (dev_range_live(d->dma, d->len))
		return;
	ret = dmasplit_unmap(s.dev, d->dma, d->len, d->dir, 0);
	if (d->known)
		want_fail(ret, "unmap of an unmapped address");
}

void op_sync(bool for_cpu)
{
	struct rec *r = pick_rec((unsigned int)take(1), -1);
	size_t off, len;
	int ret;

	if (!r || r->kind == K_COH || !r->valid)
		return;
	sub_range(r, &off, &len);
	if (for_cpu) {
		ret = dmasplit_sync_for_cpu(s.dev, r->dma + off, len, r->dir);
		want_ok(ret, false, "sync_for_cpu");
		check_host(r, off, len, "sync_for_cpu");
		return;
	}
	ret = dmasplit_sync_for_device(s.dev, r->dma + off, len, r->dir);
	want_ok(ret, false, "sync_for_device");
	synced_for_device(r, off, len);
}

void op_map_vec(void)
{
	struct iovec iov[4];
	struct group *g = NULL;
	enum dmasplit_dir dir = (enum dmasplit_dir)(take(1) % 3);
	unsigned int n = 1 + (unsigned int)take(1) % 4, i, gi, sj, inside = 0;
	uint64_t total = 0, segtotal = 0, pos;
	int ret;

	for (gi = 0; gi < MAX_GROUPS; gi++)
		if (!s.g[gi].used) {
			g = &s.g[gi];
			break;
		}
	if (!g || live_recs() + n * 2 > MAX_RECS)
		return;
	for (i = 0; i < n; i++) {
		uint8_t *p;
		size_t len;

		pick_buf(&p, &len, 16384);
		iov[i].iov_base = p;
		iov[i].iov_len = len;
		total += len;
		inside += region_of(p, len, dir) >= 0;
	}
	/* All of them inside regions: test-region checks those vectors,
	 * whose segments this model does not follow. */
	if (inside == n)
		return;
	g->nsegs = 64;
	ret = dmasplit_map_vec(s.dev, iov, n, dir, 0, g->segs, &g->nsegs);
	want_ok(ret, true, "map_vec");
	if (ret)
		return;
	if (!g->nsegs || g->nsegs > 64)
		fatal("map_vec: %u segments", g->nsegs);
	for (sj = 0; sj < g->nsegs; sj++)
		segtotal += g->segs[sj].len;
	if (segtotal != total)
		fatal("map_vec: segments cover %" PRIu64 " bytes, buffers %" PRIu64,
		      segtotal, total);
	g->used = true;
	g->dir = dir;
	/* Each piece of a buffer within one segment is a record. */
	for (i = 0, sj = 0, pos = 0; i < n; i++) {
		size_t done = 0;

		while (done < iov[i].iov_len) {
			uint64_t room = g->segs[sj].len - pos;
			size_t l = iov[i].iov_len - done;
			struct rec *r;

			if (l > room)
				l = room;
			check_fresh(g->segs[sj].dma + pos, l,
				    g->segs[sj].dma + pos !=
				    (uintptr_t)iov[i].iov_base + done, "map_vec");
			r = rec_new(K_VEC, g->segs[sj].dma + pos,
				    (uint8_t *)iov[i].iov_base + done, l, dir);
			r->group = (int)gi;
			done += l;
			pos += l;
			if (pos == g->segs[sj].len) {
				sj++;
				pos = 0;
			}
		}
	}
}

static bool group_bounced(int gi)
{
	unsigned int i;

	for (i = 0; i < MAX_RECS; i++)
		if (s.r[i].used && s.r[i].kind == K_VEC && s.r[i].group == gi &&
		    bounced(&s.r[i]))
			return true;
	return false;
}

void op_unmap_vec(void)
{
	unsigned int v = (unsigned int)take(1), gi, n, i;
	struct dmasplit_seg segs[65];
	struct group *g = NULL;
	int ret;

	for (i = 0; i < MAX_GROUPS; i++) {
		gi = (v + i) % MAX_GROUPS;
		if (s.g[gi].used) {
			g = &s.g[gi];
			break;
		}
	}
	if (!g)
		return;
	n = g->nsegs;
	memcpy(segs, g->segs, n * sizeof(*segs));
	switch ((v >> 3) % 6) {
	case 3:	/* reordered */
		if (n < 2)
			break;
		for (i = 0; i < n / 2; i++) {
			struct dmasplit_seg t = segs[i];

			segs[i] = segs[n - 1 - i];
			segs[n - 1 - i] = t;
		}
		goto invalid;
	case 4:	/* a segment twice */
		segs[n] = segs[0];
		if (n > 1)
			segs[n - 1] = segs[0];
		else
			n++;
		goto invalid;
	case 5:	/* some missing */
		if (n < 2)
			break;
		n--;
		goto invalid;
	default:
		break;
	}
	ret = dmasplit_unmap_vec(s.dev, segs, n, g->dir, 0);
	want_ok(ret, false, "unmap_vec");
	group_gone((int)gi, true);
	return;
invalid:
	/* The same bytes mapped twice: the "wrong" vector may be exactly
	 * another live one, which it then rightly unmaps. */
	for (i = 0; i < MAX_GROUPS; i++)
		if (s.g[i].used && s.g[i].nsegs == n && s.g[i].dir == g->dir &&
		    !memcmp(s.g[i].segs, segs, n * sizeof(*segs)))
			return;
	ret = dmasplit_unmap_vec(s.dev, segs, n, g->dir, 0);
	if (s.iommu || group_bounced((int)gi))
		want_fail(ret, "unmap_vec of segments not as map_vec gave them");
	if (ret == 0)
		group_gone((int)gi, false);
}

void op_coherent(void)
{
	unsigned int v = (unsigned int)take(1);
	struct rec *r = pick_rec(v >> 1, K_COH);
	size_t size;
	void *cpu = NULL;
	uint64_t dma = 0;
	int ret;

	if (r && (v & 1)) {
		if (v & 2) {	/* the wrong size */
			ret = dmasplit_free_coherent(s.dev, r->len + s.granule,
						     r->host, r->dma);
			if (s.iommu)
				want_fail(ret, "free_coherent of the wrong size");
			if (ret == 0) {
				rec_free(r);
				return;
			}
		}
		ret = dmasplit_free_coherent(s.dev, r->len, r->host, r->dma);
		want_ok(ret, false, "free_coherent");
		rec_free(r);
		return;
	}
	if (live_recs() >= MAX_RECS)
		return;
	size = 1 + take(2) % MAX_LEN;
	ret = dmasplit_alloc_coherent(s.dev, size, 0, &cpu, &dma);
	want_ok(ret, true, "alloc_coherent");
	if (ret)
		return;
	check_fresh(dma, size, true, "alloc_coherent");
	memset(cpu, (int)v, size);
	rec_new(K_COH, dma, cpu, size, DMASPLIT_BIDIRECTIONAL);
}
