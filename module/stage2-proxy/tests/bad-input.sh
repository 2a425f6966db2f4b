#!/bin/sh
# Bad proxy table lines and bad messages must be refused, each with its
# reason in the kernel log, and leave nothing behind; a good line must work
# and count what passes.
#
# A guest script for the lab:
#   cargo xtask lab --kernel 6.1 --stage stage2-proxy \
#       --script module/stage2-proxy/tests/bad-input.sh
# It expects proxy loaded and /dev/loop0 over a 128 MiB (262144-sector)
# file, as the lab provides. Runs under busybox sh with dmsetup on PATH.
# REFUSAL and MESSAGE_REFUSAL lines are for the lab, which holds the
# simulator to the same refusals with the same log lines.

# The helpers every battery shares (module/tests/lib.sh): problem, the
# kernel log since mark_log, refuse, status_is, finish. The lab puts them
# beside this script in the guest.
here=$(dirname "$0")
if [ -f "$here/lib.sh" ]; then . "$here/lib.sh"; else . "$here/../../tests/lib.sh"; fi

# refuse_message SECTOR WORDS REASON: `dmsetup message good SECTOR WORDS`
# must fail, the kernel must log REASON, and the counters must not move.
refuse_message() {
	sector=$1
	words=$2
	reason=$3
	echo "== message good $sector $words"
	before=$(dmsetup status good)
	mark_log
	# shellcheck disable=SC2086 # the words are split on purpose
	if dmsetup message good "$sector" $words 2>/tmp/err; then
		problem "message accepted: $sector $words"
		return
	fi
	sed 's/^/   dmsetup: /' /tmp/err
	new_log | sed 's/^/   dmesg: /'
	echo "MESSAGE_REFUSAL $good_table|$sector $words|$(first_dm_line)"
	new_log | grep -q "$reason" || problem "no \"$reason\" in the log for message: $words"
	[ "$(dmsetup status good)" = "$before" ] ||
		problem "the counters moved on a refused message: $(dmsetup status good)"
}

# counter NAME: one counter of good's status line.
counter() {
	dmsetup status good | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# expect_counters "NAME=VALUE ...": each named counter must have its value.
expect_counters() {
	for pair in $1; do
		name=${pair%%=*}
		want=${pair#*=}
		got=$(counter "$name")
		[ "$got" = "$want" ] || problem "$name is $got, expected $want"
	done
}

echo "-- dmsetup targets"
dmsetup targets
dmsetup targets | grep -q '^proxy *v1.0.0$' || problem "proxy v1.0.0 not registered"

dev=/dev/loop0
refuse "0 262144 proxy $dev" "proxy: Invalid argument count"
refuse "0 262144 proxy $dev 0 extra" "proxy: Invalid argument count"
refuse "0 262144 proxy $dev abc" "proxy: Invalid device sector"
refuse "0 262144 proxy $dev -1" "proxy: Invalid device sector"
refuse "0 262144 proxy $dev 18446744073709551616" "proxy: Invalid device sector"
refuse "0 262144 proxy /dev/nosuch 0" "proxy: Device lookup failed"
refuse "0 262144 proxy /dev/null 0" "proxy: Device lookup failed"
refuse "0 262144 proxy $dev 1" "too small for target"

# A good line, its table and its status before any I/O.
good_table="0 4096 proxy $dev 2048"
echo "== $good_table"
mark_log
echo "$good_table" | dmsetup create good || problem "good line refused"
new_log | sed 's/^/   dmesg: /'
echo "-- dmsetup table good"
dmsetup table good
[ "$(dmsetup table good)" = "0 4096 proxy 7:0 2048" ] ||
	problem "table line: $(dmsetup table good)"
echo "-- dmsetup status good"
dmsetup status good
dmsetup message good 0 reset || problem "reset refused"

# Known I/O: four 4 KiB direct writes, two 8 KiB direct reads.
minor=$(dmsetup info -c --noheadings -o minor good)
dd if=/dev/zero of="/dev/dm-$minor" bs=4096 count=4 oflag=direct 2>/dev/null ||
	problem "writing through the device failed"
dd if="/dev/dm-$minor" of=/dev/null bs=8192 count=2 iflag=direct 2>/dev/null ||
	problem "reading through the device failed"
echo "-- dmsetup status good, after 4 writes of 8 sectors and 2 reads of 16"
dmsetup status good
expect_counters "reads=2 read_sectors=32 writes=4 write_sectors=32 flushes=0 others=0 errors=0"
[ "$(counter latency_ns)" -gt 0 ] || problem "no latency counted"
[ "$(counter max_latency_ns)" -le "$(counter latency_ns)" ] ||
	problem "the longest bio took longer than all of them"

refuse_message 0 "frobnicate" "proxy: Unrecognised message received: frobnicate"
refuse_message 0 "reset now" "proxy: Invalid argument count for message: reset takes none"
refuse_message 4096 "reset" "Target message sector outside device."
refuse_message 0 "@frobnicate" "Unsupported message sent to DM core: @frobnicate"

echo "== message good 0 reset"
dmsetup message good 0 reset || problem "reset refused"
dmsetup status good
expect_counters "reads=0 read_sectors=0 writes=0 write_sectors=0 flushes=0 others=0 errors=0 latency_ns=0 max_latency_ns=0"

dmsetup remove good || problem "cannot remove good"

# Errors are counted too: a proxy over a device that fails every bio.
echo "== 0 8 proxy over 0 8 error"
echo "0 8 error" | dmsetup create failing || problem "error device refused"
failing=$(dmsetup info -c --noheadings --separator : -o major,minor failing | tr -d ' ')
echo "0 8 proxy $failing 0" | dmsetup create good || problem "proxy over error refused"
minor=$(dmsetup info -c --noheadings -o minor good)
if dd if="/dev/dm-$minor" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
	problem "a read through the error target succeeded"
fi
dmsetup status good
expect_counters "reads=1 read_sectors=8 errors=1"
dmsetup remove good || problem "cannot remove good"
dmsetup remove failing || problem "cannot remove failing"

finish "every bad line and message refused, the good line counts what passes"
