#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# dmasplit devices against fake sysfs trees: every PCI device in address
# order with its driver, IOMMU group and type, DMA mask, peer memory and
# the backend that would open it (the real backends' probes), lines of at
# most 80 columns unless -w, JSON with the same values as the text, and
# the exit status for an empty, a missing and a broken tree.
set -u

tool=${top_builddir:-.}/tools/dmasplit
backends=${DMASPLIT_TEST_BACKENDS:-}

if [ -z "$backends" ] || [ ! -f "$backends/backend-vfio.so" ] ||
   [ ! -f "$backends/backend-direct.so" ] ||
   [ ! -f "$backends/backend-p2pdma.so" ]; then
	echo "1..0 # SKIP the PCI backends are not built"
	exit 0
fi
if [ ! -x "$tool" ]; then
	echo "Bail out! $tool is not built"
	exit 1
fi

# Nothing from the caller's environment may choose for the tool, nor set
# the width of its lines.
unset DMASPLIT_BACKEND DMASPLIT_LOG DMASPLIT_SYSFS_ROOT COLUMNS
LC_ALL=C
export LC_ALL

# The loader refuses group- or other-writable plugins and directories.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
mkdir "$tmp/be"
cp "$backends/backend-vfio.so" "$backends/backend-direct.so" \
	"$backends/backend-p2pdma.so" "$tmp/be/"
chmod 755 "$tmp/be"
chmod 644 "$tmp/be"/*.so
DMASPLIT_BACKEND_PATH=$tmp/be
DMASPLIT_BUILTIN_BACKENDS=0
export DMASPLIT_BACKEND_PATH DMASPLIT_BUILTIN_BACKENDS

. "$(dirname "$0")/tap.sh"

# Lines of at most $1 characters (80 by default) in the last stdout.
fits() {
	awk -v max="${1:-80}" 'length($0) > max { bad = 1 } END { exit bad }' "$out"
}

# pci ADDRESS VENDOR DEVICE: a device directory with the attributes every
# PCI device has, as tests/fakesys.c makes them.
sys=$tmp/sys
pci() {
	d=$sys/bus/pci/devices/$1
	mkdir -p "$d"
	echo "$2" >"$d/vendor"
	echo "$3" >"$d/device"
	echo 0x010802 >"$d/class"
}
# group ADDRESS N TYPE: the iommu_group link and the group's type.
group() {
	mkdir -p "$sys/kernel/iommu_groups/$2"
	echo "$3" >"$sys/kernel/iommu_groups/$2/type"
	ln -s "../../../../kernel/iommu_groups/$2" "$sys/bus/pci/devices/$1/iommu_group"
}
driver() {
	ln -s "../../../../bus/pci/drivers/$2" "$sys/bus/pci/devices/$1/driver"
}
# p2pmem ADDRESS SIZE PUBLISHED
p2pmem() {
	mkdir -p "$sys/bus/pci/devices/$1/p2pmem"
	echo "$2" >"$sys/bus/pci/devices/$1/p2pmem/size"
	echo "$2" >"$sys/bus/pci/devices/$1/p2pmem/available"
	echo "$3" >"$sys/bus/pci/devices/$1/p2pmem/published"
}

echo "1..21"

# Made out of order: the listing sorts them.
long_driver=a_driver_name_long_enough_to_be_cut_short
pci 0000:0a:00.0 0x1b36 0x0010
group 0000:0a:00.0 15 identity
driver 0000:0a:00.0 $long_driver
pci 0000:03:00.0 0x1b36 0x0011
group 0000:03:00.0 14 blocked
echo 64 >"$sys/bus/pci/devices/0000:03:00.0/dma_mask_bits"
p2pmem 0000:03:00.0 4194304 0
pci 0000:01:00.0 0x8086 0x10d3
group 0000:01:00.0 12 DMA-FQ
driver 0000:01:00.0 vfio-pci
echo 64 >"$sys/bus/pci/devices/0000:01:00.0/dma_mask_bits"
pci 0000:02:00.0 0x144d 0xa808
group 0000:02:00.0 13 DMA
driver 0000:02:00.0 nvme
echo 64 >"$sys/bus/pci/devices/0000:02:00.0/dma_mask_bits"
p2pmem 0000:02:00.0 1048576 1
pci 0000:00:1f.0 0x8086 0x1234
driver 0000:00:1f.0 uio_pci_generic
echo 32 >"$sys/bus/pci/devices/0000:00:1f.0/dma_mask_bits"

export DMASPLIT_SYSFS_ROOT="$sys"

# --- text -------------------------------------------------------------

run "$tool" devices
[ $rc -eq 0 ] && [ ! -s "$err" ] &&
	[ "$(awk '{ print $1 }' "$out" | tr '\n' ' ')" = \
	  "ADDRESS 0000:00:1f.0 0000:01:00.0 0000:02:00.0 0000:03:00.0 0000:0a:00.0 " ]
ok $? "devices: a header, then every device in address order, exit 0"

row() {
	grep "^$1 " "$out" | sed 's/  */ /g'
}
run "$tool" devices -w
[ "$(row 0000:00:1f.0)" = "0000:00:1f.0 8086:1234 uio_pci_generic - none 32 - direct" ] &&
	[ "$(row 0000:01:00.0)" = "0000:01:00.0 8086:10d3 vfio-pci 12 DMA-FQ 64 - vfio" ] &&
	[ "$(row 0000:02:00.0)" = "0000:02:00.0 144d:a808 nvme 13 DMA 64 1048576/yes p2pdma" ] &&
	[ "$(row 0000:03:00.0)" = "0000:03:00.0 1b36:0011 - 14 blocked 64 4194304/no -" ]
ok $? "devices: ID, driver, group, type, mask bits, p2pmem and backend of each"

run "$tool" devices
[ $rc -eq 0 ] && fits &&
	row 0000:0a:00.0 | grep -Eq '^0000:0a:00\.0 1b36:0010 a_driver[a-z_]*\.\.\. 15 identity - - -$'
ok $? "devices: lines fit 80 columns, a long driver name cut with '...'"

# Narrower than the columns can be: header and rows cut at the width.
run env COLUMNS=60 "$tool" devices
[ $rc -eq 0 ] && fits 60 && [ "$(wc -l <"$out")" -eq 6 ] &&
	grep -Eq '^ADDRESS +ID +DRIVER' "$out" &&
	row 0000:01:00.0 | grep -q '^0000:01:00\.0 8086:10d3 vfi\.\.\. 12 DMA-FQ 64'
ok $? "devices: COLUMNS=60 cuts the header and every row at 60 columns"

run env COLUMNS=120 "$tool" devices
[ $rc -eq 0 ] && grep -q " $long_driver " "$out" && fits 120
ok $? "devices: COLUMNS=120 makes room for the whole driver name"

run "$tool" devices -w
[ $rc -eq 0 ] && grep -q " $long_driver " "$out" && ! fits
ok $? "devices -w: whole lines, wider than 80 columns"

run "$tool" -b direct devices
[ $rc -eq 0 ] && row 0000:00:1f.0 | grep -q ' direct$' &&
	row 0000:01:00.0 | grep -q ' -$' && row 0000:02:00.0 | grep -q ' -$'
ok $? "devices with a forced backend: '-' where its probe refuses"

# --- JSON -------------------------------------------------------------

"$tool" devices -w >"$tmp/text" 2>/dev/null
run "$tool" --json devices
[ $rc -eq 0 ]
ok $? "devices --json: exit 0"
json_ok "devices --json: the same devices, in the same order, as the text" "
assert d['sysfs_root'] == '$sys', d
assert [x['address'] for x in d['devices']] == [l.split()[0] for l in text[1:]], d"
json_ok "devices --json: the same values as the text, numbers as integers" "
for x, line in zip(d['devices'], text[1:]):
    a, ident, drv, grp, typ, dma, p2p, be = line.split()
    assert x['id'] == ident and int(x['vendor'], 16) == int(ident[:4], 16), x
    assert (x['driver'] or '-') == drv, (x, line)
    assert x['iommu_group'] == (None if grp == '-' else int(grp)), (x, line)
    assert x['iommu_group_type'] == typ, (x, line)
    assert x['dma_mask_bits'] == (None if dma == '-' else int(dma)), (x, line)
    if p2p == '-':
        assert x['p2pmem'] is None, (x, line)
    else:
        size, pub = p2p.split('/')
        assert x['p2pmem']['size'] == int(size), (x, line)
        assert x['p2pmem']['published'] == (pub == 'yes'), (x, line)
    assert (x['backend'] or '-') == be, (x, line)
b = {x['address']: x for x in d['devices']}
assert b['0000:02:00.0']['class'] == '0x010802', b
assert b['0000:02:00.0']['p2pmem'] == {'size': 1048576, 'available': 1048576, 'published': True}, b
assert b['0000:00:1f.0']['iommu_group'] is None and b['0000:00:1f.0']['iommu_group_type'] == 'none', b
assert b['0000:0a:00.0']['backend'] is None and b['0000:0a:00.0']['dma_mask_bits'] is None, b"

# --- empty, missing and broken trees ----------------------------------

mkdir -p "$tmp/empty/bus/pci/devices"
run env DMASPLIT_SYSFS_ROOT="$tmp/empty" "$tool" devices
[ $rc -eq 0 ] && [ "$(wc -l <"$out")" -eq 1 ] && grep -q '^ADDRESS ' "$out" &&
	[ ! -s "$err" ]
ok $? "devices with no PCI device: the header alone, exit 0"
run env DMASPLIT_SYSFS_ROOT="$tmp/empty" "$tool" devices --json
json_ok "devices --json with no PCI device: an empty list" "
assert d['devices'] == [], d"

run env DMASPLIT_SYSFS_ROOT="$tmp/nothing" "$tool" devices
[ $rc -eq 1 ] && [ ! -s "$out" ] && [ "$(wc -l <"$err")" -eq 1 ] &&
	grep -q "^dmasplit: devices: cannot read $tmp/nothing/bus/pci/devices: " "$err"
ok $? "devices without a sysfs tree: exit 1, one line naming the directory"
run env DMASPLIT_SYSFS_ROOT="$tmp/nothing" "$tool" devices --json
json_ok "devices --json without a sysfs tree: exit 1, one object with the error" "
assert $rc == 1
assert d['devices'] is None and d['error']['name'] == 'ENOENT', d"

rm "$sys/bus/pci/devices/0000:03:00.0/vendor"
run "$tool" devices
[ $rc -eq 1 ] && row 0000:03:00.0 | grep -Eq '^0000:03:00\.0( \?){7}$' &&
	row 0000:01:00.0 | grep -q ' vfio$' &&
	grep -q '0000:03:00.0/vendor' "$err" &&
	grep -q '^dmasplit: devices: 1 of 5 devices could not be described$' "$err"
ok $? "a device that cannot be described: '?', the others listed, exit 1"
run "$tool" devices --json
[ $rc -eq 1 ]
json_ok "devices --json: the device that cannot be described has an error" "
b = {x['address']: x for x in d['devices']}
assert b['0000:03:00.0']['error']['name'] == 'EIO', b
assert b['0000:01:00.0']['backend'] == 'vfio', b"

# --- peer memory that sysfs tells only in part ------------------------

sys=$tmp/half
pci 0000:05:00.0 0x1b36 0x0010
mkdir "$sys/bus/pci/devices/0000:05:00.0/p2pmem"
echo 123 >"$sys/bus/pci/devices/0000:05:00.0/p2pmem/size"
run env DMASPLIT_SYSFS_ROOT="$sys" "$tool" devices
[ $rc -eq 0 ] && row 0000:05:00.0 | grep -q ' 123/- '
ok $? "devices: peer memory without 'published' shows SIZE/-"
run env DMASPLIT_SYSFS_ROOT="$sys" "$tool" devices --json
json_ok "devices --json: peer memory without 'available' and 'published' has them null" "
assert d['devices'][0]['p2pmem'] == {'size': 123, 'available': None, 'published': None}, d"
run env DMASPLIT_SYSFS_ROOT="$sys" "$tool" --json info 0000:05:00.0
json_ok "info --json: the same nulls" "
assert d['device']['p2pmem'] == {'size': 123, 'available': None, 'published': None}, d"

# --- the options of devices ----------------------------------------------

run "$tool" devices --peer 0000:01:00.0
[ $rc -eq 2 ] && grep -q -- '--peer is for info only' "$err"
ok $? "devices --peer: exit 2"

run "$tool" help devices
[ $rc -eq 0 ] && grep -q '^Usage: dmasplit .*devices' "$out" &&
	grep -q -- '--wide' "$out" && grep -q -- '--json' "$out" &&
	! grep -q -- '--peer' "$out" && ! grep -q -- '--quick' "$out"
ok $? "help devices: its usage, with its options alone"

exit $failed
