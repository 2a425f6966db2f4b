# The check of exercise 07, run by exercises/harness.sh with tally loaded
# and $DEV a 128 MiB loop device.

step counts-at-end "bios are counted as they end: writes=4 reads=2 after 4 writes and 2 reads"
create ws-tally "0 4096 tally $DEV 2048"
node=$(dm_node ws-tally)
dd if=/dev/zero of="$node" bs=4096 count=4 oflag=direct 2>/dev/null || fail "writing failed"
dd if="$node" of=/dev/null bs=4096 count=2 iflag=direct 2>/dev/null || fail "reading failed"
status=$(dmsetup status ws-tally)
case "$status" in
*"reads=2 writes=4 errors=0"*) ;;
*) fail "the status is \"$status\"" ;;
esac

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
if dd if="$node" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
	fail "a read through the error target succeeded"
fi
[ "$(field ws-tally errors)" = 1 ] || fail "errors is \"$(field ws-tally errors)\" after one failed read"
[ "$(field ws-tally reads)" = 1 ] || fail "reads is \"$(field ws-tally reads)\": a failed read is a read too"
remove ws-tally
remove ws-failing
