#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The ABI surface: libdmasplit exports only versioned dmasplit_* symbols
# under its SONAME, and every plugin exports only its versioned entry.
set -u

lib=${DMASPLIT_TEST_LIB:-core/.libs}/libdmasplit.so.0
NM=${NM:-nm}
. "$(dirname "$0")/tap.sh"

archive=${lib%/*}/libdmasplit.a
if [ ! -e "$lib" ] && [ ! -e "$archive" ]; then
	echo "1..0 # SKIP neither $lib nor $archive is built"
	exit 0
fi

# The functions the public header declares.
hdr=${top_srcdir:-.}/include/dmasplit/dmasplit.h
declared=$(sed -n 's/.*[ *]\(dmasplit_[a-z0-9_]*\)(.*/\1/p' "$hdr" | sort -u)

# Defined dynamic symbols with their version, e.g. "dmasplit_map@@LIBDMASPLIT_1".
exports() {
	$NM -D --defined-only --with-symbol-versions "$1" 2>/dev/null |
		awk '$2 ~ /^[A-TV-Z]$/ { print $3 }' | grep -v '^LIBDMASPLIT_[A-Z0-9.]*$' | sort
}

# The version nodes of the symbol map, one per release that added symbols.
map=${top_srcdir:-.}/core/libdmasplit.sym
want_nodes=$(sed -n 's/^\(LIBDMASPLIT_[0-9.]*\) {.*/\1/p' "$map" | sort -u | tr '\n' ' ')

if [ -e "$lib" ]; then
	soname=$(LC_ALL=C readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
	[ "$soname" = libdmasplit.so.0 ]
	ok $? "SONAME is libdmasplit.so.0 (got '$soname')"

	syms=$(exports "$lib")
	[ -n "$syms" ]
	ok $? "libdmasplit exports symbols"

	bad=$(echo "$syms" | grep -v -e '^dmasplit_[a-z0-9_]*@@LIBDMASPLIT_1\(\.[0-9]*\)\{0,1\}$' || true)
	[ -z "$bad" ]
	ok $? "every export is dmasplit_*@@LIBDMASPLIT_1[.N]${bad:+ (offending: $(echo $bad))}"

	# The project's tools reach internals by linking the core statically: the
	# shared library defines no version but its map's and nothing private.
	nodes=$($NM -D --defined-only "$lib" 2>/dev/null | awk '$2 == "A" { print $3 }' | sort -u | tr '\n' ' ')
	[ -n "$want_nodes" ] && [ "$nodes" = "$want_nodes" ]
	ok $? "the version nodes are the symbol map's, $want_nodes(got: $nodes)"
	priv=$(echo "$syms" | grep -e private -e '^sim_' -e '^iommu_' -e '^pool_' \
		-e '^pt_' -e '^held_' -e '^nommu_' -e '^dmasplit_backend_v' \
		-e '^dmasplit_builtin_' || true)
	[ -z "$priv" ]
	ok $? "no private hook and no symbol of the built-in backend is exported${priv:+ (offending: $(echo $priv))}"

	# Every symbol the public header declares is exported, and nothing else.
	exported=$(echo "$syms" | sed 's/@@.*//' | sort -u)
	[ -n "$declared" ] && [ "$declared" = "$exported" ]
	ok $? "exports match the functions declared in $hdr"

	# Each of them has a manual page, its own or an alias of the page that
	# documents it.
	mandir=${top_srcdir:-.}/man
	named=$( (for page in "$mandir"/*.3; do p=${page##*/}; echo "${p%.3}"; done
		sh "$mandir/aliases.sh" "$mandir"/*.3 | cut -d' ' -f1) | sort -u)
	missing=$(echo "$declared" | while read -r f; do
		echo "$named" | grep -qx "$f" || echo "$f"
	done)
	[ -z "$missing" ]
	ok $? "every public function has a man page or an alias${missing:+ (none: $(echo $missing))}"
else
	skip "the shared library's SONAME, exports and man pages" "$lib is not built"
fi

# The static archive, where --enable-static built one: the same API
# global, nothing else, so that a program linked against it may use any
# name the library uses inside (build-aux/localize-archive).
if [ -e "$archive" ]; then
	globals=$($NM -g --defined-only "$archive" 2>/dev/null |
		awk 'NF == 3 { print $3 }' | sort -u)
	[ -n "$declared" ] && [ "$globals" = "$declared" ]
	ok $? "the archive's globals are the functions of $hdr$( [ "$globals" = "$declared" ] || echo " (got: $(echo $globals | cut -c1-300))")"
	tmpd=$(mktemp -d)
	cat >"$tmpd/app.c" <<'EOC'
#include <dmasplit/dmasplit.h>
int dev_get(void);
int pool_map(void);
int dev_get(void) { return 1; }
int pool_map(void) { return 2; }
int main(void)
{
	struct dmasplit_ctx *ctx;

	if (dmasplit_ctx_new(&ctx) < 0)
		return 1;
	dmasplit_ctx_unref(ctx);
	return dev_get() + pool_map() == 3 ? 0 : 1;
}
EOC
	what="a program with names the library uses inside links against the archive and runs"
	if [ -n "${DMASPLIT_TEST_SANITIZED:-}" ]; then
		skip "$what" "the archive needs the sanitizer's runtime"
	else
		# shellcheck disable=SC2086
		${CC:-cc} -I"${top_srcdir:-.}/include" -o "$tmpd/app" \
			"$tmpd/app.c" "$archive" ${UUID_LIBS:--luuid} -ldl \
			-lpthread >"$tmpd/log" 2>&1 && "$tmpd/app"
		ok $? "$what$(sed -n '1s/^/ (/p' "$tmpd/log" | sed 's/$/)/')"
	fi
	rm -rf "$tmpd"
fi

# Plugins: the installed backends and the well-formed test plugins.
for dir in "${DMASPLIT_TEST_BACKENDS:-backends/.libs}" "${DMASPLIT_TEST_PLUGINS:-tests/.libs}"; do
	for so in "$dir"/backend-*.so; do
		[ -e "$so" ] || continue
		case $so in
		*/backend-noentry.so|*/backend-undef.so) continue ;;  # built without the version script on purpose
		esac
		s=$(exports "$so" | sed 's/@.*//' | tr '\n' ' ')
		[ "$s" = "dmasplit_backend_v1 " ]
		ok $? "$(basename "$so") exports only dmasplit_backend_v1 (got: $s)"
	done
done

# The version a program can test: the header's DMASPLIT_VERSION_* name
# the newest node of the symbol map (LIBDMASPLIT_1 is 1.0), so that a
# function of a later node is known to be there at build time.
hver=$(sed -n 's/^#define DMASPLIT_VERSION_MAJOR \([0-9]*\)$/\1/p; s/^#define DMASPLIT_VERSION_MINOR \([0-9]*\)$/.\1/p' "$hdr" | tr -d '\n')
newest=$(echo "$want_nodes" | tr ' ' '\n' | sed -n 's/^LIBDMASPLIT_//p' |
	sed 's/^\([0-9]*\)$/\1.0/' | sort -t. -k1,1n -k2,2n | tail -n 1)
[ -n "$hver" ] && [ "$hver" = "$newest" ]
ok $? "the header's version is the symbol map's newest node (header $hver, map $newest)"

# The release a user reads of: the package, its manual pages.
pver=$(package_version)
if [ -n "$pver" ]; then
	case $pver in
	"$hver"|"$hver".*) true ;;
	*) false ;;
	esac
	ok $? "the package's version $pver is the header's $hver"
	pages=$(ls "${top_srcdir:-.}"/man/*.[137] 2>/dev/null)
	stale=$(echo "$pages" | xargs grep -L "^\.TH .* \"libdmasplit $pver\"" |
		sed 's|.*/||')
	[ -n "$pages" ] && [ -z "$stale" ]
	ok $? "every man page names libdmasplit $pver${stale:+ (not: $(echo $stale))}"
else
	skip "the package's version and the man pages'" "no config.h in ${top_builddir:-.}"
fi

# The Debian package's symbols file knows every exported function, at
# its node, so that a package using a later one depends on a release
# that has it.  Only in a git tree: debian/ is not distributed.
symbols=${top_srcdir:-.}/debian/libdmasplit0.symbols
if [ -e "$symbols" ]; then
	missing=$(awk '/^LIBDMASPLIT_[0-9.]* \{/ { node = $1 }
		/^\tdmasplit_[a-z0-9_]*;$/ { sub(/;/, "", $1); print $1 "@" node }' "$map" |
		while read -r sym; do
			grep -q "^ $sym " "$symbols" || echo "$sym"
		done)
	[ -z "$missing" ]
	ok $? "debian/libdmasplit0.symbols lists every export at its node${missing:+ (missing: $(echo $missing))}"
else
	skip "the Debian symbols file" "no $symbols"
fi

echo "1..$n"
exit $failed
