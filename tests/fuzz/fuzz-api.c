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
