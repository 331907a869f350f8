// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz-api's registered regions: made over granules of the arena and
 * freed, and what they change for the other operations.  While a region
 * lives, a dmasplit_map of bytes inside it for its direction must return
 * the region's address of those bytes (op_map asks region_of()), its
 * whole span is reachable by the device in its direction (reachable()
 * asks in_region()), and no other mapping or window may share its
 * addresses (check_fresh()).  A region is offered only on a coherent
 * translated device here: the simulated device without an IOMMU always
 * has a bounce pool.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-api.h"

static bool covered(enum dmasplit_dir rdir, enum dmasplit_dir dir)
{
	return rdir == DMASPLIT_BIDIRECTIONAL || rdir == dir;
}

int region_of(const uint8_t *p, size_t len, enum dmasplit_dir dir)
{
	unsigned int i;

	for (i = 0; i < MAX_REGIONS; i++) {
		const struct region *g = &s.g_reg[i];

		if (g->reg && p >= g->host && p + len <= g->host + g->len &&
		    covered(g->dir, dir))
			return (int)i;
	}
	return -1;
}

/* [dma, dma + len) in one region; for an access (any false), in one that
 * allows it. */
bool in_region(uint64_t dma, size_t len, bool write, bool any)
{
	unsigned int i;

	for (i = 0; i < MAX_REGIONS; i++) {
		const struct region *g = &s.g_reg[i];

		if (!g->reg || dma < g->dma || dma + len > g->dma + g->len)
			continue;
		if (any)
			return true;
		return write ? dmasplit_dir_device_writes(g->dir)
			     : dmasplit_dir_device_reads(g->dir);
	}
	return false;
}

static bool overlaps_region(const uint8_t *p, size_t len)
{
	unsigned int i;

	for (i = 0; i < MAX_REGIONS; i++)
		if (s.g_reg[i].reg &&
		    overlaps((uintptr_t)p, len, (uintptr_t)s.g_reg[i].host,
			     s.g_reg[i].len))
			return true;
	return false;
}

static void region_free(int gi)
{
	struct region *g = &s.g_reg[gi];
	int ret = dmasplit_region_free(g->reg);

	if (g->live) {
		if (ret != -EBUSY)
			fatal("region_free with %u mappings live: expected -EBUSY, got %d",
			      g->live, ret);
		return;
	}
	want_ok(ret, false, "region_free");
	memset(g, 0, sizeof(*g));
}

static void region_new(unsigned int v)
{
	struct region *g = NULL;
	enum dmasplit_dir dir = (enum dmasplit_dir)(v % 3);
	struct dmasplit_region *reg = NULL;
	size_t off = gdown(take(3) % ARENA), len;
	unsigned int i;
	int ret;

	len = (1 + take(1) % 8) * s.granule;
	if (len > ARENA)
		len = ARENA;
	if (off + len > ARENA)
		off = ARENA - len;
	for (i = 0; i < MAX_REGIONS && !g; i++)
		if (!s.g_reg[i].reg)
			g = &s.g_reg[i];
	if (!g)
		return;
	ret = dmasplit_region_new(s.dev, arena + off, len, dir, 0, &reg);
	if (!s.iommu || !s.coherent) {
		if (ret != -EOPNOTSUPP)
			fatal("region_new without an IOMMU or coherence: expected -EOPNOTSUPP, got %d",
			      ret);
		return;
	}
	if (overlaps_region(arena + off, len)) {
		if (ret != -EEXIST)
			fatal("region_new over a region: expected -EEXIST, got %d",
			      ret);
		return;
	}
	want_ok(ret, true, "region_new");
	if (ret)
		return;
	g->reg = reg;
	g->host = arena + off;
	g->len = len;
	g->dir = dir;
	g->dma = dmasplit_region_addr(reg);
	if ((g->dma ^ (uintptr_t)g->host) & s.gmask)
		fatal("region_new: 0x%" PRIx64 " does not keep %p's offset in the granule",
		      g->dma, (void *)g->host);
	check_fresh(g->dma, len, false, "region_new");
	g->live = 0;
}

void op_region(void)
{
	unsigned int v = (unsigned int)take(1);

	if ((v & 4) && s.g_reg[(v >> 3) % MAX_REGIONS].reg)
		region_free((int)((v >> 3) % MAX_REGIONS));
	else
		region_new(v);
}

/* The end of an input: every mapping through a region was unmapped, so
 * each region frees. */
void regions_gone(void)
{
	unsigned int i;

	for (i = 0; i < MAX_REGIONS; i++)
		if (s.g_reg[i].reg)
			region_free((int)i);
}
