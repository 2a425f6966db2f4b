#!/bin/sh
# Bad hello_target table lines must be refused, with the reason in the kernel
# log and no device left behind; a good line must work.
#
# A guest script for the lab:
#   cargo xtask lab --kernel 6.1 --script module/stage1-hello/tests/bad-tables.sh
# It expects hello_target loaded and /dev/loop0 over a 128 MiB (262144-sector)
# file, as the lab provides. Runs under busybox sh with dmsetup on PATH.

# The helpers every battery shares (module/tests/lib.sh): problem, the
# kernel log since mark_log, refuse, status_is, finish. The lab puts them
# beside this script in the guest.
here=$(dirname "$0")
if [ -f "$here/lib.sh" ]; then . "$here/lib.sh"; else . "$here/../../tests/lib.sh"; fi

echo "-- dmsetup targets"
dmsetup targets
dmsetup targets | grep -q '^hello_target *v1.0.0$' || problem "hello_target v1.0.0 not registered"

dev=/dev/loop0
refuse "0 262144 hello_target $dev" "hello_target: Invalid argument count"
refuse "0 262144 hello_target $dev 0 extra" "hello_target: Invalid argument count"
refuse "0 262144 hello_target $dev abc" "hello_target: Invalid device sector"
refuse "0 262144 hello_target $dev -1" "hello_target: Invalid device sector"
refuse "0 262144 hello_target $dev 18446744073709551616" "hello_target: Invalid device sector"
refuse "0 262144 hello_target /dev/nosuch 0" "hello_target: Device lookup failed"
refuse "0 262144 hello_target /dev/null 0" "hello_target: Device lookup failed"
refuse "0 262144 hello_target $dev 1" "too small for target"

# A good line: 8 sectors written at the device's sector 0 land at the loop
# device's sector 2048.
echo "== 0 4096 hello_target $dev 2048"
mark_log
echo "0 4096 hello_target $dev 2048" | dmsetup create good || problem "good line refused"
new_log | sed 's/^/   dmesg: /'
echo "-- dmsetup table good"
dmsetup table good
echo "-- dmsetup status good"
dmsetup status good
echo "-- dmsetup info good"
dmsetup info good
echo "-- dmsetup ls"
dmsetup ls
minor=$(dmsetup info -c --noheadings -o minor good)
i=0
while [ $i -lt 4096 ]; do echo "hello, sector 2048"; i=$((i + 1)); done |
	dd of=/tmp/pattern bs=4096 count=1 iflag=fullblock 2>/dev/null
dd if=/tmp/pattern of="/dev/dm-$minor" bs=4096 count=1 oflag=direct 2>/dev/null ||
	problem "write through the device failed"
dd if=$dev of=/tmp/landed bs=512 skip=2048 count=8 iflag=direct 2>/dev/null
cmp /tmp/pattern /tmp/landed && echo "data written at sector 0 landed at $dev sector 2048" ||
	problem "data did not land at sector 2048"

# Past the end again, but as a new table for a live device: where is it
# refused, at load or at resume? Either way the live table must stay.
echo "== reload good with 0 262144 hello_target $dev 1"
mark_log
if echo "0 262144 hello_target $dev 1" | dmsetup load good 2>/tmp/err; then
	echo "   load: accepted"
	if dmsetup resume good 2>/tmp/err; then
		problem "a table past the device's end was resumed"
	else
		sed 's/^/   resume: /' /tmp/err
	fi
	dmsetup clear good
else
	sed 's/^/   load: /' /tmp/err
fi
new_log | sed 's/^/   dmesg: /'
new_log | grep -q "too small for target" || problem "no \"too small for target\" in the log on reload"
dmsetup resume good 2>/dev/null
[ "$(dmsetup table good)" = "0 4096 hello_target 7:0 2048" ] ||
	problem "the live table changed: $(dmsetup table good)"
dmsetup info good | grep -q '^State: *ACTIVE$' || problem "good is not active after the refused reload"

dmsetup remove good || problem "cannot remove good"

finish "every bad line refused, the good line works"
