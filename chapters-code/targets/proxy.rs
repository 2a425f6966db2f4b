//! `proxy`, stage 2: the Rust twin of `module/stage2-proxy/proxy_target.c`.
//!
//! A passthrough like stage 1 that counts what passes: `map` writes the
//! time and the bio's size into the clone's per-bio data, `end_io` reads
//! them back and adds them to the counters, `status` prints the counters and
//! the `reset` message sets them to zero.
//! Table line: `<start> <length> proxy <device> <start-sector>`.
//! The C module and this file make the same checks in the same order, fail
//! with the same `ti->error` strings, log the same message refusals and
//! print the same status line.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::dm::bio::{Bio, BioOp, BlkStatus, MapResult};
use crate::dm::target::{
    CtrContext, DmDev, EndIo, MessageError, StatusType, Target, TargetInfo, TargetType, dm_fmt,
};
use crate::errno::Errno;
use crate::targets::args::kstrtoull;

/// `DM_MSG_PREFIX`: the word after `device-mapper:` in the target's log lines.
const DM_MSG_PREFIX: &str = "proxy";

/// The target type: what `dm_register_target(&proxy_target)` registers.
pub struct Proxy;

// ANCHOR: counters
/// What passed since the table was loaded or the last `reset`
/// (`struct proxy_counters`). Atomics, as the C module's `atomic64_t`: the
/// core calls `map` and `end_io` on many CPUs at once, with no lock.
#[derive(Default)]
struct Counters {
    reads: AtomicU64,
    read_sectors: AtomicU64,
    writes: AtomicU64,
    write_sectors: AtomicU64,
    flushes: AtomicU64,
    others: AtomicU64,
    errors: AtomicU64,
    latency_ns: AtomicU64,
    max_latency_ns: AtomicU64,
}
// ANCHOR_END: counters

impl Counters {
    fn all(&self) -> [(&'static str, &AtomicU64); 9] {
        [
            ("reads", &self.reads),
            ("read_sectors", &self.read_sectors),
            ("writes", &self.writes),
            ("write_sectors", &self.write_sectors),
            ("flushes", &self.flushes),
            ("others", &self.others),
            ("errors", &self.errors),
            ("latency_ns", &self.latency_ns),
            ("max_latency_ns", &self.max_latency_ns),
        ]
    }

    /// `proxy_reset`.
    fn reset(&self) {
        for (_, counter) in self.all() {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// What `ctr` builds for one table line (`struct proxy_c`).
pub struct ProxyContext {
    dev: DmDev,
    start: u64,
    count: Counters,
}

// ANCHOR: per_bio
/// The per-bio data (`struct proxy_io`): when `map` saw the clone and how
/// many sectors it had. In the kernel the device below has advanced the
/// clone's `bi_iter` by the time `end_io` runs, so the size must be kept.
struct ProxyIo {
    start_ns: u64,
    sectors: u32,
}

impl ProxyIo {
    /// `sizeof(struct proxy_io)` on x86-64: a u64 and a u32, padded to 16.
    const SIZE: usize = 16;

    fn store(&self, data: &mut [u8]) {
        data[..8].copy_from_slice(&self.start_ns.to_ne_bytes());
        data[8..12].copy_from_slice(&self.sectors.to_ne_bytes());
    }

    fn load(data: &[u8]) -> ProxyIo {
        ProxyIo {
            start_ns: u64::from_ne_bytes(data[..8].try_into().expect("8 bytes")),
            sectors: u32::from_ne_bytes(data[8..12].try_into().expect("4 bytes")),
        }
    }
}
// ANCHOR_END: per_bio

/// `ktime_get_ns()`: a monotonic clock in nanoseconds (here, since the first
/// call rather than since boot).
fn ktime_get_ns() -> u64 {
    static BOOT: OnceLock<Instant> = OnceLock::new();
    BOOT.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

impl TargetType for Proxy {
    fn name(&self) -> &'static str {
        "proxy"
    }

    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }

    // ANCHOR: ctr
    /// `proxy_ctr`: `argv` is `<device> <start-sector>`, read as
    /// `hello_target` (and `linear`) read it.
    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        let [path, start] = argv else {
            ti.set_error("Invalid argument count");
            return Err(Errno::EINVAL);
        };
        let Some(start) = kstrtoull(start) else {
            ti.set_error("Invalid device sector");
            return Err(Errno::EINVAL);
        };
        let dev = ti.get_device(path).inspect_err(|_| {
            ti.set_error("Device lookup failed");
        })?;
        ti.set_num_flush_bios(1);
        ti.set_num_discard_bios(1);
        ti.set_num_secure_erase_bios(1);
        ti.set_num_write_zeroes_bios(1);
        // Room for a `ProxyIo` in front of every clone.
        ti.set_per_io_data_size(ProxyIo::SIZE);
        Ok(Box::new(ProxyContext {
            dev,
            start,
            count: Counters::default(),
        }))
    }
    // ANCHOR_END: ctr
}

impl Target for ProxyContext {
    // ANCHOR: map
    /// `proxy_map`: note the time and the size, then remap as stage 1 does.
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        let io = ProxyIo {
            start_ns: ktime_get_ns(),
            sectors: bio.sectors() as u32,
        };
        io.store(bio.per_bio_data_mut(ProxyIo::SIZE));

        bio.dev = self.dev.dev;
        if bio.sectors() > 0 {
            bio.sector = self.start + ti.target_offset(bio.sector);
        }
        MapResult::Remapped
    }
    // ANCHOR_END: map

    // ANCHOR: end_io
    /// `proxy_end_io`: count the clone by its op and the size `map` kept.
    fn end_io(&self, _ti: &TargetInfo, bio: &Bio, status: &mut BlkStatus) -> EndIo {
        let c = &self.count;
        let io = ProxyIo::load(bio.per_bio_data(ProxyIo::SIZE));
        let took = ktime_get_ns() - io.start_ns;
        let sectors = u64::from(io.sectors);
        match bio.op {
            BioOp::Read => {
                c.reads.fetch_add(1, Ordering::Relaxed);
                c.read_sectors.fetch_add(sectors, Ordering::Relaxed);
            }
            BioOp::Write if sectors > 0 => {
                c.writes.fetch_add(1, Ordering::Relaxed);
                c.write_sectors.fetch_add(sectors, Ordering::Relaxed);
            }
            BioOp::Write => {
                c.flushes.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                c.others.fetch_add(1, Ordering::Relaxed);
            }
        }
        if *status != BlkStatus::Ok {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        c.latency_ns.fetch_add(took, Ordering::Relaxed);
        // The C module's atomic64_cmpxchg loop, in one call.
        c.max_latency_ns.fetch_max(took, Ordering::Relaxed);
        EndIo::Done
    }
    // ANCHOR_END: end_io

    // ANCHOR: status
    /// `proxy_status`: the counters as `name=value` words for `dmsetup
    /// status`; the arguments that would build this line for `dmsetup table`.
    fn status(&self, _ti: &TargetInfo, kind: StatusType) -> String {
        match kind {
            StatusType::Info => self
                .count
                .all()
                .iter()
                .map(|(name, counter)| format!("{name}={}", counter.load(Ordering::Relaxed)))
                .collect::<Vec<_>>()
                .join(" "),
            StatusType::Table => format!("{} {}", self.dev.name, self.start),
        }
    }
    // ANCHOR_END: status

    // ANCHOR: message
    /// `proxy_message`: `reset`, and nothing else.
    fn message(
        &self,
        _ti: &TargetInfo,
        argv: &[&str],
        kmsg: &mut Vec<String>,
    ) -> Result<Option<String>, MessageError> {
        if !argv[0].eq_ignore_ascii_case("reset") {
            kmsg.push(dm_fmt(
                DM_MSG_PREFIX,
                &format!("Unrecognised message received: {}", argv[0]),
            ));
            return Err(MessageError::Refused(Errno::EINVAL));
        }
        if argv.len() != 1 {
            kmsg.push(dm_fmt(
                DM_MSG_PREFIX,
                "Invalid argument count for message: reset takes none",
            ));
            return Err(MessageError::Refused(Errno::EINVAL));
        }
        self.count.reset();
        Ok(None)
    }
    // ANCHOR_END: message

    /// `proxy_iterate_devices`.
    fn iterate_devices(
        &self,
        ti: &TargetInfo,
        callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        callout(&self.dev, self.start, ti.len)
    }
}

/// A status line with its latencies masked, for comparing transcripts:
/// `latency_ns=1234` and `max_latency_ns=1234` read `...=$NS`, since how long
/// a bio took differs from run to run. A 0 stays: it says nothing was timed.
pub fn mask_latencies(line: &str) -> String {
    line.split(' ')
        .map(|word| match word.split_once('=') {
            Some((name @ ("latency_ns" | "max_latency_ns"), value))
                if value != "0"
                    && !value.is_empty()
                    && value.bytes().all(|b| b.is_ascii_digit()) =>
            {
                format!("{name}=$NS")
            }
            _ => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_bio_data_round_trips_in_its_c_size() {
        let mut data = [0u8; ProxyIo::SIZE];
        ProxyIo {
            start_ns: 1 << 40,
            sectors: 8,
        }
        .store(&mut data);
        let io = ProxyIo::load(&data);
        assert_eq!((io.start_ns, io.sectors), (1 << 40, 8));
    }
}
