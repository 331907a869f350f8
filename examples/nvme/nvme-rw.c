// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nvme-rw: identify an NVMe controller, write a pattern, read it back and
 * compare, with every byte of DMA mapped through libdmasplit in one of
 * three ways, and measure what each way costs.  See --help and README.md.
 *
 * Data buffers are built from chunks scattered over two pools (one
 * written from, one read into) in a shuffled order, so that a buffer is
 * contiguous neither virtually nor, in general, physically: the layout a
 * driver gets from a page cache or a network stack, and the one that
 * costs most to map.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>

#include <dmasplit/dmasplit.h>

#include "nvme.h"

#define MAX_SIZES 16

enum strategy_id { MAP, WINDOW, REGISTERED, NUM_STRATEGIES };

static const char *const strategy_names[NUM_STRATEGIES] = {
	[MAP] = "map", [WINDOW] = "window", [REGISTERED] = "registered"
};

struct options {
	const char *spec;
	const char *backend;
	bool strategy[NUM_STRATEGIES];
	size_t io_size[MAX_SIZES];
	unsigned int num_sizes;
	size_t total, chunk;
	uint64_t lba;
	uint32_t nsid;
	unsigned int timeout_ms;
	uint64_t seed;
	bool write, bench, json, quiet, unlinked_read;
};

/* A pool of pages, and where each logical chunk of the data stream
 * lives in it. */
struct pool {
	uint8_t *mem;
	size_t size;
	size_t *where;		/* pool offset of logical chunk k */
	uint64_t *page_dma;	/* registered without windows: per page */
};

struct figures {
	enum strategy_id strategy;
	size_t io_size;
	unsigned long ios;
	double seconds;
	uint64_t kernel_calls, library_calls, setup_kernel_calls;
	bool fallback;		/* no windows: the per-range path instead */
	bool verified;
};

struct run {
	const struct options *o;
	struct nvme_ctrl *c;
	struct dmasplit_dev *dev;
	struct dmasplit_dev_info info;
	struct pool out, in;	/* written from, read into */
	size_t io_size, chunk;	/* chunk: min(chunk, io_size) */
	/* registered */
	struct dmasplit_iova *pool_window;
	struct dmasplit_seg *pool_segs[2];
	unsigned int pool_nsegs[2];
	bool fallback;
	/* per I/O scratch */
	struct iovec *iov;
	struct dmasplit_seg *segs;
	unsigned int max_segs;
};

static const char *prog = "nvme-rw";

/* ------------------------------------------------------------------ */
/* Numbers                                                              */

static int parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || !v || v > SIZE_MAX / 2)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

static const char *human(size_t bytes, char *buf, size_t len)
{
	if (bytes >= (1u << 20) && !(bytes & ((1u << 20) - 1)))
		snprintf(buf, len, "%zu MiB", bytes >> 20);
	else if (bytes >= 1024 && !(bytes & 1023))
		snprintf(buf, len, "%zu KiB", bytes >> 10);
	else
		snprintf(buf, len, "%zu bytes", bytes);
	return buf;
}

static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: the pattern of the data stream, from the seed and the
 * 8-byte word's position, so a stale block from an earlier run never
 * matches. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* ------------------------------------------------------------------ */
/* Pools                                                                */

static int pool_new(struct pool *p, size_t size)
{
	p->size = size;
	p->mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return -errno;
	}
	p->where = calloc(size / NVME_PAGE, sizeof(*p->where));
	p->page_dma = calloc(size / NVME_PAGE, sizeof(*p->page_dma));
	return p->where && p->page_dma ? 0 : -ENOMEM;
}

static void pool_free(struct pool *p)
{
	if (p->mem)
		munmap(p->mem, p->size);
	free(p->where);
	free(p->page_dma);
	memset(p, 0, sizeof(*p));
}

/* Logical chunk k of the stream lives at where[k]: a shuffle of the
 * pool's chunks. */
static void pool_shuffle(struct pool *p, size_t chunk, uint64_t seed)
{
	size_t n = p->size / chunk, i, j, t;

	for (i = 0; i < n; i++)
		p->where[i] = i * chunk;
	for (i = n; i > 1; i--) {
		j = (size_t)(mix(seed ^ i) % i);
		t = p->where[i - 1];
		p->where[i - 1] = p->where[j];
		p->where[j] = t;
	}
}

static uint8_t *stream_at(const struct pool *p, size_t chunk, size_t off)
{
	return p->mem + p->where[off / chunk] + off % chunk;
}

static void fill_pattern(struct run *r, uint64_t seed)
{
	size_t off;

	for (off = 0; off < r->out.size; off += 8) {
		uint64_t v = mix(seed ^ (r->o->lba * 512 + off));

		memcpy(stream_at(&r->out, r->chunk, off), &v, 8);
	}
	memset(r->in.mem, 0, r->in.size);
}

/* The first difference between what was written and what came back. */
static bool verify(struct run *r, const char *what)
{
	size_t off, bad = 0, first = 0;

	for (off = 0; off < r->out.size; off += r->chunk)
		if (memcmp(stream_at(&r->out, r->chunk, off),
			   stream_at(&r->in, r->chunk, off), r->chunk)) {
			size_t b;

			for (b = 0; b < r->chunk; b++)
				if (stream_at(&r->out, r->chunk, off + b)[0] !=
				    stream_at(&r->in, r->chunk, off + b)[0])
					break;
			if (!bad++)
				first = off + b;
		}
	if (bad)
		fprintf(stderr, "%s: %s: data read back differs from what was written: first at byte %zu (LBA %" PRIu64 "), %zu of %zu chunks differ\n",
			prog, what, first,
			r->o->lba + first / r->c->lba_size, bad,
			r->out.size / r->chunk);
	return !bad;
}

/* ------------------------------------------------------------------ */
/* The three strategies                                                 */

static int lib_err(const char *call, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, call, strerror(-err));
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

/* map: one dmasplit_map_vec/unmap_vec per I/O, as a driver calls
 * dma_map_sg for each request. */
static int io_map(struct run *r, bool write, size_t first)
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
	ret = dmasplit_map_vec(r->dev, r->iov, n, dir, 0, r->segs, &nsegs);
	if (ret < 0)
		return lib_err("dmasplit_map_vec", ret);
	ret = submit_io(r, write, first, r->segs, nsegs);
	err = dmasplit_unmap_vec(r->dev, r->segs, nsegs, dir, 0);
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

	ret = dmasplit_iova_alloc(r->dev, r->io_size, 0, &iova);
	if (ret == -EOPNOTSUPP) {
		r->fallback = true;
		return io_map(r, write, first);
	}
	if (ret < 0)
		return lib_err("dmasplit_iova_alloc", ret);
	for (i = 0; i < n; i++) {
		ret = dmasplit_iova_link(iova, i * r->chunk,
					 stream_at(p, r->chunk, first + i * r->chunk),
					 r->chunk, dir, 0);
		if (ret < 0) {
			lib_err("dmasplit_iova_link", ret);
			goto unlink;
		}
	}
	ret = dmasplit_iova_sync(iova, 0, r->io_size);
	if (ret < 0) {
		lib_err("dmasplit_iova_sync", ret);
		goto unlink;
	}
	seg = (struct dmasplit_seg){ dmasplit_iova_addr(iova), r->io_size };
	ret = submit_io(r, write, first, &seg, 1);
unlink:
	if (i) {
		err = dmasplit_iova_unlink(iova, 0, i * r->chunk, dir, 0);
		if (err < 0 && ret >= 0)
			ret = lib_err("dmasplit_iova_unlink", err);
	}
	dmasplit_iova_destroy(iova);
	return ret;
}

/* registered: both pools mapped once, up front; an I/O is an address
 * computation.  Needs a device that shares memory without syncs. */
static int registered_setup(struct run *r)
{
	struct pool *pools[2] = { &r->out, &r->in };
	enum dmasplit_dir dirs[2] = { DMASPLIT_TO_DEVICE, DMASPLIT_FROM_DEVICE };
	unsigned int k, s;
	int ret;

	if (!(r->info.flags & DMASPLIT_DEV_COHERENT) ||
	    r->info.flags & DMASPLIT_DEV_BOUNCE) {
		fprintf(stderr, "%s: registered: %s may bounce or needs cache maintenance; memory mapped once cannot be shared without syncs there\n",
			prog, r->o->spec);
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

static void registered_teardown(struct run *r)
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

static int io(struct run *r, enum strategy_id s, bool write, size_t first)
{
	switch (s) {
	case MAP: return io_map(r, write, first);
	case WINDOW: return io_window(r, write, first);
	default: return io_registered(r, write, first);
	}
}

/* ------------------------------------------------------------------ */
/* Runs                                                                 */

static struct dmasplit_dev_stats stats_now(struct dmasplit_dev *dev)
{
	struct dmasplit_dev_stats st = { .size = sizeof(st) };

	dmasplit_dev_get_stats(dev, &st);
	return st;
}

static uint64_t library_calls(const struct dmasplit_dev_stats *s)
{
	return s->windows_allocated + s->links + s->syncs + s->unlinks +
	       s->maps + s->unmaps;
}

/* Write the pool's stream to the namespace and read it back, in I/Os of
 * io_size, with strategy s. */
static int run_one(struct run *r, enum strategy_id s, unsigned int index,
		   struct figures *f)
{
	struct dmasplit_dev_stats before, setup, after;
	size_t first;
	double t0;
	int ret;

	memset(f, 0, sizeof(*f));
	f->strategy = s;
	f->io_size = r->io_size;
	r->fallback = false;
	pool_shuffle(&r->out, r->chunk, r->o->seed * 2 + index);
	pool_shuffle(&r->in, r->chunk, r->o->seed * 2 + index + 1);
	fill_pattern(r, r->o->seed + index);

	before = stats_now(r->dev);
	if (s == REGISTERED) {
		ret = registered_setup(r);
		if (ret < 0) {
			registered_teardown(r);
			return ret;
		}
	}
	setup = stats_now(r->dev);

	t0 = seconds_now();
	for (ret = 0, first = 0; ret == 0 && first < r->out.size;
	     first += r->io_size, f->ios++)
		ret = io(r, s, true, first);
	for (first = 0; ret == 0 && first < r->in.size;
	     first += r->io_size, f->ios++)
		ret = io(r, s, false, first);
	f->seconds = seconds_now() - t0;
	after = stats_now(r->dev);

	if (s == REGISTERED)
		registered_teardown(r);
	f->kernel_calls = after.kernel_calls - setup.kernel_calls;
	f->library_calls = library_calls(&after) - library_calls(&setup);
	f->setup_kernel_calls = setup.kernel_calls - before.kernel_calls;
	f->fallback = r->fallback;
	if (ret < 0)
		return ret;
	f->verified = verify(r, strategy_names[s]);
	return f->verified ? 0 : -EIO;
}

static double iops(const struct figures *f)
{
	return f->seconds > 0 ? (double)f->ios / f->seconds : 0;
}

static double ratio_vs_map(const struct figures *all, unsigned int n,
			   const struct figures *f)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (all[i].strategy == MAP && all[i].io_size == f->io_size &&
		    iops(&all[i]) > 0)
			return iops(f) / iops(&all[i]);
	return 0;
}

static void print_text(const struct run *r, const struct figures *all,
		       unsigned int n)
{
	unsigned int i;
	char sz[32], tot[32];

	for (i = 0; i < n; i++) {
		const struct figures *f = &all[i];
		double ratio = ratio_vs_map(all, n, f);

		printf("%-10s %7s I/Os: %5lu of %s written and read back, %s",
		       strategy_names[f->strategy], human(f->io_size, sz, sizeof(sz)),
		       f->ios, human(r->out.size, tot, sizeof(tot)),
		       f->verified ? "bytes match" : "FAILED");
		if (f->fallback)
			printf(" (no windows: per-range path)");
		printf("\n");
		if (!r->o->bench)
			continue;
		printf("%-10s %7s %10.0f I/O/s  %6.2f kernel calls/I/O  %6.2f library calls/I/O  setup %" PRIu64 " kernel calls",
		       "", "", iops(f),
		       (double)f->kernel_calls / (double)f->ios,
		       (double)f->library_calls / (double)f->ios,
		       f->setup_kernel_calls);
		if (ratio > 0)
			printf("  %.2fx map", ratio);
		printf("\n");
	}
}

/* Identify strings are printable ASCII by the specification; anything
 * else is escaped rather than trusted. */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void print_json(const struct run *r, const struct figures *all,
		       unsigned int n)
{
	const struct nvme_ctrl *c = r->c;
	unsigned int i;

	printf("{\"device\":");
	json_string(c->name);
	printf(",\"backend\":");
	json_string(r->info.backend);
	printf(",\"interface\":");
	json_string(r->info.interface);
	printf(",\"controller\":{\"model\":");
	json_string(c->model);
	printf(",\"serial\":");
	json_string(c->serial);
	printf(",\"firmware\":");
	json_string(c->firmware);
	printf(",\"vid\":%u,\"version\":\"%u.%u\",\"max_transfer\":%u}",
	       c->vid, c->version >> 16, (c->version >> 8) & 0xff,
	       c->max_transfer);
	printf(",\"namespace\":{\"nsid\":%u,\"blocks\":%" PRIu64 ",\"lba_size\":%u,\"lba_format\":%u}",
	       c->nsid, c->ns_blocks, c->lba_size, c->lba_format);
	printf(",\"total\":%zu,\"chunk\":%zu,\"runs\":[", r->out.size,
	       r->o->chunk);
	for (i = 0; i < n; i++) {
		const struct figures *f = &all[i];

		printf("%s{\"strategy\":\"%s\",\"io_size\":%zu,\"ios\":%lu,\"seconds\":%.6f,\"iops\":%.1f,\"kernel_calls_per_io\":%.3f,\"library_calls_per_io\":%.3f,\"setup_kernel_calls\":%" PRIu64 ",\"per_range_fallback\":%s,\"verified\":%s,\"iops_vs_map\":%.3f}",
		       i ? "," : "", strategy_names[f->strategy], f->io_size,
		       f->ios, f->seconds, iops(f),
		       (double)f->kernel_calls / (double)f->ios,
		       (double)f->library_calls / (double)f->ios,
		       f->setup_kernel_calls, f->fallback ? "true" : "false",
		       f->verified ? "true" : "false",
		       ratio_vs_map(all, n, f));
	}
	printf("]}\n");
}

static void print_identify(const struct run *r)
{
	const struct nvme_ctrl *c = r->c;
	char a[32], b[32];

	printf("controller %s: %s, serial %s, firmware %s, NVMe %u.%u, max transfer %s\n",
	       c->name, c->model, c->serial, c->firmware, c->version >> 16,
	       (c->version >> 8) & 0xff, human(c->max_transfer, a, sizeof(a)));
	printf("namespace %u: %" PRIu64 " blocks of %u bytes (%s), LBA format %u\n",
	       c->nsid, c->ns_blocks, c->lba_size,
	       human((size_t)(c->ns_blocks * c->lba_size), b, sizeof(b)),
	       c->lba_format);
	printf("mapped through %s%s%s\n", r->info.backend,
	       *r->info.interface ? " on " : "", r->info.interface);
}

/*
 * Read into a buffer whose window was unlinked before the command was
 * submitted, as a driver with a use-after-unmap bug would.  With strict
 * unlink the device cannot reach it: the buffer must come back
 * untouched, whatever status the controller reports.
 */
static int unlinked_read(struct run *r)
{
	const uint8_t fill = 0xa5;
	struct dmasplit_iova *iova;
	struct dmasplit_seg seg;
	size_t i;
	int ret;

	if (!(r->info.flags & DMASPLIT_DEV_WINDOWS) ||
	    !(r->info.flags & DMASPLIT_DEV_TRANSLATED) ||
	    r->info.flags & DMASPLIT_DEV_LAZY_UNLINK) {
		fprintf(stderr, "%s: --unlinked-read needs a device behind an IOMMU, with windows and strict unlink (unlink=strict)\n",
			prog);
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
		dmasplit_iova_destroy(iova);
		if (ret == -ETIMEDOUT || ret == -EINVAL)
			return ret;
		for (i = 0; i < r->io_size && r->in.mem[i] == fill; i++)
			;
		if (i < r->io_size) {
			fprintf(stderr, "%s: unlinked read: memory changed at byte %zu: the device reached a buffer after its unlink\n",
				prog, i);
			return -EIO;
		}
		printf("unlinked read: the buffer is untouched (NVMe %s)\n",
		       nvme_status_str(status, why, sizeof(why)));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s [OPTIONS] SPEC\n"
"\n"
"Drive the NVMe controller SPEC (a PCI address with libdmasplit options,\n"
"e.g. 0000:01:00.0,vfio=iommufd) from user space, with every byte of DMA\n"
"mapped through libdmasplit.  The controller must be bound to vfio-pci\n"
"(the vfio backend) or to uio_pci_generic in an identity IOMMU group (the\n"
"direct backend).  Without --write: identify the controller and the\n"
"namespace only.\n"
"\n"
"  -w, --write           write a pattern from LBA --lba on, read it back and\n"
"                        compare, for each strategy and I/O size.  This\n"
"                        DESTROYS the data in that range of the namespace.\n"
"  -s, --strategy LIST   map, window, registered or all (default: all):\n"
"                          map         dmasplit_map_vec + unmap_vec per I/O\n"
"                          window      per I/O: a window, each chunk linked,\n"
"                                      one sync, unlink after completion\n"
"                          registered  both pools linked into one window once;\n"
"                                      per I/O an address computation\n"
"                        Where the device has no windows (direct), window and\n"
"                        registered use the per-range path and say so.\n"
"  -b, --io-size LIST    I/O sizes, e.g. 4k,64k,256k (default: 4k,16k,64k,256k)\n"
"  -t, --total SIZE      bytes written and read back per run (default: 4M)\n"
"  -c, --chunk SIZE      buffers are made of chunks of SIZE (pages, at least)\n"
"                        from shuffled places in memory (default: 4k); a\n"
"                        chunk as large as the I/O makes buffers contiguous\n"
"  -l, --lba N           first LBA (default: 0)\n"
"  -n, --nsid N          namespace (default: 1)\n"
"      --bench           print I/Os per second, kernel and library calls per\n"
"                        I/O and the throughput ratio to map, per run\n"
"      --json            print the results as one JSON object\n"
"      --unlinked-read   read into a buffer whose window was unlinked before\n"
"                        the command (a use-after-unlink bug): succeeds when\n"
"                        the buffer stays untouched; writes one I/O first\n"
"      --timeout MS      time limit of each command (default: 10000)\n"
"      --backend NAME    open SPEC with this backend instead of the selected one\n"
"      --seed N          seed of the data pattern and layout (default: 1)\n"
"  -q, --quiet           no output on success\n"
"  -h, --help            this text\n"
"  -V, --version         the version of libdmasplit it was built with\n"
"\n"
"Exit status: 0 on success; 1 on a mismatch, an NVMe error, a timeout or a\n"
"library error, each reported in one line on stderr; 2 on a usage error.\n",
		prog);
}

static int parse_strategies(const char *s, struct options *o)
{
	char buf[128], *tok, *save;
	int i;

	snprintf(buf, sizeof(buf), "%s", s);
	memset(o->strategy, 0, sizeof(o->strategy));
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			for (i = 0; i < NUM_STRATEGIES; i++)
				o->strategy[i] = true;
			continue;
		}
		for (i = 0; i < NUM_STRATEGIES; i++)
			if (!strcmp(tok, strategy_names[i]))
				break;
		if (i == NUM_STRATEGIES)
			return -EINVAL;
		o->strategy[i] = true;
	}
	return 0;
}

static int parse_sizes(const char *s, struct options *o)
{
	char buf[256], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", s);
	o->num_sizes = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->num_sizes == MAX_SIZES ||
		    parse_size(tok, &o->io_size[o->num_sizes]) < 0)
			return -EINVAL;
		o->num_sizes++;
	}
	return o->num_sizes ? 0 : -EINVAL;
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	return 2;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_BENCH = 256, OPT_JSON, OPT_UNLINKED, OPT_TIMEOUT,
	       OPT_BACKEND, OPT_SEED };
	static const struct option longopts[] = {
		{ "write", no_argument, NULL, 'w' },
		{ "strategy", required_argument, NULL, 's' },
		{ "io-size", required_argument, NULL, 'b' },
		{ "total", required_argument, NULL, 't' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "lba", required_argument, NULL, 'l' },
		{ "nsid", required_argument, NULL, 'n' },
		{ "bench", no_argument, NULL, OPT_BENCH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "unlinked-read", no_argument, NULL, OPT_UNLINKED },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0, 0, 0, 0 }
	};
	uint64_t v;
	int opt;

	*o = (struct options){ .total = 4u << 20, .chunk = NVME_PAGE,
			       .nsid = 1, .timeout_ms = 10000, .seed = 1 };
	parse_strategies("all", o);
	parse_sizes("4k,16k,64k,256k", o);
	while ((opt = getopt_long(argc, argv, "ws:b:t:c:l:n:qhV", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'w': o->write = true; break;
		case 's':
			if (parse_strategies(optarg, o) < 0)
				return bad_usage("--strategy: '%s' is not map, window, registered or all", optarg);
			break;
		case 'b':
			if (parse_sizes(optarg, o) < 0)
				return bad_usage("--io-size: '%s' is not a list of sizes", optarg);
			break;
		case 't':
			if (parse_size(optarg, &o->total) < 0)
				return bad_usage("--total: '%s' is not a size", optarg);
			break;
		case 'c':
			if (parse_size(optarg, &o->chunk) < 0)
				return bad_usage("--chunk: '%s' is not a size", optarg);
			break;
		case 'l':
			if (parse_u64(optarg, &o->lba) < 0)
				return bad_usage("--lba: '%s' is not a number", optarg);
			break;
		case 'n':
			if (parse_u64(optarg, &v) < 0 || !v || v > UINT32_MAX)
				return bad_usage("--nsid: '%s' is not a namespace ID", optarg);
			o->nsid = (uint32_t)v;
			break;
		case OPT_BENCH: o->bench = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_UNLINKED: o->unlinked_read = true; break;
		case OPT_TIMEOUT:
			if (parse_u64(optarg, &v) < 0 || !v || v > 3600000)
				return bad_usage("--timeout: '%s' is not a number of milliseconds", optarg);
			o->timeout_ms = (unsigned int)v;
			break;
		case OPT_BACKEND: o->backend = optarg; break;
		case OPT_SEED:
			if (parse_u64(optarg, &o->seed) < 0)
				return bad_usage("--seed: '%s' is not a number", optarg);
			break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V':
			printf("%s (libdmasplit %d.%d)\n", prog,
			       DMASPLIT_VERSION_MAJOR, DMASPLIT_VERSION_MINOR);
			exit(0);
		default: return 2;
		}
	}
	if (optind + 1 != argc)
		return bad_usage("%s", optind < argc ? "one SPEC, not more" :
				 "missing SPEC");
	o->spec = argv[optind];
	return 0;
}

/* Sizes the namespace and the pages can carry, checked once the
 * controller is known. */
static int check_sizes(const struct options *o, const struct nvme_ctrl *c)
{
	unsigned int i;
	size_t io;

	if (o->total % NVME_PAGE || o->chunk % NVME_PAGE) {
		fprintf(stderr, "%s: --total and --chunk must be multiples of %u\n",
			prog, NVME_PAGE);
		return -EINVAL;
	}
	for (i = 0; i < o->num_sizes; i++) {
		io = o->io_size[i];
		if (io % NVME_PAGE || o->total % io ||
		    (io > o->chunk && io % o->chunk) || io > c->max_transfer) {
			fprintf(stderr, "%s: I/O size %zu must be a multiple of %u and of the chunk, divide --total and stay within the controller's %u-byte transfer limit\n",
				prog, io, NVME_PAGE, c->max_transfer);
			return -EINVAL;
		}
	}
	if (o->lba + o->total / c->lba_size > c->ns_blocks) {
		fprintf(stderr, "%s: %zu bytes from LBA %" PRIu64 " do not fit in namespace %u (%" PRIu64 " blocks of %u bytes)\n",
			prog, o->total, o->lba, c->nsid, c->ns_blocks, c->lba_size);
		return -EINVAL;
	}
	return 0;
}

static int run_all(struct run *r)
{
	struct figures all[NUM_STRATEGIES * MAX_SIZES];
	unsigned int n = 0, i;
	int s, ret = 0;

	for (i = 0; i < r->o->num_sizes && ret == 0; i++) {
		r->io_size = r->o->io_size[i];
		r->chunk = r->o->chunk < r->io_size ? r->o->chunk : r->io_size;
		for (s = 0; s < NUM_STRATEGIES && ret == 0; s++) {
			if (!r->o->strategy[s])
				continue;
			ret = run_one(r, (enum strategy_id)s, n, &all[n]);
			n++;
		}
	}
	if (r->o->json)
		print_json(r, all, n);
	else if (!r->o->quiet)
		print_text(r, all, n);
	return ret;
}

int main(int argc, char **argv)
{
	struct dmasplit_ctx *ctx = NULL;
	struct dmasplit_dev *dev = NULL;
	struct nvme_ctrl c;
	struct options o;
	struct run r;
	bool opened = false;
	int ret;

	ret = parse_options(argc, argv, &o);
	if (ret)
		return ret;
	memset(&r, 0, sizeof(r));
	r.o = &o;
	r.c = &c;
	r.info.size = sizeof(r.info);

	ret = dmasplit_ctx_new(&ctx);
	if (ret < 0) {
		lib_err("dmasplit_ctx_new", ret);
		goto out;
	}
	ret = o.backend ? dmasplit_dev_open_backend(ctx, o.spec, o.backend, &dev)
			: dmasplit_dev_open(ctx, o.spec, &dev);
	if (ret < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, o.spec, strerror(-ret));
		goto out;
	}
	r.dev = dev;
	ret = dmasplit_dev_get_info(dev, &r.info);
	if (ret < 0) {
		lib_err("dmasplit_dev_get_info", ret);
		goto out;
	}
	ret = nvme_open(&c, ctx, dev, o.spec, o.nsid, o.timeout_ms);
	if (ret < 0)
		goto out;
	opened = true;
	if (!o.quiet && !o.json)
		print_identify(&r);
	if (!o.write && !o.unlinked_read) {
		if (o.json)
			print_json(&r, NULL, 0);
		goto out;
	}

	ret = check_sizes(&o, &c);
	if (ret < 0)
		goto out;
	r.max_segs = (unsigned int)(c.max_transfer / NVME_PAGE) + 1;
	r.iov = calloc(r.max_segs, sizeof(*r.iov));
	r.segs = calloc(r.max_segs, sizeof(*r.segs));
	ret = r.iov && r.segs ? pool_new(&r.out, o.total) : -ENOMEM;
	if (ret == 0)
		ret = pool_new(&r.in, o.total);
	if (ret < 0) {
		fprintf(stderr, "%s: data pools of %zu bytes: %s\n", prog,
			o.total, strerror(-ret));
		goto out;
	}
	if (o.unlinked_read) {
		r.io_size = o.io_size[0];
		ret = unlinked_read(&r);
	} else {
		ret = run_all(&r);
	}
out:
	if (opened)
		nvme_close(&c);
	pool_free(&r.out);
	pool_free(&r.in);
	free(r.iov);
	free(r.segs);
	dmasplit_dev_close(dev);
	dmasplit_ctx_unref(ctx);
	return ret < 0 ? 1 : 0;
}
