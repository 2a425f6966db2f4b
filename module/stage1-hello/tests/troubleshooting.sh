#!/bin/sh
# Failures a learner meets with a first target, each reproduced on a real
# kernel with its exact messages, then fixed. The book's troubleshooting
# chapter shows this run.
#
# A guest script for the lab:
#   cargo xtask lab --kernel 6.1 --script module/stage1-hello/tests/troubleshooting.sh
# It expects hello_target loaded from /lab/stage, dm-mod from /lab/modules and
# /dev/loop0 over a 128 MiB file, as the lab provides, and leaves them so.
# Runs under busybox sh with dmsetup on PATH. Output must not change from run
# to run: kernel log lines lose their timestamps, dd its timing line.

ko=/lab/stage/hello_target.ko
dm_mod=/lab/modules/dm-mod.ko
table="0 8192 hello_target /dev/loop0 0"

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

# Kernel log lines since mark_log, without their timestamps.
mark_log() { log_mark=$(dmesg | wc -l); }
new_log() {
	dmesg | tail -n +$((log_mark + 1)) | sed -e 's/^\[[^]]*\] //' -e 's/^/[kernel] /'
}

# run COMMAND...: print it as typed, then what it printed, and its exit
# status when that is not 0. Returns the command's status.
run() {
	echo "\$ $*"
	"$@" 2>&1
	status=$?
	[ "$status" -eq 0 ] || echo "(exit status $status)"
	return "$status"
}

# create NAME TABLE: dmsetup create, printed with the table quoted as typed.
create() {
	echo "\$ dmsetup create $1 --table '$2'"
	dmsetup create "$1" --table "$2" 2>&1
	status=$?
	[ "$status" -eq 0 ] || echo "(exit status $status)"
	return "$status"
}

# A device's open count and state, from `dmsetup info`.
brief_info() {
	dmsetup info "$1" 2>&1 | grep -E '^(State|Open count|Device does not exist)'
}

echo "== 1. insmod: Unknown symbol in module"
echo "# The target calls dm-mod's functions; without dm-mod they do not exist."
run rmmod hello_target
run rmmod dm_mod
mark_log
run insmod "$ko" && problem "hello_target loaded without dm-mod"
new_log
echo "# Fix: load dm-mod first (modprobe reads the dependency from modules.dep)."
run insmod "$dm_mod"
run insmod "$ko" || problem "hello_target did not load after dm-mod"

echo
echo "== 2. dmsetup create: reload ioctl failed: Invalid argument"
echo "# The table names a target type that no loaded module registered."
run rmmod hello_target
mark_log
create hello "$table" && problem "a table of an unknown type was accepted"
new_log
run dmsetup ls
echo "# Fix: load the module that registers the type, then create again."
run insmod "$ko"
run dmsetup targets
dmsetup targets | grep -q '^hello_target' || problem "hello_target is not registered"

echo
echo "== 3. Device lookup failed"
echo "# The table names a device that is not there."
mark_log
create hello "0 8192 hello_target /dev/nosuch 0" &&
	problem "a table over a missing device was accepted"
new_log
echo "# Fix: name a block device that exists (losetup -a lists the loop devices)."
run losetup -a

echo
echo "== 4. A table over an empty loop device is accepted"
echo "# /dev/loop7 exists (the loop driver makes eight nodes) but has no file:"
run blockdev --getsz /dev/loop7
create empty "0 8192 hello_target /dev/loop7 0" ||
	problem "the kernel refused a table over an empty device"
run dmsetup table empty
echo "# Accepted: the kernel cannot check a device of 0 sectors against the"
echo "# table. Any I/O would now fail with 'attempt to access beyond end of"
echo "# device'. Fix: attach the file first (losetup), and check the size."
run dmsetup remove empty

echo
echo "== 5. No /dev/mapper node"
create hello "$table" || problem "the good table was refused"
echo "# The kernel makes only /dev/dm-N; /dev/mapper/NAME is made in userspace"
echo "# (by udev's rules, or by libdevmapper when udev is not running). Here"
echo "# the node is removed by hand to stand for a system where nothing made it."
rm -f /dev/mapper/hello
run dd if=/dev/mapper/hello of=/dev/null bs=4096 count=1 && problem "a missing node was opened"
minor=$(dmsetup info -c --noheadings -o minor hello)
run cat "/sys/block/dm-$minor/dm/name"
echo "# Fix: make the nodes again from the kernel's list of devices."
run dmsetup mknodes hello
dd if=/dev/mapper/hello of=/dev/null bs=4096 count=1 2>/dev/null ||
	problem "the node made by mknodes does not open"
[ -b /dev/mapper/hello ] && echo "/dev/mapper/hello is a block device again"

echo
echo "== 6. dmsetup remove: Device or resource busy"
# A program holding the device open: sleep, with the device as its stdin.
sleep 30 </dev/mapper/hello &
holder=$!
sleep 1
brief_info hello
run dmsetup remove hello && problem "an open device was removed"
echo "# Fix: close what holds it, or ask for the removal at the last close."
run dmsetup remove --deferred hello || problem "deferred remove refused"
brief_info hello
kill "$holder"
wait "$holder" 2>/dev/null
brief_info hello
dmsetup info hello >/dev/null 2>&1 && problem "the deferred removal did not happen"

echo
echo "== 7. A suspended device holds I/O"
create hello "$table" || problem "the good table was refused"
run dmsetup suspend hello
dd if=/dev/mapper/hello of=/dev/null bs=4096 count=1 iflag=direct >/tmp/dd.out 2>&1 &
reader=$!
sleep 2
echo "# dd, two seconds later:"
grep '^State' "/proc/$reader/status" || problem "dd ended on a suspended device"
brief_info hello
echo "# Fix: resume the device; the held bio then goes through."
run dmsetup resume hello
wait "$reader"
echo "dd exited with status $?"
grep records /tmp/dd.out

echo
echo "== 8. rmmod: the module is in use"
run rmmod hello_target && problem "hello_target unloaded under a live table"
lsmod | grep '^hello_target' | awk '{print "lsmod: " $1 ", used by " $3}'
echo "# Fix: remove every device whose table uses the target first."
run dmsetup remove hello
run rmmod hello_target || problem "hello_target would not unload"
run insmod "$ko"

echo
if [ "$failures" -eq 0 ]; then
	echo "every failure reproduced and fixed"
else
	echo "$failures problem(s)"
	exit 1
fi
