#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# callgrind.sh - the per-call figures of dmasplit bench in instructions.
#
# Runs "dmasplit bench --callgrind" under valgrind --tool=callgrind with
# collection off at start: the program counts each measured loop of N
# calls in a dump of its own (tools/bench/callgrind.c) and names the
# dumps on its standard output.  This script reads each dump's total
# instructions, subtracts the empty loop's per iteration, divides by N
# and prints one line per figure with its target and MET or MISSED.
# Instruction counts do not move with the machine's load: a figure here
# can be checked on a machine too busy to time one.
#
# Usage: callgrind.sh [--quick] [--json] [--keep DIR] [--] [SPEC]
#        callgrind.sh --help | --version
#   DMASPLIT  the program (default ./tools/dmasplit if there, a build
#             directory; else dmasplit from PATH)
#   VALGRIND  valgrind (default valgrind from PATH)
# Exit status: 0 when every figure was measured (a missed target does
# not change it), 1 when they could not be or could not be printed, 2
# on a usage error.
set -u

prog=callgrind.sh
# usage [WHAT]: a usage error, status 2: what was wrong, then the usage.
usage() {
	[ $# -eq 0 ] || echo "$prog: $1" >&2
	echo "usage: $prog [--quick] [--json] [--keep DIR] [--] [SPEC]" >&2
	exit 2
}

# put: standard input to standard output.  Output that could not be
# written (a full disk, a closed stdout) is a failure, status 1, in one
# line of the script's own, with the reason cat gave.
put() {
	# Kept when stdout is closed: the shell then runs no cat.
	e="Bad file descriptor"
	{ e=$(cat 2>&1 >&3 3>&-); } 2>/dev/null 3>&1 && return 0
	echo "$prog: write error${e:+: ${e##*: }}" >&2
	exit 1
}

quick=
version=false
json=false
keep=
spec=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=--quick ;;
	--json) json=true ;;
	--keep)
		[ $# -ge 2 ] || usage "--keep needs a directory"
		[ -n "$2" ] || usage "--keep needs a directory"
		keep=$2
		shift ;;
	--keep=*)
		keep=${1#--keep=}
		[ -n "$keep" ] || usage "--keep needs a directory" ;;
	-h|--help)
		sed -n '3,21s/^# \{0,1\}//p' "$0" | put || exit 1
		exit 0 ;;
	-V|--version) version=true ;;
	--)
		# The end of the options: a SPEC may start with "-".
		shift
		if [ $# -ge 1 ] && [ -z "$spec" ]; then
			spec=$1
			shift
		fi
		[ $# -eq 0 ] || usage "unexpected argument '$1'"
		break ;;
	-*) usage "unknown option '$1'" ;;
	*)
		[ -z "$spec" ] || usage "unexpected argument '$1'"
		spec=$1 ;;
	esac
	shift
done

if [ -n "${DMASPLIT:-}" ]; then
	tool=$DMASPLIT
elif [ -x ./tools/dmasplit ]; then
	tool=./tools/dmasplit
else
	tool=dmasplit
fi
if ! command -v "$tool" >/dev/null 2>&1; then
	echo "$prog: $tool not found: set DMASPLIT to the dmasplit program" >&2
	exit 1
fi
# The script is the package's, installed beside its dmasplit: that
# program's version is the script's.
if $version; then
	v=$("$tool" --version 2>/dev/null | sed -n '1s/.*) //p')
	if [ -z "$v" ]; then
		echo "$prog: $tool --version printed no version: the package's is unknown" >&2
		exit 1
	fi
	echo "$prog (libdmasplit) $v" | put || exit 1
	exit 0
fi
valgrind=${VALGRIND:-valgrind}
if ! command -v "$valgrind" >/dev/null 2>&1; then
	echo "$prog: $valgrind not found: the figures need valgrind's callgrind" >&2
	exit 1
fi

if [ -n "$keep" ]; then
	dir=$keep
	mkdir -p "$dir" || exit 1
	rm -f "$dir"/callgrind.out*
else
	dir=$(mktemp -d) || exit 1
	trap 'rm -rf "$dir"' EXIT
	trap 'exit 1' HUP INT TERM
fi

# The checker is the library's misuse checker: off, as for any bench.
DMASPLIT_CHECK=0 "$valgrind" --tool=callgrind --collect-atstart=no \
	--callgrind-out-file="$dir/callgrind.out" \
	"$tool" bench --callgrind $quick ${spec:+"$spec"} \
	>"$dir/dumps" 2>"$dir/log"
rc=$?
if [ $rc -ne 0 ]; then
	# Why: the log less valgrind's banner, blank lines and totals, its
	# "==PID== " prefix dropped.  What valgrind says there is kept: when
	# it will not run the program at all (an ASan build's "ASan runtime
	# does not come first ...") it is the only cause given.  Nothing
	# left: the log's last 5 lines that are not blank, unprefixed.
	why=$(sed -e '/^==[0-9]*== *$/d' \
		-e '/^==[0-9]*== Callgrind, a call-graph /d' \
		-e '/^==[0-9]*== Copyright (C) /d' \
		-e '/^==[0-9]*== Using Valgrind-/d' \
		-e '/^==[0-9]*== Command: /d' \
		-e '/^==[0-9]*== For interactive control, /d' \
		-e '/^==[0-9]*== Events *: /d' \
		-e '/^==[0-9]*== Collected *: /d' \
		-e '/^==[0-9]*== I *refs: /d' \
		-e 's/^==[0-9]*== \{0,1\}//' "$dir/log")
	case $why in
	*[![:space:]]*) ;;
	*) why=$(sed -e 's/^==[0-9]*== \{0,1\}//' -e '/^[[:space:]]*$/d' \
		"$dir/log" | tail -n 5) ;;
	esac
	case $why in
	*[![:space:]]*)
		echo "$prog: $tool bench --callgrind under callgrind exited $rc:" >&2
		printf '%s\n' "$why" >&2 ;;
	*)
		echo "$prog: $tool bench --callgrind under callgrind exited $rc, printing nothing" >&2 ;;
	esac
	exit 1
fi

# "NAME TOTAL" for each dump a client request asked for.
for f in "$dir"/callgrind.out.*; do
	[ -f "$f" ] || continue
	awk '/^desc: Trigger: Client Request: / { name = $5 }
	     /^totals: / { total = $2 }
	     END { if (name != "") print name, (total == "" ? 0 : total) }' "$f"
done >"$dir/totals"

awk -v json="$json" '
function fail(msg) {
	print "callgrind.sh: " msg > "/dev/stderr"
	failed = 1
	exit 1
}
# The net instructions per iteration of loop NAME.
function per(name) {
	if (!(name in total) || !(name in calls))
		fail("no dump of the loop \"" name "\": was it callgrind that ran?")
	return total[name] / calls[name] - overhead
}
# One figure: key, title, value, unit, target op ("" when shown only),
# target value.
function fig(key, title, v, unit, op, target,    verdict) {
	nf++
	k[nf] = key; t[nf] = title; val[nf] = v; u[nf] = unit
	o[nf] = op; tg[nf] = target
	if (op == "")
		verdict = "SHOWN"
	else if (op == "<=")
		verdict = v <= target ? "MET" : "MISSED"
	else
		verdict = v >= target ? "MET" : "MISSED"
	vd[nf] = verdict
}
function jstr(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/"/, "\\\"", s)
	return "\"" s "\""
}
FILENAME == ARGV[1] && /^# / { sub(/^# /, ""); head = $0; next }
FILENAME == ARGV[1] && $1 == "callgrind-dump" { calls[$2] = $3; n = $3; next }
FILENAME == ARGV[2] { total[$1] = $2; next }
END {
	if (failed)
		exit 1
	if (!("loop" in total) || !("loop" in calls))
		fail("no dump of the empty loop: was it callgrind that ran?")
	overhead = total["loop"] / calls["loop"]
	link = per("link")
	mu = per("map_unmap")
	direct = per("direct")
	window = per("window")
	if (!("link_bulk" in total))
		fail("no dump of the loop \"link_bulk\"")
	bulk = total["link_bulk"] / calls["link_bulk"]
	fig("link", "dmasplit_iova_link of one page", link, "Ir", "<=", 100)
	fig("link_bulk", "dmasplit_iova_link of " calls["link_bulk"] " pages, per page",
	    bulk, "Ir", "", 0)
	fig("map_unmap", "dmasplit_map + dmasplit_unmap of one page", mu, "Ir",
	    "", 0)
	fig("window", "window of one page: alloc+link+sync+unlink+destroy",
	    window, "Ir", "", 0)
	fig("split_one_page", "split vs per-page, 1 page: map+unmap / window",
	    mu / window, "x", ">=", 1)
	fig("dispatch", "dispatch: library / direct backend call (map+unmap)",
	    mu / direct, "x", "<=", 1.05)
	bsync = per("bounce_sync")
	bcopy = per("bounce_memcpy")
	fig("bounce_sync", "dmasplit_sync_for_device of a bounced 4 KiB", bsync,
	    "Ir", "", 0)
	fig("bounce_memcpy", "memcpy of 4 KiB", bcopy, "Ir", "", 0)
	fig("bounce", "bounce vs memcpy, 4 KiB: memcpy / sync", bcopy / bsync,
	    "x", ">=", 0.9)

	if (json == "true") {
		printf "{\n  \"run\": %s,\n", jstr(head)
		printf "  \"unit\": \"instructions (callgrind Ir) per call\",\n"
		printf "  \"calls_per_loop\": %d,\n", n
		printf "  \"loop_overhead_per_iteration\": %.2f,\n", overhead
		printf "  \"figures\": {\n"
		for (i = 1; i <= nf; i++) {
			printf "    %s: {\"title\": %s, \"value\": %.3f, \"unit\": %s, ",
			       jstr(k[i]), jstr(t[i]), val[i],
			       jstr(u[i] == "x" ? "x" : "instructions")
			if (o[i] == "")
				printf "\"target\": null, "
			else
				printf "\"target\": {\"op\": %s, \"value\": %g}, ",
				       jstr(o[i]), tg[i]
			printf "\"verdict\": %s", jstr(vd[i])
			if (k[i] in total)
				printf ", \"%s\": %d, \"instructions\": %d",
				       k[i] == "link_bulk" ? "pages" : "iterations",
				       calls[k[i]], total[k[i]]
			printf "}%s\n", i < nf ? "," : ""
		}
		printf "  }\n}\n"
		exit 0
	}
	print head
	printf "instructions per call under callgrind (Ir), loops of %d calls, setup\n", n
	printf "outside them; the empty loop'"'"'s %.2f instructions per iteration are\n", overhead
	printf "subtracted (not from the one link of %d pages)\n", calls["link_bulk"]
	printf "\n    %-55s %10s %12s  %s\n", "figure", "per call", "target", "result"
	for (i = 1; i <= nf; i++) {
		if (u[i] == "x")
			value = sprintf("%.3fx", val[i])
		else
			value = sprintf("%.1f Ir", val[i])
		if (o[i] == "")
			target = "-"
		else if (u[i] == "x")
			target = o[i] " " tg[i] "x"
		else
			target = o[i] " " tg[i] " Ir"
		printf "%2d. %-55s %10s %12s  %s\n", i, t[i], value, target, vd[i]
	}
}' "$dir/dumps" "$dir/totals" >"$dir/report"
rc=$?
# 1 is the program's own failure, its line printed; anything else is
# awk's, such as $dir being full.
if [ $rc -ne 0 ]; then
	[ $rc -eq 1 ] || echo "$prog: reading the dumps in $dir: awk exited $rc" >&2
	exit 1
fi
put <"$dir/report"
