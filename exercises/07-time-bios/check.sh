# The check of exercise 07, run by exercises/harness.sh with tally loaded
# and $DEV a 128 MiB loop device.
#
# Where udev runs (the Vagrant box), it reads a new device, and reads it
# again each time a writer closes it: the check holds each counter to what
# its own I/O added, and reads before it writes.

# mark: note the counters now; grew NAME BY: NAME grew by BY since then.
mark() {
	for c in reads writes errors; do
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

step counts-at-end "bios are counted as they end: 2 reads, then 4 writes"
create ws-tally "0 4096 tally $DEV 2048"
node=$(dm_node ws-tally)
mark
dd if="$node" of=/dev/null bs=4096 count=2 iflag=direct 2>/dev/null || fail "reading failed"
grew reads 2
grew writes 0
mark
dd if=/dev/zero of="$node" bs=4096 count=4 oflag=direct 2>/dev/null || fail "writing failed"
grew writes 4
grew errors 0

step times-bios "latency_ns adds up the bios' times, max_latency_ns is the longest"
total=$(field ws-tally latency_ns)
longest=$(field ws-tally max_latency_ns)
[ "${total:-0}" -gt 0 ] || fail "latency_ns is ${total:-missing} after six bios"
[ "${longest:-0}" -gt 0 ] || fail "max_latency_ns is ${longest:-missing} after six bios"
[ "$longest" -le "$total" ] || fail "the longest bio ($longest ns) took longer than all of them ($total ns)"
remove ws-tally

step counts-errors "a bio that ends with an error is counted in errors"
create ws-failing "0 8 error"
failing=$(dmsetup info -c --noheadings --separator : -o major,minor ws-failing | tr -d ' ')
create ws-tally "0 8 tally $failing 0"
node=$(dm_node ws-tally)
mark
if dd if="$node" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
	fail "a read through the error target succeeded"
fi
grew errors 1
grew reads 1
remove ws-tally
remove ws-failing
