#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The manual pages against the sources: every line the loader logs at
# LOG_ERR, and every reason it gives for a plugin's text, is in
# dmasplit-backend(7)'s list of loader refusals.
set -u

. "$(dirname "$0")/tap.sh"

src=${top_srcdir:-.}
loader=$src/core/loader.c
page=$src/man/dmasplit-backend.7

# The section as it reads, markup undone: '.BI "refusing backend " FILE'
# reads 'refusing backend FILE'.
section=$(sed -n '/^\.SS Loader refusals/,/^\.SS /p' "$page" |
	sed -e 's/^\.[A-Z]* *//' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" \
	    -e 's/\\(lq//g; s/\\(rq//g; s/\\~/ /g; s/\\f[BIPR]//g; s/"//g' |
	tr '\n' ' ' | tr -s ' ')

# The formats, one a line; a call whose format is not on its line would
# escape the test.
formats=$(sed -n 's/.*log_err(ctx, "\([^"]*\)".*/\1/p' "$loader")
[ -n "$section" ] &&
	[ "$(printf '%s\n' "$formats" | wc -l)" -eq "$(grep -c 'log_err(' "$loader")" ]
ok $? "the page has a list of loader refusals, and each log_err() of core/loader.c starts with its format"

# What a line says around its conversions must be in the list.
missing=$(
	{ printf '%s\n' "$formats"; sed -n 's/.*why = "\([^"]*\)".*/\1/p' "$loader"; } |
	while read -r format; do
		printf '%s\n' "$format" | sed -E 's/%[0-9.]*(z|l|ll|h)?[sudixc]/\n/g' |
		while read -r piece; do
			[ -z "$piece" ] && continue
			case $section in
			*"$piece"*) ;;
			*) printf "'%s'\n" "$format"; break ;;
			esac
		done
	done)
[ -z "$missing" ]
ok $? "every refusal of the loader is in dmasplit-backend(7)${missing:+ (not: $(echo $missing))}"

echo "1..$n"
exit $failed
