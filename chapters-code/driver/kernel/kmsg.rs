//! The kernel log as the backend reads it: `/dev/kmsg`, one record per `read(2)`.
//!
//! A table the target refuses comes back from the ioctl as a bare `EINVAL`; the
//! reason (`ti->error`) is only in the kernel log. Reading the records that
//! appeared during a call gives the user that reason in the same line as the error.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

/// Where the kernel log is read from.
pub const KMSG_PATH: &str = "/dev/kmsg";

/// One record of `/dev/kmsg`: `<prio>,<seq>,<usec>,<flags>[,...];<message>`,
/// then optional dictionary lines (` KEY=value`) that we ignore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The log level (0 = emergency ... 7 = debug), the prio field's low bits.
    pub level: u8,
    /// The record's sequence number.
    pub seq: u64,
    /// Microseconds since boot.
    pub usec: u64,
    /// The text, with the kernel's `\xNN` escapes undone.
    pub message: String,
}

/// Read one raw record; `None` if it is not in the `/dev/kmsg` format.
pub fn parse_record(raw: &str) -> Option<Record> {
    let (header, rest) = raw.split_once(';')?;
    let mut fields = header.split(',');
    let prio: u32 = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    let usec = fields.next()?.parse().ok()?;
    // The flags field ('-', 'c', '+') must be there; later fields are optional.
    fields.next()?;
    let text = rest.split('\n').next().unwrap_or("");
    Some(Record {
        level: (prio & 7) as u8,
        seq,
        usec,
        message: unescape(text),
    })
}

/// The kernel writes non-printable bytes (and `\`) of a message as `\xNN`.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let hex = text
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a log line concerns device mapper: the core's own prefix, a mapped
/// device by its kernel name (`EXT4-fs (dm-0): mounted ...`), or one of the
/// `watched` words (the names of the modules this backend loaded).
pub fn is_device_mapper_line(message: &str, watched: &[String]) -> bool {
    message.starts_with("device-mapper:")
        || names_a_mapped_device(message)
        || watched.iter().any(|word| message.contains(word.as_str()))
}

/// `dm-<number>` as a whole word.
fn names_a_mapped_device(message: &str) -> bool {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|word| {
            word.strip_prefix("dm-")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// The device-mapper lines of the kernel log since the backend was opened.
pub struct Kmsg {
    /// `None` where the log cannot be read (no `/dev/kmsg`, or a container
    /// that hides it): the backend works, only without the kernel's reasons.
    file: Option<File>,
    /// Extra words that make a line ours (module names).
    watched: Vec<String>,
    /// Lines read but not yet handed out by [`Kmsg::take`].
    pending: Vec<String>,
}

impl Kmsg {
    /// Open the log and skip what is already in it.
    pub fn open() -> Kmsg {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(KMSG_PATH)
            .and_then(|mut file| file.seek(SeekFrom::End(0)).map(|_| file))
            .ok();
        Kmsg {
            file,
            watched: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Keep lines that contain `word` too.
    pub fn watch(&mut self, word: &str) {
        if !self.watched.iter().any(|w| w == word) {
            self.watched.push(word.to_string());
        }
    }

    /// Read the records that arrived since the last read; returns the
    /// device-mapper ones (also kept for [`Kmsg::take`]).
    pub fn collect(&mut self) -> Vec<String> {
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let mut new = Vec::new();
        // A record is at most about 8 KiB (`CONSOLE_EXT_LOG_MAX`); a read
        // shorter than the record fails with EINVAL.
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let raw = String::from_utf8_lossy(&buf[..n]);
                    if let Some(record) = parse_record(&raw)
                        && is_device_mapper_line(&record.message, &self.watched)
                    {
                        new.push(record.message);
                    }
                }
                // EPIPE: older records were overwritten before we read them;
                // the next read goes on with the oldest one still there.
                Err(e) if e.raw_os_error() == Some(nix::libc::EPIPE) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // EAGAIN: nothing more for now.
                Err(_) => break,
            }
        }
        self.pending.extend(new.iter().cloned());
        new
    }

    /// Every device-mapper line since the last call.
    pub fn take(&mut self) -> Vec<String> {
        self.collect();
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_table_error_record() {
        let raw = "3,1234,5678901,-;device-mapper: table: 254:0: hello_target: \
                   Invalid device sector (-EINVAL)\n SUBSYSTEM=block\n DEVICE=b254:0\n";
        let record = parse_record(raw).unwrap();
        assert_eq!(record.level, 3);
        assert_eq!(record.seq, 1234);
        assert_eq!(record.usec, 5678901);
        assert_eq!(
            record.message,
            "device-mapper: table: 254:0: hello_target: Invalid device sector (-EINVAL)"
        );
    }

    #[test]
    fn level_is_the_low_bits_of_prio_and_extra_header_fields_are_allowed() {
        // Facility 0 (kern) level 6; a caller id field as newer kernels add.
        let record = parse_record("6,7,8,c,caller=T42;hello_target: loaded\n").unwrap();
        assert_eq!(record.level, 6);
        // Facility 1 (user, written to /dev/kmsg by a program) level 4.
        assert_eq!(parse_record("12,1,1,-;x").unwrap().level, 4);
    }

    #[test]
    fn undoes_escapes() {
        let record = parse_record("4,1,1,-;a\\x5cb\\x0ac \\xzz").unwrap();
        assert_eq!(record.message, "a\\b\nc \\xzz");
    }

    #[test]
    fn refuses_what_is_not_a_record() {
        assert_eq!(parse_record("no semicolon here"), None);
        assert_eq!(parse_record("x,1,2,-;text"), None);
        assert_eq!(parse_record("3,1,2;no flags field"), None);
        assert_eq!(parse_record(""), None);
    }

    #[test]
    fn keeps_device_mapper_lines_only() {
        let watched = vec!["hello_target".to_string()];
        let ours = [
            "device-mapper: ioctl: error adding target to table",
            "device-mapper: uevent: version 1.0.3",
            "hello_target: loading out-of-tree module taints kernel.",
            "EXT4-fs (dm-0): mounted filesystem with ordered data mode.",
            "Buffer I/O error on dev dm-12, logical block 0",
        ];
        for line in ours {
            assert!(is_device_mapper_line(line, &watched), "{line}");
        }
        let theirs = [
            "loop0: detected capacity change from 0 to 262144",
            "EXT4-fs (sda1): re-mounted.",
            "random: crng init done",
            "module dm-mod: something",
            "usb 1-1: new device, dm-x",
        ];
        for line in theirs {
            assert!(!is_device_mapper_line(line, &watched), "{line}");
        }
    }

    #[test]
    fn watching_a_word_twice_keeps_one() {
        let mut kmsg = Kmsg {
            file: None,
            watched: Vec::new(),
            pending: Vec::new(),
        };
        kmsg.watch("hello_target");
        kmsg.watch("hello_target");
        assert_eq!(kmsg.watched, ["hello_target"]);
        assert!(kmsg.take().is_empty());
    }
}
