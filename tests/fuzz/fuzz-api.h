/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files of fuzz-api: the limits, the model's records of
 * mappings, windows and vectors, the state of one input, the input
 * decoder's number reader and the verdicts, small enough to be inlined
 * where they are used; and the functions each file offers the others.
 */
#ifndef DMASPLIT_FUZZ_API_H
#define DMASPLIT_FUZZ_API_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmasplit/dmasplit.h>
#include <dmasplit/backend.h>

#define ARENA (256u * 1024u)	/* host memory the input maps, 64K-aligned */
#define MAX_LEN (64u * 1024u)
#define MAX_RECS 48
#define MAX_WINS 4
#define MAX_GROUPS 8
#define MAX_DEAD 8
#define MAX_REGIONS 2

/* Per-byte loops of the model: coverage feedback from them only slows the
 * fuzzer (the library's branches are what it explores). */
#define MODEL_BYTE_LOOP __attribute__((no_sanitize("coverage")))

enum kind { K_MAP, K_VEC, K_LINK, K_COH };

/* Per byte of a record. */
#define B_KNOWN 1u	/* dv[] is what the device must read */
#define B_WRITTEN 2u	/* the device wrote dv[]; the CPU must see it */

struct rec {
	bool used;
	enum kind kind;
	uint64_t dma;
	uint8_t *host;
	size_t len;
	enum dmasplit_dir dir;
	bool valid;		/* reachable by the device (links: synced) */
	int win, group;		/* K_LINK: window; K_VEC: group */
	int region;		/* K_MAP through a region: which, else -1 */
	size_t woff;		/* K_LINK: offset in the window */
	uint8_t *dv, *fl;
};

struct win {
	struct dmasplit_iova *iova;
	uint64_t base;
	size_t size;
};

struct group {
	bool used;
	struct dmasplit_seg segs[64];
	unsigned int nsegs;
	enum dmasplit_dir dir;
};

/* A registered region: its mappings are at reg->dma + their offset. */
struct region {
	struct dmasplit_region *reg;
	uint8_t *host;
	size_t len;
	uint64_t dma;
	enum dmasplit_dir dir;
	unsigned int live;	/* mappings made through it, not unmapped */
};

struct dead {
	uint64_t dma;
	size_t len;
	enum dmasplit_dir dir;
	bool known;	/* the backend held it */
};

/* Host memory the input maps, back to its pristine bytes for each input. */
extern uint8_t *arena;

/* The input: what is left of it. */
struct api_input {
	const uint8_t *p;
	size_t n;
};
extern struct api_input in;

/* The device of this input, and the model of what is on it. */
struct api_state {
	struct dmasplit_dev *dev;
	bool iommu, untrusted, force, coherent, check;
	unsigned int mask_bits;
	uint64_t granule, gmask, limit;
	struct rec r[MAX_RECS];
	struct win w[MAX_WINS];
	struct group g[MAX_GROUPS];
	struct region g_reg[MAX_REGIONS];
	struct dead d[MAX_DEAD];
	unsigned int ndead;
	char spec[160];
};
extern struct api_state s;

static inline uint64_t take(unsigned int bytes)
{
	uint64_t v = 0;

	while (bytes--) {
		v <<= 8;
		if (in.n) {
			v |= *in.p++;
			in.n--;
		}
	}
	return v;
}

void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* A call the model considers valid: 0, or a shortage of a resource. */
static inline void want_ok(int r, bool may_run_out, const char *what)
{
	if (r == 0 || (may_run_out && (r == -ENOMEM || r == -ENOSPC)))
		return;
	fatal("%s: expected 0%s, got %d", what,
	      may_run_out ? " or -ENOMEM/-ENOSPC" : "", r);
}

static inline void want_fail(int r, const char *what)
{
	if (r >= 0 || r < -4095)
		fatal("%s: expected a negative errno, got %d", what, r);
}

static inline uint64_t gdown(uint64_t x)
{
	return x & ~s.gmask;
}

static inline uint64_t gup(uint64_t x)
{
	return (x + s.gmask) & ~s.gmask;
}

static inline bool overlaps(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* fuzz-api-model.c */
void dev_span(const struct rec *r, uint64_t *lo, uint64_t *hi);
bool bounced(const struct rec *r);
enum dmasplit_dir dev_dir(const struct rec *r);
void check_dev_read(const struct rec *r, size_t off, const uint8_t *buf,
		    size_t len);
void synced_for_device(struct rec *r, size_t off, size_t len);
struct rec *rec_new(enum kind kind, uint64_t dma, uint8_t *host,
		    size_t len, enum dmasplit_dir dir);
void rec_free(struct rec *r);
unsigned int live_recs(void);
void check_fresh(uint64_t dma, size_t len, bool is_bounce,
		 const char *what);
void cpu_wrote(const uint8_t *p, size_t len);
void check_host(struct rec *r, size_t off, size_t len, const char *what);
bool reachable(uint64_t dma, size_t len, bool write);
void group_gone(int gi, bool copied);
void win_gone(int wi);

/* fuzz-api-input.c */
struct rec *pick_rec(unsigned int sel, int kind);
void pick_buf(uint8_t **p, size_t *len, size_t max);
void sub_range(const struct rec *r, size_t *off, size_t *len);
int pick_win(unsigned int sel);

/* fuzz-api-map.c */
void op_map(void);
void op_unmap(void);
void op_unmap_dead(void);
void op_sync(bool for_cpu);
void op_map_vec(void);
void op_unmap_vec(void);
void op_coherent(void);

/* fuzz-api-access.c */
void op_cpu_write(void);
void op_dev_read(void);
void op_dev_write(void);

/* fuzz-api-window.c */
void op_alloc(void);
void op_link(void);
void op_iova_sync(void);
void op_unlink(void);
void op_destroy(void);

/* fuzz-api-batch.c */
void op_batch(void);

/* fuzz-api-region.c */
int region_of(const uint8_t *p, size_t len, enum dmasplit_dir dir);
bool in_region(uint64_t dma, size_t len, bool write, bool any);
void op_region(void);
void regions_gone(void);

#endif
