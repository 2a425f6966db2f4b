#!/bin/sh
# hello_target with udev running, as on a machine that has it (the Vagrant
# box): dmsetup waits for udev to confirm each change through a cookie, udev
# makes /dev/mapper/NAME, and a remove right after a create meets udev's own
# work on the new device.
#
# A guest script for the lab, with udev started in the guest:
#   cargo xtask lab --kernel 6.1 --udev --script module/stage1-hello/tests/udev.sh
# It expects hello_target loaded and /dev/loop0 over a 128 MiB file, as the
# lab provides. Runs under busybox sh with dmsetup and udevadm on PATH.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

[ -S /run/udev/control ] || {
	echo "udev is not running here: run the lab with --udev"
	exit 1
}
echo "-- udevadm --version: $(udevadm --version)"

rounds=20
busy=0
i=0
while [ $i -lt $rounds ]; do
	name=udev$i
	echo "0 4096 hello_target /dev/loop0 2048" | dmsetup create $name ||
		problem "dmsetup create $name failed"
	# Made by udev's rules (55-dm.rules), not by dmsetup: a symlink.
	[ -L /dev/mapper/$name ] || problem "no /dev/mapper/$name symlink after create"
	minor=$(dmsetup info -c --noheadings -o minor $name | tr -d ' ')
	[ "$(readlink /dev/mapper/$name)" = "../dm-$minor" ] ||
		problem "/dev/mapper/$name points at $(readlink /dev/mapper/$name), not ../dm-$minor"
	dd if=/dev/zero of=/dev/mapper/$name bs=4096 count=1 oflag=direct 2>/dev/null ||
		problem "writing through /dev/mapper/$name failed"
	# At once: udev may still hold the new device open (blkid).
	if ! dmsetup remove $name 2>/tmp/err; then
		busy=$((busy + 1))
		sed 's/^/   first remove: /' /tmp/err
		dmsetup remove --retry $name || problem "dmsetup remove --retry $name failed"
	fi
	udevadm settle --timeout=10
	[ ! -e /dev/mapper/$name ] || problem "/dev/mapper/$name is still there after remove"
	i=$((i + 1))
done
echo "$rounds creates and removes through udev; $busy first removes found the device busy"

# Every cookie dmsetup handed udev was confirmed (95-dm-notify.rules ran
# `dmsetup udevcomplete`): none is left waiting.
cookies=$(dmsetup udevcookies 2>&1)
echo "-- dmsetup udevcookies"
echo "$cookies"
left=$(echo "$cookies" | grep -c '^0x')
[ "$left" -eq 0 ] || problem "$left udev cookies were never confirmed"

if [ "$failures" -ne 0 ]; then
	echo "$failures problem(s)"
	exit 1
fi
echo "udev made and removed every node, and confirmed every cookie"
