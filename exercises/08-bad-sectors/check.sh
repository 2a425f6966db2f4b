# The check of exercise 08, run by exercises/harness.sh with dusty loaded
# and $DEV a 128 MiB loop device.

# message WORDS: the message must be taken; prints its answer.
message() {
	# shellcheck disable=SC2086 # the words are split on purpose
	dmsetup message ws-dusty 0 $1 2>"$WORK/err" || fail "the message \"$1\" was refused: $(cat "$WORK/err")"
}
# listbad: listbad's answer (or dmsetup's complaint).
listbad() { dmsetup message ws-dusty 0 listbad 2>&1; }
# readable SECTOR: whether 4 KiB at SECTOR of ws-dusty read without an error.
readable() { read_at "$node" "$1" "$WORK/read"; }

step add-and-list "addbad takes a sector, listbad answers with the list in order"
create ws-dusty "0 4096 dusty $DEV 2048"
node=$(dm_node ws-dusty)
message "addbad 100"
message "addbad 20"
list=$(listbad)
[ "$list" = "20 100" ] || fail "listbad answered \"$list\", not \"20 100\""

step bad-fails "a read that touches a bad sector fails; others do not"
readable 0 || fail "reading sectors 0-7, all good, failed"
if readable 16; then
	fail "reading sectors 16-23 succeeded, though sector 20 is bad"
fi
readable 24 || fail "reading sectors 24-31, all good, failed"

step remove-and-clear "removebad and clearbad make sectors good again"
message "removebad 20"
readable 16 || fail "sector 20 was removed from the list, but reading it still fails"
[ "$(listbad)" = 100 ] || fail "listbad answered \"$(listbad)\" after removing 20"
message clearbad
[ -z "$(listbad)" ] || fail "listbad answered \"$(listbad)\" after clearbad"

step refusals "bad messages are refused with their reasons logged"
for words in "addbad 4096" "addbad x" "removebad 7" "frobnicate"; do
	mark_log
	# shellcheck disable=SC2086
	if dmsetup message ws-dusty 0 $words 2>/dev/null; then
		fail "the message \"$words\" was accepted"
	fi
	new_log | grep -q "dusty: " || fail "\"$words\" was refused without a reason in the kernel log"
done
remove ws-dusty
