#!/bin/sh
# Real bios through hello_target, as the block layer's own trace events show
# them: each bio queued on the mapped device, remapped by the target to the
# loop device, split when it is too big, and completed.
#
# A guest script for the lab:
#   cargo xtask lab --kernel 6.1 --script module/stage1-hello/tests/bios.sh
# It expects hello_target loaded and /dev/loop0 over a 128 MiB file, as the
# lab provides. Runs under busybox sh with dmsetup on PATH. Output must not
# change from run to run: each event loses its task, CPU and timestamp.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

tracing=/sys/kernel/tracing
[ -d "$tracing/events" ] || mount -t tracefs tracefs "$tracing" ||
	{ echo "no tracefs"; exit 1; }
events="block_bio_queue block_bio_remap block_split block_bio_complete"
for event in $events; do
	echo 1 >"$tracing/events/block/$event/enable" || problem "cannot enable $event"
done
echo 1 >"$tracing/tracing_on"

# The events since the last call, from the mapped device (dm-0, 254,0) and
# the loop device under it (7,0), without task, CPU and time.
show_bios() {
	grep -v '^#' "$tracing/trace" |
		sed -n 's/^.*: \(block_[a-z_]*\): /\1: /p' |
		grep -E ': (254,0|7,0) '
	echo >"$tracing/trace"
}

echo "\$ dmsetup create hello --table '0 65536 hello_target /dev/loop0 2048'"
dmsetup create hello --table "0 65536 hello_target /dev/loop0 2048" ||
	problem "the table was refused"
echo >"$tracing/trace"

echo
echo "== a 4 KiB direct write at sector 8"
echo "\$ dd if=/dev/zero of=/dev/mapper/hello bs=4096 seek=1 count=1 oflag=direct"
dd if=/dev/zero of=/dev/mapper/hello bs=4096 seek=1 count=1 oflag=direct 2>/dev/null ||
	problem "the write failed"
show_bios

echo
echo "== the same 4 KiB, read back"
echo "\$ dd if=/dev/mapper/hello of=/dev/null bs=4096 skip=1 count=1 iflag=direct"
dd if=/dev/mapper/hello of=/dev/null bs=4096 skip=1 count=1 iflag=direct 2>/dev/null ||
	problem "the read failed"
show_bios

echo
echo "== a 1 MiB direct write, bigger than the loop device takes"
# 1 MiB is 256 pages, which one bio always holds (BIO_MAX_VECS segments);
# a bigger write is one bio or several depending on whether its pages
# happen to be physically contiguous. The loop device's limit is lowered
# to 512 KiB so that it, not the mapped device, must cut the bio.
echo "\$ echo 512 > /sys/block/loop0/queue/max_sectors_kb"
echo 512 >/sys/block/loop0/queue/max_sectors_kb
echo "\$ dd if=/dev/zero of=/dev/mapper/hello bs=1M count=1 oflag=direct"
dd if=/dev/zero of=/dev/mapper/hello bs=1M count=1 oflag=direct 2>/dev/null ||
	problem "the write failed"
show_bios

echo "# The largest bio each queue takes, in KiB:"
echo "\$ cat /sys/block/dm-0/queue/max_sectors_kb /sys/block/loop0/queue/max_sectors_kb"
cat /sys/block/dm-0/queue/max_sectors_kb /sys/block/loop0/queue/max_sectors_kb

echo
echo "== a flush: fsync on the device"
echo "\$ dd if=/dev/zero of=/dev/mapper/hello bs=4096 count=1 oflag=direct conv=fsync"
dd if=/dev/zero of=/dev/mapper/hello bs=4096 count=1 oflag=direct conv=fsync 2>/dev/null ||
	problem "the write failed"
show_bios

echo
echo "== a discard"
echo "\$ blkdiscard -o 0 -l 65536 /dev/mapper/hello"
blkdiscard -o 0 -l 65536 /dev/mapper/hello || problem "the discard failed"
show_bios

for event in $events; do
	echo 0 >"$tracing/events/block/$event/enable"
done
dmsetup remove hello

echo
if [ "$failures" -eq 0 ]; then
	echo "every bio traced"
else
	echo "$failures problem(s)"
	exit 1
fi
