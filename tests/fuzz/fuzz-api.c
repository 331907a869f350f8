// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: API call sequences decoded from the input against one
 * simulated device of any option mix, checker off or on, each device-side
 * access checked against a reference model of what the device must see.
 *
 * The model does not know which bytes the simulated device bounces: for
 * every mapped byte it keeps the value the device must read (known until
 * the CPU writes the byte behind the device's back, since a bounced and a
 * direct mapping then legitimately differ until the next sync), and the
 * bytes the device wrote, which the CPU must see after sync_for_cpu or
 * unmap.  On a translated device it also knows, granule by granule, which
 * device addresses are reachable and in which direction, so a read or
 * write anywhere else must fault.
 *
 * A call the model knows to be invalid (double unmap, wrong length, a
 * vector in another order, an unlink of nothing) must return a negative
 * errno and change nothing: later accesses to the live mappings prove the
 * latter.  Where the backend cannot know (a direct mapping without the
 * checker holds nothing), the model accepts either answer and follows it.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "fuzz.h"
#include "fuzz-api.h"

#define MAX_OPS 96

static struct dmasplit_ctx *ctxs[2];	/* checker off, on */
uint8_t *arena;
static uint8_t *pristine;

struct api_input in;
struct api_state s;

void fatal(const char *fmt, ...)
{
	va_list ap;

	const char *keep = getenv("FUZZ_REPORT");
	FILE *f = keep ? fopen(keep, "ae") : NULL;

	/* Fork mode (-fork) drops a job's output: FUZZ_REPORT keeps the
	 * finding's line. */
	fprintf(stderr, "fuzz-api: %s: ", s.spec);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (f) {
		fprintf(f, "fuzz-api: %s: ", s.spec);
		va_start(ap, fmt);
		vfprintf(f, fmt, ap);
		va_end(ap);
		fputc('\n', f);
		fclose(f);
	}
	abort();
}

static bool host_shared(const struct rec *r)
{
	unsigned int i;

	for (i = 0; i < MAX_RECS; i++)
		if (s.r[i].used && &s.r[i] != r && s.r[i].kind != K_COH &&
		    overlaps((uintptr_t)s.r[i].host, s.r[i].len,
			     (uintptr_t)r->host, r->len))
			return true;
	return false;
}

static void op_map(void)
{
	enum dmasplit_dir dir = (enum dmasplit_dir)(take(1) % 3);
	uint8_t *p;
	size_t len;
	uint64_t dma = 0;
	struct rec *r;
	int ret;

	pick_buf(&p, &len, MAX_LEN);
	ret = dmasplit_map(s.dev, p, len, dir, 0, &dma);
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

static void op_unmap(void)
{
	unsigned int v = (unsigned int)take(1);
	struct rec *r = pick_rec(v >> 3, K_MAP);
	uint64_t dma;
	size_t len;
	int ret;

	if (!r)
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
gone:
	remember_dead(r);
	rec_free(r);
}

/* Unmap again what is gone: refused wherever the backend can know. */
static void op_unmap_dead(void)
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

static void op_sync(bool for_cpu)
{
	struct rec *r = pick_rec((unsigned int)take(1), -1);
	size_t off, len, k;
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
	for (k = off; k < off + len; k++) {
		if (dmasplit_dir_device_reads(r->dir)) {
			r->dv[k] = r->host[k];
			r->fl[k] = B_KNOWN;
		} else if (r->dv[k] != r->host[k]) {
			/* Copied in or not: both are allowed. */
			r->fl[k] = 0;
		}
	}
}

static void op_cpu_write(void)
{
	uint8_t *p;
	size_t len;
	uint8_t v = (uint8_t)take(1);

	pick_buf(&p, &len, 4096);
	memset(p, v, len);
	cpu_wrote(p, len);
}

static void op_dev_read(void)
{
	static uint8_t buf[MAX_LEN];
	unsigned int v = (unsigned int)take(1);
	struct rec *r = pick_rec(v >> 2, -1);
	size_t off, len, k;
	int ret;

	if (v % 4 == 0 && s.iommu) {
		/* Anywhere near what is mapped: reachable or a fault. */
		uint64_t dma;

		if (r)
			dma = r->dma + (int16_t)take(2) * 16;
		else
			dma = take(4) << 8;
		len = 1 + take(1) % 32;
		if (dma + len < dma)
			return;
		ret = dmasplit_dev_dma_read(s.dev, dma, buf, len);
		if (reachable(dma, len, false))
			want_ok(ret, false, "device read of a reachable address");
		else if (ret != -EFAULT)
			fatal("device read of unreachable 0x%" PRIx64 "+0x%zx: expected -EFAULT, got %d",
			      dma, len, ret);
		return;
	}
	if (!r)
		return;
	sub_range(r, &off, &len);
	ret = dmasplit_dev_dma_read(s.dev, r->dma + off, buf, len);
	if (s.iommu && (!r->valid || !dmasplit_dir_device_reads(r->dir))) {
		if (ret != -EFAULT)
			fatal("device read of %s 0x%" PRIx64 ": expected -EFAULT, got %d",
			      r->valid ? "a FROM_DEVICE mapping" : "an unsynced link",
			      r->dma + off, ret);
		return;
	}
	want_ok(ret, false, "device read");
	if (r->kind == K_COH) {
		if (memcmp(buf, r->host + off, len))
			fatal("device read of coherent 0x%" PRIx64 ": differs from the CPU's view",
			      r->dma + off);
		return;
	}
	for (k = 0; k < len; k++)
		if ((r->fl[off + k] & B_KNOWN) && buf[k] != r->dv[off + k])
			fatal("device read of byte %zu of 0x%" PRIx64 "+0x%zx (%s%s): expected 0x%02x, got 0x%02x",
			      off + k, r->dma, r->len,
			      r->dir == DMASPLIT_TO_DEVICE ? "TO_DEVICE" :
			      r->dir == DMASPLIT_FROM_DEVICE ? "FROM_DEVICE" : "BIDIRECTIONAL",
			      bounced(r) ? ", bounced" : "", r->dv[off + k], buf[k]);
}

static void op_dev_write(void)
{
	static uint8_t buf[MAX_LEN];
	struct rec *r = pick_rec((unsigned int)take(1), -1);
	size_t off, len;
	int ret;

	if (!r)
		return;
	sub_range(r, &off, &len);
	memset(buf, (int)take(1), len);
	if (s.iommu && (!r->valid || !dmasplit_dir_device_writes(r->dir))) {
		ret = dmasplit_dev_dma_write(s.dev, r->dma + off, buf, len);
		if (ret != -EFAULT)
			fatal("device write to %s 0x%" PRIx64 ": expected -EFAULT, got %d",
			      r->valid ? "a TO_DEVICE mapping" : "an unsynced link",
			      r->dma + off, ret);
		return;
	}
	/* A write through one of two mappings of the same bytes, or into
	 * a buffer the device may only read, has no single right answer. */
	if (!dmasplit_dir_device_writes(r->dir) ||
	    (r->kind != K_COH && host_shared(r)))
		return;
	ret = dmasplit_dev_dma_write(s.dev, r->dma + off, buf, len);
	want_ok(ret, false, "device write");
	if (r->kind == K_COH) {
		if (memcmp(buf, r->host + off, len))
			fatal("device write to coherent 0x%" PRIx64 ": the CPU does not see it",
			      r->dma + off);
		return;
	}
	memcpy(r->dv + off, buf, len);
	memset(r->fl + off, B_KNOWN | B_WRITTEN, len);
}

static void op_map_vec(void)
{
	struct iovec iov[4];
	struct group *g = NULL;
	enum dmasplit_dir dir = (enum dmasplit_dir)(take(1) % 3);
	unsigned int n = 1 + (unsigned int)take(1) % 4, i, gi, sj;
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
	}
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

static void op_unmap_vec(void)
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

static void op_alloc(void)
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

static void op_link(void)
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

static void op_iova_sync(void)
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

static void op_unlink(void)
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
	ret = dmasplit_iova_unlink(w->iova, r->woff, r->len, r->dir, 0);
	rec_free(r);
	want_fail(ret, "unlink of a range unlinked already");
}

static void op_destroy(void)
{
	int wi = pick_win((unsigned int)take(1));

	if (wi < 0)
		return;
	dmasplit_iova_destroy(s.w[wi].iova);
	win_gone(wi);
}

static void op_coherent(void)
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

/* A batch, whole: add, map, check every segment from the device, sync,
 * unmap, free. */
static void op_batch(void)
{
	static uint8_t buf[4 * MAX_LEN];
	enum dmasplit_dir dir = (enum dmasplit_dir)(take(1) % 3);
	unsigned int n = 1 + (unsigned int)take(1) % 4, i, j, nsegs = 0;
	struct dmasplit_batch *b = NULL;
	const struct dmasplit_seg *segs = NULL;
	struct { uint8_t *p; size_t len; } bufs[4];
	size_t total = 0, pos;
	bool shared = false;
	int ret;

	for (i = 0; i < n; i++) {
		pick_buf(&bufs[i].p, &bufs[i].len, 16384);
		if (take(1) % 8 == 0 && i)	/* the same buffer again */
			bufs[i] = bufs[i - 1];
		total += bufs[i].len;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			shared |= overlaps((uintptr_t)bufs[i].p, bufs[i].len,
					   (uintptr_t)bufs[j].p, bufs[j].len);
		for (j = 0; j < MAX_RECS; j++)
			shared |= s.r[j].used && s.r[j].kind != K_COH &&
				  overlaps((uintptr_t)bufs[i].p, bufs[i].len,
					   (uintptr_t)s.r[j].host, s.r[j].len);
	}
	ret = dmasplit_batch_new(s.dev, dir, 0, &b);
	want_ok(ret, true, "batch_new");
	if (ret)
		return;
	for (i = 0; i < n; i++) {
		ret = dmasplit_batch_add(b, bufs[i].p, bufs[i].len);
		want_ok(ret, true, "batch_add");
		if (ret)
			goto out;
	}
	ret = dmasplit_batch_map(b, &segs, &nsegs);
	want_ok(ret, true, "batch_map");
	if (ret)
		goto out;
	for (i = 0, pos = 0; i < nsegs; pos += segs[i++].len)
		if (pos + segs[i].len > total)
			fatal("batch_map: segments exceed the %zu bytes added", total);
	if (pos != total)
		fatal("batch_map: segments cover %zu bytes of %zu", pos, total);
	if (dmasplit_dir_device_reads(dir)) {
		for (i = 0, pos = 0; i < nsegs; pos += segs[i++].len)
			want_ok(dmasplit_dev_dma_read(s.dev, segs[i].dma,
						      buf + pos, segs[i].len),
				false, "device read of a batch segment");
		for (i = 0, pos = 0; i < n; pos += bufs[i++].len)
			if (memcmp(buf + pos, bufs[i].p, bufs[i].len))
				fatal("batch: the device reads buffer %u wrong", i);
	}
	if (dmasplit_dir_device_writes(dir) && !shared) {
		memset(buf, (int)take(1) ^ 0x5a, total);
		for (i = 0, pos = 0; i < nsegs; pos += segs[i++].len)
			want_ok(dmasplit_dev_dma_write(s.dev, segs[i].dma,
						       buf + pos, segs[i].len),
				false, "device write of a batch segment");
		want_ok(dmasplit_batch_sync_for_cpu(b), false,
			"batch_sync_for_cpu");
		for (i = 0, pos = 0; i < n; pos += bufs[i++].len)
			if (memcmp(buf + pos, bufs[i].p, bufs[i].len))
				fatal("batch: the CPU does not see the device's writes to buffer %u",
				      i);
		cpu_wrote(arena, ARENA);
	}
	want_ok(dmasplit_batch_unmap(b), false, "batch_unmap");
out:
	dmasplit_batch_free(b);
}

/*
 * Opening a device costs more than most inputs (page tables, the pool), so
 * devices stay open from input to input, a few per option mix, each
 * emptied at the end of every input.  FUZZ_API_FRESH=1 opens and closes
 * one per input, to reproduce a finding without that history.
 */
#define DEV_CACHE 24

static struct {
	struct dmasplit_dev *dev;
	uint64_t key;
	uint64_t used;
} cache[DEV_CACHE];
static uint64_t cache_clock;
static bool fresh;

static struct dmasplit_dev *cached_dev(uint64_t key)
{
	unsigned int i, old = 0;
	int ret;

	for (i = 0; i < DEV_CACHE; i++) {
		if (cache[i].dev && cache[i].key == key) {
			cache[i].used = ++cache_clock;
			return cache[i].dev;
		}
		if (cache[i].used < cache[old].used)
			old = i;
	}
	if (cache[old].dev)
		dmasplit_dev_close(cache[old].dev);
	cache[old].dev = NULL;
	ret = dmasplit_dev_open(ctxs[key & 1], s.spec, &cache[old].dev);
	if (ret)
		fatal("dev_open: expected 0, got %d", ret);
	cache[old].key = key;
	cache[old].used = ++cache_clock;
	return cache[old].dev;
}

static void open_dev(void)
{
	static const unsigned int masks[] = { 64, 32, 40, 48 };
	static const unsigned int granules[] = { 4096, 16384, 65536, 4096 };
	uint64_t c = take(2) & 0x1ff;
	int ret;

	s.check = c & 1;
	s.iommu = !(c & 2);
	s.force = c & 4;
	s.untrusted = c & 8;
	s.granule = granules[(c >> 4) & 3];
	s.mask_bits = masks[(c >> 6) & 3];
	s.coherent = !(c & 0x100);
	s.gmask = s.granule - 1;
	s.limit = s.mask_bits == 64 ? UINT64_MAX : (1ull << s.mask_bits) - 1;
	snprintf(s.spec, sizeof(s.spec),
		 "sim:f,iommu=%s,bounce=%s,untrusted=%d,granule=%" PRIu64 ",mask=%u,coherent=%d,pool=1M",
		 s.iommu ? "on" : "off", s.force ? "force" : "auto",
		 s.untrusted, s.granule, s.mask_bits, s.coherent);
	if (fresh) {
		ret = dmasplit_dev_open(ctxs[s.check], s.spec, &s.dev);
		if (ret)
			fatal("dev_open: expected 0, got %d", ret);
	} else {
		s.dev = cached_dev(c);
	}
	if (s.check)
		strcat(s.spec, " (checker on)");
}

static void close_dev(void)
{
	struct dmasplit_dev_stats st = { .size = sizeof(st) };
	unsigned int i;
	int ret;

	for (i = 0; i < MAX_GROUPS; i++)
		if (s.g[i].used) {
			ret = dmasplit_unmap_vec(s.dev, s.g[i].segs,
						 s.g[i].nsegs, s.g[i].dir, 0);
			want_ok(ret, false, "unmap_vec at the end");
			group_gone((int)i, true);
		}
	for (i = 0; i < MAX_RECS; i++) {
		struct rec *r = &s.r[i];

		if (!r->used)
			continue;
		if (r->kind == K_MAP) {
			ret = dmasplit_unmap(s.dev, r->dma, r->len, r->dir, 0);
			want_ok(ret, false, "unmap at the end");
			check_host(r, 0, r->len, "unmap at the end");
			rec_free(r);
		} else if (r->kind == K_COH) {
			ret = dmasplit_free_coherent(s.dev, r->len, r->host,
						     r->dma);
			want_ok(ret, false, "free_coherent at the end");
			rec_free(r);
		}
	}
	for (i = 0; i < MAX_WINS; i++)
		if (s.w[i].iova) {
			dmasplit_iova_destroy(s.w[i].iova);
			win_gone((int)i);
		}
	/* Every refused call changed nothing: the counters are back at 0. */
	ret = dmasplit_dev_get_stats(s.dev, &st);
	want_ok(ret, false, "dev_get_stats");
	if (st.mappings_live || st.windows_live)
		fatal("after undoing everything: %" PRIu64 " mappings and %" PRIu64 " windows live, expected 0",
		      st.mappings_live, st.windows_live);
	if (fresh)
		dmasplit_dev_close(s.dev);
	s.dev = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *f = getenv("FUZZ_API_FRESH");
	size_t i;

	fresh = f && atoi(f);
	ctxs[0] = fuzz_ctx_new(0);
	ctxs[1] = fuzz_ctx_new(1);
	arena = aligned_alloc(65536, ARENA);
	pristine = malloc(ARENA);
	if (!arena || !pristine)
		abort();
	for (i = 0; i < ARENA; i++)
		pristine[i] = (uint8_t)(i * 7 + (i >> 8));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int ops = 0;

	in.p = data;
	in.n = size;
	memset(&s, 0, sizeof(s));
	memcpy(arena, pristine, ARENA);
	open_dev();
	while (in.n && ops++ < MAX_OPS) {
		switch (take(1) % 18) {
		case 0: case 1: op_map(); break;
		case 2: op_unmap(); break;
		case 3: op_unmap_dead(); break;
		case 4: op_sync(true); break;
		case 5: op_sync(false); break;
		case 6: op_cpu_write(); break;
		case 7: case 8: op_dev_read(); break;
		case 9: op_dev_write(); break;
		case 10: op_map_vec(); break;
		case 11: op_unmap_vec(); break;
		case 12: op_alloc(); break;
		case 13: op_link(); break;
		case 14: op_iova_sync(); break;
		case 15: op_unlink(); break;
		case 16: if (take(1) & 1) op_destroy(); else op_coherent(); break;
		case 17: op_batch(); break;
		}
	}
	close_dev();
	return 0;
}
