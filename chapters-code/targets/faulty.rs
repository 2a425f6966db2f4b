//! `faulty`, stage 3: the Rust twin of `module/stage3-faulty/faulty_target.c`.
//!
//! A passthrough over which some sectors are bad on purpose: a read that
//! touches one is done and then failed in `end_io`; a write that touches one
//! is killed in `map`, or in `drop` mode ended as if written. Optional
//! feature arguments set the mode and the first bad sectors; messages change
//! both at run time.
//! Table line: `<start> <length> faulty <device> <start-sector> [<#features> <feature>...]`.
//! The C module and this file make the same checks in the same order, fail
//! with the same `ti->error` strings, log the same message refusals and
//! print the same status.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::dm::bio::{Bio, BioOp, BlkStatus, MapResult};
use crate::dm::target::{
    CtrContext, DmDev, EndIo, MessageError, StatusType, Target, TargetInfo, TargetType, dm_fmt,
};
use crate::errno::Errno;
use crate::targets::args::{kstrtoull, read_arg_group};

/// `DM_MSG_PREFIX`.
const DM_MSG_PREFIX: &str = "faulty";
/// `FAULTY_MAX_BAD`: room for this many bad sectors.
pub const MAX_BAD: usize = 32;

/// The target type: what `dm_register_target(&faulty_target)` registers.
pub struct Faulty;

/// What happens to a bio that touches a bad sector (`enum faulty_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Reads and writes fail with an I/O error.
    Fail,
    /// Reads fail; writes end well and are not written.
    Drop,
    /// Nothing fails: the bad sectors are only kept.
    Pass,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Fail, Mode::Drop, Mode::Pass];

    /// `mode_names[]`.
    fn name(self) -> &'static str {
        match self {
            Mode::Fail => "fail",
            Mode::Drop => "drop",
            Mode::Pass => "pass",
        }
    }

    fn from_u8(value: u8) -> Mode {
        Mode::ALL[usize::from(value)]
    }
}

/// What `ctr` builds for one table line (`struct faulty_c`).
pub struct FaultyContext {
    dev: DmDev,
    start: u64,
    /// `READ_ONCE`/`WRITE_ONCE` in C: an atomic here.
    mode: AtomicU8,
    /// The bad sectors, counted from the line's start, sorted; the C
    /// module's spinlock-guarded array.
    bad: Mutex<Vec<u64>>,
    read_errors: AtomicU64,
    write_errors: AtomicU64,
    dropped_writes: AtomicU64,
}

/// `sizeof(struct faulty_io)`: one `bool`.
const FAULTY_IO_SIZE: usize = 1;

impl TargetType for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }

    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }

    /// `faulty_ctr`: `<device> <start-sector>`, then the features, then the
    /// device is opened.
    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        if argv.len() < 2 {
            ti.set_error("Invalid argument count");
            return Err(Errno::EINVAL);
        }
        let Some(start) = kstrtoull(argv[1]) else {
            ti.set_error("Invalid device sector");
            return Err(Errno::EINVAL);
        };
        let len = ti.info().len;
        let (mode, bad, rest) = match parse_features(&argv[2..], len) {
            Ok(parsed) => parsed,
            Err(reason) => {
                ti.set_error(reason);
                return Err(Errno::EINVAL);
            }
        };
        if !rest.is_empty() {
            ti.set_error("Unexpected words after the features");
            return Err(Errno::EINVAL);
        }
        let dev = ti.get_device(argv[0]).inspect_err(|_| {
            ti.set_error("Device lookup failed");
        })?;
        ti.set_num_flush_bios(1);
        ti.set_num_discard_bios(1);
        ti.set_num_secure_erase_bios(1);
        ti.set_num_write_zeroes_bios(1);
        ti.set_per_io_data_size(FAULTY_IO_SIZE);
        Ok(Box::new(FaultyContext {
            dev,
            start,
            mode: AtomicU8::new(mode as u8),
            bad: Mutex::new(bad),
            read_errors: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            dropped_writes: AtomicU64::new(0),
        }))
    }
}

/// `parse_features` with its `ti->error` strings: the mode, the sorted bad
/// sectors, and the words after the features.
fn parse_features<'a>(
    words: &'a [&'a str],
    len: u64,
) -> Result<(Mode, Vec<u64>, &'a [&'a str]), &'static str> {
    let mut mode = Mode::Fail;
    let mut bad = Vec::new();
    if words.is_empty() {
        return Ok((mode, bad, words));
    }
    // `dm_read_arg_group()` with `{0, 2 * FAULTY_MAX_BAD + 1}`.
    let Some(count) = read_arg_group(words, 0, 2 * MAX_BAD + 1) else {
        return Err("Invalid number of feature arguments");
    };
    let mut features = words[1..=count].iter();
    let mut mode_given = false;
    while let Some(word) = features.next() {
        if word.eq_ignore_ascii_case("drop_writes") || word.eq_ignore_ascii_case("pass") {
            if mode_given {
                return Err("Only one of drop_writes and pass");
            }
            mode_given = true;
            mode = if word.eq_ignore_ascii_case("pass") {
                Mode::Pass
            } else {
                Mode::Drop
            };
        } else if word.eq_ignore_ascii_case("bad") {
            let Some(text) = features.next() else {
                return Err("Feature bad needs a sector");
            };
            let sector = parse_line_sector(text, len)?;
            if add_bad(&mut bad, sector).is_err() {
                return Err("Too many bad sectors");
            }
        } else {
            return Err("Unrecognised feature argument");
        }
    }
    Ok((mode, bad, &words[count + 1..]))
}

/// `parse_line_sector`: a sector of this line, or why not.
fn parse_line_sector(text: &str, len: u64) -> Result<u64, &'static str> {
    let Some(sector) = kstrtoull(text) else {
        return Err("Invalid sector");
    };
    if sector >= len {
        return Err("Sector beyond the target's end");
    }
    Ok(sector)
}

/// `add_bad`: keep the list sorted and without repeats; `ENOSPC` when full.
fn add_bad(bad: &mut Vec<u64>, sector: u64) -> Result<(), Errno> {
    match bad.binary_search(&sector) {
        Ok(_) => Ok(()),
        Err(_) if bad.len() == MAX_BAD => Err(Errno::ENOSPC),
        Err(at) => {
            bad.insert(at, sector);
            Ok(())
        }
    }
}

impl FaultyContext {
    fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::Relaxed))
    }

    /// `touches_bad`: whether sectors `first..first + len` hold a bad one.
    fn touches_bad(&self, first: u64, len: u64) -> bool {
        let bad = self.bad.lock().expect("no panic holds the lock");
        let at = bad.partition_point(|&s| s < first);
        bad.get(at).is_some_and(|&s| s < first + len)
    }

    fn warn(kmsg: &mut Vec<String>, text: &str) {
        kmsg.push(dm_fmt(DM_MSG_PREFIX, text));
    }
}

impl Target for FaultyContext {
    /// `faulty_map`.
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        let mode = self.mode();
        let first = ti.target_offset(bio.sector);
        bio.dev = self.dev.dev;
        let bad = bio.sectors() > 0 && mode != Mode::Pass && self.touches_bad(first, bio.sectors());
        bio.per_bio_data_mut(FAULTY_IO_SIZE)[0] = u8::from(bad);

        if bad && bio.op == BioOp::Write {
            if mode == Mode::Drop {
                // `bio_endio()` and DM_MAPIO_SUBMITTED: done, not written.
                self.dropped_writes.fetch_add(1, Ordering::Relaxed);
                bio.status = BlkStatus::Ok;
                bio.endio();
                return MapResult::Submitted;
            }
            self.write_errors.fetch_add(1, Ordering::Relaxed);
            return MapResult::Kill;
        }
        if bio.sectors() > 0 {
            bio.sector = self.start + first;
        }
        MapResult::Remapped
    }

    /// `faulty_end_io`: a read of a bad sector was done; now it fails.
    fn end_io(&self, _ti: &TargetInfo, bio: &Bio, status: &mut BlkStatus) -> EndIo {
        let bad = bio.per_bio_data(FAULTY_IO_SIZE)[0] != 0;
        if bad && bio.op == BioOp::Read && *status == BlkStatus::Ok {
            self.read_errors.fetch_add(1, Ordering::Relaxed);
            *status = BlkStatus::IoErr;
        }
        EndIo::Done
    }

    /// `faulty_status`.
    fn status(&self, _ti: &TargetInfo, kind: StatusType) -> String {
        let mode = self.mode();
        let bad = self.bad.lock().expect("no panic holds the lock");
        match kind {
            StatusType::Info => format!(
                "mode={} bad_sectors={} read_errors={} write_errors={} dropped_writes={}",
                mode.name(),
                bad.len(),
                self.read_errors.load(Ordering::Relaxed),
                self.write_errors.load(Ordering::Relaxed),
                self.dropped_writes.load(Ordering::Relaxed),
            ),
            StatusType::Table => {
                let mut line = format!("{} {}", self.dev.name, self.start);
                if mode != Mode::Fail || !bad.is_empty() {
                    let count = usize::from(mode != Mode::Fail) + 2 * bad.len();
                    line += &format!(" {count}");
                    match mode {
                        Mode::Drop => line += " drop_writes",
                        Mode::Pass => line += " pass",
                        Mode::Fail => {}
                    }
                    for sector in bad.iter() {
                        line += &format!(" bad {sector}");
                    }
                }
                line
            }
        }
    }

    /// `faulty_message`.
    fn message(
        &self,
        ti: &TargetInfo,
        argv: &[&str],
        kmsg: &mut Vec<String>,
    ) -> Result<Option<String>, MessageError> {
        let verb = argv[0];
        let is = |word: &str| verb.eq_ignore_ascii_case(word);
        let words = if is("clearbad") || is("listbad") {
            1
        } else if is("addbad") || is("removebad") || is("mode") {
            2
        } else {
            Self::warn(kmsg, &format!("Unrecognised message received: {verb}"));
            return Err(MessageError::Refused(Errno::EINVAL));
        };
        if argv.len() != words {
            Self::warn(
                kmsg,
                &format!(
                    "Invalid argument count for message {verb}: {} words, not {words}",
                    argv.len()
                ),
            );
            return Err(MessageError::Refused(Errno::EINVAL));
        }
        let mut bad = self.bad.lock().expect("no panic holds the lock");
        if is("clearbad") {
            bad.clear();
            return Ok(None);
        }
        if is("listbad") {
            let list: Vec<String> = bad.iter().map(u64::to_string).collect();
            // `return 1`: the core hands the text back.
            return Ok(Some(list.join(" ")));
        }
        if is("mode") {
            let Some(mode) = Mode::ALL
                .into_iter()
                .find(|m| argv[1].eq_ignore_ascii_case(m.name()))
            else {
                Self::warn(
                    kmsg,
                    &format!("Unknown mode {}: fail, drop or pass", argv[1]),
                );
                return Err(MessageError::Refused(Errno::EINVAL));
            };
            self.mode.store(mode as u8, Ordering::Relaxed);
            return Ok(None);
        }
        let sector = match parse_line_sector(argv[1], ti.len) {
            Ok(sector) => sector,
            Err(why) => {
                Self::warn(kmsg, &format!("{why}: {}", argv[1]));
                return Err(MessageError::Refused(Errno::EINVAL));
            }
        };
        if is("removebad") {
            let Ok(at) = bad.binary_search(&sector) else {
                Self::warn(kmsg, &format!("Sector {sector} is not bad"));
                return Err(MessageError::Refused(Errno::EINVAL));
            };
            bad.remove(at);
            return Ok(None);
        }
        add_bad(&mut bad, sector).map_err(|errno| {
            Self::warn(kmsg, &format!("Too many bad sectors: at most {MAX_BAD}"));
            MessageError::Refused(errno)
        })?;
        Ok(None)
    }

    /// `faulty_iterate_devices`.
    fn iterate_devices(
        &self,
        ti: &TargetInfo,
        callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        callout(&self.dev, self.start, ti.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_read_as_dm_read_arg_group_reads_them() {
        let parse = |text: &str| {
            let words: Vec<&str> = text.split_whitespace().collect();
            parse_features(&words, 4096).map(|(mode, bad, rest)| (mode, bad, rest.len()))
        };
        assert_eq!(parse(""), Ok((Mode::Fail, vec![], 0)));
        assert_eq!(parse("3 bad 9 pass"), Ok((Mode::Pass, vec![9], 0)));
        assert_eq!(parse("4 bad 9 bad 2"), Ok((Mode::Fail, vec![2, 9], 0)));
        assert_eq!(parse("1 pass extra"), Ok((Mode::Pass, vec![], 1)));
        assert_eq!(parse("x"), Err("Invalid number of feature arguments"));
        assert_eq!(parse("2 bad"), Err("Invalid number of feature arguments"));
        assert_eq!(
            parse("66 bad 1"),
            Err("Invalid number of feature arguments")
        );
        assert_eq!(parse("1 bad"), Err("Feature bad needs a sector"));
        assert_eq!(parse("2 bad 4096"), Err("Sector beyond the target's end"));
        assert_eq!(
            parse("2 pass drop_writes"),
            Err("Only one of drop_writes and pass")
        );
        assert_eq!(parse("1 slow"), Err("Unrecognised feature argument"));
    }

    #[test]
    fn the_list_stays_sorted_and_bounded() {
        let mut bad = Vec::new();
        for sector in (0..MAX_BAD as u64).rev() {
            add_bad(&mut bad, sector).unwrap();
        }
        add_bad(&mut bad, 3).unwrap();
        assert!(bad.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(add_bad(&mut bad, 1000), Err(Errno::ENOSPC));
    }
}
