#!/bin/sh
# A bad-input battery for tally (exercise 05's counters, exercise 06's reset
# message). It runs as root with tally loaded; $DEV is a free 128 MiB loop
# device (262144 sectors). It must exit 0 when tally behaves, and non-zero
# when it does not: the check runs it against the correct target and
# against tallies with one bug each, and it must tell them apart.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

# ANCHOR: refuse
# refuse TABLE REASON: the table must be refused, with REASON in the kernel
# log, and no device left.
refuse() {
	mark=$(dmesg | wc -l)
	if echo "$1" | dmsetup create battery-bad 2>/dev/null; then
		problem "accepted: $1"
		dmsetup remove battery-bad
		return
	fi
	dmesg | tail -n +$((mark + 1)) | grep -q "$2" || problem "no \"$2\" in the log for: $1"
}
# ANCHOR_END: refuse

# ANCHOR: tables
# TODO 1: every kind of bad table line: a missing or an extra word, a
# start sector that is not a number (or only starts like one), a device
# that does not exist, a line past the device's end.
refuse "0 8 tally $DEV" "tally: Invalid argument count"
# ANCHOR_END: tables

# The good path: a line, known I/O, its counters.
echo "0 4096 tally $DEV 2048" | dmsetup create battery-good || problem "good line refused"
minor=$(dmsetup info -c --noheadings -o minor battery-good | tr -d ' ')
counter() { dmsetup status battery-good | tr ' ' '\n' | sed -n "s/^$1=//p"; }
dd if=/dev/zero of=/dev/dm-$minor bs=4096 count=2 oflag=direct 2>/dev/null
[ "$(counter writes)" = 2 ] || problem "writes=$(counter writes) after two writes"

# ANCHOR: more
# TODO 2: what else must hold: an fsync's flush is not a write; reset takes
# no words and leaves the counters alone when it refuses.
# ANCHOR_END: more

dmsetup remove battery-good || problem "cannot remove battery-good"
if [ "$failures" -ne 0 ]; then
	echo "$failures problem(s)"
	exit 1
fi
echo "tally passed the battery"
