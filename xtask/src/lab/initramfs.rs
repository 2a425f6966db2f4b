//! The guest's initramfs: a list of files (where each goes, where its bytes
//! come from), written as a newc cpio archive the kernel unpacks at boot.

use std::collections::BTreeSet;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use cpio::newc::{Builder, ModeFileType, trailer};

/// Where a file's bytes come from.
#[derive(Debug, PartialEq, Eq)]
pub enum Content {
    /// A host file, read when the archive is written.
    Host(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    Dir(String),
    File {
        path: String,
        content: Content,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// A character device node, such as `/dev/console` (the kernel opens it
    /// for init before anything could mount devtmpfs).
    Char {
        path: String,
        major: u32,
        minor: u32,
    },
}

impl Node {
    pub fn path(&self) -> &str {
        match self {
            Node::Dir(p)
            | Node::File { path: p, .. }
            | Node::Symlink { path: p, .. }
            | Node::Char { path: p, .. } => p,
        }
    }
}

/// Files in the order they are added; parent folders are added on demand.
#[derive(Default)]
pub struct Initramfs {
    nodes: Vec<Node>,
    paths: BTreeSet<String>,
}

impl Initramfs {
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn dir(&mut self, path: &str) {
        let path = path.trim_matches('/');
        if path.is_empty() || self.paths.contains(path) {
            return;
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.paths.insert(path.to_string());
        self.nodes.push(Node::Dir(path.to_string()));
    }

    /// Add a file (the first one added at a path wins).
    pub fn file(&mut self, path: &str, content: Content, mode: u32) {
        let path = path.trim_start_matches('/').to_string();
        self.add(Node::File {
            path,
            content,
            mode,
        });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        let path = path.trim_start_matches('/').to_string();
        let target = target.to_string();
        self.add(Node::Symlink { path, target });
    }

    pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        let path = path.trim_start_matches('/').to_string();
        self.add(Node::Char { path, major, minor });
    }

    fn add(&mut self, node: Node) {
        let path = node.path().to_string();
        if self.paths.contains(&path) {
            return;
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.paths.insert(path);
        self.nodes.push(node);
    }

    /// A host program at `guest` in the guest, with the shared libraries
    /// `ldd` says it needs (at their host paths).
    pub fn program(&mut self, path: &Path, guest: &str) -> Result<()> {
        let output = Command::new("ldd")
            .arg(path)
            .output()
            .context("running ldd")?;
        // A static program makes ldd fail with "not a dynamic executable".
        if output.status.success() {
            for lib in parse_ldd(&String::from_utf8_lossy(&output.stdout)) {
                self.file(&lib.to_string_lossy(), Content::Host(lib.clone()), 0o755);
            }
        }
        self.file(guest, Content::Host(path.into()), 0o755);
        Ok(())
    }

    /// Write the archive.
    pub fn write(&self, out: impl Write) -> Result<()> {
        let mut out = out;
        for (ino, node) in self.nodes.iter().enumerate() {
            let builder = Builder::new(node.path()).ino(ino as u32 + 1).nlink(1);
            let (builder, data) = match node {
                Node::Dir(_) => (
                    builder
                        .mode(0o755)
                        .set_mode_file_type(ModeFileType::Directory),
                    Vec::new(),
                ),
                Node::Char { major, minor, .. } => (
                    builder
                        .mode(0o600)
                        .set_mode_file_type(ModeFileType::Char)
                        .rdev_major(*major)
                        .rdev_minor(*minor),
                    Vec::new(),
                ),
                Node::Symlink { target, .. } => (
                    builder
                        .mode(0o777)
                        .set_mode_file_type(ModeFileType::Symlink),
                    target.as_bytes().to_vec(),
                ),
                Node::File { content, mode, .. } => {
                    let data = match content {
                        Content::Bytes(b) => b.clone(),
                        Content::Host(p) => {
                            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?
                        }
                    };
                    (
                        builder
                            .mode(*mode)
                            .set_mode_file_type(ModeFileType::Regular),
                        data,
                    )
                }
            };
            let size = u32::try_from(data.len()).context("a file over 4 GiB")?;
            let mut writer = builder.write(out, size);
            std::io::copy(&mut Cursor::new(data), &mut writer)?;
            out = writer.finish()?;
        }
        trailer(out)?;
        Ok(())
    }
}

/// The libraries in `ldd` output: `libx.so.1 => /lib/.../libx.so.1 (0x..)`
/// and the loader's own `/lib64/ld-linux-x86-64.so.2 (0x..)`; the vDSO has
/// no file.
pub fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// A kernel module's bytes, decompressed if the image ships it compressed
/// (`.ko.xz` from 6.12 on; `.ko.zst` on some builds).
pub fn module_bytes(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else {
        return std::fs::read(path).with_context(|| format!("reading {name}"));
    };
    let output = Command::new(tool)
        .args(["-dc"])
        .arg(path)
        .output()
        .with_context(|| format!("running {tool}"))?;
    ensure!(output.status.success(), "{tool} -dc {name} failed");
    Ok(output.stdout)
}

/// `ext4.ko.xz` → `ext4.ko`.
pub fn module_file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.find(".ko") {
        Some(i) => format!("{}.ko", &name[..i]),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpio::NewcReader;

    #[test]
    fn reads_ldd_output() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibdevmapper.so.1.02.1 => /lib/x86_64-linux-gnu/libdevmapper.so.1.02.1 (0x7f1)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f2)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x7f3)\n";
        assert_eq!(
            parse_ldd(text),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libdevmapper.so.1.02.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn names_modules_without_compression() {
        assert_eq!(module_file_name(Path::new("/x/ext4.ko.xz")), "ext4.ko");
        assert_eq!(module_file_name(Path::new("/x/dm-mod.ko")), "dm-mod.ko");
    }

    #[test]
    fn adds_parents_once_and_keeps_the_first_file() {
        let mut fs = Initramfs::default();
        fs.file("/lab/modules/a.ko", Content::Bytes(b"a".to_vec()), 0o644);
        fs.file("/lab/modules/a.ko", Content::Bytes(b"b".to_vec()), 0o644);
        fs.symlink("/bin/sh", "busybox");
        let paths: Vec<&str> = fs.nodes().iter().map(Node::path).collect();
        assert_eq!(
            paths,
            ["lab", "lab/modules", "lab/modules/a.ko", "bin", "bin/sh"]
        );
    }

    #[test]
    fn writes_a_cpio_the_kernel_can_read() {
        let mut fs = Initramfs::default();
        fs.file("/init", Content::Bytes(b"#!/bin/sh\n".to_vec()), 0o755);
        fs.symlink("/bin/sh", "busybox");
        let mut archive = Vec::new();
        fs.write(&mut archive).unwrap();

        let mut found = Vec::new();
        let mut input = Cursor::new(archive);
        loop {
            let reader = NewcReader::new(input).unwrap();
            if reader.entry().is_trailer() {
                break;
            }
            let entry = reader.entry();
            found.push((entry.name().to_string(), entry.mode(), entry.file_size()));
            input = reader.finish().unwrap();
        }
        assert_eq!(
            found,
            [
                ("init".to_string(), 0o100755, 10),
                ("bin".to_string(), 0o040755, 0),
                ("bin/sh".to_string(), 0o120777, 7),
            ]
        );
    }
}
