#!/bin/sh
# The workflow this workbook grew from, run in a lab guest on hello_target:
# a 128 MiB backing file written out with dd, a loop device over it, the
# mapped device over the loop device, 16 KiB of random data written through
# it and found again at the start of the backing file, then an ext4 file
# system made on the mapped device, mounted, and files copied onto it.
#
#   cargo xtask lab --all --script module/stage1-hello/tests/seed-workflow.sh
#
# The lab has loaded hello_target; the script makes its own loop device.
set -eu

# ANCHOR: setup
dd if=/dev/zero of=/tmp/mydisk.img bs=1M count=128 2>/dev/null
loop=$(losetup -f)
losetup "$loop" /tmp/mydisk.img
sectors=$(blockdev --getsz "$loop")
echo "0 $sectors hello_target $loop 0" | dmsetup create my_device_mapper
minor=$(dmsetup info -c --noheadings -o minor my_device_mapper)
dev=/dev/dm-$minor
echo "my_device_mapper is $dev: $sectors sectors of $loop"
# ANCHOR_END: setup

# ANCHOR: write
dd if=/dev/urandom of=/tmp/random.bin bs=16K count=1 2>/dev/null
dd if=/tmp/random.bin of="$dev" bs=16K count=1 oflag=direct 2>/dev/null
dd if=/tmp/mydisk.img bs=16K count=1 2>/dev/null | cmp - /tmp/random.bin
echo "the 16 KiB written through $dev are the first 16 KiB of mydisk.img"
# ANCHOR_END: write

# ANCHOR: ext4
/sbin/mke2fs -q -t ext4 "$dev"
mkdir -p /mnt/mapped
mount -t ext4 "$dev" /mnt/mapped
echo "hello from a mapped device" >/mnt/mapped/hello.txt
cp /tmp/random.bin /mnt/mapped/
cp /mnt/mapped/hello.txt /mnt/mapped/copy.txt
ls /mnt/mapped
umount /mnt/mapped
# ANCHOR_END: ext4

dmsetup remove my_device_mapper
losetup -d "$loop"
rm /tmp/mydisk.img /tmp/random.bin
echo "the seed's workflow ran to the end"
