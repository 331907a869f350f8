/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Text tables of the dmasplit command (list, devices): columns as wide as
 * their widest cell, squeezed to the terminal's width (80 off a terminal),
 * and lines cut there if that is not enough, unless the caller asks for
 * full lines, as ps -w and lsblk do.
 */
#ifndef DMASPLIT_TOOL_TABLE_H
#define DMASPLIT_TOOL_TABLE_H

#include <stdbool.h>
#include <stddef.h>

enum table_squeeze {
	SQUEEZE_NEVER,		/* numbers and names that must stay whole */
	SQUEEZE_END,		/* cut the end: a description */
	SQUEEZE_START		/* cut the start: a path's file name matters */
};

struct table_col {
	const char *title;
	enum table_squeeze squeeze;
	int min;		/* the narrowest a squeezed column gets */
	bool right;		/* numbers line up on their last digit */
	bool hidden;		/* left out of this table */
	int width;		/* table_measure and table_fit set it */
};

struct table {
	struct table_col *cols;
	size_t ncols;
	int limit;		/* table_fit's; 0: none */
	/* The line being printed: the characters it has left, and the
	 * spaces it owes before its next one. */
	int room;
	int spaces;
};

/* The width lines must fit: 0 for no limit (wide), else $COLUMNS, the
 * terminal's width, or 80. */
int table_line_limit(bool wide);
/* Characters a cell takes: UTF-8 sequences count once. */
int table_text_width(const char *s);
void table_measure(struct table_col *col, const char *cell);
/* Widens columns to their titles, then squeezes those that may be, each
 * by its share, until a line fits limit (or they are at their min).
 * Lines still longer than limit are cut there, the header as the rows. */
void table_fit(struct table *t, int limit);
void table_put_header(struct table *t);
/* The cell of column i; the last column's gets no padding, then the
 * newline, and must not be hidden. */
void table_put(struct table *t, size_t i, const char *cell);

#endif
