#!/usr/bin/env bash
# Provision Debian 12 for dm-workbook's real-kernel chapters and its workshop:
# what building the kernel module (compiler, make, the running kernel's
# headers) and the kernel backend (libdevmapper's headers, libclang for
# bindgen) need, plus the tools the chapters and the workshop's checks
# (exercises/harness.sh) drive: dmsetup, losetup, blkdiscard, mkfs.ext4,
# kmod, cmp, awk, and sudo, which `workshop check` asks for the root parts;
# fio for `cargo xtask bench --here`.
#
# Environment:
#   DMW_KERNEL_RELEASE  headers to install (default: the running kernel, uname -r)
#   DMW_INSTALL_RUST    1 (default): install Rust with rustup under /opt/rust for
#                       every user, root included, so `sudo cargo run` works.
#                       Debian 12's own rustc is older than the 1.88 the crate needs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

kernel_release=${DMW_KERNEL_RELEASE:-$(uname -r)}

apt-get update -q
apt-get install -y -q --no-install-recommends \
    build-essential \
    "linux-headers-${kernel_release}" \
    kmod \
    dmsetup \
    e2fsprogs \
    fio \
    fonts-dejavu-core \
    mount \
    util-linux \
    diffutils \
    mawk \
    sudo \
    libdevmapper-dev \
    libclang-dev \
    pkg-config \
    ca-certificates \
    curl

if [ "${DMW_INSTALL_RUST:-1}" = 1 ] && [ ! -x /opt/rust/cargo/bin/cargo ]; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        RUSTUP_HOME=/opt/rust/rustup CARGO_HOME=/opt/rust/cargo \
            sh -s -- -y --profile minimal --no-modify-path
    # Small wrappers on sudo's secure_path, so root and users share one toolchain
    # (each keeps its own registry cache in ~/.cargo).
    for tool in cargo rustc; do
        printf '#!/bin/sh\nRUSTUP_HOME=/opt/rust/rustup exec /opt/rust/cargo/bin/%s "$@"\n' \
            "$tool" > "/usr/local/bin/$tool"
        chmod 755 "/usr/local/bin/$tool"
    done
fi

# Device mapper and loop devices, now and after a reboot.
if [ -d "/lib/modules/$(uname -r)" ]; then
    modprobe dm-mod
    modprobe loop
fi
mkdir -p /etc/modules-load.d
printf 'dm-mod\nloop\n' > /etc/modules-load.d/dm-workbook.conf
echo "provisioned for kernel ${kernel_release}"
