#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The dmasplit command against the test plugins: usage, per-command help
# and exit codes, list (80 columns unless -w, refused plugins reported
# without stopping it, exit 1 when every directory is refused), info
# (description, probes, selection, the opened device, a forced backend
# whose probe refuses), --json output that parses.
# Then the built-in simulated device: found with an empty plugin
# directory, replaced by a plugin of its name or UUID; and demo and bench
# on it, built in and as a plugin.
set -u

tool=${top_builddir:-.}/tools/dmasplit
plugins=${DMASPLIT_TEST_PLUGINS:-}

if [ -z "$plugins" ] || [ ! -f "$plugins/backend-testa.so" ] ||
   [ ! -f "$plugins/backend-testb.so" ]; then
	echo "1..0 # SKIP test plugins not built"
	exit 0
fi
if [ ! -x "$tool" ]; then
	echo "Bail out! $tool is not built"
	exit 1
fi

UUID_A=6f1d2c3a-7b54-4e0e-9a43-1b9d2c7e5a01
UUID_B=0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c02
BROKEN="noentry badabi small baduuid badname nulltable undef noprobe halfset nofini winsize"

# Nothing from the caller's environment may choose for the tool.
unset DMASPLIT_BACKEND DMASPLIT_LOG DMASPLIT_SYSFS_ROOT
LC_ALL=C
export LC_ALL

# The loader refuses group- or other-writable files and directories, so
# the plugins are copied with safe modes whatever the build's umask was.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
mkdir "$tmp/good" "$tmp/all" "$tmp/empty"
cp "$plugins/backend-testa.so" "$plugins/backend-testb.so" "$tmp/good/"
cp "$plugins"/backend-*.so "$tmp/all/"
chmod 755 "$tmp/good" "$tmp/all" "$tmp/empty"
chmod 644 "$tmp/good"/*.so "$tmp/all"/*.so
DMASPLIT_BACKEND_PATH=$tmp/good
export DMASPLIT_BACKEND_PATH
# The built-in simulated device would outscore the test plugins on every
# sim: device; the tests of it turn it back on.
DMASPLIT_BUILTIN_BACKENDS=0
export DMASPLIT_BUILTIN_BACKENDS

# The program itself, never under memcheck: bench --callgrind is tested
# outside valgrind and under callgrind.
bare_tool=$tool
. "$(dirname "$0")/tap.sh"

echo "1..102"

# --- usage ------------------------------------------------------------

run "$tool" --help
[ $rc -eq 0 ] && grep -q 'list' "$out" && grep -q 'info SPEC' "$out" &&
	grep -q 'demo \[SPEC\]' "$out" && grep -q 'bench \[SPEC\]' "$out" &&
	[ ! -s "$err" ]
ok $? "--help exits 0 and names list, info, demo and bench"

run "$tool" info --help
[ $rc -eq 0 ] && grep -q '^Usage: dmasplit .*info SPEC' "$out"
ok $? "info --help exits 0 with the usage of info"
cp "$out" "$tmp/info-help"
grep -q -- '--peer' "$out" && grep -q -- '--backend' "$out" &&
	grep -q -- '--json' "$out" && ! grep -q -- '--quick' "$out" &&
	! grep -q -- '--callgrind' "$out" && ! grep -q -- '--wide' "$out"
ok $? "info --help shows the options of info alone"

run "$tool" help info
[ $rc -eq 0 ] && cmp -s "$out" "$tmp/info-help"
ok $? "help info prints what info --help does"

grep -qF '[pci:][DDDD:]BB:DD.F[,mask=BITS][,vfio=iommufd|type1]' "$out" &&
	grep -qF '[,unlink=strict|lazy][,as=NAME]' "$out"
ok $? "info --help gives the whole PCI spec, unlink= and as= with it"

run "$tool" list --help
[ $rc -eq 0 ] && grep -q -- '--wide' "$out" && grep -q -- '--json' "$out" &&
	grep -q -- '--backend' "$out" &&
	! grep -q -- '--peer' "$out" && ! grep -q -- '--quick' "$out"
ok $? "list --help shows -w, --json and -b, which every command takes, not --peer or --quick"

run "$tool" help help
[ $rc -eq 0 ] && grep -q -- '--backend' "$out" && grep -q -- '--verbose' "$out" &&
	! grep -Eq -- '--(wide|json|quick|inval-ns|callgrind|peer)' "$out"
ok $? "help help lists -b, -v and -h, no option of another command"

bad=
for o in '--quick list' '-w' '--json' '--inval-ns 5' '--callgrind'; do
	run "$tool" help $o
	[ $rc -eq 2 ] && [ ! -s "$out" ] && grep -q "Try 'dmasplit --help'" "$err" ||
		bad="$bad, $o"
done
[ -z "$bad" ]
ok $? "help with an option it does not take: exit 2${bad:+ (not for${bad#,})}"

# getopt leaves such an option's value, not a character, in optopt.
bad=
for args in '--json=1 list' 'list --quick=1' '--callgrind=x bench' \
	    '--wide=3 list' 'devices --verbose=1' '--help=x'; do
	run "$tool" $args
	name=${args#*--}
	name=${name%%=*}
	[ $rc -eq 2 ] && [ ! -s "$out" ] &&
		grep -q "^dmasplit: option '--$name' takes no value$" "$err" ||
		bad="$bad, $args"
done
[ -z "$bad" ]
ok $? "a long option given a value it does not take: exit 2, named${bad:+ (not for${bad#,})}"

run "$tool" demo --help
[ $rc -eq 0 ] && grep -q -- '--backend' "$out" && ! grep -q -- '--json' "$out"
ok $? "demo --help does not offer --json, which demo refuses"

run "$tool" --help
cp "$out" "$tmp/help"
run "$tool" help
[ $rc -eq 0 ] && cmp -s "$out" "$tmp/help" && grep -q 'devices' "$out"
ok $? "help alone prints the general help, devices among the commands"

run "$tool" help frobnicate
[ $rc -eq 2 ] && [ ! -s "$out" ] && grep -q "unknown command 'frobnicate'" "$err" &&
	grep -q "Try 'dmasplit --help'" "$err"
ok $? "help with an unknown command: exit 2"

run "$tool" info -w sim:nic0
[ $rc -eq 2 ] && grep -q -- '--wide is for list and devices only' "$err"
ok $? "-w with info: exit 2"

v=$(package_version)
run "$tool" --version
if [ -n "$v" ]; then
	[ $rc -eq 0 ] && [ "$(cat "$out")" = "dmasplit (libdmasplit) $v" ]
else
	[ $rc -eq 0 ] && grep -Eqx 'dmasplit \(libdmasplit\) [0-9][0-9.]*' "$out"
fi
ok $? "--version prints 'dmasplit (libdmasplit) VERSION'"

run "$tool"
[ $rc -eq 2 ] && grep -q "Try 'dmasplit --help'" "$err" && [ ! -s "$out" ]
ok $? "no command: exit 2 and a pointer to --help"

run "$tool" frobnicate
[ $rc -eq 2 ] && grep -q "frobnicate" "$err" &&
	grep -q "Try 'dmasplit --help'" "$err"
ok $? "unknown command: exit 2, named on stderr"

run "$tool" --no-such-option list
[ $rc -eq 2 ] && grep -q -- "--no-such-option" "$err"
ok $? "unknown option: exit 2, named on stderr"

run "$tool" info
[ $rc -eq 2 ] && grep -q "SPEC" "$err" && grep -q "Try 'dmasplit --help'" "$err"
ok $? "info without SPEC: exit 2"

run "$tool" demo --json
[ $rc -eq 2 ] && grep -q -- "--json" "$err" && [ ! -s "$out" ]
ok $? "demo --json: exit 2, demo has no JSON output"

run "$tool" --quick list
[ $rc -eq 2 ] && grep -q -- "--quick" "$err" && [ ! -s "$out" ]
ok $? "--quick with a command other than bench: exit 2"

# --- list -------------------------------------------------------------

run "$tool" list -w
[ $rc -eq 0 ] && grep -Eq "^testa +$UUID_A " "$out"
ok $? "list -w shows testa with its UUID"
[ $rc -eq 0 ] && grep -Eq "^testb +$UUID_B " "$out" &&
	grep -q "$tmp/good/backend-testb.so" "$out"
ok $? "list -w shows testb with its UUID and file"

# Lines of at most $1 characters (80 by default) in the last stdout.
fits() {
	awk -v max="${1:-80}" 'length($0) > max { bad = 1 } END { exit bad }' "$out"
}

# A directory path long enough to push list's lines past 80 columns.
deep=$tmp/a-directory-whose-name-is-long/and-another-one-below-it
mkdir -p "$deep"
cp "$tmp/good"/*.so "$deep/"
chmod 755 "$tmp/a-directory-whose-name-is-long" "$deep"
run env -u COLUMNS DMASPLIT_BACKEND_PATH="$deep" "$tool" list
[ $rc -eq 0 ] && fits && ! grep -q "$UUID_A" "$out" &&
	grep -Eq '^testa +[^ ]+ +\.\.\.[^ ]*/backend-testa\.so +test backend testa' "$out" &&
	grep -Eq '^testa .*\.\.\.$' "$out"
ok $? "list: 80 columns, no UUID, the path's start and the description's end cut with '...'"
run env -u COLUMNS DMASPLIT_BACKEND_PATH="$deep" "$tool" --wide list
[ $rc -eq 0 ] && ! fits && grep -q " $deep/backend-testa.so " "$out" &&
	grep -Eq "^testa +$UUID_A " "$out" && ! grep -q '\.\.\.' "$out"
ok $? "list --wide: whole lines, with the UUID"
run env COLUMNS=60 DMASPLIT_BACKEND_PATH="$deep" "$tool" list
[ $rc -eq 0 ] && fits 60 && grep -q '/backend-testb\.so ' "$out"
ok $? "list: COLUMNS=60, lines of 60 columns that still end the path with its file"
run env COLUMNS=30 DMASPLIT_BACKEND_PATH="$deep" "$tool" list
[ $rc -eq 0 ] && fits 30 && grep -Eq '^NAME +VERSION' "$out" &&
	grep -Eq '^testa +[^ ]+ ' "$out" && [ "$(wc -l <"$out")" -eq 3 ]
ok $? "list: COLUMNS=30, narrower than the columns can be, cuts every line there"
run env -u COLUMNS DMASPLIT_BACKEND_PATH="$deep" "$tool" --json list
json_ok "list --json is never cut" "
b = {x['name']: x for x in d['backends']}
assert b['testa']['path'] == '$deep/backend-testa.so', b
assert '...' not in b['testa']['description'], b"

run "$tool" --json list
json_ok "list --json parses and holds both backends" "
b = {x['name']: x for x in d['backends']}
assert b['testa']['uuid'] == '$UUID_A', b
assert b['testb']['uuid'] == '$UUID_B', b
assert b['testb']['path'] == '$tmp/good/backend-testb.so', b
assert d['backend_path'] == ['$tmp/good'], d"

run env DMASPLIT_BACKEND_PATH="$tmp/empty" "$tool" list
[ $rc -eq 0 ] && grep -q "No backends found in $tmp/empty" "$out"
ok $? "list with no backends says where it looked, exit 0"

run env DMASPLIT_BACKEND_PATH="$tmp/all" "$tool" list
[ $rc -eq 0 ] && grep -Eq '^testa ' "$out" && grep -Eq '^testb ' "$out"
ok $? "list over every test plugin still lists testa and testb"
missing=
for b in $BROKEN; do
	[ -f "$tmp/all/backend-$b.so" ] || continue
	grep -q "refusing backend $tmp/all/backend-$b.so: " "$err" ||
		missing="$missing $b"
done
[ -z "$missing" ]
ok $? "each broken plugin gets a 'refusing backend' line${missing:+ (missing:$missing)}"
grep -Eq 'refusing backend .*(UUID|name) .* already used' "$err"
ok $? "a plugin reusing a loaded backend's UUID or name is refused"

# The loader refuses a directory others can write to.
mkdir "$tmp/shared"
cp "$tmp/good"/*.so "$tmp/shared/"
chmod 775 "$tmp/shared"
run env DMASPLIT_BACKEND_PATH="$tmp/shared" "$tool" list
[ $rc -eq 1 ] && grep -q "refusing backend directory $tmp/shared: writable by group or others" "$err" &&
	[ "$(grep -c '^dmasplit: ' "$err")" -eq 1 ] &&
	grep -q "^dmasplit: list: every backend directory searched was refused ($tmp/shared)$" "$err"
ok $? "list where the one backend directory is refused: exit 1, one line says so"
run env -u DMASPLIT_BUILTIN_BACKENDS DMASPLIT_BACKEND_PATH="$tmp/shared:$tmp/missing" "$tool" list
[ $rc -eq 1 ] && grep -Eq '^swiotlb-sim +.*\(built-in\)' "$out" &&
	grep -q '^dmasplit: list: every backend directory searched was refused' "$err"
ok $? "list: exit 1 when every directory that exists is refused, built-in or not"
run env DMASPLIT_BACKEND_PATH="$tmp/shared:$tmp/good" "$tool" list
[ $rc -eq 0 ] && grep -Eq '^testa ' "$out" &&
	grep -q "refusing backend directory $tmp/shared" "$err" &&
	! grep -q '^dmasplit: ' "$err"
ok $? "list where another directory is accepted: exit 0, the refusal logged"

# Files that are not named backend-*.so are left alone, noted at debug.
touch "$tmp/good/README" "$tmp/good/libdmasplit-extra.so"
run "$tool" -v list
[ $rc -eq 0 ] && grep -q "backend directory $tmp/good: ignoring README: not named backend-NAME\.so" "$err" &&
	grep -q "ignoring libdmasplit-extra.so: not named backend-" "$err" &&
	! grep -q 'ignoring backend-' "$err"
ok $? "-v list notes each file not named backend-*.so"
run "$tool" list
[ $rc -eq 0 ] && ! grep -q 'ignoring' "$err"
ok $? "list without -v does not"
rm "$tmp/good/README" "$tmp/good/libdmasplit-extra.so"

# --- info -------------------------------------------------------------

run "$tool" info sim:nic0
[ $rc -eq 0 ] && grep -Eq '^selected: +testa \(highest score, 10\)' "$out" &&
	grep -Eq '^opened with: +testa$' "$out"
ok $? "info sim:nic0 chooses and opens testa"
grep -Eq '^ +testa +score 10$' "$out" && grep -Eq '^ +testb +score 5$' "$out"
ok $? "info sim:nic0 shows both scores (testa 10, testb 5)"
grep -Eq '^granule: +4096 bytes$' "$out" &&
	grep -Eq '^flags: +windows( .*)? dma-rw( |$)' "$out" &&
	grep -Eq '^unlink: +strict$' "$out" &&
	grep -Eq '^DMA mask: +48 bits$' "$out" &&
	grep -Eq '^ranges: +0x1000-0xffffffffffff$' "$out"
ok $? "info sim:nic0 shows the opened device (flags, unlink mode, mask, granule, range)"

run "$tool" info 'sim:nic0,testb.score=50'
[ $rc -eq 0 ] && grep -Eq '^selected: +testb \(highest score, 50\)' "$out" &&
	grep -Eq '^opened with: +testb$' "$out"
ok $? "info sim:nic0,testb.score=50 chooses testb"

run "$tool" -b testb info sim:nic0
[ $rc -eq 0 ] && grep -Eq '^selected: +testb \(forced by --backend\)' "$out" &&
	grep -Eq '^opened with: +testb$' "$out"
ok $? "-b testb forces testb over a higher score"

run "$tool" info --backend "$UUID_B" sim:nic0
[ $rc -eq 0 ] && grep -Eq '^opened with: +testb$' "$out"
ok $? "--backend UUID after the command forces testb"

run env DMASPLIT_BACKEND=testb "$tool" info sim:nic0
[ $rc -eq 0 ] && grep -Eq '^selected: +testb \(forced by DMASPLIT_BACKEND\)' "$out"
ok $? "DMASPLIT_BACKEND=testb forces testb and info says so"

run "$tool" -b nosuch info sim:nic0
[ $rc -eq 1 ] && [ "$(wc -l < "$err")" -eq 1 ] &&
	grep -q "^dmasplit: sim:nic0: backend 'nosuch' .*not loaded" "$err"
ok $? "-b with a backend that is not loaded: exit 1 with one line"
run "$tool" --json -b nosuch bench --quick sim:nic0
[ $rc -eq 1 ] && [ "$(wc -l < "$err")" -eq 1 ] &&
	grep -q "^dmasplit: sim:nic0: backend 'nosuch' .*not loaded" "$err"
ok $? "bench --json with a backend that is not loaded: exit 1 with one line"
json_ok "bench --json with a backend that is not loaded: the error at select" "
assert d['error']['name'] == 'ENODEV' and d['backend'] is None, d"
mkdir -p "$tmp/nodevices/bus/pci/devices"
for command in list devices 'bench --quick' demo; do
	# shellcheck disable=SC2086
	run env DMASPLIT_SYSFS_ROOT="$tmp/nodevices" "$tool" -b nosuch $command
	[ $rc -eq 1 ] &&
		grep -q "^dmasplit: backend 'nosuch' (forced by --backend) is not loaded$" "$err"
	ok $? "$command with a forced backend that is not loaded: exit 1, saying so"
done
run env DMASPLIT_BACKEND=nosuch "$tool" --json list
json_ok "list --json with DMASPLIT_BACKEND not loaded: the backends and an error" "
assert [b['name'] for b in d['backends']] == ['testa', 'testb'], d
assert d['error']['name'] == 'ENODEV', d"
run "$tool" --json list
json_ok "list --json: a null error when nothing is wrong" "
assert d['error'] is None, d"

# A device spec or option echoed in the tool's own line keeps that line
# one line, without the terminal's control codes.
run "$tool" info "$(printf 'sim:x\nfake: line\033[2J')"
[ $rc -eq 1 ] && [ "$(grep -c '^dmasplit:' "$err")" -eq 1 ] &&
	grep -qF 'dmasplit: sim:x\x0afake: line\x1b[2J: ' "$err" &&
	! grep -q "$(printf '\033')" "$err"
ok $? "info: a spec with control bytes is quoted escaped, on one line"
run "$tool" "$(printf 'li\033st')"
[ $rc -eq 2 ] && grep -qF "unknown command 'li\x1bst'" "$err" &&
	! grep -q "$(printf '\033')" "$err"
ok $? "an unknown command with control bytes is quoted escaped"
run "$tool" --json info sim:nic0
json_ok "info --json: a spec without options has null options" "
assert d['device']['options'] is None, d"
run "$tool" info --peer= sim:nic0
[ $rc -eq 2 ] && grep -q -- '--peer needs a device' "$err"
ok $? "--peer with an empty device: exit 2"

# The loader's refusals of the broken plugins come first on stderr; the
# reason the forced backend is not used must be the last line.
run env DMASPLIT_BACKEND_PATH="$tmp/all" "$tool" -b testb info 'sim:x,testb.reject'
[ $rc -eq 1 ] && [ "$(tail -n 1 "$err")" = \
	"dmasplit: backend testb does not handle sim:x,testb.reject: No such device (ENODEV)" ] &&
	! grep -q 'opened with' "$out"
ok $? "-b with a backend whose probe refuses the spec: exit 1, saying so"
run "$tool" --json -b testb info 'sim:x,testb.reject'
json_ok "info --json with a forced backend that refuses: the error at select" "
assert d['selected']['backend'] == 'testb' and d['selected']['forced_by'] == '--backend', d
assert d['opened'] is None, d
assert d['error']['stage'] == 'select' and d['error']['name'] == 'ENODEV', d"
run "$tool" -b testb demo 'sim:x,testb.reject'
[ $rc -eq 1 ] && [ ! -s "$out" ] &&
	[ "$(cat "$err")" = "dmasplit: backend testb does not handle sim:x,testb.reject: No such device (ENODEV)" ]
ok $? "demo with a forced backend that refuses: exit 1, that one line and no step"
run "$tool" -b testb bench --quick 'sim:x,testb.reject'
[ $rc -eq 1 ] && [ ! -s "$out" ] &&
	[ "$(cat "$err")" = "dmasplit: backend testb does not handle sim:x,testb.reject: No such device (ENODEV)" ]
ok $? "bench with a forced backend that refuses: exit 1, one line, nothing measured"
run "$tool" --json -b testb bench --quick 'sim:x,testb.reject'
[ $rc -eq 1 ] &&
	[ "$(cat "$err")" = "dmasplit: backend testb does not handle sim:x,testb.reject: No such device (ENODEV)" ]
ok $? "bench --json with a forced backend that refuses: exit 1, the one line on stderr"
json_ok "bench --json with a forced backend that refuses: one object, the error at select" "
assert d['spec'] == 'sim:x,testb.reject' and d['measurements'] is None, d
assert d['backend'] is None, d
assert d['error']['stage'] == 'select' and d['error']['name'] == 'ENODEV', d"
run "$tool" --json bench --quick bogus
json_ok "bench --json on a malformed spec: one object, the error at describe" "
assert $rc == 1
assert d['spec'] == 'bogus' and d['measurements'] is None, d
assert d['error']['stage'] == 'describe' and d['error']['name'] == 'EINVAL', d"

run "$tool" info 'sim:x,testa.reject,testb.reject'
[ $rc -eq 1 ] && grep -q '^dmasplit: sim:x,testa.reject,testb.reject: ' "$err" &&
	grep -Eq '^ +testa +declined: ENODEV' "$out"
ok $? "info where every probe declines: exit 1 with a message"

run "$tool" info bogus
[ $rc -eq 1 ] && grep -q '^dmasplit: bogus: ' "$err"
ok $? "info on a malformed spec: exit 1 with a message, no crash"

run "$tool" info 'sim:nic0,testa.failopen'
[ $rc -eq 1 ] && grep -q '^dmasplit: sim:nic0,testa.failopen: cannot open with backend testa: ' "$err"
ok $? "info where the chosen backend fails to open: exit 1 with a message"

run "$tool" -v info sim:nic0
[ $rc -eq 0 ] && grep -q 'testa.*score 10' "$err" && grep -q 'testb.*score 5' "$err"
ok $? "-v logs the selection scores on stderr"

run "$tool" --json info 'sim:nic0,granule=65536'
json_ok "info --json parses and holds the choice and the granule" "
assert d['selected']['backend'] == 'testa', d
assert d['selected']['forced_by'] is None, d
assert d['opened']['backend'] == 'testa', d
assert d['opened']['granule'] == 65536, d
assert {'windows', 'dma-rw'} <= set(d['opened']['flag_names']), d
assert int(d['opened']['flags'], 16) & 0x21 == 0x21, d
assert d['opened']['unlink'] == 'strict', d
assert {p['backend']: p['score'] for p in d['probes']} == {'testa': 10, 'testb': 5}, d
assert 'error' not in d, d"
[ $rc -eq 0 ]
ok $? "info --json exits 0"

run "$tool" info --json 'sim:x,testa.reject,testb.reject'
json_ok "info --json on failure still prints one object with the error" "
assert d['selected'] is None and d['opened'] is None, d
assert d['error']['stage'] == 'select' and d['error']['name'] == 'ENODEV', d
assert all(p['error']['name'] == 'ENODEV' for p in d['probes']), d"

# --- info on a PCI device, from a fake sysfs tree -----------------------
# The test plugins decline PCI devices, so info ends with exit 1, but only
# after showing what the core read from sysfs.

pci=$tmp/sys/bus/pci/devices/0000:01:00.0
mkdir -p "$pci/vfio-dev/vfio3" "$pci/p2pmem" "$tmp/sys/kernel/iommu_groups/12"
echo 0x8086 >"$pci/vendor"
echo 0x10d3 >"$pci/device"
echo 0x020000 >"$pci/class"
echo 64 >"$pci/dma_mask_bits"
echo 1 >"$pci/numa_node"
echo 1048576 >"$pci/p2pmem/size"
echo 524288 >"$pci/p2pmem/available"
echo 1 >"$pci/p2pmem/published"
echo DMA-FQ >"$tmp/sys/kernel/iommu_groups/12/type"
ln -s ../../../../kernel/iommu_groups/12 "$pci/iommu_group"
ln -s ../../../../bus/pci/drivers/vfio-pci "$pci/driver"
{
	echo "0x00000000fe000000 0x00000000fe01ffff 0x0000000000040200"
	echo "0x0000000000000000 0x0000000000000000 0x0000000000000000"
	echo "0x0000000000001000 0x000000000000101f 0x0000000000040101"
} >"$pci/resource"

run env DMASPLIT_SYSFS_ROOT="$tmp/sys" "$tool" info 'pci:01:00.0,mask=40'
[ $rc -eq 1 ] && grep -Eq '^vendor:device: +8086:10d3$' "$out" &&
	grep -Eq '^driver: +vfio-pci$' "$out" &&
	grep -Eq '^IOMMU group: +12 \(DMA-FQ\)$' "$out" &&
	grep -Eq '^IOMMU class: +translated$' "$out" &&
	grep -Eq '^vfio-dev: +vfio3$' "$out" &&
	grep -Eq '^DMA mask: +40 bits \(from spec\)$' "$out" &&
	grep -Eq '^p2pmem: +size 1048576, available 524288, published$' "$out" &&
	grep -Eq '^resources: +BAR0 +0x0*fe000000-0x0*fe01ffff mem' "$out" &&
	grep -Eq '^ +BAR2 +0x0*1000-0x0*101f io' "$out" &&
	grep -Eq '^ +testa +declined: ENODEV' "$out"
ok $? "info on a PCI device shows the sysfs description, then exit 1"

run env DMASPLIT_SYSFS_ROOT="$tmp/sys" "$tool" --json info 0000:01:00.0
json_ok "info --json on a PCI device holds the sysfs description" "
p = d['device']
assert p['bus'] == 'pci' and p['name'] == '0000:01:00.0', p
assert p['id'] == '8086:10d3' and p['driver'] == 'vfio-pci', p
assert p['iommu_group'] == 12 and p['iommu_group_type'] == 'DMA-FQ', p
assert p['iommu_class'] == 'translated', p
assert p['vfio_dev'] == 'vfio3' and p['dma_mask_bits'] == 64, p
assert p['numa_node'] == 1, p
assert p['p2pmem'] == {'size': 1048576, 'available': 524288, 'published': True}, p
assert [r['name'] for r in p['resources']] == ['BAR0', 'BAR2'], p
assert d['error']['stage'] == 'select', d"

# Text output shows printable ASCII alone: a C1 CSI (0x9b), an escape
# sequence and UTF-8 become '?', a byte each.
printf 'DMA\233\033[2J\303\251\n' >"$tmp/sys/kernel/iommu_groups/12/type"
run env DMASPLIT_SYSFS_ROOT="$tmp/sys" "$tool" info 0000:01:00.0
grep -Eq '^IOMMU group: +12 \(DMA\?\?\[2J\?\?\)$' "$out" &&
	! LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177-\377]')" "$out"
ok $? "info shows bytes outside printable ASCII from sysfs as '?'"
echo DMA-FQ >"$tmp/sys/kernel/iommu_groups/12/type"

# --- info --peer: the peer-to-peer verdict, from a fake sysfs tree ----
# Two devices on the root bus of q35's host bridge, which is on no
# allow-list, and a CPU the kernel does not route peer traffic through.

p2p=$tmp/p2p/sys
for dev in 0000:00:00.0:0x29c0 0000:00:03.0:0x0010 0000:00:04.0:0x11e8; do
	addr=${dev%:*}
	d=$p2p/devices/pci0000:00/$addr
	mkdir -p "$d" "$p2p/bus/pci/devices"
	echo 0x8086 >"$d/vendor"
	echo "${dev##*:}" >"$d/device"
	echo 0x010802 >"$d/class"
	ln -s "../../../devices/pci0000:00/$addr" "$p2p/bus/pci/devices/$addr"
done
mkdir -p "$tmp/p2p/proc"
printf 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 15\n' \
	>"$tmp/p2p/proc/cpuinfo"

run env DMASPLIT_SYSFS_ROOT="$p2p" "$tool" --json info 0000:00:03.0
json_ok "info --json: no mask= in the spec is a null spec_mask_bits" "
assert d['device']['spec_mask_bits'] is None, d
assert d['device']['dma_mask_bits'] is None or d['device']['dma_mask_bits'] > 0, d"
run env DMASPLIT_SYSFS_ROOT="$p2p" "$tool" info 0000:00:03.0 --peer 00:04.0
grep -Eq '^peer client: +00:04.0$' "$out" &&
	grep -Eq '^peer map: +not-supported$' "$out" &&
	grep -q 'cannot reach peer memory of 0000:00:03.0: no common upstream bridge, so through host bridge 0000:00:00.0 (8086:29c0), which is not known to route' "$err"
ok $? "info --peer shows a refused pair and logs what blocks it"
run env DMASPLIT_SYSFS_ROOT="$p2p" "$tool" --json info 0000:00:03.0 --peer 00:04.0
json_ok "info --json --peer, a refused pair: not-supported, EREMOTEIO by name" "
p = d['peer']
assert (p['client'], p['map'], p['distance']) == ('00:04.0', 'not-supported', None), p
assert p['error']['name'] == 'EREMOTEIO' and p['error']['errno'] == 121, p"

# The device opens; only the peer's verdict fails.
run env DMASPLIT_SYSFS_ROOT="$p2p" "$tool" --json info sim:nic0 --peer 0000:00:04.0
json_ok "info --json --peer without a verdict: exit 1, the error at stage peer" "
assert $rc == 1
assert d['opened']['backend'] == 'testa', d
e = d['error']
assert e['stage'] == 'peer' and e['name'] == d['peer']['error']['name'], d
assert e['errno'] > 0 and e['name'].startswith('E'), d"

echo 0x2020 >"$p2p/devices/pci0000:00/0000:00:00.0/device"
run env DMASPLIT_SYSFS_ROOT="$p2p" "$tool" --json info 0000:00:03.0 --peer 0000:00:04.0
json_ok "info --json --peer through an allowed host bridge: distance 2" "
assert d['peer'] == {'client': '0000:00:04.0', 'map': 'through-host-bridge',
                     'distance': 2, 'error': None}, d['peer']"

run "$tool" demo sim:x --peer 0000:00:04.0
[ $rc -eq 2 ] && grep -q -- '--peer is for info only' "$err"
ok $? "--peer with a command other than info: exit 2"

run "$tool" demo --inval-ns 10
[ $rc -eq 2 ] && grep -q -- '--inval-ns is for bench only' "$err"
ok $? "--inval-ns with a command other than bench: exit 2"
run "$tool" bench --inval-ns 1us
[ $rc -eq 2 ] && grep -q -- '--inval-ns needs a number' "$err"
ok $? "--inval-ns that is not a number of nanoseconds: exit 2"
for ns in ' 5' '+5' '-0'; do
	run "$tool" bench --inval-ns "$ns"
	[ $rc -eq 2 ] && grep -q -- '--inval-ns needs a number' "$err"
	ok $? "--inval-ns '$ns' (a blank or a sign): exit 2"
done

# Outside valgrind the counted loops would count nothing: one line, 2.
run "$bare_tool" bench --callgrind
[ $rc -eq 2 ] && [ ! -s "$out" ] && [ "$(wc -l <"$err")" -eq 1 ] &&
	grep -Eq -- '^dmasplit: bench: --callgrind: unavailable' "$err"
ok $? "bench --callgrind outside valgrind: unavailable, one line, exit 2"
run "$bare_tool" bench --callgrind --json
[ $rc -eq 2 ] && [ ! -s "$out" ] && grep -q -- 'callgrind.sh --json' "$err"
ok $? "bench --callgrind --json: exit 2, callgrind.sh --json named"

# --- the built-in simulated device -------------------------------------

SIM_UUID=5d0c7c2e-8a4b-4f3e-9c61-2b7e0d4a9f11

run env -u DMASPLIT_BUILTIN_BACKENDS DMASPLIT_BACKEND_PATH="$tmp/empty" "$tool" list -w
[ $rc -eq 0 ] && grep -Eq "^swiotlb-sim +$SIM_UUID +[^ ]+ +\(built-in\) " "$out" &&
	[ "$(grep -c . "$out")" -eq 2 ]
ok $? "list with an empty plugin directory shows swiotlb-sim (built-in)"

run env -u DMASPLIT_BUILTIN_BACKENDS DMASPLIT_BACKEND_PATH="$tmp/empty" "$tool" --json list
json_ok "list --json gives the built-in backend the path (built-in)" "
assert [(b['name'], b['path']) for b in d['backends']] == [('swiotlb-sim', '(built-in)')], d"

run env -u DMASPLIT_BUILTIN_BACKENDS DMASPLIT_BACKEND_PATH="$tmp/empty" "$tool" demo
[ $rc -eq 0 ] && grep -q '^Every check held' "$out" && ! grep -q 'FAILED' "$out"
ok $? "demo runs on the built-in backend with no plugin installed"

# Replaced by UUID: simclone, a test plugin with swiotlb-sim's UUID.
if [ -f "$plugins/backend-simclone.so" ]; then
	mkdir "$tmp/clone"
	cp "$plugins/backend-simclone.so" "$tmp/clone/"
	chmod 755 "$tmp/clone"
	chmod 644 "$tmp/clone/backend-simclone.so"
	run env -u DMASPLIT_BUILTIN_BACKENDS DMASPLIT_BACKEND_PATH="$tmp/clone" "$tool" -v list -w
	[ $rc -eq 0 ] && grep -Eq "^simclone +$SIM_UUID +" "$out" &&
		! grep -q 'built-in' "$out" &&
		grep -q "built-in backend swiotlb-sim is shadowed by backend simclone from $tmp/clone/backend-simclone.so" "$err"
	ok $? "a plugin with the built-in backend's UUID replaces it; -v says so"
else
	skip "a plugin with the built-in backend's UUID replaces it; -v says so" \
		"backend-simclone.so is not built"
fi

sim=${DMASPLIT_TEST_BACKENDS:-}/backend-swiotlb-sim.so
if [ -z "${DMASPLIT_TEST_BACKENDS:-}" ] || [ ! -f "$sim" ]; then
	why="the swiotlb-sim plugin is not built"
	skip "a plugin named swiotlb-sim replaces the built-in one" "$why"
	skip "list -v says the built-in swiotlb-sim is shadowed" "$why"
	skip "demo exits 0, shows the window address and the fallback" "$why"
	skip "demo shows the device fault the library logs" "$why"
	skip "demo on a device without windows: exit 1" "$why"
	skip "bench --quick --json exits 0" "$why"
	skip "bench --json holds every measurement" "$why"
	skip "callgrind.sh --quick: one positive count per figure" "$why"
	skip "callgrind.sh --json: every figure counted, each verdict" "$why"
	exit $failed
fi
mkdir "$tmp/sim"
cp "$sim" "$tmp/sim/"
chmod 755 "$tmp/sim"
chmod 644 "$tmp/sim/backend-swiotlb-sim.so"

# From here on the plugin and the built-in copy are both there: the
# plugin is the one used.
unset DMASPLIT_BUILTIN_BACKENDS

run env DMASPLIT_BACKEND_PATH="$tmp/sim" "$tool" -v -w list
[ $rc -eq 0 ] && [ "$(grep -c '^swiotlb-sim ' "$out")" -eq 1 ] &&
	grep -Eq "^swiotlb-sim +$SIM_UUID +.* $tmp/sim/backend-swiotlb-sim.so " "$out" &&
	! grep -q '(built-in)' "$out"
ok $? "a plugin named swiotlb-sim replaces the built-in one"
grep -q "built-in backend swiotlb-sim is shadowed by backend swiotlb-sim from $tmp/sim/backend-swiotlb-sim.so" "$err"
ok $? "list -v says the built-in swiotlb-sim is shadowed"

run env DMASPLIT_BACKEND_PATH="$tmp/sim" "$tool" demo
[ $rc -eq 0 ] &&
	grep -Eq '^ +window at device address 0x[0-9a-f]+, ' "$out" &&
	grep -q -- '= -EOPNOTSUPP' "$out" &&
	grep -q 'fall back to dmasplit_map' "$out" &&
	grep -q '^Every check held' "$out" && ! grep -q 'FAILED' "$out"
ok $? "demo exits 0, shows the window address and the -EOPNOTSUPP fallback"
grep -q '| libdmasplit: .*DMAR: .*0x' "$err"
ok $? "demo shows the device fault the library logs"

run env DMASPLIT_BACKEND_PATH="$tmp/sim" "$tool" demo 'sim:nowin,iommu=off'
[ $rc -eq 1 ] && grep -q '^dmasplit: demo: step 1 failed: ' "$err"
ok $? "demo on a device without windows: exit 1, the failing step named"

run env DMASPLIT_BACKEND_PATH="$tmp/sim" "$tool" bench --quick --json
[ $rc -eq 0 ]
ok $? "bench --quick --json exits 0"
json_ok "bench --json holds every measurement, each with a numeric ratio" "
want = {'split_vs_per_page', 'link_vs_store', 'bounce_vs_memcpy', 'dispatch',
        'metadata_per_page', 'iova_alloc_scaling', 'threads', 'scattered'}
m = d['measurements']
assert set(m) == want, sorted(m)
verdicts = ('MET', 'MISSED', 'UNCERTAIN', 'NOT JUDGED')
for k, v in m.items():
    assert type(v['ratio']) in (int, float), (k, v)
    assert type(v['met']) is bool and v['target']['op'] in ('<=', '>='), (k, v)
    # The median of paired ratios, within its spread, and a verdict.
    assert v['spread']['lo'] <= v['ratio'] <= v['spread']['hi'], (k, v)
    assert v['verdict'] in verdicts, (k, v)
    assert v['goals'] and v['goals'][0]['median'] == v['ratio'], (k, v)
    for g in v['goals']:
        assert g['verdict'] in verdicts and g['target']['op'] in ('<=', '>='), (k, g)
        assert g['spread']['lo'] <= g['median'] <= g['spread']['hi'], (k, g)
        if g['verdict'] == 'MET':
            assert (g['spread']['hi'] <= g['target']['value'] if g['target']['op'] == '<='
                    else g['spread']['lo'] >= g['target']['value']), (k, g)
assert d['quick'] is True and d['backend'] == 'swiotlb-sim', d
rows = m['split_vs_per_page']['rows']
assert [r['pages'] for r in rows] == [1, 16, 256, 4096, 65536], rows
# One IOTLB invalidation per map and per unmap; the split path's count
# does not grow with the pages.
assert all(r['iotlb_invalidations_per_page'] == 2 * r['pages'] for r in rows), rows
assert len({r['iotlb_invalidations_split'] for r in rows}) == 1, rows
# The same with the modelled invalidation cost, named with its value.
s = m['split_vs_per_page']
assert s['inval_ns_modelled'] == 1000 and s['modelled_spec'] == 'sim:bench,inval_ns=1000', s
assert [r['pages'] for r in s['rows_modelled']] == [1, 16, 256, 4096, 65536], s
assert all(r['iotlb_invalidations_per_page'] == 2 * r['pages'] for r in s['rows_modelled']), s
assert [g['target']['value'] for g in s['goals']] == [5, 1, 20], s
assert s['break_even_pages'] is None or s['break_even_pages'] >= 1, s
# Scattered pages: no kernel call per I/O through the region, one per map
# and per unmap per page without it, the region's own counted apart.
c = m['scattered']
assert c['pages'] == 1024 and c['calls_region'] == 0, c
assert c['calls_per_page_path'] == 2 * 1024, c
assert c['calls_region_new'] >= 1 and c['calls_region_free'] >= 1, c
assert [g['target']['value'] for g in c['goals']] == [4, 4], c
assert c['goals'][1]['median'] == c['calls_region_new'] + c['calls_region_free'], c
# Threads: map+unmap pairs, and one-page windows shown beside them, one
# at a time and many in flight.
t = m['threads']
for k in ('one_thread_pairs_per_s', 'two_threads_one_device_pairs_per_s',
          'two_threads_two_devices_pairs_per_s', 'one_thread_windows_per_s',
          'two_threads_one_device_windows_per_s', 'ratio_one_device_windows',
          'one_thread_deep_windows_per_s',
          'two_threads_one_device_deep_windows_per_s',
          'ratio_one_device_deep_windows'):
    assert t[k] > 0, (k, t)
assert t['deep_windows_in_flight'] > 64, t"

# The per-call figures in instructions: callgrind.sh runs bench
# --callgrind under callgrind (a few seconds with --quick; a minute at
# most, then it is stopped).
cgsh=${top_srcdir:-.}/tools/bench/callgrind.sh
cg_figures=9
run env DMASPLIT="$bare_tool" sh "$cgsh" --version
[ $rc -eq 0 ] && [ ! -s "$err" ] &&
	grep -Eqx 'callgrind.sh \(libdmasplit\) [0-9]+\.[0-9]+.*' "$out"
ok $? "callgrind.sh --version: its package's version, on stdout"
run sh "$cgsh" --help
[ $rc -eq 0 ] && [ ! -s "$err" ] && grep -q -- '--version' "$out"
ok $? "callgrind.sh --help: usage on stdout, status 0"
why=
if [ -n "${DMASPLIT_TEST_SANITIZED:-}" ]; then
	why="built with a sanitizer, which valgrind cannot run"
elif ! command -v "${VALGRIND:-valgrind}" >/dev/null 2>&1; then
	why="valgrind not found"
elif ! "${VALGRIND:-valgrind}" --tool=none -q "$bare_tool" --version \
	>/dev/null 2>&1; then
	# As for a program of another architecture run through qemu-user.
	why="valgrind cannot run this build of the tool"
fi
if [ -n "$why" ]; then
	skip "callgrind.sh --quick: one positive count per figure" "$why"
	skip "callgrind.sh --json: every figure counted, each verdict" "$why"
	exit $failed
fi
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout -k 5 60"
run env DMASPLIT_BACKEND_PATH="$tmp/sim" DMASPLIT="$bare_tool" \
	$limit sh "$cgsh" --quick
# "N. title  VALUE Ir|VALUEx  target  MET|MISSED|SHOWN", VALUE > 0.
cg_line='^ ?[0-9]+\. .* ([0-9]+\.[0-9]+)( Ir|x) +(-|[<>]= [0-9.]+( Ir|x)) +(MET|MISSED|SHOWN)$'
[ $rc -eq 0 ] &&
	[ "$(grep -Ec '^ ?[0-9]+\. ' "$out")" -eq $cg_figures ] &&
	[ "$(sed -En "s/$cg_line/\\1/p" "$out" |
	     awk '$1 + 0 > 0' | wc -l)" -eq $cg_figures ]
ok $? "callgrind.sh --quick: one positive count per figure"
run env DMASPLIT_BACKEND_PATH="$tmp/sim" DMASPLIT="$bare_tool" \
	$limit sh "$cgsh" --quick --json
[ $rc -eq 0 ]
json_ok "callgrind.sh --json: every figure counted, each verdict" "
f = d['figures']
assert set(f) == {'link', 'link_bulk', 'map_unmap', 'window',
                  'split_one_page', 'dispatch', 'bounce_sync',
                  'bounce_memcpy', 'bounce'}, sorted(f)
assert d['calls_per_loop'] == 4096 and d['loop_overhead_per_iteration'] > 0, d
for k, v in f.items():
    assert v['value'] > 0, (k, v)
    if v['target'] is None:
        assert v['verdict'] == 'SHOWN', (k, v)
    else:
        t = v['target']
        met = v['value'] <= t['value'] if t['op'] == '<=' else v['value'] >= t['value']
        assert v['verdict'] == ('MET' if met else 'MISSED'), (k, v)
assert f['link']['target'] == {'op': '<=', 'value': 100}, f['link']
assert f['dispatch']['target'] == {'op': '<=', 'value': 1.05}, f['dispatch']
assert f['bounce']['target'] == {'op': '>=', 'value': 0.9}, f['bounce']
assert abs(f['bounce']['value'] - f['bounce_memcpy']['value'] / f['bounce_sync']['value']) < 1e-3, f
assert f['bounce_sync']['value'] > f['bounce_memcpy']['value'], f"

exit $failed
