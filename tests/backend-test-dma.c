// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The test backend's device side: reads and writes through its windows
 * (linked and synced granules only) and mappings, a fault logged as the
 * simulated device logs one.
 */
#include "backend-test.h"

/* Lock held.  The host address of device address dma and how many bytes
 * from there are reachable, or NULL. */
static uint8_t *translate(struct dmasplit_bdev *b, uint64_t dma, uint64_t *n)
{
	struct dmasplit_bwin *w;
	struct tb_map *m;

	for (w = b->wins; w; w = w->next) {
		uint64_t off, i;

		if (dma < w->addr || dma - w->addr >= w->size)
			continue;
		off = dma - w->addr;
		i = off / b->granule;
		if (!w->synced[i] || off % b->granule >= w->valid[i])
			return NULL;
		*n = w->valid[i] - off % b->granule;
		return w->page[i] + off % b->granule;
	}
	for (m = b->maps; m; m = m->next) {
		if (dma >= m->dma && dma - m->dma < m->len) {
			*n = m->len - (dma - m->dma);
			return m->cpu + (dma - m->dma);
		}
	}
	return NULL;
}

static int dma_rw(struct dmasplit_bdev *b, uint64_t dma, uint8_t *buf,
		  size_t len, bool write)
{
	int r = 0;

	pthread_mutex_lock(&b->lock);
	while (len) {
		uint64_t n;
		uint8_t *host = translate(b, dma, &n);

		if (!host) {
			r = -EFAULT;
			break;
		}
		if (n > len)
			n = len;
		if (write)
			memcpy(host, buf, n);
		else
			memcpy(buf, host, n);
		dma += n;
		buf += n;
		len -= n;
	}
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		dmasplit_host_err(b->host, TB_NAME ": device %s fault at 0x%" PRIx64,
				  write ? "write" : "read", dma);
	return r;
}

int tb_dma_read(struct dmasplit_bdev *b, uint64_t dma, void *buf,
		size_t len)
{
	return dma_rw(b, dma, buf, len, false);
}

int tb_dma_write(struct dmasplit_bdev *b, uint64_t dma, const void *buf,
		 size_t len)
{
	return dma_rw(b, dma, (uint8_t *)buf, len, true);
}
