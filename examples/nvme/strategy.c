// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nvme-rw: the three ways of mapping an I/O's buffer through
 * libdmasplit -- map, window, registered -- and a read into a buffer
 * whose window was unlinked too early.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvme-rw.h"

int lib_err(const char *call, int err)
{
	error_line("%s: %s", call, strerror(-err));
	return err;
}

/* Append [dma, dma + len) to segs, merging with the last segment. */
static void seg_add(struct dmasplit_seg *segs, unsigned int *n, uint64_t dma,
		    uint64_t len)
{
	if (*n && segs[*n - 1].dma + segs[*n - 1].len == dma)
		segs[*n - 1].len += len;
	else
		segs[(*n)++] = (struct dmasplit_seg){ dma, len };
}

static int submit_io(struct run *r, bool write, size_t first,
		     const struct dmasplit_seg *segs, unsigned int nsegs)
{
	struct nvme_data data = { segs, nsegs };
	uint32_t nblocks = (uint32_t)(r->io_size / r->c->lba_size);

	return nvme_rw(r->c, write, r->o->lba + first / r->c->lba_size,
		       nblocks, &data, NULL);
}

/* ret, from a library call of an I/O, counted for --bench. */
static int counted(struct run *r, int ret)
{
	r->library_calls++;
	return ret;
}

/* map: one dmasplit_map_vec/unmap_vec per I/O, as a driver calls
 * dma_map_sg for each request. */
int io_map(struct run *r, bool write, size_t first)
{
	struct pool *p = write ? &r->out : &r->in;
	enum dmasplit_dir dir = write ? DMASPLIT_TO_DEVICE : DMASPLIT_FROM_DEVICE;
	unsigned int i, n = (unsigned int)(r->io_size / r->chunk);
	unsigned int nsegs = r->max_segs;
	int ret, err;

	for (i = 0; i < n; i++)
		r->iov[i] = (struct iovec){
			stream_at(p, r->chunk, first + (size_t)i * r->chunk),
			r->chunk };
	ret = counted(r, dmasplit_map_vec(r->dev, r->iov, n, dir, 0, r->segs,
					  &nsegs));
	if (ret < 0)
		return lib_err("dmasplit_map_vec", ret);
	ret = submit_io(r, write, first, r->segs, nsegs);
	/* What a stuck controller may still reach stays mapped. */
	if (nvme_stuck(r->c))
		return ret;
	err = counted(r, dmasplit_unmap_vec(r->dev, r->segs, nsegs, dir, 0));
	if (err < 0)
		return lib_err("dmasplit_unmap_vec", err);
	return ret;
}

/* window: one window per I/O, each chunk linked into it, one sync; the
 * device sees one contiguous range whatever the layout. */
static int io_window(struct run *r, bool write, size_t first)
{
	struct pool *p = write ? &r->out : &r->in;
	enum dmasplit_dir dir = write ? DMASPLIT_TO_DEVICE : DMASPLIT_FROM_DEVICE;
	size_t n = r->io_size / r->chunk, i;
	struct dmasplit_iova *iova;
	struct dmasplit_seg seg;
	int ret, err;

	ret = counted(r, dmasplit_iova_alloc(r->dev, r->io_size, 0, &iova));
	if (ret == -EOPNOTSUPP) {
		r->fallback = true;
		return io_map(r, write, first);
	}
	if (ret < 0)
		return lib_err("dmasplit_iova_alloc", ret);
	for (i = 0; i < n; i++) {
		ret = counted(r, dmasplit_iova_link(iova, i * r->chunk,
						    stream_at(p, r->chunk,
							      first + i * r->chunk),
						    r->chunk, dir, 0));
		if (ret < 0) {
			lib_err("dmasplit_iova_link", ret);
			goto unlink;
		}
	}
	ret = counted(r, dmasplit_iova_sync(iova, 0, r->io_size));
	if (ret < 0) {
		lib_err("dmasplit_iova_sync", ret);
		goto unlink;
	}
	seg = (struct dmasplit_seg){ dmasplit_iova_addr(iova), r->io_size };
	ret = submit_io(r, write, first, &seg, 1);
	if (nvme_stuck(r->c))
		return ret;
unlink:
	if (i) {
		err = counted(r, dmasplit_iova_unlink(iova, 0, i * r->chunk,
						      dir, 0));
		if (err < 0 && ret >= 0)
			ret = lib_err("dmasplit_iova_unlink", err);
	}
	dmasplit_iova_destroy(iova);
	r->library_calls++;
	return ret;
}

/* registered: both pools mapped once, up front; an I/O is an address
 * computation.  Needs a device that shares memory without syncs. */
int registered_setup(struct run *r)
{
	struct pool *pools[2] = { &r->out, &r->in };
	enum dmasplit_dir dirs[2] = { DMASPLIT_TO_DEVICE, DMASPLIT_FROM_DEVICE };
	unsigned int k, s;
	int ret;

	if (!(r->info.flags & DMASPLIT_DEV_COHERENT) ||
	    r->info.flags & DMASPLIT_DEV_BOUNCE) {
		error_line("registered: %s may bounce or needs cache maintenance; memory mapped once cannot be shared without syncs there",
			   r->o->spec);
		return -EOPNOTSUPP;
	}
	ret = dmasplit_iova_alloc(r->dev, r->out.size + r->in.size, 0,
				  &r->pool_window);
	if (ret == 0) {
		for (k = 0; k < 2 && ret == 0; k++) {
			ret = dmasplit_iova_link(r->pool_window, k * r->out.size,
						 pools[k]->mem, pools[k]->size,
						 dirs[k], 0);
			if (ret < 0) {
				lib_err("dmasplit_iova_link", ret);
				if (k)
					dmasplit_iova_unlink(r->pool_window, 0,
							     r->out.size, dirs[0], 0);
			}
		}
		if (ret == 0) {
			ret = dmasplit_iova_sync(r->pool_window, 0,
						 r->out.size + r->in.size);
			if (ret < 0) {
				lib_err("dmasplit_iova_sync", ret);
				for (k = 0; k < 2; k++)
					dmasplit_iova_unlink(r->pool_window,
							     k * r->out.size,
							     pools[k]->size,
							     dirs[k], 0);
			}
		}
		if (ret < 0) {
			dmasplit_iova_destroy(r->pool_window);
			r->pool_window = NULL;
		}
		return ret;
	}
	if (ret != -EOPNOTSUPP)
		return lib_err("dmasplit_iova_alloc", ret);

	/* No windows: map each pool once on the per-range path, and keep
	 * each page's device address. */
	r->fallback = true;
	for (k = 0; k < 2; k++) {
		struct iovec iov = { pools[k]->mem, pools[k]->size };
		unsigned int n = (unsigned int)(pools[k]->size / NVME_PAGE);

		r->pool_segs[k] = calloc(n, sizeof(struct dmasplit_seg));
		if (!r->pool_segs[k])
			return -ENOMEM;
		r->pool_nsegs[k] = n;
		ret = dmasplit_map_vec(r->dev, &iov, 1, dirs[k], 0,
				       r->pool_segs[k], &r->pool_nsegs[k]);
		if (ret < 0) {
			r->pool_nsegs[k] = 0;
			return lib_err("dmasplit_map_vec", ret);
		}
		n = 0;
		for (s = 0; s < r->pool_nsegs[k]; s++) {
			uint64_t a;

			for (a = 0; a < r->pool_segs[k][s].len; a += NVME_PAGE)
				pools[k]->page_dma[n++] = r->pool_segs[k][s].dma + a;
		}
	}
	return 0;
}

void registered_teardown(struct run *r)
{
	enum dmasplit_dir dirs[2] = { DMASPLIT_TO_DEVICE, DMASPLIT_FROM_DEVICE };
	unsigned int k;
	int ret;

	if (r->pool_window) {
		ret = dmasplit_iova_unlink(r->pool_window, 0,
					   r->out.size, dirs[0], 0);
		if (ret == 0)
			ret = dmasplit_iova_unlink(r->pool_window, r->out.size,
						   r->in.size, dirs[1], 0);
		if (ret < 0)
			lib_err("dmasplit_iova_unlink", ret);
		dmasplit_iova_destroy(r->pool_window);
		r->pool_window = NULL;
	}
	for (k = 0; k < 2; k++) {
		if (r->pool_nsegs[k]) {
			ret = dmasplit_unmap_vec(r->dev, r->pool_segs[k],
						 r->pool_nsegs[k], dirs[k], 0);
			if (ret < 0)
				lib_err("dmasplit_unmap_vec", ret);
		}
		free(r->pool_segs[k]);
		r->pool_segs[k] = NULL;
		r->pool_nsegs[k] = 0;
	}
}

static int io_registered(struct run *r, bool write, size_t first)
{
	struct pool *p = write ? &r->out : &r->in;
	unsigned int nsegs = 0;
	size_t i, off;

	for (i = 0; i < r->io_size; i += r->chunk) {
		off = p->where[(first + i) / r->chunk];
		if (r->pool_window) {
			seg_add(r->segs, &nsegs, dmasplit_iova_addr(r->pool_window) +
				(write ? 0 : r->out.size) + off, r->chunk);
			continue;
		}
		for (; off < p->where[(first + i) / r->chunk] + r->chunk;
		     off += NVME_PAGE)
			seg_add(r->segs, &nsegs, p->page_dma[off / NVME_PAGE],
				NVME_PAGE);
	}
	return submit_io(r, write, first, r->segs, nsegs);
}

int io(struct run *r, enum strategy_id s, bool write, size_t first)
{
	switch (s) {
	case MAP: return io_map(r, write, first);
	case WINDOW: return io_window(r, write, first);
	default: return io_registered(r, write, first);
	}
}

/*
 * Read into a buffer whose window was unlinked before the command was
 * submitted, as a driver with a use-after-unmap bug would.  With strict
 * unlink the device cannot reach it: the buffer must come back
 * untouched, whatever status the controller reports.
 */
int unlinked_read(struct run *r)
{
	const uint8_t fill = 0xa5;
	struct dmasplit_iova *iova;
	struct dmasplit_seg seg;
	size_t i;
	int ret;

	if (!(r->info.flags & DMASPLIT_DEV_WINDOWS) ||
	    !(r->info.flags & DMASPLIT_DEV_TRANSLATED) ||
	    r->info.flags & DMASPLIT_DEV_LAZY_UNLINK) {
		error_line("--unlinked-read needs a device behind an IOMMU, with windows and strict unlink (unlink=strict)");
		return -EOPNOTSUPP;
	}
	/* Something other than the fill on the medium first. */
	r->chunk = r->io_size;
	pool_shuffle(&r->out, r->chunk, r->o->seed);
	pool_shuffle(&r->in, r->chunk, r->o->seed + 1);
	fill_pattern(r, r->o->seed);
	ret = io_map(r, true, 0);
	if (ret < 0)
		return ret;

	ret = dmasplit_iova_alloc(r->dev, r->io_size, 0, &iova);
	if (ret < 0)
		return lib_err("dmasplit_iova_alloc", ret);
	ret = dmasplit_iova_link(iova, 0, r->in.mem, r->io_size,
				 DMASPLIT_FROM_DEVICE, 0);
	if (ret == 0)
		ret = dmasplit_iova_sync(iova, 0, r->io_size);
	if (ret == 0)
		ret = dmasplit_iova_unlink(iova, 0, r->io_size,
					   DMASPLIT_FROM_DEVICE, 0);
	if (ret < 0) {
		dmasplit_iova_destroy(iova);
		return lib_err("linking the buffer", ret);
	}
	/* The window stays allocated, so its addresses are nobody else's
	 * while the stale command runs. */
	memset(r->in.mem, fill, r->io_size);
	seg = (struct dmasplit_seg){ dmasplit_iova_addr(iova), r->io_size };
	{
		struct nvme_data data = { &seg, 1 };
		uint16_t status = 0;
		char why[96];

		ret = nvme_rw(r->c, false, r->o->lba,
			      (uint32_t)(r->io_size / r->c->lba_size), &data,
			      &status);
		if (nvme_stuck(r->c))
			return ret;
		dmasplit_iova_destroy(iova);
		if (ret == -ETIMEDOUT || ret == -EINVAL)
			return ret;
		for (i = 0; i < r->io_size && r->in.mem[i] == fill; i++)
			;
		if (i < r->io_size) {
			error_line("unlinked read: memory changed at byte %zu: the device reached a buffer after its unlink",
				   i);
			return -EIO;
		}
		if (!r->o->quiet)
			printf("unlinked read: the buffer is untouched (NVMe %s)\n",
			       nvme_status_str(status, why, sizeof(why)));
	}
	return 0;
}
