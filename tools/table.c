// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dmasplit - text tables that fit the terminal: a cell too long for its
 * column loses its end or its start to "...", never its neighbours'
 * alignment.
 */
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

void table_fit(struct table_col *cols, size_t ncols, int limit)
{
	int total = 0, excess, room = 0, take;
	size_t i, shown = 0;

	/* A table without rows still shows whole titles. */
	for (i = 0; i < ncols; i++) {
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
	for (i = 0; i < ncols; i++) {
		take = (int)((long long)excess * squeeze_room(&cols[i]) / room);
		cols[i].width -= take;
		total -= take;
	}
	for (i = ncols; i-- > 0 && total > limit;) {
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

static void put_squeezed(const struct table_col *col, const char *cell,
			 int chars)
{
	int keep = col->width - ELLIPSIS_WIDTH;

	if (keep < 1) {
		/* Too narrow for an ellipsis: cut. */
		put_part(cell, char_offset(cell, col->width));
		return;
	}
	if (col->squeeze == SQUEEZE_START) {
		fputs(ELLIPSIS, stdout);
		put_safe(cell + char_offset(cell, chars - keep));
	} else {
		put_part(cell, char_offset(cell, keep));
		fputs(ELLIPSIS, stdout);
	}
}

void table_put(const struct table_col *col, const char *cell, bool last)
{
	int n = table_text_width(cell);
	int pad = col->width > n ? col->width - n : 0;

	if (col->hidden)
		return;
	if (col->right)
		printf("%*s", pad, "");
	if (n > col->width)
		put_squeezed(col, cell, n);
	else
		put_safe(cell);
	if (last) {
		putchar('\n');
		return;
	}
	printf("%*s", (col->right ? 0 : pad) + TABLE_GAP, "");
}

void table_put_header(const struct table_col *cols, size_t ncols)
{
	size_t i;

	for (i = 0; i < ncols; i++)
		table_put(&cols[i], cols[i].title, i + 1 == ncols);
}
