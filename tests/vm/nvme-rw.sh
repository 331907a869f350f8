#!/bin/sh
# VM test: the NVMe example driver (examples/nvme/nvme-rw) against QEMU's
# NVMe controller.  Through vfio on iommufd and on type1 (with the
# checker on, as check-vm sets it): identify, 4 MiB written and read back
# in I/Os of 4 KiB to 256 KiB with each mapping strategy, a read into an
# unlinked buffer that must not reach memory, and the figures of --bench.
# Then the fallback: the direct backend on uio_pci_generic in an identity
# IOMMU group.  TAP output; run by tests/vm/run with nvme-rw in
# DMASPLIT_VM_PROGS.
set -u

bdf=${DMASPLIT_VM_NVME:-}
dev=/sys/bus/pci/devices/$bdf
n=0
failed=0

ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
	fi
}
# t DESCRIPTION COMMAND...: one result, the command's status.
t() {
	desc=$1
	shift
	"$@"
	ok $? "$desc"
}
note() { sed 's/^/# /'; }

if ! command -v nvme-rw >/dev/null; then
	echo "1..0 # SKIP nvme-rw is not in the guest (DMASPLIT_VM_PROGS)"
	exit 77
fi
if [ -z "$bdf" ]; then
	echo "1..0 # SKIP the guest has no NVMe controller"
	exit 77
fi

# bind DRIVER [GROUP_TYPE]: move the controller to DRIVER, changing its
# IOMMU group's type on the way (only possible while it has no driver).
bind() {
	if [ -e "$dev/driver" ]; then
		echo "$bdf" >"$dev/driver/unbind" || return 1
	fi
	if [ -n "${2:-}" ]; then
		echo "$2" >"$dev/iommu_group/type" || return 1
	fi
	echo "$1" >"$dev/driver_override" &&
		echo "$bdf" >/sys/bus/pci/drivers_probe &&
		[ "$(basename "$(readlink "$dev/driver")")" = "$1" ]
}

# nvme ARGS...: run nvme-rw; $out and $err hold what it printed, $rc its
# status; both are echoed as TAP comments.
nvme() {
	out=$(nvme-rw "$@" 2>/tmp/nvme-rw.err)
	rc=$?
	err=$(cat /tmp/nvme-rw.err)
	echo "\$ nvme-rw $* (exit $rc)" | note
	[ -z "$out" ] || echo "$out" | note
	[ -z "$err" ] || echo "$err" | note
}
has() { echo "$out" | grep -q -- "$1"; }
# The library calls of an I/O of 64 KiB in 4 KiB chunks in the last
# --bench --json: calls, not segments: map_vec and unmap_vec; alloc, 16
# links, sync, unlink and destroy; none.
calls_per_io_64k() {
	for want in "map 2.000" "window 20.000" "registered 0.000"; do
		set -- $want
		has "\"strategy\":\"$1\",\"io_size\":65536,[^}]*\"library_calls_per_io\":$2," ||
			return 1
	done
}
count() { echo "$out" | grep -c -- "$1"; }
# A clean run: status 0 and not one line from the library (errors, and
# the checker's reports of misuse, all go to its log).
clean() { [ "$rc" -eq 0 ] && ! echo "$err" | grep -q 'libdmasplit'; }
# The kernel logged an IOMMU fault for a write by the controller; the
# report can trail the completion a little.
dmar_write_fault() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		dmesg | grep -q 'DMAR: \[DMA Write' && return 0
		sleep 0.2
	done
	return 1
}

# The kernel's own driver runs the controller at boot: nvme-rw leaves
# it alone rather than reset it from under that driver's I/O.
if [ "$(basename "$(readlink "$dev/driver" 2>/dev/null)")" = nvme ]; then
	nvme "$bdf"
	t "on the kernel's nvme driver: refused" \
		eval '[ "$rc" -eq 1 ] && echo "$err" | grep -q "driven by the kernel.s nvme (backend p2pdma): bind it to vfio-pci or uio_pci_generic"'
	t "... and the controller was not touched" \
		eval '! dmesg | grep -q "DMAR: \[DMA Write"'
fi

t "the controller is bound to vfio-pci" bind vfio-pci

for iface in iommufd type1; do
	spec=$bdf,vfio=$iface

	nvme "$spec"
	# A 32-bit nvme-rw on this 64-bit kernel: iommufd does not answer
	# it, and the vfio backend says so instead of opening.
	if [ "$iface" = iommufd ] && [ "$rc" -ne 0 ] &&
		echo "$err" | grep -q "iommufd does not answer a 32-bit process"; then
		n=$((n + 1))
		echo "ok $n - the iommufd tests # SKIP this kernel's iommufd does not answer a 32-bit process"
		continue
	fi
	t "$iface: identify succeeds" clean
	t "$iface: the controller is QEMU's, serial dmasplit" \
		has "^controller $bdf: QEMU NVMe Ctrl, serial dmasplit,"
	t "$iface: namespace 1 is the harness's 16 MiB drive" \
		has "^namespace 1: 32768 blocks of 512 bytes (16 MiB)"
	t "$iface: mapped through vfio on $iface" \
		has "^mapped through vfio on $iface\$"

	nvme --write --io-size 4k,16k,64k,256k --total 4M "$spec"
	t "$iface: 4 MiB written and read back with each strategy, I/Os of 4-256 KiB, scattered pages" clean
	t "$iface: bytes match in all 12 runs" [ "$(count 'bytes match$')" -eq 12 ]

	nvme --write --io-size 64k --chunk 64k --total 1M "$spec"
	t "$iface: contiguous 64 KiB buffers, each strategy" clean
	t "$iface: bytes match in all 3 runs" [ "$(count 'bytes match$')" -eq 3 ]

	dmesg -c >/dev/null
	nvme --unlinked-read --io-size 16k "$spec,unlink=strict"
	t "$iface: a read into an unlinked buffer leaves it untouched" \
		has "^unlinked read: the buffer is untouched"
	t "$iface: ... and the IOMMU reported the controller's write" \
		dmar_write_fault
	dmesg | grep 'DMAR' | head -n 2 | note

	nvme --write --bench --json --io-size 4k,64k --total 4M "$spec"
	t "$iface: --bench --json: 6 verified runs" \
		[ "$(echo "$out" | grep -o '"verified":true' | wc -l)" -eq 6 ]
	t "$iface: registered: no kernel call per I/O" \
		has '"strategy":"registered","io_size":65536,[^}]*"kernel_calls_per_io":0.000,'
	t "$iface: map and window: kernel calls on every I/O" \
		has '"strategy":"window","io_size":65536,[^}]*"kernel_calls_per_io":[1-9]'
	t "$iface: library calls per I/O of 64 KiB: map 2, window 20, registered 0" \
		calls_per_io_64k

	# A command that times out: the controller is stopped before its
	# buffers are unmapped, so that it never reaches them unmapped (no
	# DMAR fault).  1 ms is too short for an I/O command now and then
	# under emulation: up to 40 tries, until two have timed out.
	[ "$iface" = iommufd ] || continue
	timeouts=0
	tries=0
	dmesg -c >/dev/null
	: >/tmp/nvme-rw.json
	while [ $tries -lt 40 ] && [ $timeouts -lt 2 ]; do
		tries=$((tries + 1))
		nvme-rw --write --json --strategy map --timeout 1 \
			--io-size 256k --total 4M --lba 20000 "$spec" \
			>>/tmp/nvme-rw.json 2>/tmp/nvme-rw.err
		! grep -q 'I/O command .* did not complete' /tmp/nvme-rw.err ||
			timeouts=$((timeouts + 1))
	done
	# A run whose first I/O failed has no figure per I/O: null.
	t "$iface: the JSON of runs cut short by a timeout has no NaN" \
		eval '! grep -q -i -e nan -e inf /tmp/nvme-rw.json'
	nvme --write --bench --json --strategy window --io-size 64k --total 1M "$spec"
	t "$iface: without a run of map, iops_vs_map is null" \
		has '"strategy":"window","io_size":65536,[^}]*"iops_vs_map":null}'

	sleep 1		# the kernel's reports can trail
	if [ $timeouts -eq 0 ]; then
		n=$((n + 1))
		echo "ok $n - $iface: timed-out commands # SKIP none of $tries tries timed out"
	else
		t "$iface: $timeouts I/O commands timed out in $tries tries, and the controller reached none of their buffers after" \
			eval '! dmesg | grep -q "DMAR: \[DMA"'
	fi
	nvme --write -q --io-size 64k --total 1M "$spec"
	t "$iface: the next run after the timeouts works" clean
done

t "the controller is bound to uio_pci_generic in an identity group" \
	bind uio_pci_generic identity

nvme "$bdf"
t "direct: identify succeeds" clean
t "direct: mapped through direct" has "^mapped through direct\$"
nvme --write --bench --io-size 4k,64k --total 4M "$bdf"
t "direct: written and read back with each strategy" clean
t "direct: bytes match in all 6 runs" [ "$(count 'bytes match')" -eq 6 ]
t "direct: window and registered fall back to the per-range path" \
	[ "$(count 'no windows: per-range path')" -eq 4 ]

echo "1..$n"
exit $failed
