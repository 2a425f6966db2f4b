#!/bin/sh
# A cache flush written to a hello_target device must reach the device
# underneath, as it does through linear; a discard must pass too.
#
# A guest script for the lab:
#   cargo xtask lab --kernel 6.1 --script module/stage1-hello/tests/flush.sh
# It expects hello_target loaded and /dev/loop0 over a 128 MiB (262144-sector)
# file, as the lab provides. Runs under busybox sh with dmsetup on PATH.
#
# For each table it prints `WRITE_CACHE <table>|<mode>` and
# `FLUSH <table>|reached` or `FLUSH <table>|not reached`: the lab holds the
# simulator to them on the line it models.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

dev=/dev/loop0
loop=/sys/block/loop0

# Field N of /sys/block/loop0/stat (Documentation/block/stat.rst: 12 discard
# I/Os, 16 flush requests), or nothing if the kernel's stat is shorter.
stat_field() { awk -v n="$1" 'NF >= n { print $n }' $loop/stat; }

echo "-- $loop/stat has $(awk '{ print NF }' $loop/stat) fields"
echo "-- $loop/queue/write_cache: $(cat $loop/queue/write_cache)"
if [ "$(cat $loop/queue/write_cache)" != "write back" ]; then
	echo "write back" >$loop/queue/write_cache
	echo "-- set to: $(cat $loop/queue/write_cache)"
fi
loop_cache=$(cat $loop/queue/write_cache)

# check TARGET: a 4096-sector device at the loop device's sector 2048.
check() {
	table="0 4096 $1 $dev 2048"
	echo "== $table"
	echo "$table" | dmsetup create flush || {
		problem "refused: $table"
		return
	}
	minor=$(dmsetup info -c --noheadings -o minor flush)
	queue=/sys/block/dm-$minor/queue

	cache=$(cat $queue/write_cache)
	echo "   write_cache: $cache (loop0: $loop_cache)"
	[ -r $queue/fua ] && echo "   fua: $(cat $queue/fua) (loop0: $(cat $loop/queue/fua))"
	echo "WRITE_CACHE $table|$cache"
	[ "$cache" = "$loop_cache" ] ||
		problem "$1 reports \"$cache\", loop0 \"$loop_cache\""

	# One block written and fsync'd: the fsync sends the dm device an empty
	# PREFLUSH bio, which must reach loop0 as a flush.
	before=$(stat_field 16)
	dd if=/dev/zero of=/dev/dm-$minor bs=4096 count=1 conv=fsync 2>/dev/null ||
		problem "write and fsync through $1 failed"
	after=$(stat_field 16)
	if [ -z "$before" ]; then
		echo "   loop0's stat has no flush count on this kernel: not checked"
	else
		echo "   loop0 flushes: $before before the fsync, $after after"
		if [ "$after" -gt "$before" ]; then
			echo "FLUSH $table|reached"
		else
			echo "FLUSH $table|not reached"
			problem "the fsync's flush did not reach loop0 through $1"
		fi
	fi

	# A discard of the first MiB must reach loop0 as a discard.
	echo "   discard_max_bytes: $(cat $queue/discard_max_bytes) (loop0: $(cat $loop/queue/discard_max_bytes))"
	before=$(stat_field 12)
	if blkdiscard -o 0 -l 1048576 /dev/dm-$minor; then
		after=$(stat_field 12)
		echo "   loop0 discards: $before before, $after after"
		[ "$after" -gt "$before" ] ||
			problem "the discard did not reach loop0 through $1"
	else
		problem "blkdiscard through $1 failed"
	fi

	dmsetup remove flush || problem "cannot remove flush"
}

check linear
check hello_target

if [ "$failures" -ne 0 ]; then
	echo "$failures problem(s)"
	exit 1
fi
echo "flushes and discards reach loop0 through hello_target as through linear"
