# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the shell tests (tests/*.sh): TAP results (ok, skip,
# json_ok) and, where $tmp (a scratch directory) and $tool (the program
# under test) are set, each run of the program captured (run), a failed
# check printing the last run's output.  make check-valgrind runs the
# program under memcheck through DMASPLIT_TEST_WRAP
# (build-aux/valgrind-wrap).

if [ -n "${tool:-}" ] && [ -n "${DMASPLIT_TEST_WRAP:-}" ]; then
	printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$DMASPLIT_TEST_WRAP" "$tool" >"$tmp/wrapped"
	chmod 755 "$tmp/wrapped"
	tool=$tmp/wrapped
fi
out=${tmp:+$tmp/stdout}
err=${tmp:+$tmp/stderr}
rc=0

# run COMMAND...: the output lands in $out and $err, the status in $rc.
run() {
	"$@" >"$out" 2>"$err"
	rc=$?
}

n=0
failed=0

ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
		return
	fi
	echo "not ok $n - $2"
	failed=1
	[ -n "$out" ] && [ -e "$out" ] || return
	echo "# exit status $rc; stdout:"
	sed 's/^/#   /' "$out"
	echo "# stderr:"
	sed 's/^/#   /' "$err"
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# package_version: the build's version, from config.h in
# $top_builddir; empty where there is none (a test run out of tree).
package_version() {
	sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' \
		"${top_builddir:-.}/config.h" 2>/dev/null
}

have_python=false
command -v python3 >/dev/null 2>&1 && have_python=true

# json_ok DESCRIPTION PYTHON: the stdout of the last run parses as JSON
# and PYTHON, run with it as d, raises nothing.  PYTHON also has the lines
# of $tmp/text as text, where a test wrote the same command's text
# output there to compare with.
json_ok() {
	if ! $have_python; then
		skip "$1" "python3 not found"
		return
	fi
	python3 -c "import json, os, sys
d = json.load(sys.stdin)
text = open('$tmp/text').read().splitlines() if os.path.exists('$tmp/text') else []
$2" <"$out" >/dev/null 2>>"$err"
	ok $? "$1"
}
