# The check of exercise 06, run by exercises/harness.sh with tally loaded
# and $DEV a 128 MiB loop device.

# refuse_message WORDS REASON: the message fails, REASON is logged, and the
# counters do not move.
refuse_message() {
	before=$(dmsetup status ws-tally)
	mark_log
	# shellcheck disable=SC2086 # the words are split on purpose
	if dmsetup message ws-tally 0 $1 2>"$WORK/err"; then
		fail "the message \"$1\" was accepted"
	fi
	new_log | grep -q "$2" ||
		fail "\"$1\" was refused, but the kernel log does not say \"$2\": $(new_log | grep -m1 device-mapper)"
	[ "$(dmsetup status ws-tally)" = "$before" ] ||
		fail "the counters moved on the refused message \"$1\": $(dmsetup status ws-tally)"
}

step reset "the reset message sets every counter to 0"
create ws-tally "0 4096 tally $DEV 2048"
node=$(dm_node ws-tally)
dd if=/dev/zero of="$node" bs=4096 count=2 oflag=direct 2>/dev/null || fail "writing failed"
dd if="$node" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null || fail "reading failed"
[ "$(field ws-tally writes)" = 2 ] || fail "the counters do not count: $(dmsetup status ws-tally)"
mark_log
dmsetup message ws-tally 0 reset 2>"$WORK/err" ||
	fail "reset refused: $(cat "$WORK/err") $(new_log | grep -m1 device-mapper)"
status=$(dmsetup status ws-tally)
case "$status" in
*"reads=0 read_sectors=0 writes=0 write_sectors=0"*) ;;
*) fail "after reset the status is \"$status\"" ;;
esac

step refuses-unknown "an unknown message is refused, with its reason logged"
dd if=/dev/zero of="$node" bs=4096 count=1 oflag=direct 2>/dev/null
refuse_message frobnicate "tally: Unrecognised message received: frobnicate"

step refuses-arguments "reset with words after it is refused, with its reason logged"
refuse_message "reset now" "tally: Invalid argument count for message: reset takes none"
remove ws-tally
