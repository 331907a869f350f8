#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench/callgrind.sh without valgrind: output it cannot write,
# a --version it cannot tell, -- and --keep=DIR, what each usage error
# names, the cause of a run that failed, with stand-ins for
# dmasplit and valgrind (the latter writes the dumps and names that
# dmasplit bench --callgrind under callgrind would).  The real run is
# in tests/test-tool.sh.
set -u

cgsh=${top_srcdir:-.}/tools/bench/callgrind.sh

if [ ! -f "$cgsh" ]; then
	echo "Bail out! $cgsh not found"
	exit 1
fi
unset DMASPLIT VALGRIND
LC_ALL=C
export LC_ALL

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
. "$(dirname "$0")/tap.sh"

cat >"$tmp/dmasplit" <<'EOF'
#!/bin/sh
echo "dmasplit (libdmasplit) 7.3"
EOF
cat >"$tmp/mute" <<'EOF'
#!/bin/sh
exit 0
EOF
# valgrind ... --callgrind-out-file=F PROGRAM ARGS: a dump F.N for each
# loop, named on stdout; its arguments in the dumps' directory.
cat >"$tmp/valgrind" <<'EOF'
#!/bin/sh
for a; do
	case $a in --callgrind-out-file=*) f=${a#*=} ;; esac
done
echo "$*" >"${f%/*}/args"
echo "# dmasplit bench --callgrind on sim:bench (a stand-in), quick"
i=0
for l in "loop 3" "link 90" "link_bulk 15" "map_unmap 1200" "direct 1100" \
	"window 900" "bounce_sync 550" "bounce_memcpy 410"; do
	set -- $l
	i=$((i + 1))
	printf 'desc: Trigger: Client Request: %s\ntotals: %s\n' "$1" \
		$(($2 * 4096)) >"$f.$i"
	echo "callgrind-dump $1 4096"
done
EOF
# fake_valgrind NAME STATUS [CAUSE] [COLLECTED]: a valgrind that runs
# nothing, writing its banner, CAUSE in a line of its own when given
# (as valgrind does, without the space after the ==PID==), and its
# totals (COLLECTED instructions), then exiting STATUS.
fake_valgrind() {
	{
		echo '#!/bin/sh'
		echo "cat >&2 <<'LOG'"
		cat <<'LOG'
==4242== Callgrind, a call-graph generating cache profiler
==4242== Copyright (C) 2002-2017, and GNU GPL'd, by Josef Weidendorfer et al.
==4242== Using Valgrind-3.19.0 and LibVEX; rerun with -h for copyright info
==4242== Command: dmasplit bench --callgrind --quick
==4242== 
==4242== For interactive control, run 'callgrind_control -h'.
LOG
		[ -z "${3:-}" ] || echo "==4242==$3"
		cat <<LOG
==4242== 
==4242== Events    : Ir
==4242== Collected : ${4:-0}
==4242== 
==4242== I   refs:      ${4:-0}
LOG
		echo 'LOG'
		echo "exit $2"
	} >"$tmp/$1"
}
# Valgrind that will not run the program (an ASan build), status 1.
fake_valgrind refusing 1 "ASan runtime does not come first in initial library list; you should either link runtime to your application or manually preload it with LD_PRELOAD."
# A program that fails saying nothing: the banner and totals only.
fake_valgrind banner 3 "" 123
cat >"$tmp/silent" <<'EOF'
#!/bin/sh
exit 4
EOF
chmod 755 "$tmp/dmasplit" "$tmp/mute" "$tmp/valgrind" "$tmp/refusing" \
	"$tmp/banner" "$tmp/silent"

# cg FILE ARGS...: callgrind.sh with the stand-ins, stdout to FILE ("-":
# closed), as run's.
cg() {
	to=$1
	shift
	: >"$out"
	if [ "$to" = - ]; then
		DMASPLIT=$tmp/dmasplit VALGRIND=$tmp/valgrind sh "$cgsh" "$@" \
			>&- 2>"$err"
	else
		DMASPLIT=$tmp/dmasplit VALGRIND=$tmp/valgrind sh "$cgsh" "$@" \
			>"$to" 2>"$err"
	fi
	rc=$?
}
# one_line PATTERN: status 1 and one line on stderr, matching PATTERN.
one_line() {
	[ $rc -eq 1 ] && [ "$(wc -l <"$err")" -eq 1 ] && grep -q -- "$1" "$err"
}

# Output that cannot be written: status 1, one line of the script's.
if [ -w /dev/full ]; then
	cg /dev/full --help
	one_line '^callgrind.sh: write error: No space left on device$'
	ok $? "--help to a full disk: exit 1, one line"
	cg /dev/full --version
	one_line '^callgrind.sh: write error: No space left on device$'
	ok $? "--version to a full disk: exit 1, one line"
	cg /dev/full --quick
	one_line '^callgrind.sh: write error: No space left on device$'
	ok $? "the figures to a full disk: exit 1, one line"
else
	skip "--help to a full disk: exit 1, one line" "no /dev/full"
	skip "--version to a full disk: exit 1, one line" "no /dev/full"
	skip "the figures to a full disk: exit 1, one line" "no /dev/full"
fi
cg - --version
one_line '^callgrind.sh: write error: Bad file descriptor$'
ok $? "--version with stdout closed: exit 1, one line"
cg - --quick --json
one_line '^callgrind.sh: write error: Bad file descriptor$'
ok $? "--json with stdout closed: exit 1, one line"

# A version it cannot tell is a failure, not a version.
run env DMASPLIT=/nonexistent sh "$cgsh" --version
[ ! -s "$out" ] &&
	one_line '^callgrind.sh: /nonexistent not found: set DMASPLIT'
ok $? "--version with DMASPLIT not found: exit 1, one line"
run env DMASPLIT="$tmp/mute" sh "$cgsh" --version
[ ! -s "$out" ] &&
	one_line "^callgrind.sh: $tmp/mute --version printed no version"
ok $? "--version with a program that prints none: exit 1, one line"

# -- ends the options; --keep=DIR is --keep DIR.
cg "$tmp/figures" --quick --keep="$tmp/kept" -- -spec
[ $rc -eq 0 ] && [ ! -s "$err" ] &&
	[ "$(grep -c '^ *[0-9]\. ' "$tmp/figures")" -eq 9 ] &&
	[ -f "$tmp/kept/callgrind.out.8" ] &&
	grep -q ' bench --callgrind --quick -spec$' "$tmp/kept/args"
ok $? "--keep=DIR -- -SPEC: SPEC after --, the dumps kept in DIR"
cg "$tmp/figures" -- a b
[ $rc -eq 2 ] && grep -q '^usage: callgrind.sh ' "$err" &&
	! grep -q 'unknown option' "$err"
ok $? "-- with two SPECs after it: a usage error, -- itself known"
cg "$tmp/figures" --keep=
[ $rc -eq 2 ] && ! grep -q 'unknown option' "$err"
ok $? "--keep= without DIR: a usage error"

# usage_error WHAT ARGS...: status 2, on stderr "callgrind.sh: WHAT" and
# then the usage, nothing else.
usage_error() {
	what=$1
	shift
	cg "$tmp/figures" "$@"
	[ $rc -eq 2 ] && [ "$(wc -l <"$err")" -eq 2 ] &&
		[ "$(sed -n 1p "$err")" = "callgrind.sh: $what" ] &&
		sed -n 2p "$err" | grep -q '^usage: callgrind.sh '
}
usage_error "--keep needs a directory" --quick --keep
ok $? "--keep last: 'needs a directory', then the usage, exit 2"
usage_error "--keep needs a directory" --keep ""
ok $? "--keep '': 'needs a directory', then the usage, exit 2"
usage_error "--keep needs a directory" --keep=
ok $? "--keep=: 'needs a directory', then the usage, exit 2"
usage_error "unexpected argument 'b'" a b
ok $? "a second SPEC: 'unexpected argument', then the usage, exit 2"
usage_error "unexpected argument 'b'" -- a b
ok $? "two SPECs after --: 'unexpected argument', then the usage, exit 2"
usage_error "unexpected argument 'b'" a -- b
ok $? "a SPEC before -- and one after: 'unexpected argument', exit 2"
usage_error "unknown option '--bogus'" --bogus
ok $? "an unknown option: named, then the usage, exit 2"

# A run that fails: the cause, never a colon and nothing.
run env DMASPLIT="$tmp/dmasplit" VALGRIND="$tmp/refusing" sh "$cgsh" --quick
[ $rc -eq 1 ] && [ ! -s "$out" ] && [ "$(wc -l <"$err")" -eq 2 ] &&
	sed -n 1p "$err" |
	grep -q '^callgrind.sh: .* bench --callgrind under callgrind exited 1:$' &&
	sed -n 2p "$err" | grep -q '^ASan runtime does not come first '
ok $? "valgrind refusing the program: its cause, without ==PID== or banner"
run env DMASPLIT="$tmp/dmasplit" VALGRIND="$tmp/banner" sh "$cgsh" --quick
[ $rc -eq 1 ] && [ ! -s "$out" ] &&
	sed -n 1p "$err" | grep -q 'under callgrind exited 3:$' &&
	[ "$(wc -l <"$err")" -eq 6 ] && ! grep -q '^==' "$err" &&
	! grep -q '^[[:space:]]*$' "$err" &&
	[ "$(sed -n '$p' "$err")" = "I   refs:      123" ]
ok $? "a failure with only valgrind's banner: its last 5 lines, unprefixed"
run env DMASPLIT="$tmp/dmasplit" VALGRIND="$tmp/silent" sh "$cgsh" --quick
one_line '^callgrind.sh: .* under callgrind exited 4, printing nothing$'
ok $? "a failure with an empty log: one line, it printed nothing"

echo "1..$n"
exit $failed
