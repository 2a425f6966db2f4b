# The check of exercise 03, run by exercises/harness.sh with conduit loaded
# and $DEV a 128 MiB loop device.

loop=/sys/block/${DEV#/dev/}
# Field N of the loop device's stat (Documentation/block/stat.rst: 12
# discard I/Os completed, 16 flush requests completed).
stat_field() { awk -v n="$1" '{ print $n }' "$loop/stat"; }
[ "$(cat "$loop/queue/write_cache")" = "write back" ] ||
	echo "write back" >"$loop/queue/write_cache"

step write-cache "the device has the write cache of the device below (write back)"
create ws-pipe "0 8192 conduit $DEV 2048"
node=$(dm_node ws-pipe)
queue=/sys/block/${node#/dev/}/queue
cache=$(cat "$queue/write_cache")
[ "$cache" = "write back" ] ||
	fail "ws-pipe's queue/write_cache is \"$cache\": the block layer drops every flush on its way in"

step flush-reaches "an fsync's flush reaches the device below"
before=$(stat_field 16)
dd if=/dev/zero of="$node" bs=4096 count=1 conv=fsync 2>/dev/null || fail "write and fsync failed"
after=$(stat_field 16)
[ "$after" -gt "$before" ] || fail "the device below counted no flush ($before before the fsync, $after after)"

step discard-offered "the device offers discards"
max=$(cat "$queue/discard_max_bytes")
[ "$max" -gt 0 ] || fail "ws-pipe's queue/discard_max_bytes is 0: discards are refused"

step discard-lands "a discard reaches the device below, on this line's sectors"
pattern "$WORK/mine" "discard me"
pattern "$WORK/other" "not mine"
write_at "$node" 0 "$WORK/mine" || fail "writing through $node failed"
write_at "$DEV" 0 "$WORK/other" || fail "writing to $DEV failed"
before=$(stat_field 12)
blkdiscard -o 0 -l 1048576 "$node" || fail "blkdiscard of the first MiB of ws-pipe failed"
after=$(stat_field 12)
[ "$after" -gt "$before" ] || fail "the device below counted no discard"
read_at "$DEV" 0 "$WORK/seen"
cmp -s "$WORK/other" "$WORK/seen" ||
	fail "the discard wiped $DEV's sector 0, outside the table line (which starts at 2048)"
read_at "$DEV" 2048 "$WORK/seen"
dd if=/dev/zero of="$WORK/zero" bs=4096 count=1 2>/dev/null
cmp -s "$WORK/zero" "$WORK/seen" || fail "$DEV's sector 2048 still holds the data: the discard went elsewhere"
remove ws-pipe
