# The check of exercise 02, run by exercises/harness.sh with oldhello
# loaded and $DEV a 128 MiB loop device. The doctor and the build ran first.

step table-line "dmsetup table shows the line as it was loaded"
create ws-old "0 4096 oldhello $DEV 2048"
majmin=$(cat "/sys/block/${DEV#/dev/}/dev")
line=$(dmsetup table ws-old)
[ "$line" = "0 4096 oldhello $majmin 2048" ] ||
	fail "dmsetup table ws-old says \"$line\", not \"0 4096 oldhello $majmin 2048\""

step data "data written at sector 0 lands at the start sector, and reads back"
node=$(dm_node ws-old)
pattern "$WORK/sent" "oldhello"
write_at "$node" 0 "$WORK/sent" || fail "writing through $node failed"
read_at "$DEV" 2048 "$WORK/landed"
cmp -s "$WORK/sent" "$WORK/landed" || fail "the data is not at $DEV's sector 2048"
read_at "$node" 0 "$WORK/back" || fail "reading through $node failed"
cmp -s "$WORK/sent" "$WORK/back" || fail "reading sector 0 back gave other data"

step message "the ping message is answered in the log; others are refused"
mark_log
dmsetup message ws-old 0 ping 2>"$WORK/err" || fail "ping refused: $(cat "$WORK/err")"
new_log | grep -q "oldhello: pong" || fail "no \"oldhello: pong\" in the kernel log"
if dmsetup message ws-old 0 frobnicate 2>/dev/null; then
	fail "the message frobnicate was accepted"
fi
remove ws-old
