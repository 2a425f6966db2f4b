#!/bin/sh
# The broken variant of deferred (drain_in_postsuspend=1) hangs a suspend
# with a bio held: presuspend stops the target's clock and keeps the bio,
# the core waits for that bio before it calls postsuspend, and postsuspend
# is where this variant would let it go. The script must never finish: the
# lab runs it expecting the guest to report the hang, and fails it if the
# script ends.
#   cargo xtask lab --kernel 6.1 --stage stage4-deferred \
#       --script module/stage4-deferred/tests/broken-suspend.sh --expect-hang
# It expects deferred loaded (the correct build: it loads the broken one
# itself) and /dev/loop0 over a 128 MiB file, as the lab provides.

run() {
	echo "\$ $*"
	"$@"
}
# field NAME: the value of NAME=... in slow's status.
field() { dmsetup status slow | tr ' ' '\n' | sed -n "s/^$1=//p"; }
state() { sed -n 's/^State:[[:space:]]*//p' "/proc/$1/status"; }

echo "# The same module, its broken path switched on:"
run rmmod deferred_target
run insmod /lab/stage/deferred_target.ko drain_in_postsuspend=1
run cat /sys/module/deferred_target/parameters/drain_in_postsuspend
# A delay of 5 s, so that the suspend reaches presuspend while the bio is
# still held even on a loaded emulated machine: with 1 s, the bio was once
# sent on before the suspend began, and nothing hung.
table="0 4096 deferred /dev/loop0 2048 5000"
echo "\$ dmsetup create slow --table '$table'"
dmsetup create slow --table "$table"

echo "\$ dd if=/dev/zero of=/dev/mapper/slow bs=4096 count=1 oflag=direct &"
dd if=/dev/zero of=/dev/mapper/slow bs=4096 count=1 oflag=direct 2>/dev/null &
writer=$!
tries=0
while [ "$(field held)" != 1 ] && [ "$tries" -lt 50 ]; do
	tries=$((tries + 1))
	sleep 0.1
done
run dmsetup status slow

echo "\$ dmsetup suspend slow &"
dmsetup suspend slow &
suspender=$!
sleep 6
echo "# Six seconds later (the delay is five):"
echo "dd: $(state "$writer")"
echo "dmsetup suspend: $(state "$suspender")"
run dmsetup status slow
echo "# The bio is still held: dd waits for it, the suspend waits for dd's"
echo "# bio, and the bio waits for postsuspend, which comes after the"
echo "# suspend. Nothing moves again; the guest's hang watch reports dd"
echo "# once it has waited 20 s with no I/O."
wait "$writer"
echo "dd returned: the broken variant did not hang"
exit 1
