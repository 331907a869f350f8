#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The NVMe example (examples/nvme/nvme-rw) without a controller: its
# usage and exit codes, and the refusal of a device that is not an NVMe
# controller.  The driver itself runs against QEMU's NVMe controller in
# make check-vm (tests/vm/nvme-rw.sh).
set -u

prog=${top_builddir:-.}/examples/nvme/nvme-rw
sim=${DMASPLIT_TEST_BACKENDS:-}/backend-swiotlb-sim.so

if [ ! -x "$prog" ]; then
	echo "Bail out! $prog is not built"
	exit 1
fi
unset DMASPLIT_BACKEND DMASPLIT_LOG DMASPLIT_SYSFS_ROOT
LC_ALL=C
export LC_ALL

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
tool=$prog
. "$(dirname "$0")/tap.sh"
prog=$tool
# expect STATUS DESCRIPTION [STDERR-PATTERN]: the last run's status, and
# one line on stderr matching the pattern.
expect() {
	r=0
	[ "$rc" -eq "$1" ] || r=1
	if [ -n "${3:-}" ]; then
		grep -q -- "$3" "$err" || r=1
	fi
	ok $r "$2"
}

run "$prog" --help
r=0
grep -q -- '--strategy LIST' "$out" && grep -q 'registered' "$out" &&
	grep -q 'Exit status' "$out" || r=1
[ "$rc" -eq 0 ] && [ ! -s "$err" ] || r=1
ok $r "--help describes the options on stdout, status 0"

run "$prog" --version
r=0
[ "$rc" -eq 0 ] && grep -q 'libdmasplit [0-9]' "$out" || r=1
ok $r "--version names the library version it was built with"

# Output that could not be written is a failure, in one line of its own.
# run_to FILE COMMAND...: run's, with stdout to FILE ("-": closed).
run_to() {
	to=$1
	shift
	: >"$out"
	if [ "$to" = - ]; then
		"$@" >&- 2>"$err"
	else
		"$@" >"$to" 2>"$err"
	fi
	rc=$?
}
if [ -w /dev/full ]; then
	run_to /dev/full "$prog" --help
	expect 1 "--help to a full disk: exit 1" \
		"^nvme-rw: write error: No space left on device$"
	[ "$(wc -l <"$err")" -eq 1 ] || ok 1 "... exactly one line"
	run_to /dev/full "$prog" --version
	expect 1 "--version to a full disk: exit 1" "^nvme-rw: write error: "
else
	skip "--help to a full disk: exit 1" "no /dev/full"
	skip "--version to a full disk: exit 1" "no /dev/full"
fi
run_to - "$prog" --version
expect 1 "--version with stdout closed: exit 1" \
	"^nvme-rw: write error: Bad file descriptor$"

run "$prog"
expect 2 "a missing SPEC is a usage error" "missing SPEC"
run "$prog" a b
expect 2 "two SPECs are a usage error" "one SPEC, not more"
run "$prog" --no-such-option x
expect 2 "an unknown option is a usage error, in the program's own form" \
	"^nvme-rw: unrecognized option '--no-such-option' (see --help)$"
run "$prog" -x y
expect 2 "an unknown short option is named" "^nvme-rw: invalid option '-x' (see --help)$"
run "$prog" --timeout
expect 2 "an option without its argument is named" "^nvme-rw: option '--timeout' needs an argument"
run "$prog" -qt
expect 2 "a short option without its argument is named alone" "^nvme-rw: option '-t' needs an argument"
run "$prog" --write=yes x
expect 2 "a value for an option that takes none is named" "^nvme-rw: option '--write' takes no value"
run "$prog" --strategy map,bogus x
expect 2 "an unknown strategy is named" "'map,bogus' is not map, window, registered or all"
run "$prog" --io-size 4k,,x x
expect 2 "a bad size list is named" "'4k,,x' is not a list of sizes"
# Lists are read whole, however long: a bad item past the first 127 or
# 255 characters is found, and more than 16 items are refused.
long=$(printf 'registered,%.0s' $(seq 11))window
run "$prog" --strategy "${long},bogus" x
expect 2 "a bad strategy after 127 characters is found" "is not map, window, registered or all"
run "$prog" --strategy "$(printf 'map,%.0s' $(seq 16))map" x
expect 2 "17 strategies are too many" "has more than 16 items"
long=$(printf '0000000000000000000000000004096,%.0s' $(seq 8))
run "$prog" --io-size "${long}4096x" x
expect 2 "a bad size after 255 characters is found" "is not a list of sizes"
run "$prog" --total 0 x
expect 2 "a zero total is refused" "--total: '0' is not a size"
run "$prog" --timeout -5 x
expect 2 "a negative timeout is refused" "--timeout"
run "$prog" --timeout 86400001 x
expect 2 "a timeout above the limit names the limit" \
	"^nvme-rw: --timeout: '86400001': the timeout is at most 3600000 ms (see --help)$"
run "$prog" --timeout 0 x
expect 2 "a timeout of 0 is refused as such" \
	"^nvme-rw: --timeout: '0': the timeout is at least 1 ms (see --help)$"
run "$prog" --help
grep -q -- '--timeout MS .* at most 3600000' "$out" &&
	grep -q '4k, 4kB and 4KiB are all 4096 bytes' "$out"
ok $? "--help gives the timeout's limit and the size suffixes taken"
run "$prog" --total 4iB x
expect 2 "iB without a unit is refused" "^nvme-rw: --total: '4iB' is not a size"
run "$prog" --nsid 0 x
expect 2 "namespace 0 is refused" "--nsid"
run "$prog" --io-size 4k,,8k x
expect 2 "an empty item in a size list is refused" "'4k,,8k' is not a list of sizes"
run "$prog" --strategy map,,window x
expect 2 "an empty item in a strategy list is refused" "'map,,window'"
run "$prog" --lba ' -8' x
expect 2 "a number with a blank and a minus sign is refused" "--lba: ' -8' is not a number"
run "$prog" --seed ' -1' x
expect 2 "a seed with a blank and a minus sign is refused" "--seed: ' -1' is not a number"
run "$prog" --seed 0xg x
expect 2 "0x with no hexadecimal digit is refused" "--seed: '0xg' is not a number"
# Arguments echoed in an error line: control bytes and bytes outside
# ASCII as \xNN, the line whole.
run "$prog" --lba "$(printf '\033[31mX')" x
[ $rc -eq 2 ] &&
	[ "$(cat "$err")" = "nvme-rw: --lba: '\\x1b[31mX' is not a number (see --help)" ]
ok $? "an escape sequence in an argument is echoed as \\xNN, not sent to the terminal"
run "$prog" --strategy "$(printf 'map\nfake\177\303\251')" x
[ $rc -eq 2 ] && [ "$(wc -l <"$err")" -eq 1 ] &&
	grep -q "^nvme-rw: --strategy: 'map\\\\x0afake\\\\x7f\\\\xc3\\\\xa9' is not map" "$err"
ok $? "a newline, DEL and UTF-8 in an argument leave the error one line"
run "$prog" "$(printf 'a\nb')"
[ $rc -eq 1 ] && grep -q '^nvme-rw: a\\x0ab: ' "$err" && ! grep -q '^b' "$err"
ok $? "a newline in the spec leaves the program's line whole"
run "$prog" --nsid 08 --lba 0xff --seed 0xDeadBeef x
expect 1 "numbers are decimal (08 is no octal) or hexadecimal after 0x: the spec is what fails" \
	"^nvme-rw: x: Invalid argument$"
run "$prog" --total 1099511627777g x
expect 2 "a size whose suffix overflows is refused" "--total: '1099511627777g' is not a size"
run "$prog" --io-size 4k,4k,4k,4k,4k,4k,4k,4k,4k,4k,4k,4k,4k,4k,4k,4k,4k x
expect 2 "a list of 17 sizes names the limit" "has more than 16 sizes"
run "$prog" --unlinked-read --json x
expect 2 "--unlinked-read has no JSON" \
	"^nvme-rw: --unlinked-read takes neither --write, --bench nor --json (see --help)$"
run "$prog" --unlinked-read --write x
expect 2 "--unlinked-read with --write is a usage error" "--unlinked-read takes neither"
run "$prog" --io-size 1000 x
expect 2 "an I/O size that is no multiple of a page is a usage error, before the device" \
	"I/O size 1000 must be a multiple of 4096"
run "$prog" --chunk 100 x
expect 2 "a chunk that is no multiple of a page is a usage error" \
	"--total and --chunk must be non-zero multiples of 4096"

if [ -f "$sim" ]; then
	mkdir "$tmp/backends"
	cp "$sim" "$tmp/backends/"
	chmod 755 "$tmp/backends"
	chmod 644 "$tmp/backends/backend-swiotlb-sim.so"
	DMASPLIT_BACKEND_PATH=$tmp/backends run "$prog" sim:disk0
	expect 1 "a device that is not an NVMe controller is refused in one line" \
		"^nvme-rw: disk0: not an NVMe controller (class 0x[0-9a-f]*)$"
	[ "$(wc -l <"$err")" -eq 1 ] || ok 1 "... exactly one line"
	DMASPLIT_BACKEND_PATH=$tmp/backends run "$prog" --json sim:disk0
	json_ok "--json on a failure: an object with the error line, status 1" "
assert $rc == 1, $rc
assert d == {'error': 'disk0: not an NVMe controller (class 0x000000)'}, d"
	if [ -w /dev/full ]; then
		DMASPLIT_BACKEND_PATH=$tmp/backends run_to /dev/full "$prog" --json sim:disk0
		expect 1 "--json on a failure, to a full disk: the write error said too" \
			"^nvme-rw: write error: No space left on device$"
	else
		skip "--json on a failure, to a full disk: the write error said too" "no /dev/full"
	fi
else
	echo "ok $((n += 1)) # SKIP the swiotlb-sim backend is not built"
	skip "--json on a failure: an object with the error line, status 1" "swiotlb-sim is not built"
	skip "--json on a failure, to a full disk: the write error said too" "swiotlb-sim is not built"
fi
DMASPLIT_SYSFS_ROOT=$tmp/nosys run "$prog" 0000:00:03.0
expect 1 "an absent PCI device is refused" "0000:00:03.0"
run "$prog" --json "$(printf '0000:00:03.0\n"')"
json_ok "--json on a spec that is no device: the error, escaped, in valid JSON" "
assert $rc == 1, $rc
assert d == {'error': '0000:00:03.0\\\\x0a\"' + ': Invalid argument'}, d"

echo "1..$n"
exit $failed
