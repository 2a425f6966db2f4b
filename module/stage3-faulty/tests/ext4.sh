#!/bin/sh
# What a file system sees when sectors under it go bad, on a real kernel:
# ext4 on faulty, a file's data block failing reads, a write to it dropped
# without a word, and a block of the inode table failing under metadata;
# then what e2fsck says. The book's chapter on faults shows this run.
#
# A guest script for the lab:
#   cargo xtask lab --kernel 6.1 --stage stage3-faulty \
#       --script module/stage3-faulty/tests/ext4.sh
# It expects faulty loaded and /dev/loop0 over a 128 MiB file, as the lab
# provides. Runs under busybox sh with dmsetup, mke2fs, e2fsck and debugfs
# on PATH. Output must not change from run to run: kernel log lines lose
# their timestamps.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

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

disk=/dev/mapper/disk
mnt=/tmp/mnt
mkdir -p "$mnt"

echo "\$ dmsetup create disk --table '0 65536 faulty /dev/loop0 0'"
dmsetup create disk --table "0 65536 faulty /dev/loop0 0" || problem "faulty refused"
run mkfs.ext4 -q -b 4096 "$disk" || problem "mkfs failed"
run mount "$disk" "$mnt"
yes 'the first version of this file' | head -c 65536 >"$mnt/data"
run sync
run umount "$mnt"
# The file's first 4 KiB block, and the sector it starts at.
block=$(debugfs -R "blocks /data" "$disk" 2>/dev/null | awk '{print $1}')
echo "# debugfs: /data starts at block $block, sector $((block * 8))"

echo
echo "== 1. A bad sector under a file's data"
run dmsetup message disk 0 addbad $((block * 8))
run mount "$disk" "$mnt"
mark_log
run head -c 30 "$mnt/data" && problem "the bad block was read"
new_log
run dmsetup status disk
run umount "$mnt"

echo
echo "== 2. drop mode: a write that is lost without a word"
run dmsetup message disk 0 clearbad
run mount "$disk" "$mnt"
echo "# Read once while the sector is good: the page stays in the page cache."
run head -c 30 "$mnt/data"
echo
run dmsetup message disk 0 addbad $((block * 8))
run dmsetup message disk 0 mode drop
echo "\$ printf 'THE SECOND VERSION' | dd of=$mnt/data conv=notrunc,fsync"
printf 'THE SECOND VERSION' | dd of="$mnt/data" conv=notrunc,fsync 2>/dev/null ||
	problem "the write failed"
echo "(exit status 0: written, and fsync says it is on the disk)"
run head -c 30 "$mnt/data"
echo
run dmsetup status disk
run umount "$mnt"
echo "# The page cache is gone with the mount. The sector is good again:"
run dmsetup message disk 0 clearbad
run dmsetup message disk 0 mode fail
run mount "$disk" "$mnt"
run head -c 30 "$mnt/data"
echo
head -c 18 "$mnt/data" | grep -q 'THE SECOND VERSION' && problem "the dropped write is on the disk"
run umount "$mnt"
run e2fsck -fn "$disk" || problem "fsck found errors after a lost data write"

echo
echo "== 3. A bad sector under the inode table"
# Where inode 12 (/data) lives: "located at block B, offset 0xO".
where=$(debugfs -R "imap /data" "$disk" 2>/dev/null | sed -n 's/.*located at block \([0-9]*\), offset \(0x[0-9a-f]*\).*/\1 \2/p')
itable_block=${where% *}
offset=${where#* }
sector=$((itable_block * 8 + offset / 512))
echo "# debugfs: the inode of /data is in block $itable_block, sector $sector"
run dmsetup message disk 0 addbad "$sector"
mark_log
run mount "$disk" "$mnt" && problem "ext4 mounted over a bad inode table block"
new_log
run e2fsck -fn "$disk" && problem "fsck read a bad block"
echo "# The same check once the sector is good again:"
run dmsetup message disk 0 clearbad
run e2fsck -fn "$disk" || problem "fsck found errors after the sector came back"
run dmsetup remove disk

echo
if [ "$failures" -eq 0 ]; then
	echo "every fault seen where it was put"
else
	echo "$failures problem(s)"
	exit 1
fi
