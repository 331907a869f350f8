// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit - text tables that fit the terminal: a cell too long for its
 * column loses its end or its start to "...", never its neighbours'
 * alignment; columns that cannot narrow further lose the end of the line.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "table.h"
#include "tool.h"

#define TABLE_GAP 2
#define ELLIPSIS "..."
#define ELLIPSIS_WIDTH 3
#define DEFAULT_LINE_LIMIT 80

int table_line_limit(bool wide)
{
	const char *env = getenv("COLUMNS");
	struct winsize ws;
	char *end;
	long n;

	if (wide)
		return 0;
	/* $COLUMNS first, as util-linux does: it lets a script that pipes
	 * the output choose, and it is how a test asks for a width. */
	if (env && *env) {
		n = strtol(env, &end, 10);
		if (!*end && n > 0 && n < 100000)
			return (int)n;
	}
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0)
		return ws.ws_col;
	return DEFAULT_LINE_LIMIT;
}

static bool utf8_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

int table_text_width(const char *s)
{
	int n = 0;

	for (; *s; s++)
		if (!utf8_continuation(*s))
			n++;
	return n;
}

/* The byte offset of the character number chars of s, or its end. */
static size_t char_offset(const char *s, int chars)
{
	size_t i = 0;

	for (; s[i]; i++) {
		if (utf8_continuation(s[i]))
			continue;
		if (chars-- == 0)
			break;
	}
	return i;
}

void table_measure(struct table_col *col, const char *cell)
{
	int n = table_text_width(cell);

	if (col->width < n)
		col->width = n;
}

static int squeeze_room(const struct table_col *col)
{
	if (col->hidden || col->squeeze == SQUEEZE_NEVER ||
	    col->width <= col->min)
		return 0;
	return col->width - col->min;
}

void table_fit(struct table *t, int limit)
{
	struct table_col *cols = t->cols;
	int total = 0, excess, room = 0, take;
	size_t i, shown = 0;

	t->limit = limit;
	t->room = limit ? limit : INT_MAX;
	t->spaces = 0;
	/* A table without rows still shows whole titles. */
	for (i = 0; i < t->ncols; i++) {
		if (cols[i].hidden)
			continue;
		if (cols[i].width < table_text_width(cols[i].title))
			cols[i].width = table_text_width(cols[i].title);
		total += cols[i].width + (shown++ ? TABLE_GAP : 0);
		room += squeeze_room(&cols[i]);
	}
	excess = total - limit;
	if (!limit || excess <= 0 || !room)
		return;
	/* Each squeezable column gives its share, so that a long path does
	 * not leave a description three characters; what rounding leaves
	 * over comes from the rightmost. */
	if (excess > room)
		excess = room;
	for (i = 0; i < t->ncols; i++) {
		take = (int)((long long)excess * squeeze_room(&cols[i]) / room);
		cols[i].width -= take;
		total -= take;
	}
	for (i = t->ncols; i-- > 0 && total > limit;) {
		take = squeeze_room(&cols[i]);
		if (take > total - limit)
			take = total - limit;
		cols[i].width -= take;
		total -= take;
	}
}

/* Plugin strings and sysfs contents may hold anything: put_safe keeps
 * control characters off the terminal. */
static void put_part(const char *s, size_t len)
{
	char buf[256];

	while (len) {
		size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;

		memcpy(buf, s, n);
		buf[n] = '\0';
		put_safe(buf);
		s += n;
		len -= n;
	}
}

/* Spaces are owed rather than printed, so that a line cut at the limit,
 * or one whose last cells are blank, ends on its last character. */
static void put_spaces(struct table *t, int n)
{
	t->spaces += n;
}

/* The first len bytes of s, as much of them as the line has room for. */
static void put_text(struct table *t, const char *s, size_t len)
{
	size_t cut;
	int chars;

	if (!len)
		return;
	if (t->spaces >= t->room) {
		t->room = 0;
		return;
	}
	printf("%*s", t->spaces, "");
	t->room -= t->spaces;
	t->spaces = 0;
	cut = char_offset(s, t->room);
	if (cut > len)
		cut = len;
	put_part(s, cut);
	for (chars = 0; cut; cut--)
		chars += !utf8_continuation(s[cut - 1]);
	t->room -= chars;
}

static void put_squeezed(struct table *t, const struct table_col *col,
			 const char *cell, int chars)
{
	int keep = col->width - ELLIPSIS_WIDTH;
	const char *tail;

	if (keep < 1) {
		/* Too narrow for an ellipsis: cut. */
		put_text(t, cell, char_offset(cell, col->width));
		return;
	}
	if (col->squeeze == SQUEEZE_START) {
		tail = cell + char_offset(cell, chars - keep);
		put_text(t, ELLIPSIS, ELLIPSIS_WIDTH);
		put_text(t, tail, strlen(tail));
	} else {
		put_text(t, cell, char_offset(cell, keep));
		put_text(t, ELLIPSIS, ELLIPSIS_WIDTH);
	}
}

void table_put(struct table *t, size_t i, const char *cell)
{
	const struct table_col *col = &t->cols[i];
	int n = table_text_width(cell);
	int pad = col->width > n ? col->width - n : 0;

	if (col->hidden)
		return;
	if (col->right)
		put_spaces(t, pad);
	if (n > col->width)
		put_squeezed(t, col, cell, n);
	else
		put_text(t, cell, strlen(cell));
	if (i + 1 == t->ncols) {
		putchar('\n');
		t->room = t->limit ? t->limit : INT_MAX;
		t->spaces = 0;
		return;
	}
	put_spaces(t, (col->right ? 0 : pad) + TABLE_GAP);
}

void table_put_header(struct table *t)
{
	size_t i;

	for (i = 0; i < t->ncols; i++)
		table_put(t, i, t->cols[i].title);
}
