// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A backend for the tests of the core: a device with a software address
 * space (windows and per-range mappings translate to host memory), which
 * logs every operation at debug priority so that tests can see what the
 * core passed on and what it refused before calling.  Built twice:
 * "testa" (the plain operation set) and "testb" (TB_RICH: a map_vec that
 * merges, a device fd).  Spec options, for sim: specs only:
 *   NAME.score=N   probe score (default TB_SCORE)
 *   NAME.reject    probe answers -ENODEV
 *   NAME.failopen  open answers -EIO
 *   granule=N      the device granule (default 4096)
 *   nowin          no windows: iova_alloc answers -EOPNOTSUPP
 *   NAME.overlap   a bug: each new window reuses the last one's addresses
 *   NAME.fail=OP   the next call of OP (map, unmap, unmap_vec, link,
 *                  unlink, sync, alloc) fails, once, after
 *   NAME.failskip=N  N calls of it succeed (default 0), with
 *   NAME.errno=N   that errno (default EIO), documented for OP or not
 *   NAME.failagain=N  after a failure, N more, each after failskip
 *                  calls that succeed
 *   NAME.lax       a bug: an unmap of what is not mapped succeeds
 *   NAME.badaddr=zero|wrap|mask  a bug: windows, mappings and coherent
 *                  memory get device address 0, an address whose range
 *                  wraps past 2^64, or one above the 48-bit mask
 *   NAME.phys      a device without translation: mappings are at the host
 *                  address, as physical addresses are for direct DMA
 *   NAME.alias     with phys, a bug: every mapping gets the first one's
 *                  address
 *   NAME.ranges=N  (testb) N usable ranges of 1 MiB each, dev_info holding
 *                  the first DMASPLIT_MAX_RANGES (default: one range up
 *                  to the mask)
 *   NAME.rangesnofit  (testb) a bug: get_ranges says -ENOSPC however
 *                  many entries it is given, and leaves *n as it was
 *   NAME.rangesover  (testb) a bug: get_ranges fills two entries and
 *                  succeeds, however many it is given
 *   NAME.flags=N   a bug: get_info adds the flags N, whatever they are
 *   NAME.cohnull   a bug: alloc_coherent succeeds with no CPU address
 *   NAME.winnull   a bug: every second iova_alloc succeeds without
 *                  writing its window
 *   NAME.winlie    with nowin, a bug: iova_alloc succeeds all the same
 *   NAME.nofill    a bug: map, map_vec, alloc_coherent and iova_alloc
 *                  succeed without writing the device address
 *   NAME.badinfo=mask0|mask65|range|granule0  a bug: get_info gives a
 *                  DMA mask of 0 or 65 bits, a range that ends before it
 *                  starts, or granule 0
 * where NAME is this backend's name; other keys belong to other backends.
 * Built a third time as "testc" (TB_UNMAPVEC_ONLY): an unmap_vec without
 * a map_vec, which the core must not use.
 */
#include "backend-test.h"

/* The value of this backend's option key ("NAME.key" or a shared key),
 * "" for a valueless one, NULL when absent. */
static const char *option(const char *options, const char *key, char *buf,
			  size_t len)
{
	const char *p = options;
	size_t klen = strlen(key);

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n >= klen && !strncmp(p, key, klen) &&
		    (n == klen || p[klen] == '=')) {
			size_t v = n == klen ? 0 : n - klen - 1;

			if (v >= len)
				v = len - 1;
			memcpy(buf, p + klen + (n == klen ? 0 : 1), v);
			buf[v] = '\0';
			return buf;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

static int tb_probe(const struct dmasplit_host *host,
		    const struct dmasplit_desc *desc, int *score)
{
	char buf[32];
	const char *v;

	tb_log(host, "probe %s", desc->name);
	if (desc->bus != DMASPLIT_BUS_SIM ||
	    option(desc->options, TB_NAME ".reject", buf, sizeof(buf)))
		return -ENODEV;
	v = option(desc->options, TB_NAME ".score", buf, sizeof(buf));
	*score = v ? atoi(v) : TB_SCORE;
	return 0;
}

static void tb_close(struct dmasplit_bdev *b);
static int injected(struct dmasplit_bdev *b, const char *op);

static int tb_open(const struct dmasplit_host *host,
		   const struct dmasplit_desc *desc, struct dmasplit_bdev **out)
{
	struct dmasplit_range range = { 0x1000, (1ull << TB_MASK_BITS) - 1 };
	struct dmasplit_bdev *b;
	char buf[32];
	const char *v, *nodev;
	int r;

	tb_log(host, "open %s", desc->name);
	if (option(desc->options, TB_NAME ".failopen", buf, sizeof(buf)))
		return -EIO;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->host = host;
	b->fd = -1;
	b->granule = 4096;
	v = option(desc->options, "granule", buf, sizeof(buf));
	if (v)
		b->granule = strtoull(v, NULL, 0);
	b->nowin = option(desc->options, "nowin", buf, sizeof(buf)) != NULL;
	b->win_lie = option(desc->options, TB_NAME ".winlie", buf,
			    sizeof(buf)) != NULL;
	b->overlap = option(desc->options, TB_NAME ".overlap", buf,
			    sizeof(buf)) != NULL;
	b->lax = option(desc->options, TB_NAME ".lax", buf, sizeof(buf)) != NULL;
	b->phys = option(desc->options, TB_NAME ".phys", buf, sizeof(buf)) != NULL;
	b->alias = option(desc->options, TB_NAME ".alias", buf, sizeof(buf)) != NULL;
	v = option(desc->options, TB_NAME ".ranges", buf, sizeof(buf));
	b->nranges = v ? (unsigned int)atoi(v) : 0;
	b->ranges_nofit = option(desc->options, TB_NAME ".rangesnofit", buf,
				 sizeof(buf)) != NULL;
	b->ranges_over = option(desc->options, TB_NAME ".rangesover", buf,
				sizeof(buf)) != NULL;
	v = option(desc->options, TB_NAME ".flags", buf, sizeof(buf));
	b->extra_flags = v ? (uint32_t)strtoul(v, NULL, 0) : 0;
	b->no_fill = option(desc->options, TB_NAME ".nofill", buf,
			    sizeof(buf)) != NULL;
	b->coh_null = option(desc->options, TB_NAME ".cohnull", buf,
			     sizeof(buf)) != NULL;
	b->win_null = option(desc->options, TB_NAME ".winnull", buf,
			     sizeof(buf)) != NULL;
	v = option(desc->options, TB_NAME ".badaddr", buf, sizeof(buf));
	b->badaddr = !v ? BAD_NONE : !strcmp(v, "zero") ? BAD_ZERO :
		     !strcmp(v, "wrap") ? BAD_WRAP : BAD_MASK;
	v = option(desc->options, TB_NAME ".fail", buf, sizeof(buf));
	if (v)
		snprintf(b->fail_op, sizeof(b->fail_op), "%s", v);
	v = option(desc->options, TB_NAME ".failskip", buf, sizeof(buf));
	b->fail_skip = b->fail_skip0 = v ? atoi(v) : 0;
	v = option(desc->options, TB_NAME ".failagain", buf, sizeof(buf));
	b->fail_again = v ? atoi(v) : 0;
	v = option(desc->options, TB_NAME ".errno", buf, sizeof(buf));
	b->fail_errno = v ? atoi(v) : EIO;
	v = option(desc->options, TB_NAME ".badinfo", buf, sizeof(buf));
	b->bad_info = !v ? BADINFO_NONE : !strcmp(v, "mask0") ? BADINFO_MASK0 :
		      !strcmp(v, "mask65") ? BADINFO_MASK65 :
		      !strcmp(v, "granule0") ? BADINFO_GRANULE0 : BADINFO_RANGE;
	r = host->iovad_new(host, &range, 1, b->granule, &b->iovad);
	if (r < 0) {
		dmasplit_host_err(host, TB_NAME ": %s: granule=%" PRIu64 ": %s",
				  desc->name, b->granule, strerror(-r));
		free(b);
		return r;
	}
#ifdef TB_RICH
	b->fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (b->fd < 0) {
		r = -errno;
		host->iovad_destroy(b->iovad);
		free(b);
		return r;
	}
#endif
	pthread_mutex_init(&b->lock, NULL);
	/* A broken open: any return but 0 or an errno, or 0 and no
	 * device; with a return that is no errno the device is handed out
	 * all the same, for the core to close. */
	r = injected(b, "open");
	nodev = option(desc->options, TB_NAME ".nodev", buf, sizeof(buf));
	if ((r < 0 && r >= -4095) || nodev) {
		tb_close(b);
		return nodev ? 0 : r;
	}
	*out = b;
	return r;
}

/* The injected failure of this call of op, or 0. */
static int injected(struct dmasplit_bdev *b, const char *op)
{
	int left;

	if (strcmp(b->fail_op, op))
		return 0;
	left = __atomic_fetch_sub(&b->fail_skip, 1, __ATOMIC_RELAXED);
	if (left != 0)
		return 0;
	tb_log(b->host, "%s: injected error %d", op, -b->fail_errno);
	if (b->fail_again > 0) {
		b->fail_again--;
		b->fail_skip = b->fail_skip0;
	}
	return -b->fail_errno;
}

/* What a buggy device reports instead of addr for size bytes. */
static uint64_t bad_addr(struct dmasplit_bdev *b, uint64_t addr, uint64_t size)
{
	switch (b->badaddr) {
	case BAD_ZERO:
		return 0;
	case BAD_WRAP:
		return UINT64_MAX - size / 2;
	case BAD_MASK:
		return 1ull << TB_MASK_BITS;
	default:
		return addr;
	}
}

static void win_free(struct dmasplit_bwin *w)
{
	if (!w->borrowed)
		w->bdev->host->iovad_free(w->bdev->iovad, w->base, w->size);
	free(w->page);
	free(w->valid);
	free(w->synced);
	free(w);
}

static void map_free(struct dmasplit_bdev *b, struct tb_map *m)
{
	if (m->region) {
		if (--m->region->refs == 0) {
			b->host->iovad_free(b->iovad, m->region->base,
					    m->region->size);
			free(m->region);
		}
	} else if (m->size) {
		b->host->iovad_free(b->iovad, m->base, m->size);
	}
	if (m->coherent)
		free(m->cpu);
	free(m);
}

static void tb_close(struct dmasplit_bdev *b)
{
	tb_log(b->host, "close");
	while (b->wins) {
		struct dmasplit_bwin *w = b->wins;

		b->wins = w->next;
		win_free(w);
	}
	while (b->maps) {
		struct tb_map *m = b->maps;

		b->maps = m->next;
		map_free(b, m);
	}
	if (b->fd >= 0)
		close(b->fd);
	b->host->iovad_destroy(b->iovad);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* NAME.ranges: range i is the i-th MiB from 1 MiB on. */
static void tb_ranges(const struct dmasplit_bdev *b,
		      struct dmasplit_range *r, unsigned int n)
{
	unsigned int i;

	(void)b;
	for (i = 0; i < n; i++) {
		r[i].start = (uint64_t)(i + 1) << 21;
		r[i].last = r[i].start + (1u << 20) - 1;
	}
}

static int tb_get_info(struct dmasplit_bdev *b, struct dmasplit_dev_info *info)
{
	int r = injected(b, "info");

	if (r)
		return r;
	info->flags = (b->phys ? 0 : DMASPLIT_DEV_TRANSLATED) |
		      DMASPLIT_DEV_COHERENT | DMASPLIT_DEV_DMA_RW |
		      (b->nowin ? 0 : DMASPLIT_DEV_WINDOWS) | b->extra_flags;
	info->dma_mask_bits = TB_MASK_BITS;
	info->granule = b->granule;
	info->num_ranges = 1;
	info->ranges[0].start = 0x1000;
	info->ranges[0].last = (1ull << TB_MASK_BITS) - 1;
	if (b->nranges) {
		unsigned int n = b->nranges < DMASPLIT_MAX_RANGES ?
				 b->nranges : DMASPLIT_MAX_RANGES;

		info->num_ranges = n;
		tb_ranges(b, info->ranges, n);
	}
	if (b->bad_info == BADINFO_MASK0)
		info->dma_mask_bits = 0;
	else if (b->bad_info == BADINFO_MASK65)
		info->dma_mask_bits = 65;
	else if (b->bad_info == BADINFO_RANGE)
		info->ranges[0].last = info->ranges[0].start - 1;
	else if (b->bad_info == BADINFO_GRANULE0)
		info->granule = 0;
	return 0;
}

static int tb_get_stats(struct dmasplit_bdev *b, struct dmasplit_dev_stats *s)
{
	int r = injected(b, "stats");

	if (r)
		return r;
	s->kernel_calls = __atomic_load_n(&b->calls, __ATOMIC_RELAXED);
	return 0;
}

static void called(struct dmasplit_bdev *b)
{
	__atomic_fetch_add(&b->calls, 1, __ATOMIC_RELAXED);
}

#ifdef TB_RICH
static int tb_get_ranges(struct dmasplit_bdev *b, struct dmasplit_range *r,
			 unsigned int *n)
{
	unsigned int have = b->nranges ? b->nranges : 1;

	if (b->ranges_nofit)
		return -ENOSPC;
	if (b->ranges_over && r) {
		r[0].start = 0x1000;
		r[0].last = 0x1fff;
		*n = 2;
		return 0;
	}
	if (*n < have) {
		*n = have;
		return -ENOSPC;
	}
	if (b->nranges) {
		tb_ranges(b, r, have);
	} else {
		r[0].start = 0x1000;
		r[0].last = (1ull << TB_MASK_BITS) - 1;
	}
	*n = have;
	return 0;
}

static int tb_get_fd(struct dmasplit_bdev *b, int *fd)
{
	int r = injected(b, "fd");

	if (r)
		return r;
	*fd = b->fd;
	return 0;
}
#endif

static int tb_iova_alloc(struct dmasplit_bdev *b, uint64_t size,
			 uint32_t flags, struct dmasplit_bwin **out,
			 uint64_t *addr)
{
	uint64_t pages = size / b->granule;
	struct dmasplit_bwin *w;
	int r;

	called(b);
	tb_log(b->host, "iova_alloc size=0x%" PRIx64, size);
	if (b->nowin && !b->win_lie)
		return -EOPNOTSUPP;
	r = injected(b, "alloc");
	if (r)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->bdev = b;
	w->size = size;
	w->page = calloc(pages, sizeof(*w->page));
	w->valid = calloc(pages, sizeof(*w->valid));
	w->synced = calloc(pages, sizeof(*w->synced));
	if (!w->page || !w->valid || !w->synced) {
		r = -ENOMEM;
		goto fail;
	}
	pthread_mutex_lock(&b->lock);
	if (b->overlap && b->wins) {
		w->addr = b->wins->addr;
		w->borrowed = true;
		r = 0;
	} else {
		r = b->host->iovad_alloc(b->iovad, size, UINT64_MAX, &w->addr);
	}
	if (r == 0) {
		w->base = w->addr;
		w->next = b->wins;
		b->wins = w;
	}
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		goto fail;
	if (!b->win_null || !(b->win_allocs++ & 1))
		*out = w;
	if (!b->no_fill)
		*addr = bad_addr(b, w->addr, size);
	return 0;
fail:
	free(w->page);
	free(w->valid);
	free(w->synced);
	free(w);
	return r;
}

static int tb_iova_link(struct dmasplit_bwin *w, uint64_t offset, void *vaddr,
			size_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->bdev;
	uint64_t g = b->granule, done = 0;

	called(b);
	tb_log(b->host, "iova_link off=0x%" PRIx64 " len=0x%zx dir=%d attrs=0x%x",
	       offset, len, (int)dir, attrs);
	/* This device links whole granules from a granule boundary. */
	if (offset % g)
		return -EINVAL;
	if (injected(b, "link"))
		return -b->fail_errno;
	pthread_mutex_lock(&b->lock);
	for (; done < len; done += g) {
		uint64_t i = (offset + done) / g;

		w->page[i] = (uint8_t *)vaddr + done;
		w->valid[i] = (uint32_t)(len - done < g ? len - done : g);
		w->synced[i] = false;
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int tb_iova_sync(struct dmasplit_bwin *w, uint64_t offset, uint64_t len)
{
	struct dmasplit_bdev *b = w->bdev;
	uint64_t i, g = b->granule;

	called(b);
	tb_log(b->host, "iova_sync off=0x%" PRIx64 " len=0x%" PRIx64, offset, len);
	if (injected(b, "sync"))
		return -b->fail_errno;
	pthread_mutex_lock(&b->lock);
	for (i = offset / g; i <= (offset + len - 1) / g; i++)
		w->synced[i] = w->page[i] != NULL;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int tb_iova_unlink(struct dmasplit_bwin *w, uint64_t offset,
			  uint64_t len, enum dmasplit_dir dir, uint32_t attrs)
{
	struct dmasplit_bdev *b = w->bdev;
	uint64_t i, g = b->granule;

	called(b);
	tb_log(b->host, "iova_unlink off=0x%" PRIx64 " len=0x%" PRIx64 " dir=%d",
	       offset, len, (int)dir);
	if (offset % g)
		return -EINVAL;
	if (injected(b, "unlink"))
		return -b->fail_errno;
	pthread_mutex_lock(&b->lock);
	for (i = offset / g; i <= (offset + len - 1) / g; i++) {
		w->page[i] = NULL;
		w->valid[i] = 0;
		w->synced[i] = false;
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void tb_iova_destroy(struct dmasplit_bwin *w)
{
	struct dmasplit_bdev *b = w->bdev;
	struct dmasplit_bwin **p;

	called(b);
	tb_log(b->host, "iova_destroy addr=0x%" PRIx64, w->addr);
	pthread_mutex_lock(&b->lock);
	for (p = &b->wins; *p != w; p = &(*p)->next)
		;
	*p = w->next;
	/* The allocator is serialised by its caller: under the lock, as
	 * its iova_alloc. */
	if (!w->borrowed)
		b->host->iovad_free(b->iovad, w->base, w->size);
	w->borrowed = true;
	pthread_mutex_unlock(&b->lock);
	win_free(w);
}

/* Lock held.  A mapping of len bytes at cpu, in a new IOVA allocation. */
static int map_locked(struct dmasplit_bdev *b, uint8_t *cpu, size_t len,
		      bool coherent, uint64_t *dma)
{
	uint64_t g = b->granule, head = (uintptr_t)cpu & (g - 1);
	struct tb_map *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	if (b->phys) {
		/* No address space: the device sees host addresses. */
		m->dma = b->alias && b->maps ? b->maps->dma : (uintptr_t)cpu;
		goto listed;
	}
	m->size = (head + len + g - 1) & ~(g - 1);
	r = b->host->iovad_alloc(b->iovad, m->size, UINT64_MAX, &m->base);
	if (r < 0) {
		free(m);
		return r;
	}
	m->dma = bad_addr(b, m->base + head, len);
listed:
	m->len = len;
	m->cpu = cpu;
	m->coherent = coherent;
	m->next = b->maps;
	b->maps = m;
	if (!b->no_fill)
		*dma = m->dma;
	return 0;
}

static struct tb_map **find_map(struct dmasplit_bdev *b, uint64_t dma)
{
	struct tb_map **p;

	for (p = &b->maps; *p; p = &(*p)->next)
		if ((*p)->dma == dma)
			return p;
	return NULL;
}

static int tb_map(struct dmasplit_bdev *b, void *vaddr, size_t len,
		  enum dmasplit_dir dir, uint32_t attrs, uint64_t *dma)
{
	int r;

	called(b);
	r = injected(b, "map");
	if (r)
		return r;
	pthread_mutex_lock(&b->lock);
	r = map_locked(b, vaddr, len, false, dma);
	pthread_mutex_unlock(&b->lock);
	tb_log(b->host, "map len=0x%zx dir=%d attrs=0x%x: %d", len, (int)dir,
	       attrs, r);
	return r;
}

static int tb_unmap(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		    enum dmasplit_dir dir, uint32_t attrs)
{
	struct tb_map **p, *m;
	int r = 0;

	called(b);
	tb_log(b->host, "unmap dma=0x%" PRIx64 " len=0x%zx dir=%d", dma, len,
	       (int)dir);
	r = injected(b, "unmap");
	if (r)
		return r;
	pthread_mutex_lock(&b->lock);
	p = find_map(b, dma);
	if (!p && b->lax) {
		r = 0;
	} else if (!p || (*p)->len != len || (*p)->coherent || (*p)->region) {
		r = -ENOENT;
	} else {
		m = *p;
		*p = m->next;
		map_free(b, m);
	}
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		dmasplit_host_err(b->host, TB_NAME ": unmap of 0x%" PRIx64 ": no such mapping",
				  dma);
	return r;
}

#ifdef TB_RICH
/* One IOVA allocation for all buffers, each from a granule boundary, so
 * that buffers that end on a granule boundary merge into one segment. */
static int tb_map_vec(struct dmasplit_bdev *b, const struct iovec *iov,
		      unsigned int n, enum dmasplit_dir dir, uint32_t attrs,
		      struct dmasplit_seg *segs, unsigned int *nsegs)
{
	uint64_t g = b->granule, size = 0, off = 0;
	struct tb_region *region;
	unsigned int i, used = 0;
	int r;

	called(b);
	tb_log(b->host, "map_vec n=%u dir=%d", n, (int)dir);
	for (i = 0; i < n; i++)
		size += (iov[i].iov_len + g - 1) & ~(g - 1);
	region = calloc(1, sizeof(*region));
	if (!region)
		return -ENOMEM;
	pthread_mutex_lock(&b->lock);
	r = b->host->iovad_alloc(b->iovad, size, UINT64_MAX, &region->base);
	if (r < 0)
		goto fail;
	region->size = size;
	for (i = 0; i < n; i++) {
		struct tb_map *m = calloc(1, sizeof(*m));

		if (!m) {
			r = -ENOMEM;
			goto fail_maps;
		}
		m->dma = region->base + off;
		m->len = iov[i].iov_len;
		m->cpu = iov[i].iov_base;
		m->region = region;
		region->refs++;
		m->next = b->maps;
		b->maps = m;
		if (used && segs[used - 1].dma + segs[used - 1].len == m->dma) {
			segs[used - 1].len += m->len;
		} else {
			if (used == *nsegs) {
				r = -ENOSPC;
				goto fail_maps;
			}
			if (!b->no_fill)
				segs[used].dma = m->dma;
			segs[used].len = m->len;
			used++;
		}
		off += (iov[i].iov_len + g - 1) & ~(g - 1);
	}
	pthread_mutex_unlock(&b->lock);
	*nsegs = used;
	return 0;

fail_maps:
	while (b->maps && b->maps->region == region) {
		struct tb_map *m = b->maps;

		b->maps = m->next;
		map_free(b, m);	/* the last one frees region */
	}
	region = NULL;
fail:
	pthread_mutex_unlock(&b->lock);
	free(region);
	return r;
}
#endif

#if defined(TB_RICH) || defined(TB_UNMAPVEC_ONLY)
static int tb_unmap_vec(struct dmasplit_bdev *b,
			const struct dmasplit_seg *segs, unsigned int nsegs,
			enum dmasplit_dir dir, uint32_t attrs)
{
	unsigned int i;

	called(b);
	tb_log(b->host, "unmap_vec nsegs=%u dir=%d", nsegs, (int)dir);
	if (injected(b, "unmap_vec"))
		return -b->fail_errno;
	pthread_mutex_lock(&b->lock);
	for (i = 0; i < nsegs; i++) {
		struct tb_map **p = &b->maps;

		while (*p) {
			struct tb_map *m = *p;

			if (m->region && m->dma >= segs[i].dma &&
			    m->dma < segs[i].dma + segs[i].len) {
				*p = m->next;
				map_free(b, m);
			} else {
				p = &m->next;
			}
		}
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}
#endif

static int tb_sync(struct dmasplit_bdev *b, uint64_t dma, size_t len,
		   enum dmasplit_dir dir)
{
	called(b);
	tb_log(b->host, "sync dma=0x%" PRIx64 " len=0x%zx dir=%d", dma, len,
	       (int)dir);
	return 0;
}

static int tb_alloc_coherent(struct dmasplit_bdev *b, size_t size,
			     uint32_t flags, void **cpu, uint64_t *dma)
{
	uint64_t g = b->granule;
	void *p;
	int r;

	called(b);
	tb_log(b->host, "alloc_coherent size=0x%zx", size);
	p = aligned_alloc(g, (size + g - 1) & ~(g - 1));
	if (!p)
		return -ENOMEM;
	memset(p, 0, size);
	pthread_mutex_lock(&b->lock);
	r = map_locked(b, p, size, true, dma);
	pthread_mutex_unlock(&b->lock);
	if (r < 0) {
		free(p);
		return r;
	}
	*cpu = b->coh_null ? NULL : p;
	return 0;
}

static int tb_free_coherent(struct dmasplit_bdev *b, size_t size, void *cpu,
			    uint64_t dma)
{
	struct tb_map **p, *m;
	int r = 0;

	called(b);
	tb_log(b->host, "free_coherent dma=0x%" PRIx64 " size=0x%zx", dma, size);
	pthread_mutex_lock(&b->lock);
	p = find_map(b, dma);
	if (!p || !(*p)->coherent || (*p)->cpu != cpu) {
		r = -ENOENT;
	} else {
		m = *p;
		*p = m->next;
		map_free(b, m);
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

static const struct dmasplit_backend_ops tb_ops = {
#ifdef TB_OPS_1_0
	/* The table as libdmasplit 1.0's header defined it: it ends with
	 * get_ranges, before the windows the core allocates. */
	.size = offsetof(struct dmasplit_backend_ops, iova_win_size),
#else
	.size = sizeof(struct dmasplit_backend_ops),
#endif
	.abi_version = DMASPLIT_BACKEND_ABI_VERSION,
	.name = TB_NAME,
	.uuid = TB_UUID,
	.version = "1.0-test",
	.description = "test backend " TB_NAME ": records what the core passes on",
	.probe = tb_probe,
	.open = tb_open,
	.close = tb_close,
	.get_info = tb_get_info,
	.get_stats = tb_get_stats,
#ifdef TB_RICH
	.get_fd = tb_get_fd,
	.get_ranges = tb_get_ranges,
	.map_vec = tb_map_vec,
	.unmap_vec = tb_unmap_vec,
#endif
#ifdef TB_UNMAPVEC_ONLY
	/* A half set: an unmap_vec for vectors it never made. */
	.unmap_vec = tb_unmap_vec,
#endif
	.iova_alloc = tb_iova_alloc,
	.iova_link = tb_iova_link,
	.iova_sync = tb_iova_sync,
	.iova_unlink = tb_iova_unlink,
	.iova_destroy = tb_iova_destroy,
	.map = tb_map,
	.unmap = tb_unmap,
	.sync_for_cpu = tb_sync,
	.sync_for_device = tb_sync,
	.alloc_coherent = tb_alloc_coherent,
	.free_coherent = tb_free_coherent,
	.dma_read = tb_dma_read,
	.dma_write = tb_dma_write,
};

#ifdef TB_OPS_1_0
static struct dmasplit_backend_ops tb_cut;
#endif

DMASPLIT_BACKEND_EXPORT const struct dmasplit_backend_ops *
DMASPLIT_BACKEND_ENTRY(void)
{
#ifdef TB_OPS_1_0
	/* A size that ends inside get_stats: the loader must leave that
	 * field out, not take half a pointer for the operation. */
	if (getenv("TB_SIZE_INSIDE_GET_STATS")) {
		tb_cut = tb_ops;
		tb_cut.size = offsetof(struct dmasplit_backend_ops, get_stats) +
			      sizeof(uint32_t);
		return &tb_cut;
	}
#endif
	return &tb_ops;
}
