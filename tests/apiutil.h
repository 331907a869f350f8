/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the API test programs (apiutil.c).
 */
#ifndef DMASPLIT_APIUTIL_H
#define DMASPLIT_APIUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "testutil.h"

#define G 4096u

/* The fixture's: the context, its device on testa, and 16 granules of
 * page-aligned memory. */
extern struct dmasplit_ctx *ctx;
extern struct dmasplit_dev *dev;
extern uint8_t *buf;

void open_dev(const char *spec);
void setup_checked(void);
void setup_unchecked(void);
void api_teardown(void);
bool backend_called(void);
struct dmasplit_dev_stats stats_of(struct dmasplit_dev *d);

/* Refused by the core with err, in exactly one log line, before any
 * backend operation ran. */
#define refused(expr, err)                                                   \
	do {                                                                 \
		int r_;                                                      \
		tu_log_clear();                                              \
		r_ = (expr);                                                 \
		ck_assert_msg(r_ == (err), "%s: got %d, expected %d", #expr, \
			      r_, (err));                                    \
		ck_assert_msg(tu_log_count("\n") == 1 && !backend_called(),  \
			      "%s: expected one line and no backend call, log:\n%s", \
			      #expr, tu_log_text());                         \
	} while (0)

#endif
