# The check of exercise 01, run by exercises/harness.sh with fixme loaded
# and $DEV a 128 MiB loop device. Each `step` is one bug of the skeleton.

step offset "data written at the device's sector 0 lands at $DEV's sector 2048"
create ws-good "0 4096 fixme $DEV 2048"
node=$(dm_node ws-good)
pattern "$WORK/sent" "fixme sector 0"
write_at "$node" 0 "$WORK/sent" || fail "writing 4 KiB through $node failed"
read_at "$DEV" 2048 "$WORK/landed"
cmp -s "$WORK/sent" "$WORK/landed" ||
	fail "the 4 KiB written at sector 0 of ws-good are not at sector 2048 of $DEV (the table's start sector)"

step remap-seen "the core submits the remapped bio itself (block_bio_remap)"
tracing=/sys/kernel/tracing
[ -d "$tracing/events" ] || mount -t tracefs tracefs "$tracing" 2>/dev/null
[ -d "$tracing/events/block/block_bio_remap" ] || fail "no tracefs with block events here"
majmin=$(dmsetup info -c --noheadings --separator , -o major,minor ws-good | tr -d ' ')
echo 1 >"$tracing/events/block/block_bio_remap/enable"
echo >"$tracing/trace"
write_at "$node" 8 "$WORK/sent"
remaps=$(grep -c "<- ($majmin)" "$tracing/trace")
echo 0 >"$tracing/events/block/block_bio_remap/enable"
[ "$remaps" -ge 1 ] ||
	fail "a 4 KiB write through ws-good ($majmin) made no block_bio_remap event: the bio bypassed the core's submission"
remove ws-good

step bad-sector "a start sector that is not a number is refused"
refuse "0 4096 fixme $DEV abc" "fixme: Invalid device sector"

step past-the-end "a table that reaches past the device's end is refused"
refuse "0 262144 fixme $DEV 1" "too small for target"

step bad-device "a table naming no device is refused"
refuse "0 4096 fixme /dev/nosuch 0" "fixme: Device lookup failed"
