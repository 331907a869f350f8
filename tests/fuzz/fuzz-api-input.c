// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz-api's input decoding beyond single numbers (take() is in
 * fuzz-api.h): the bytes that choose a host buffer, a part of a record, a
 * live record or a window.  Apart so that the operations of every file
 * draw their arguments from the input the same way.
 */
#include <stdint.h>

#include "fuzz-api.h"

struct rec *pick_rec(unsigned int sel, int kind)
{
	unsigned int i, n = 0, want;
	struct rec *cand[MAX_RECS];

	for (i = 0; i < MAX_RECS; i++)
		if (s.r[i].used && (kind < 0 || s.r[i].kind == (enum kind)kind))
			cand[n++] = &s.r[i];
	if (!n)
		return NULL;
	want = sel % n;
	return cand[want];
}

void pick_buf(uint8_t **p, size_t *len, size_t max)
{
	size_t off = take(3) % ARENA, l;

	/* Often granule-aligned, as drivers' buffers are. */
	switch (take(1) % 4) {
	case 0:
		off = gdown(off);
		l = (1 + take(1) % 4) * s.granule;
		break;
	case 1:
		l = 1 + take(1) % 64;
		break;
	default:
		l = 1 + take(2) % max;
		break;
	}
	if (l > max)
		l = max;
	if (off + l > ARENA)
		off = ARENA - l;
	*p = arena + off;
	*len = l;
}

/* A part of r, at most MAX_LEN bytes (the device-access buffers' size:
 * coherent memory and windows may be larger). */
void sub_range(const struct rec *r, size_t *off, size_t *len)
{
	*off = take(2) % r->len;
	*len = 1 + take(2) % (r->len - *off);
	if (take(1) & 1) {
		*off = 0;
		*len = r->len;
	}
	if (*len > MAX_LEN)
		*len = MAX_LEN;
}

int pick_win(unsigned int sel)
{
	unsigned int i;

	for (i = 0; i < MAX_WINS; i++)
		if (s.w[(sel + i) % MAX_WINS].iova)
			return (int)((sel + i) % MAX_WINS);
	return -1;
}
