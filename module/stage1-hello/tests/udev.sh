#!/bin/sh
# dmsetup with udev running, as on a distribution's system: the cookie it
# waits on, the node udev makes, what udev records of the device, and the
# disk rules that read a device after every write.
#
# A guest script for the lab, with udev started in the guest:
#   cargo xtask lab --kernel 6.1 --udev --script module/stage1-hello/tests/udev.sh
# It expects hello_target loaded and /dev/loop0 over a 128 MiB file, as the
# lab provides. Output must not change from run to run: cookie values (a
# semaphore's key) and times are replaced by words.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

table="0 8192 hello_target /dev/loop0 0"

echo "\$ dmsetup -vvv create hello --table '$table'    (udev lines only)"
dmsetup -vvv create hello --table "$table" 2>&1 |
	grep -E 'Udev cookie|NODE_ADD|udev' |
	sed -e 's/^[^ ]*:[0-9]* *//' -e 's/0x[0-9a-f]*/COOKIE/' -e 's/semid [0-9]*/semid N/' -e 's/  */ /g'
echo

echo "\$ ls -l /dev/mapper/hello"
link=$(readlink /dev/mapper/hello)
if [ -L /dev/mapper/hello ]; then
	echo "/dev/mapper/hello -> $link    (a link udev made)"
else
	problem "/dev/mapper/hello is not udev's link"
fi
echo

echo "\$ udevadm info --query=property /dev/mapper/hello    (device-mapper's properties)"
# Sorted, links too: udev's order is not fixed.
udevadm info --query=property /dev/mapper/hello |
	grep -E '^(DM_NAME|DM_SUSPENDED|DM_UDEV_RULES_VSN|DM_UDEV_DISABLE_LIBRARY_FALLBACK_FLAG|DEVLINKS)=' |
	while IFS== read -r key value; do
		echo "$key=$(echo $value | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
	done | sort
echo

# After a program closes a mapped device it wrote, udev's disk rules
# (60-persistent-storage-dm.rules: OPTIONS+="watch") probe it again. The
# probe's reads go through the target like anyone's: the remap trace shows
# them, from udev's worker rather than from dd.
tracing=/sys/kernel/tracing
mount -t tracefs tracefs "$tracing" 2>/dev/null
echo 1 >"$tracing/events/block/block_bio_remap/enable"
echo >"$tracing/trace"
echo "\$ dd if=/dev/zero of=/dev/mapper/hello bs=4096 count=1 oflag=direct"
dd if=/dev/zero of=/dev/mapper/hello bs=4096 count=1 oflag=direct 2>/dev/null ||
	problem "the write failed"
# udev hears of the close through inotify, a moment later: wait for its
# probe (up to 10 s), then for udev to finish.
waited=0
until grep -q 'udev-worker.*block_bio_remap' "$tracing/trace" || [ "$waited" -ge 10 ]; do
	sleep 1
	waited=$((waited + 1))
done
udevadm settle
echo 0 >"$tracing/events/block/block_bio_remap/enable"
echo "# Which programs sent bios through hello, and of what kind (block_bio_remap):"
sed -n 's/^ *\(.*\)-[0-9]* *\[.*block_bio_remap: [0-9]*,[0-9]* \([A-Z]*\) .*/  \1 \2/p' "$tracing/trace" |
	sort -u
echo

echo "\$ dmsetup -vvv remove hello    (udev lines only)"
dmsetup -vvv remove hello 2>&1 |
	grep -E 'Udev cookie|NODE_DEL|udev' |
	sed -e 's/^[^ ]*:[0-9]* *//' -e 's/0x[0-9a-f]*/COOKIE/' -e 's/semid [0-9]*/semid N/' -e 's/  */ /g'
[ ! -e /dev/mapper/hello ] || problem "/dev/mapper/hello is still there"
echo "\$ ls /dev/mapper"
ls /dev/mapper

[ "$failures" -eq 0 ]
