# The check of exercise 05, run by exercises/harness.sh with tally loaded
# and $DEV a 128 MiB loop device.
#
# Where udev runs (the Vagrant box), it reads a new device, and reads it
# again each time a writer closes it: the check holds each counter to what
# its own I/O added, and reads before it writes.

# mark: note the counters now; grew NAME BY: NAME grew by BY since then.
mark() {
	for c in reads read_sectors writes write_sectors; do
		eval "was_$c=\$(field ws-tally $c)"
	done
}
grew() {
	now=$(field ws-tally "$1")
	eval "was=\$was_$1"
	case "$now$was" in
	'' | *[!0-9]*) fail "dmsetup status ws-tally has no number for $1: \"$(dmsetup status ws-tally)\"" ;;
	esac
	[ "$((now - was))" = "$2" ] ||
		fail "$1 grew by $((now - was)), expected $2 (status: $(dmsetup status ws-tally))"
}

step table-line "dmsetup table shows the line as it was loaded"
create ws-tally "0 4096 tally $DEV 2048"
majmin=$(cat "/sys/block/${DEV#/dev/}/dev")
line=$(dmsetup table ws-tally)
[ "$line" = "0 4096 tally $majmin 2048" ] ||
	fail "dmsetup table ws-tally says \"$line\", not \"0 4096 tally $majmin 2048\""

step counts-reads "two 8 KiB direct reads count as reads=2 read_sectors=32"
node=$(dm_node ws-tally)
mark
dd if="$node" of=/dev/null bs=8192 count=2 iflag=direct 2>/dev/null || fail "reading failed"
grew reads 2
grew read_sectors 32
grew writes 0

step counts-writes "four 4 KiB direct writes count as writes=4 write_sectors=32"
mark
dd if=/dev/zero of="$node" bs=4096 count=4 oflag=direct 2>/dev/null || fail "writing failed"
grew writes 4
grew write_sectors 32

step flush-not-a-write "an fsync's empty flush is not counted as a write"
mark
dd if=/dev/zero of="$node" bs=4096 count=1 oflag=direct conv=fsync 2>/dev/null || fail "write and fsync failed"
grew writes 1
grew write_sectors 8
remove ws-tally
