#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dmw_probes.sh OUT CACHE OBJTREE CC FLAGS... - run the feature probes of
# module/compat/probes/ (see dmw_probes.kbuild, which calls this) and write
# OUT, the header of their verdicts, and OUT's .log beside it, what each
# probe's compiler said.
#
# CACHE, when not empty, is a folder where verdicts are kept between builds:
# the same probes, kernel headers and compiler give the same verdicts, so a
# lab that builds many stages for one kernel probes once. The key is a hash
# of all three; an empty CACHE probes every time (a learner's `make`).
set -e

out=$1
cache=$2
objtree=$3
shift 3
here=$(dirname "$0")
log=${out%.h}.log

key=$(cat "$here"/probes/*.c "$here"/dmw_probes.sh "$here"/dmw_probes.kbuild \
	"$objtree"/include/config/kernel.release \
	"$objtree"/include/generated/uapi/linux/version.h \
	"$objtree"/include/generated/autoconf.h 2>/dev/null | md5sum | cut -c1-16)
key=$key-$("$1" --version | head -n 1 | md5sum | cut -c1-8)
if [ -n "$cache" ] && [ -f "$cache/$key.h" ] && [ -f "$cache/$key.log" ]; then
	cp "$cache/$key.log" "$log"
	cp "$cache/$key.h" "$out"
	exit 0
fi

runs=$out.runs
rm -rf "$runs"
mkdir "$runs"
# A probe that fails proves nothing unless the compiler works: first a file
# every kernel compiles.
printf '#include <linux/types.h>\nint dmw_control(void);\nint dmw_control(void) { return sizeof(sector_t); }\n' >"$runs/control.c"
if ! "$@" "$runs/control.c" >"$runs/control.log" 2>&1; then
	echo "dmw_probes.sh: the compiler fails on a file every kernel compiles:" >&2
	cat "$runs/control.log" >&2
	exit 1
fi
# Side by side: each probe is a compiler reading the kernel's headers.
for probe in "$here"/probes/*.c; do
	name=$(basename "$probe" .c)
	{
		if "$@" "$probe" >"$runs/$name.log" 2>&1; then
			echo 1
		else
			echo 0
		fi >"$runs/$name.have"
	} &
done
wait

{
	echo "/* Made by dmw_probes.kbuild from module/compat/probes: do not edit. */"
	for probe in "$here"/probes/*.c; do
		name=$(basename "$probe" .c)
		macro=DMW_HAVE_$(echo "$name" | tr a-z- A-Z_)
		echo "#define $macro $(cat "$runs/$name.have")"
	done
} >"$runs/header"
for probe in "$here"/probes/*.c; do
	name=$(basename "$probe" .c)
	echo "== $name: $(cat "$runs/$name.have")"
	cat "$runs/$name.log"
done >"$log"

if [ -n "$cache" ]; then
	mkdir -p "$cache"
	cp "$log" "$cache/$key.log.tmp" && mv "$cache/$key.log.tmp" "$cache/$key.log"
	cp "$runs/header" "$cache/$key.h.tmp" && mv "$cache/$key.h.tmp" "$cache/$key.h"
fi
mv "$runs/header" "$out"
rm -rf "$runs"
