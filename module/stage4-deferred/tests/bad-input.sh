#!/bin/sh
# deferred on a real kernel: bad table lines and bad feature arguments must
# be refused, each with its reason in the kernel log, and a message with the
# core's, leaving nothing behind; then what the target exists for must work:
# held bios go after their delay, a bio cut by max_io_len is held piece by
# piece, a suspend with bios held sends them on at once, and a noflush
# suspend hands them back to the core, which sends them through the target
# again after resume. Nothing is lost.
#
# A guest script for the lab:
#   cargo xtask lab --all --stage stage4-deferred \
#       --script module/stage4-deferred/tests/bad-input.sh
# It expects deferred loaded and /dev/loop0 over a 128 MiB (262144-sector)
# file, as the lab provides. Runs under busybox sh with dmsetup on PATH.
# REFUSAL and MESSAGE_REFUSAL lines are for the lab, which holds a
# simulator twin to the same refusals with the same log lines.

# The helpers every battery shares (module/tests/lib.sh): problem, the
# kernel log since mark_log, refuse, status_is, finish. The lab puts them
# beside this script in the guest.
here=$(dirname "$0")
if [ -f "$here/lib.sh" ]; then . "$here/lib.sh"; else . "$here/../../tests/lib.sh"; fi

# field NAME: the value of NAME=... in good's status.
field() { dmsetup status good | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# wait_held N: until good holds N bios (5 s at most).
wait_held() {
	tries=0
	while [ "$(field held)" != "$1" ]; do
		tries=$((tries + 1))
		[ "$tries" -le 50 ] || {
			problem "good never held $1 bios: $(dmsetup status good)"
			return 1
		}
		sleep 0.1
	done
}

# write_block N TEXT: TEXT, padded to 4 KiB, to block N of good: one bio.
write_block() {
	printf '%s' "$2" | dd of="$node" bs=4096 seek="$1" count=1 conv=sync oflag=direct 2>/tmp/dd.err
}
# What block N of good holds on the loop device (good starts at its sector
# 2048, its block 256), read past the loop device's page cache, which the
# writes through good do not go through.
on_disk() { dd if=/dev/loop0 bs=4096 skip=$((256 + $1)) count=1 iflag=direct 2>/dev/null | tr -d '\000'; }
# What block N reads through good.
read_block() {
	dd if="$node" bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null | tr -d '\000'
}
# running PID: whether the process is still there.
running() { [ -d "/proc/$1" ]; }

echo "-- dmsetup targets"
dmsetup targets | grep -q '^deferred *v1.0.0$' || problem "deferred v1.0.0 not registered"

dev=/dev/loop0
refuse "0 4096 deferred $dev" "deferred: Invalid argument count"
refuse "0 4096 deferred $dev 0" "deferred: Invalid argument count"
refuse "0 4096 deferred $dev abc 10" "deferred: Invalid device sector"
refuse "0 4096 deferred $dev 0 x" "deferred: Invalid delay"
refuse "0 4096 deferred $dev 0 -5" "deferred: Invalid delay"
refuse "0 4096 deferred $dev 0 60001" "deferred: Delay above 60000 ms"
refuse "0 4096 deferred /dev/nosuch 0 10" "deferred: Device lookup failed"
refuse "0 4096 deferred $dev 0 10 x" "deferred: Invalid number of feature arguments"
refuse "0 4096 deferred $dev 0 10 3 max_io_len 8 x" "deferred: Invalid number of feature arguments"
refuse "0 4096 deferred $dev 0 10 2 max_io_len" "deferred: Invalid number of feature arguments"
refuse "0 4096 deferred $dev 0 10 1 max_io_len" "deferred: Feature max_io_len needs a number of sectors"
refuse "0 4096 deferred $dev 0 10 2 max_io_len 0" "deferred: Invalid max_io_len"
refuse "0 4096 deferred $dev 0 10 2 max_io_len x" "deferred: Invalid max_io_len"
refuse "0 4096 deferred $dev 0 10 2 slow 8" "deferred: Unrecognised feature argument"
refuse "0 4096 deferred $dev 0 10 2 max_io_len 8 extra" "deferred: Unexpected words after the features"
refuse "0 262144 deferred $dev 1 10" "too small for target"

good_table="0 4096 deferred $dev 2048 1000 2 max_io_len 4"
echo "== $good_table"
echo "$good_table" | dmsetup create good || problem "good line refused"
node=/dev/dm-$(dmsetup info -c --noheadings -o minor good | tr -d ' ')
echo "-- dmsetup table good"
dmsetup table good
[ "$(dmsetup table good)" = "0 4096 deferred 7:0 2048 1000 2 max_io_len 4" ] ||
	problem "table line: $(dmsetup table good)"
dmsetup status good
status_is "held=0 delayed=0 drained=0 pushed_back=0"

echo "== message good 0 hello"
mark_log
if dmsetup message good 0 hello 2>/tmp/err; then
	problem "deferred took a message"
else
	sed 's/^/   dmsetup: /' /tmp/err
	echo "MESSAGE_REFUSAL $good_table|0 hello|$(first_dm_line)"
	new_log | grep -q "Target type does not support messages" ||
		problem "no reason in the log for the message"
fi

echo "== a 4 KiB write, cut in two by max_io_len 4, is held, then reaches the disk"
write_block 1 "first" &
writer=$!
wait_held 2
dmsetup status good
running "$writer" || problem "the write ended before its delay"
wait "$writer" || problem "the write failed: $(cat /tmp/dd.err)"
[ "$(on_disk 1)" = "first" ] || problem "the write is not on the disk: $(on_disk 1)"
status_is "held=0 delayed=2"

echo "== suspend with bios held: presuspend sends them on at once"
write_block 2 "drained" &
writer=$!
wait_held 2
dmsetup suspend good || problem "suspend failed"
dmsetup info -c --noheadings -o attr good
status_is "held=0 delayed=4 drained=2"
wait "$writer" || problem "the drained write failed: $(cat /tmp/dd.err)"
[ "$(on_disk 2)" = "drained" ] || problem "the drained write is not on the disk"
dmsetup resume good || problem "resume failed"

echo "== noflush suspend with bios held: back to the core until resume"
write_block 3 "pushed back" &
writer=$!
wait_held 2
dmsetup suspend --noflush good || problem "noflush suspend failed"
status_is "held=0 delayed=6 drained=2 pushed_back=2"
sleep 1
running "$writer" || problem "the pushed-back write ended while the device was suspended"
[ -z "$(on_disk 3)" ] || problem "the pushed-back write reached the disk while suspended"
dmsetup resume good || problem "resume failed"
wait_held 2
dmsetup status good
wait "$writer" || problem "the pushed-back write failed: $(cat /tmp/dd.err)"
[ "$(on_disk 3)" = "pushed back" ] || problem "the pushed-back write is not on the disk"
status_is "held=0 delayed=8 drained=2 pushed_back=2"

echo "== reads, a flush and a discard go through too"
[ "$(read_block 3)" = "pushed back" ] || problem "reading block 3 back: $(read_block 3)"
dd if=/dev/zero of="$node" bs=4096 seek=5 count=1 oflag=direct conv=fsync 2>/dev/null ||
	problem "an fsync through deferred failed"
blkdiscard -o 0 -l 65536 "$node" || problem "a discard through deferred failed"
dmsetup status good
status_is "held=0"

dmsetup remove good || problem "cannot remove good"

finish "every bad line refused, every held bio sent on, nothing lost"
