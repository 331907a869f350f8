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
 *
 * This file holds the entry points: the devices each input runs on, the
 * dispatch of its operations and the report of a mismatch.  The model is
 * in fuzz-api-model.c, the input decoding in fuzz-api-input.c, and the
 * operations by family in fuzz-api-map.c, fuzz-api-access.c,
 * fuzz-api-window.c, fuzz-api-batch.c and fuzz-api-region.c; fuzz-api.h
 * is what they share.
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
			if (r->region >= 0)
				s.g_reg[r->region].live--;
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
	regions_gone();
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
		case 16:
			switch (take(1) % 3) {
			case 0: op_destroy(); break;
			case 1: op_coherent(); break;
			default: op_region(); break;
			}
			break;
		case 17: op_batch(); break;
		}
	}
	close_dev();
	return 0;
}
