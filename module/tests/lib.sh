# The helpers the stages' lab batteries share (module/*/tests/bad-*.sh).
# The lab puts this file beside the script in every guest (/lab/lib.sh);
# run from a checkout (as root on the Vagrant box, with /dev/loop0 over a
# 128 MiB file), a battery finds it here. A battery sources it with:
#
#   here=$(dirname "$0")
#   if [ -f "$here/lib.sh" ]; then . "$here/lib.sh"; else . "$here/../../tests/lib.sh"; fi
#
# Runs under busybox sh.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

# The kernel log lines that appeared since mark_log.
mark_log() { log_mark=$(dmesg | wc -l); }
new_log() { dmesg | tail -n +$((log_mark + 1)); }
# The first device-mapper line among them, its timestamp left out.
first_dm_line() { new_log | grep -m1 'device-mapper:' | sed 's/^\[[^]]*\] //'; }

# refuse TABLE REASON: `dmsetup create` must fail, the kernel must log
# REASON, and no device may remain. The REFUSAL line is for the lab, which
# holds the simulator's twin to the same refusal with the same log line.
refuse() {
	table=$1
	reason=$2
	echo "== $table"
	mark_log
	if echo "$table" | dmsetup create bad 2>/tmp/err; then
		problem "accepted: $table"
		dmsetup remove bad
		return
	fi
	sed 's/^/   dmsetup: /' /tmp/err
	new_log | sed 's/^/   dmesg: /'
	echo "REFUSAL $table|$(first_dm_line)"
	new_log | grep -q "$reason" || problem "no \"$reason\" in the log for: $table"
	if dmsetup info bad >/dev/null 2>&1; then
		problem "device left behind after: $table"
		dmsetup remove bad
	fi
}

# status_is "KEY=VALUE ...": each named field of good's status must match.
status_is() {
	line=$(dmsetup status good)
	for pair in $1; do
		echo "$line" | tr ' ' '\n' | grep -qx "$pair" ||
			problem "status is \"$line\", expected $pair"
	done
}

# finish SUMMARY: the battery's verdict, its exit status included.
finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures problem(s)"
		exit 1
	fi
	echo "$1"
}
