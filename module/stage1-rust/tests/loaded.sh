#!/bin/sh
# hello_target in Rust, loaded into Debian's own kernel: what lsmod, sysfs
# and dmsetup say about it.
#
# A guest script for the lab, on a line whose kernel has Rust:
#   cargo xtask lab --kernel 7.2 --stage stage1-rust --script module/stage1-rust/tests/loaded.sh
# It expects the stage loaded, as the lab provides.

failures=0
problem() {
	echo "PROBLEM: $*"
	failures=$((failures + 1))
}

# ANCHOR: lsmod
echo "-- lsmod"
lsmod | grep -E '^(Module|hello_target|dm_mod) '
echo "-- /sys/module/hello_target/taint"
cat /sys/module/hello_target/taint
echo "-- dmsetup targets"
dmsetup targets | grep hello_target
# Names Rust mangles start with _R (the v0 mangling the kernel asks for);
# the others are C's, or Rust's exported under their C names. The entry
# points the build pads (__pfx_) or tags (__cfi_) are counted once, and the
# compiler's local labels (.L...) not at all.
echo "-- functions of hello_target in /proc/kallsyms"
grep '\[hello_target\]$' /proc/kallsyms |
	awk '$2 ~ /^[tT]$/ && $3 !~ /^(__pfx_|__cfi_|\.L)/ {
		if (substr($3, 1, 2) == "_R") rust++; else print "unmangled: " $3
	} END { print "Rust-mangled: " rust }' | sort
# ANCHOR_END: lsmod

lsmod | grep -q '^hello_target ' || problem "hello_target is not in lsmod"
grep '\[hello_target\]$' /proc/kallsyms | grep -q ' [tT] _R' ||
	problem "hello_target has no Rust functions"
dmsetup targets | grep -q '^hello_target *v1.0.0$' || problem "hello_target v1.0.0 not registered"

if [ "$failures" -ne 0 ]; then
	echo "$failures problem(s)"
	exit 1
fi
echo "hello_target, a Rust module, is loaded and registered"
