#!/bin/sh
# What dmsetup asks the kernel, ioctl by ioctl: libdevmapper's own debug
# lines (-vvv) name each ioctl it issues. Then event numbers and
# `dmsetup wait`, and a message to a target that takes none.
#
# A guest script for the lab:
#   cargo xtask lab --kernel 6.1 --script module/stage1-hello/tests/dmsetup-ioctls.sh
# It expects hello_target loaded and /dev/loop0 over a 128 MiB file, as the
# lab provides. Runs under busybox sh with dmsetup on PATH. Output must not
# change from run to run: libdevmapper's timestamps and the kernel log's are
# dropped.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

# ioctls ARGS...: run `dmsetup ARGS` once with -vvv, printed as typed, and
# keep only the lines naming each ioctl libdevmapper issued (`dm <ioctl>
# <device> [ <flags> ] ...`), dmsetup's own error lines, and what it says
# about udev and the nodes it made. Returns
# dmsetup's status.
ioctls() {
	typed=""
	for arg in "$@"; do
		case "$arg" in *" "*) arg="'$arg'" ;; esac
		typed="$typed $arg"
	done
	echo "\$ dmsetup$typed"
	dmsetup -vvv "$@" >/tmp/ioctls.out 2>&1
	status=$?
	grep -E '^(dm |device-mapper:|Command failed|Udev is not running|Created|Removed|Renamed)' /tmp/ioctls.out | sed 's/^dm /  ioctl: dm /'
	return "$status"
}

# show ARGS...: a command that only reads: its ioctls, then what it prints.
show() {
	ioctls "$@"
	dmsetup "$@" 2>&1
}

mark_log() { log_mark=$(dmesg | wc -l); }
new_log() {
	dmesg | tail -n +$((log_mark + 1)) | sed -e 's/^\[[^]]*\] //' -e 's/^/[kernel] /'
}

echo "== one character device"
echo "\$ cat /sys/class/misc/device-mapper/dev"
cat /sys/class/misc/device-mapper/dev
echo "\$ ls -l /dev/mapper/control"
ls -l /dev/mapper/control | awk '{print $1, $5, $6, $NF}'

echo
echo "== dmsetup create: three ioctls (and a version check)"
ioctls create hello --table "0 8192 hello_target /dev/loop0 0"

echo
echo "== reading: info, table, status, deps, ls, targets"
show info hello
show table hello
show status hello
show deps hello
show ls
show targets

echo
echo "== a reload: load into the inactive slot, then suspend and resume"
ioctls reload hello --table "0 8192 hello_target /dev/loop0 2048"
show info hello
ioctls resume hello
show table hello

echo
echo "== a message to a target that takes none"
mark_log
ioctls message hello 0 hello && problem "hello_target took a message"
new_log

echo
echo "== event numbers: dmsetup wait"
dmsetup info -c -o name,events hello
echo "\$ dmsetup wait hello 0 &"
dmsetup wait hello 0 >/tmp/wait.out 2>&1 &
waiter=$!
sleep 1
echo "# dmsetup wait, a second later:"
grep '^State' "/proc/$waiter/status" || problem "dmsetup wait returned before any event"
ioctls rename hello renamed
wait "$waiter"
echo "dmsetup wait exited with status $?"
dmsetup info -c -o name,events renamed
echo "\$ dmsetup wait renamed 1 &"
dmsetup wait renamed 1 >/tmp/wait.out 2>&1 &
waiter=$!
sleep 1
ioctls remove renamed
wait "$waiter"
echo "dmsetup wait exited with status $?"

echo
if [ "$failures" -eq 0 ]; then
	echo "every ioctl shown"
else
	echo "$failures problem(s)"
	exit 1
fi
