# The check of exercise 09, run by exercises/harness.sh with holdup loaded
# and $DEV a 128 MiB loop device. Times are read from /proc/uptime, in
# hundredths of a second.

now() { awk '{ split($1, t, "."); print t[1] * 100 + t[2] }' /proc/uptime; }
# timed_write SECTOR: write 4 KiB at SECTOR of ws-hold; prints how long it took.
timed_write() {
	t0=$(now)
	write_at "$node" "$1" "$WORK/sent" || fail "writing through $node failed"
	echo $(($(now) - t0))
}

step holds-writes "a write is held for the table's delay (2000 ms)"
create ws-hold "0 4096 holdup $DEV 2048 2000"
node=$(dm_node ws-hold)
pattern "$WORK/sent" "held back"
took=$(timed_write 0)
[ "$took" -ge 150 ] || fail "a write took $((took * 10)) ms: it was not held for 2000 ms"

step suspend-drains "a suspend sends the held writes at once instead of waiting"
write_at "$node" 8 "$WORK/sent" &
writer=$!
sleep 1
t0=$(now)
dmsetup suspend ws-hold 2>"$WORK/err" || fail "dmsetup suspend failed: $(cat "$WORK/err")"
took=$(($(now) - t0))
wait "$writer" || fail "the write held during the suspend failed"
[ "$took" -lt 50 ] ||
	fail "the suspend took $((took * 10)) ms: it waited for the held write's delay instead of sending it"
read_at "$DEV" 2056 "$WORK/landed"
cmp -s "$WORK/sent" "$WORK/landed" || fail "once suspended, the held write is not on $DEV"

step resume-holds "after resume, writes are held again"
dmsetup resume ws-hold 2>"$WORK/err" || fail "dmsetup resume failed: $(cat "$WORK/err")"
took=$(timed_write 16)
[ "$took" -ge 150 ] || fail "after resume a write took $((took * 10)) ms: writes are no longer held"
remove ws-hold
