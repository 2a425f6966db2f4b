#!/bin/sh
# faulty on a real kernel: bad table lines, bad feature arguments and bad
# messages must be refused, each with its reason in the kernel log, leaving
# nothing behind; then the failures it exists for must happen, and only
# them: a read of a bad sector fails, a write fails or is dropped as the mode
# says, everything else passes, and the counters say so.
#
# A guest script for the lab:
#   cargo xtask lab --kernel 6.1 --stage stage3-faulty \
#       --script module/stage3-faulty/tests/bad-input.sh
# It expects faulty loaded and /dev/loop0 over a 128 MiB (262144-sector)
# file, as the lab provides. Runs under busybox sh with dmsetup on PATH.
# REFUSAL and MESSAGE_REFUSAL lines are for the lab, which holds a
# simulator twin to the same refusals with the same log lines.

# The helpers every battery shares (module/tests/lib.sh): problem, the
# kernel log since mark_log, refuse, status_is, finish. The lab puts them
# beside this script in the guest.
here=$(dirname "$0")
if [ -f "$here/lib.sh" ]; then . "$here/lib.sh"; else . "$here/../../tests/lib.sh"; fi

# refuse_message WORDS REASON: `dmsetup message good 0 WORDS` must fail, the
# kernel must log REASON, and the device's table and status must not move.
refuse_message() {
	words=$1
	reason=$2
	echo "== message good 0 $words"
	before="$(dmsetup table good) / $(dmsetup status good)"
	mark_log
	# shellcheck disable=SC2086 # the words are split on purpose
	if dmsetup message good 0 $words 2>/tmp/err; then
		problem "message accepted: $words"
		return
	fi
	sed 's/^/   dmsetup: /' /tmp/err
	new_log | sed 's/^/   dmesg: /'
	echo "MESSAGE_REFUSAL $good_table|0 $words|$(first_dm_line)"
	new_log | grep -q "$reason" || problem "no \"$reason\" in the log for message: $words"
	after="$(dmsetup table good) / $(dmsetup status good)"
	[ "$after" = "$before" ] || problem "a refused message changed the device: $after"
}

# Direct I/O of one 4 KiB block (sectors 8N to 8N+7) of good. A smaller
# direct read is not made: busybox's dd falls back to the page cache when
# its buffer is not aligned for O_DIRECT, and the page cache reads whole
# 4 KiB pages (and more, ahead) anyway.
read_block() {
	dd if="$node" of=/tmp/block bs=4096 skip="$1" count=1 iflag=direct 2>/tmp/dd.err
}
read_ok() { read_block "$1" || problem "reading block $1 failed: $(cat /tmp/dd.err)"; }
read_fails() { read_block "$1" && problem "reading block $1 succeeded"; }
write_block() {
	printf '%s' "$2" | dd of="$node" bs=4096 seek="$1" count=1 conv=sync oflag=direct 2>/tmp/dd.err
}
# What block N of good holds on the loop device (good starts at its sector 2048).
on_disk() { dd if=/dev/loop0 bs=512 skip=$((2048 + 8 * $1)) count=8 2>/dev/null | tr -d '\000'; }

echo "-- dmsetup targets"
dmsetup targets | grep -q '^faulty *v1.0.0$' || problem "faulty v1.0.0 not registered"

dev=/dev/loop0
refuse "0 4096 faulty $dev" "faulty: Invalid argument count"
refuse "0 4096 faulty $dev abc" "faulty: Invalid device sector"
refuse "0 4096 faulty $dev -1" "faulty: Invalid device sector"
refuse "0 4096 faulty /dev/nosuch 0" "faulty: Device lookup failed"
refuse "0 4096 faulty $dev 0 x" "faulty: Invalid number of feature arguments"
refuse "0 4096 faulty $dev 0 2 bad" "faulty: Invalid number of feature arguments"
refuse "0 4096 faulty $dev 0 1 pass extra" "faulty: Unexpected words after the features"
refuse "0 4096 faulty $dev 0 1 bad" "faulty: Feature bad needs a sector"
refuse "0 4096 faulty $dev 0 2 bad x" "faulty: Invalid sector"
refuse "0 4096 faulty $dev 0 2 bad 4096" "faulty: Sector beyond the target's end"
refuse "0 4096 faulty $dev 0 1 slow" "faulty: Unrecognised feature argument"
refuse "0 4096 faulty $dev 0 2 pass drop_writes" "faulty: Only one of drop_writes and pass"
refuse "0 4096 faulty $dev 0 66 bad 1" "faulty: Invalid number of feature arguments"
refuse "0 262144 faulty $dev 1" "too small for target"

good_table="0 4096 faulty $dev 2048 2 bad 100"
echo "== $good_table"
echo "$good_table" | dmsetup create good || problem "good line refused"
node=/dev/dm-$(dmsetup info -c --noheadings -o minor good | tr -d ' ')
echo "-- dmsetup table good"
dmsetup table good
[ "$(dmsetup table good)" = "0 4096 faulty 7:0 2048 2 bad 100" ] ||
	problem "table line: $(dmsetup table good)"
dmsetup status good
status_is "mode=fail bad_sectors=1 read_errors=0 write_errors=0 dropped_writes=0"

refuse_message "frobnicate" "faulty: Unrecognised message received: frobnicate"
refuse_message "addbad" "faulty: Invalid argument count for message addbad: 1 words, not 2"
refuse_message "addbad x" "faulty: Invalid sector: x"
refuse_message "addbad 4096" "faulty: Sector beyond the target's end: 4096"
refuse_message "removebad 7" "faulty: Sector 7 is not bad"
refuse_message "mode slow" "faulty: Unknown mode slow: fail, drop or pass"
refuse_message "listbad now" "faulty: Invalid argument count for message listbad: 2 words, not 1"

echo "== fail mode: a read of block 12 (sectors 96-103) fails, its neighbours do not"
read_fails 12
read_ok 11
read_ok 13
echo "== fail mode: a write to block 12 fails and writes nothing"
write_block 12 "lost" && problem "a write to a bad sector succeeded"
[ -z "$(on_disk 12)" ] || problem "the failed write reached the disk"
write_block 13 "kept" || problem "a write next to the bad sector failed: $(cat /tmp/dd.err)"
[ "$(on_disk 13)" = "kept" ] || problem "the good write is not on the disk"
dmsetup status good
status_is "read_errors=1 write_errors=1 dropped_writes=0"

echo "== drop mode: the write ends well and nothing is written"
dmsetup message good 0 mode drop || problem "mode drop refused"
write_block 12 "dropped" || problem "a dropped write failed: $(cat /tmp/dd.err)"
[ -z "$(on_disk 12)" ] || problem "the dropped write reached the disk"
read_fails 12
dmsetup table good
status_is "mode=drop read_errors=2 write_errors=1 dropped_writes=1"

echo "== messages: add, list, remove, clear"
dmsetup message good 0 addbad 7 || problem "addbad refused"
dmsetup message good 0 addbad 3000 || problem "addbad refused"
echo "\$ dmsetup message good 0 listbad"
dmsetup message good 0 listbad
[ "$(dmsetup message good 0 listbad)" = "7 100 3000" ] || problem "listbad: $(dmsetup message good 0 listbad)"
dmsetup message good 0 removebad 100 || problem "removebad refused"
read_ok 12
read_fails 0
dmsetup message good 0 clearbad || problem "clearbad refused"
read_ok 0
status_is "bad_sectors=0"

echo "== pass mode keeps the list and fails nothing"
dmsetup message good 0 mode pass || problem "mode pass refused"
dmsetup message good 0 addbad 5 || problem "addbad refused"
read_ok 0
dmsetup table good
[ "$(dmsetup table good)" = "0 4096 faulty 7:0 2048 3 pass bad 5" ] ||
	problem "table line: $(dmsetup table good)"

echo "== a flush and a discard pass through"
dd if=/dev/zero of="$node" bs=4096 count=1 oflag=direct conv=fsync 2>/dev/null ||
	problem "an fsync through faulty failed"
blkdiscard -o 0 -l 65536 "$node" || problem "a discard through faulty failed"

dmsetup remove good || problem "cannot remove good"

finish "every bad line and message refused, every failure where it was asked for"
