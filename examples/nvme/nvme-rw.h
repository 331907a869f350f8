/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nvme-rw's parts: the command line (options.c), the data pools and
 * their pattern (pools.c), the three ways of mapping an I/O's buffer
 * (strategy.c), the output (report.c), and the runs that tie them
 * together (nvme-rw.c).  The NVMe driver itself is nvme.h.
 */
#ifndef NVME_EXAMPLE_NVME_RW_H
#define NVME_EXAMPLE_NVME_RW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <dmasplit/dmasplit.h>

#include "nvme.h"

#define MAX_LIST 16	/* items of a LIST option */

enum strategy_id { MAP, WINDOW, REGISTERED, NUM_STRATEGIES };

extern const char *const strategy_names[NUM_STRATEGIES];

struct options {
	const char *spec;
	const char *backend;
	bool strategy[NUM_STRATEGIES];
	size_t io_size[MAX_LIST];
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
	/* library calls the strategies made for I/Os (not setup) */
	uint64_t library_calls;
	/* per I/O scratch */
	struct iovec *iov;
	struct dmasplit_seg *segs;
	unsigned int max_segs;
};

extern const char *prog;

/* nvme-rw.c: status, or 1 after one line when stdout could not be
 * written. */
int  flush_stdout(int status);

/* options.c: 0, or the exit status of a usage error (2). */
int  parse_options(int argc, char **argv, struct options *o);

/* pools.c */
int  pool_new(struct pool *p, size_t size);
void pool_free(struct pool *p);
void pool_shuffle(struct pool *p, size_t chunk, uint64_t seed);
/* Where byte off of the data stream lives in p. */
uint8_t *stream_at(const struct pool *p, size_t chunk, size_t off);
void fill_pattern(struct run *r, uint64_t seed);
bool verify(struct run *r, const char *what);

/* strategy.c: 0 or a negative errno, reported in one line. */
int  lib_err(const char *call, int err);
int  io_map(struct run *r, bool write, size_t first);
int  io(struct run *r, enum strategy_id s, bool write, size_t first);
int  registered_setup(struct run *r);
void registered_teardown(struct run *r);
int  unlinked_read(struct run *r);

/* report.c (error_line() is in nvme.h) */
const char *human(size_t bytes, char *buf, size_t len);
void print_text(const struct run *r, const struct figures *all,
		unsigned int n);
/* err: 0, or the negative errno of a failure, which adds "error" (the
 * first error line). */
void print_json(const struct run *r, const struct figures *all,
		unsigned int n, int err);
/* An object with "error" alone, unless print_json() printed one. */
void print_json_failure(int err);
void print_identify(const struct run *r);

#endif
