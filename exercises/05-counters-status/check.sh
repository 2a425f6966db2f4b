# The check of exercise 05, run by exercises/harness.sh with tally loaded
# and $DEV a 128 MiB loop device.

# expect NAME=VALUE...: each counter of ws-tally's status has its value.
expect() {
	for pair in "$@"; do
		got=$(field ws-tally "${pair%%=*}")
		[ "$got" = "${pair#*=}" ] ||
			fail "${pair%%=*} is \"$got\", expected ${pair#*=} (status: $(dmsetup status ws-tally))"
	done
}

step table-line "dmsetup table shows the line as it was loaded"
create ws-tally "0 4096 tally $DEV 2048"
majmin=$(cat "/sys/block/${DEV#/dev/}/dev")
line=$(dmsetup table ws-tally)
[ "$line" = "0 4096 tally $majmin 2048" ] ||
	fail "dmsetup table ws-tally says \"$line\", not \"0 4096 tally $majmin 2048\""

step counts-writes "four 4 KiB direct writes count as writes=4 write_sectors=32"
node=$(dm_node ws-tally)
expect reads=0 writes=0
dd if=/dev/zero of="$node" bs=4096 count=4 oflag=direct 2>/dev/null || fail "writing failed"
expect writes=4 write_sectors=32 reads=0

step counts-reads "two 8 KiB direct reads count as reads=2 read_sectors=32"
dd if="$node" of=/dev/null bs=8192 count=2 iflag=direct 2>/dev/null || fail "reading failed"
expect reads=2 read_sectors=32 writes=4

step flush-not-a-write "an fsync's empty flush is not counted as a write"
dd if=/dev/zero of="$node" bs=4096 count=1 oflag=direct conv=fsync 2>/dev/null || fail "write and fsync failed"
expect writes=5 write_sectors=40
remove ws-tally
