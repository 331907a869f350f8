// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the API test programs share: a context with the recording test
 * backends, the device "sim:nic0" on testa and a buffer, with the checker
 * on or off.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiutil.h"
#include "testutil.h"

static const char *const both[] = { "testa", "testb", NULL };
struct dmasplit_ctx *ctx;
struct dmasplit_dev *dev;	/* testa, "nic0" */
uint8_t *buf;			/* 16 granules, page aligned */

void open_dev(const char *spec)
{
	ck_assert_msg(dmasplit_dev_open(ctx, spec, &dev) == 0, "open %s: log:\n%s",
		      spec, tu_log_text());
	tu_log_clear();
}

static void setup_with(int check)
{
	ctx = tu_ctx_with(both);
	dmasplit_ctx_set_check(ctx, check);
	buf = aligned_alloc(G, 16 * G);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 0, 16 * G);
	open_dev("sim:nic0");
}

void setup_checked(void)
{
	setup_with(1);
}

void setup_unchecked(void)
{
	setup_with(0);
}

void api_teardown(void)
{
	dmasplit_dev_close(dev);
	dev = NULL;
	if (ctx)
		tu_ctx_free(ctx);
	ctx = NULL;
	free(buf);
}

/* The backend saw an operation: its lines start with its name. */
bool backend_called(void)
{
	const char *log = tu_log_text();

	return strstr(log, "testa: ") || strstr(log, "testb: ");
}

struct dmasplit_dev_stats stats_of(struct dmasplit_dev *d)
{
	struct dmasplit_dev_stats s = { .size = sizeof(s) };

	ck_assert_int_eq(dmasplit_dev_get_stats(d, &s), 0);
	return s;
}


