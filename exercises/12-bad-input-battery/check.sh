# The check of exercise 12, run by exercises/harness.sh once per variant of
# tally: the reference (WS_VARIANT=reference), then each mutant. The
# learner's battery ($WS_BATTERY) must pass on the first and fail on the
# others.

if [ "$WS_VARIANT" = reference ]; then
	step reference "your battery passes against the correct tally"
else
	step "$WS_VARIANT" "your battery fails against a tally with this bug"
fi
before=$(dmsetup ls | awk '$1 != "No" { print $1 }')
DEV=$DEV TARGET=$TARGET sh "$WS_BATTERY" >"$WORK/battery.out" 2>&1 </dev/null
rc=$?
sed 's/^/  battery: /' "$WORK/battery.out"
left=
for name in $(dmsetup ls | awk '$1 != "No" { print $1 }'); do
	echo "$before" | grep -qx "$name" && continue
	left="$left $name"
	dmsetup remove "$name" 2>/dev/null || dmsetup remove --force "$name"
done
if [ "$WS_VARIANT" = reference ]; then
	[ "$rc" = 0 ] || fail "your battery failed against the correct tally (exit $rc): $(grep -m1 PROBLEM "$WORK/battery.out")"
	[ -z "$left" ] || fail "your battery left devices behind:$left"
else
	[ "$rc" != 0 ] || fail "your battery passed (exit 0) against a tally with this bug"
fi
