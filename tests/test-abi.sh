#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# abi/check judges abidiff's findings right: on a small library built in
# a few variants, against the first one's baseline, a moved member, a
# changed parameter and a removed function fail; an added function
# passes.  abidiff alone would not tell the first two from the last.
set -u

top=${top_srcdir:-.}
check="$top/abi/check"
CC=${CC:-cc}
. "$(dirname "$0")/tap.sh"

for tool in abidw abidiff readelf; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool not installed (Debian: abigail-tools, binutils)"
		exit 0
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmasplit-abi-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/include"

# build NAME [CFLAGS]: libt-NAME.so from the header and source in
# $tmp/include/t.h and $tmp/t.c, with the version script $tmp/t.sym.
# Every variant has the same SONAME and its header at the same path, as
# two builds of one library have.
build() {
	$CC ${2--g} -O0 -fPIC -shared -I"$tmp/include" -o "$tmp/libt-$1.so" \
		-Wl,-soname,libt.so.0 -Wl,--version-script="$tmp/t.sym" "$tmp/t.c"
}

# variant MEMBERS SET_TYPE [added|removed]: write the sources.
variant() {
	decl= def= node= set=t_set
	case ${3-} in
	added)
		decl='int t_new(void);'
		def='int t_new(void) { return 1; }'
		node='T_1.1 { global: t_new; } T_1;' ;;
	removed)
		set= ;;
	esac
	cat >"$tmp/include/t.h" <<EOF
#include <stddef.h>
#include <stdint.h>
struct t_stats {
	size_t size;
$1
};
int t_get(struct t_stats *s);
void t_set($2 v);
$decl
EOF
	cat >"$tmp/t.c" <<EOF
#include <t.h>
static long t_v;
int t_get(struct t_stats *s) { return s->size > 0 && t_v > 0; }
void t_set($2 v) { t_v = v; }
$def
EOF
	printf 'T_1 { global: t_get; %s local: *; };\n%s\n' \
		"${set:+$set;}" "$node" >"$tmp/t.sym"
}

ab='	uint64_t a;
	uint64_t b;'
ba='	uint64_t b;
	uint64_t a;'

variant "$ab" int && build base && build nodebug -g0 &&
	variant "$ba" int && build moved &&
	variant "$ab" "long long" && build param &&
	variant "$ab" int added && build added &&
	variant "$ab" int removed && build removed
ok $? "the variants of the small library build with $CC"

run() {
	sh "$check" --baseline "$tmp/t.abi" --headers "$tmp/include" "$@" \
		>"$tmp/out" 2>&1
}
seen() { grep -q "$1" "$tmp/out"; }

run --update "$tmp/libt-base.so" && [ -s "$tmp/t.abi" ]
ok $? "--update writes the baseline"
if grep -q "$tmp" "$tmp/t.abi"; then r=1; else r=0; fi
ok $r "the baseline names no build directory"
run "$tmp/libt-base.so"
ok $? "the library it came from matches the baseline"

run "$tmp/libt-moved.so"
r=$?
[ "$r" -eq 1 ] && seen "offset changed" && seen "incompatible ABI change"
ok $? "two members swapped: incompatible (status $r)"
run "$tmp/libt-param.so"
r=$?
[ "$r" -eq 1 ] && seen "type size changed"
ok $? "a parameter from int to long long: incompatible (status $r)"
run "$tmp/libt-removed.so"
r=$?
[ "$r" -eq 1 ] && seen "Removed function"
ok $? "a function removed: incompatible (status $r)"
run "$tmp/libt-added.so"
r=$?
[ "$r" -eq 0 ] && seen "t_new@@T_1.1" && seen "compatible ABI change"
ok $? "a function added in a new node: compatible, and reported (status $r)"

run "$tmp/libt-nodebug.so"
r=$?
[ "$r" -eq 1 ] && seen "no debug information"
ok $? "a library without debug information is refused (status $r)"
run --bogus
r=$?
[ "$r" -eq 2 ]
ok $? "an unknown option is a usage error (status $r)"
sh "$check" --help | grep -q '^Usage: abi/check'
ok $? "--help prints the usage"

[ "$failed" -eq 0 ] || cat "$tmp/out"
echo "1..$n"
exit $failed
