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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme-rw.h"

const char *const strategy_names[NUM_STRATEGIES] = {
	[MAP] = "map", [WINDOW] = "window", [REGISTERED] = "registered"
};

const char *prog = "nvme-rw";

/* A full disk or a closed pipe must not pass for success: the results
 * were not delivered. */
int flush_stdout(int status)
{
	int err = fflush(stdout) ? errno : 0;

	if (!err && !ferror(stdout))
		return status;
	error_line("write error: %s", strerror(err ? err : EIO));
	return 1;
}

static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct dmasplit_dev_stats stats_now(struct dmasplit_dev *dev)
{
	struct dmasplit_dev_stats st = { .size = sizeof(st) };

	dmasplit_dev_get_stats(dev, &st);
	return st;
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

	r->library_calls = 0;
	t0 = seconds_now();
	/* Only the I/Os that completed count. */
	for (ret = 0, first = 0; ret == 0 && first < r->out.size;
	     first += r->io_size)
		if ((ret = io(r, s, true, first)) == 0)
			f->ios++;
	for (first = 0; ret == 0 && first < r->in.size; first += r->io_size)
		if ((ret = io(r, s, false, first)) == 0)
			f->ios++;
	f->seconds = seconds_now() - t0;
	after = stats_now(r->dev);

	if (s == REGISTERED && !nvme_stuck(r->c))
		registered_teardown(r);
	f->kernel_calls = after.kernel_calls - setup.kernel_calls;
	f->library_calls = r->library_calls;
	f->setup_kernel_calls = setup.kernel_calls - before.kernel_calls;
	f->fallback = r->fallback;
	if (ret < 0)
		return ret;
	f->verified = verify(r, strategy_names[s]);
	return f->verified ? 0 : -EIO;
}

/* What the controller and its namespace can carry, checked once they
 * are known; the layout itself was checked with the options. */
static int check_sizes(const struct options *o, const struct nvme_ctrl *c)
{
	unsigned int i;

	for (i = 0; i < o->num_sizes; i++)
		if (o->io_size[i] > c->max_transfer) {
			error_line("I/O size %zu is above the controller's %u-byte transfer limit",
				   o->io_size[i], c->max_transfer);
			return -EINVAL;
		}
	if (o->lba > c->ns_blocks || o->total / c->lba_size > c->ns_blocks - o->lba) {
		error_line("%zu bytes from LBA %" PRIu64 " do not fit in namespace %u (%" PRIu64 " blocks of %u bytes)",
			   o->total, o->lba, c->nsid, c->ns_blocks, c->lba_size);
		return -EINVAL;
	}
	return 0;
}

static int run_all(struct run *r)
{
	struct figures all[NUM_STRATEGIES * MAX_LIST];
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
		print_json(r, all, n, ret);
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
		error_line("%s: %s", o.spec, strerror(-ret));
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
			print_json(&r, NULL, 0, 0);
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
		error_line("data pools of %zu bytes: %s", o.total,
			   strerror(-ret));
		goto out;
	}
	if (o.unlinked_read) {
		r.io_size = o.io_size[0];
		ret = unlinked_read(&r);
	} else {
		ret = run_all(&r);
	}
out:
	/* A program reading the JSON gets an object on a failure too. */
	if (o.json && ret < 0)
		print_json_failure(ret);
	if (opened)
		nvme_close(&c);
	/* A stuck controller may still reach them: they go with the
	 * process. */
	if (opened && nvme_stuck(&c))
		return flush_stdout(1);
	pool_free(&r.out);
	pool_free(&r.in);
	free(r.iov);
	free(r.segs);
	dmasplit_dev_close(dev);
	dmasplit_ctx_unref(ctx);
	return flush_stdout(ret < 0 ? 1 : 0);
}
