# The check of exercise 11, run by exercises/harness.sh with portable loaded
# and $DEV a 128 MiB loop device. The doctor (5.10, 7.3 and this kernel)
# and the builds ran first.

step data "data written at sector 0 lands at the start sector"
create ws-port "0 4096 portable $DEV 2048"
node=$(dm_node ws-port)
pattern "$WORK/sent" "portable"
write_at "$node" 0 "$WORK/sent" || fail "writing through $node failed"
read_at "$DEV" 2048 "$WORK/landed"
cmp -s "$WORK/sent" "$WORK/landed" || fail "the data is not at $DEV's sector 2048"

step table-line "dmsetup table shows the line as it was loaded"
majmin=$(cat "/sys/block/${DEV#/dev/}/dev")
[ "$(dmsetup table ws-port)" = "0 4096 portable $majmin 2048" ] ||
	fail "dmsetup table ws-port says \"$(dmsetup table ws-port)\""
remove ws-port

step start-checked "a start beyond the device's end is refused by the target"
refuse "0 8 portable $DEV 262144" "portable: Start sector is beyond the end of the device"
