#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The workshop's check harness: runs one exercise's check against a built
# module, as root, on the kernel it runs on. The same script runs on the
# learner's own kernel (`cargo run --bin workshop -- check N`, the Vagrant
# box) and in the qemu lab's guest (`cargo xtask exercises`), under dash,
# bash or busybox sh.
#
#   sh harness.sh CHECK [MODULE.ko]
#
# Environment: WS_TARGET (the target the module registers), WS_WORK (a
# scratch folder), WS_BATTERY and WS_VARIANT (battery exercises: the
# learner's script, and `reference` or the mutant's macro).
#
# It makes a loop device ($DEV, 128 MiB, sparse), loads the module, runs
# CHECK in a subshell with the helpers below, and then checks that nothing
# is left behind and that the module unloads. It prints what the workshop
# reads (chapters-code/workshop/report.rs): `WS-STEP id text` as each step
# begins, `WS-FAIL id why` for the step that failed (the check stops there),
# `WS-KMSG line` for each kernel log line written meanwhile, `WS-END status`.

check=$1
ko=${2:-}
WORK=${WS_WORK:-/tmp/workshop-check}
TARGET=${WS_TARGET:-}
DEV_SECTORS=262144
export WORK TARGET DEV_SECTORS

current=setup
# step ID TEXT: a step begins (the one before it passed).
step() {
	current=$1
	shift
	echo "WS-STEP $current $*"
}
# fail WHY: the current step failed; the check stops.
fail() {
	echo "WS-FAIL $current $*"
	exit 1
}

# The kernel log since the last mark_log.
mark_log() { log_mark=$(dmesg | wc -l); }
new_log() { dmesg | tail -n +$((log_mark + 1)); }

# dm_node NAME: the device node of mapped device NAME.
dm_node() { echo "/dev/dm-$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')"; }

# create NAME TABLE: the device must be created, or the step fails. Where
# udev runs, it reads a new device (blkid) as it appears: wait until it has,
# so that its reads come before the check's own I/O, not among it.
create() {
	mark_log
	echo "$2" | dmsetup create "$1" 2>"$WORK/err" ||
		fail "dmsetup create $1 refused \"$2\": $(cat "$WORK/err") $(new_log | grep -m1 device-mapper)"
	if [ -S /run/udev/control ]; then
		udevadm settle --timeout=10
	fi
}

# remove NAME: the device must go. With udev running (the Vagrant box),
# udev may still hold a new device open for a moment: --retry waits it out.
remove() {
	dmsetup remove --retry "$1" 2>"$WORK/err" || fail "dmsetup remove $1: $(cat "$WORK/err")"
}

# refuse TABLE REASON: `dmsetup create` must fail with REASON in the kernel
# log and leave no device.
refuse() {
	mark_log
	if echo "$1" | dmsetup create ws-bad 2>"$WORK/err"; then
		echo "accepted: $1"
		fail "the table \"$1\" was accepted; it must be refused with \"$2\""
	fi
	new_log | grep -q "$2" ||
		fail "\"$1\" was refused, but the kernel log does not say \"$2\": $(new_log | grep -m1 device-mapper)"
	! dmsetup info ws-bad >/dev/null 2>&1 || fail "a device was left behind after refusing \"$1\""
}

# field NAME KEY: KEY's value in NAME's `dmsetup status` (KEY=VALUE words).
field() { dmsetup status "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# pattern FILE TEXT: 4 KiB of TEXT, repeated.
pattern() {
	i=0
	while [ $i -lt 256 ]; do
		printf '%-15s\n' "$2"
		i=$((i + 1))
	done | dd of="$1" bs=4096 count=1 iflag=fullblock 2>/dev/null
}

# read_at DEVICE SECTOR FILE: 4 KiB read at SECTOR (a multiple of 8),
# direct, into FILE. In 4 KiB blocks: busybox's dd falls back to buffered
# I/O for 512-byte direct buffers.
read_at() { dd if="$1" of="$3" bs=4096 skip=$(($2 / 8)) count=1 iflag=direct 2>/dev/null; }
# write_at DEVICE SECTOR FILE: 4 KiB of FILE written at SECTOR (a multiple
# of 8), direct.
write_at() { dd if="$3" of="$1" bs=4096 seek=$(($2 / 8)) count=1 oflag=direct conv=notrunc 2>/dev/null; }

# The harness itself: nothing below runs inside the check.
mkdir -p "$WORK" || exit 2
rm -f "$WORK/disk.img"
dd if=/dev/zero of="$WORK/disk.img" bs=1M count=0 seek=128 2>/dev/null
DEV=$(losetup -f) && losetup "$DEV" "$WORK/disk.img" || {
	echo "WS-FAIL setup no free loop device"
	echo "WS-END 2"
	exit 2
}
export DEV

# Kernel lines from here on belong to this check.
token="workshop-check-$$-$(cat /proc/uptime | tr -d ' .')"
echo "$token" >/dev/kmsg

status=0
module=
if [ -n "$ko" ]; then
	module=$(basename "$ko" .ko | tr - _)
	step load "insmod $(basename "$ko")"
	if [ -d "/sys/module/$module" ]; then
		# A copy left by an earlier check that stopped half way.
		rmmod "$module" 2>/dev/null
	fi
	if [ -d "/sys/module/$module" ]; then
		echo "WS-FAIL load a module $module is loaded already and will not unload (a device still uses it? dmsetup ls)"
		status=1
	elif ! insmod "$ko" 2>"$WORK/err"; then
		echo "WS-FAIL load insmod $(basename "$ko"): $(cat "$WORK/err")"
		module=
		status=1
	elif [ -n "$TARGET" ] && ! dmsetup targets | grep -q "^$TARGET "; then
		echo "WS-FAIL load the module loaded, but dmsetup targets lists no \"$TARGET\": $(dmsetup targets | tr '\n' ' ')"
		status=1
	fi
fi

if [ "$status" = 0 ]; then
	(. "$check") </dev/null
	status=$?
fi

# Whatever the check left, the next check must find a clean machine.
left=$(dmsetup ls 2>/dev/null | awk '/^ws-/ { print $1 }')
for name in $left; do
	dmsetup remove --retry "$name" 2>/dev/null || dmsetup remove --force "$name" 2>/dev/null
done
unloaded=yes
if [ -n "$module" ] && [ -d "/sys/module/$module" ]; then
	rmmod "$module" 2>"$WORK/err" || unloaded="no: $(cat "$WORK/err")"
fi
if [ "$status" = 0 ]; then
	current=unload
	echo "WS-STEP unload remove devices, rmmod"
	if [ -n "$left" ]; then
		echo "WS-FAIL unload devices left behind: $(echo $left)"
		status=1
	elif [ "$unloaded" != yes ]; then
		echo "WS-FAIL unload the module does not unload ($unloaded)"
		status=1
	fi
fi
losetup -d "$DEV" 2>/dev/null
rm -f "$WORK/disk.img"

dmesg | sed -n "/$token/,\$p" | sed 1d | sed 's/^/WS-KMSG /'
echo "WS-END $status"
exit "$status"
