#!/bin/sh
# What a learner's first test of a passthrough target does: create a device,
# write 16 KiB through it, read them back, remove the device.
set -e
echo "0 260096 learner /dev/loop0 2048" | dmsetup create learner
minor=$(dmsetup info -c --noheadings -o minor learner)
echo "created learner as dm-$minor"
dd if=/dev/urandom of=/tmp/data bs=4096 count=4 2>/dev/null
echo "writing 16 KiB"
dd if=/tmp/data of="/dev/dm-$minor" bs=4096 count=4 oflag=direct 2>/dev/null
echo "reading them back"
dd if="/dev/dm-$minor" of=/tmp/back bs=4096 count=4 iflag=direct 2>/dev/null
cmp /tmp/data /tmp/back
dmsetup remove learner
echo "the data came back"
