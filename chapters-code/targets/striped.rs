//! `striped`: spread chunks round-robin over several devices (RAID 0).
//!
//! The twin of `drivers/md/dm-stripe.c`. Table arguments:
//! `<stripes> <chunk sectors> [<device> <offset>]...`, one pair per stripe.
//! The core splits bios at chunk boundaries (`dm_set_target_max_io_len`), so
//! `map` only ever sees a bio inside one chunk of one stripe.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::dm::bio::{Bio, BioOp, BlkStatus, MapResult};
use crate::dm::target::{CtrContext, DmDev, EndIo, StatusType, Target, TargetInfo, TargetType};
use crate::errno::Errno;
use crate::targets::args::sscanf_llu;

/// The `striped` target type.
pub struct Striped;

struct Stripe {
    dev: DmDev,
    physical_start: u64,
    error_count: AtomicU32,
}

/// One `striped` line's context (`struct stripe_c`).
pub struct StripedContext {
    stripes: Vec<Stripe>,
    /// Sectors of this line each stripe holds.
    stripe_width: u64,
    chunk_size: u64,
}

/// `kstrtouint(arg, 10, &value)`: a 32-bit whole number, strictly.
fn kstrtouint(arg: &str) -> Option<u32> {
    crate::targets::args::kstrtoull(arg).and_then(|v| u32::try_from(v).ok())
}

impl TargetType for Striped {
    fn name(&self) -> &'static str {
        "striped"
    }

    fn version(&self) -> [u32; 3] {
        [1, 6, 0]
    }

    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        let (stripes, chunk_size) = match check_shape(ti.info().len, argv) {
            Ok(shape) => shape,
            Err(reason) => {
                ti.set_error(reason);
                return Err(Errno::EINVAL);
            }
        };
        ti.set_max_io_len(chunk_size);
        // One clone of each flush, discard, secure erase and write-zeroes
        // per stripe (`stripe_ctr()`, dm-stripe.c lines 153-156 in 6.1):
        // `map` sends clone N to stripe N.
        let clones = stripes as u32;
        ti.set_num_flush_bios(clones);
        ti.set_num_discard_bios(clones);
        ti.set_num_secure_erase_bios(clones);
        ti.set_num_write_zeroes_bios(clones);
        let mut parsed = Vec::new();
        for pair in argv[2..].chunks(2) {
            // On failure the core puts the devices already got, as the C
            // loop does by hand.
            let Some(physical_start) = sscanf_llu(pair[1]) else {
                ti.set_error("Couldn't parse stripe destination");
                return Err(Errno::EINVAL);
            };
            let dev = ti.get_device(pair[0]).inspect_err(|_| {
                ti.set_error("Couldn't parse stripe destination");
            })?;
            parsed.push(Stripe {
                dev,
                physical_start,
                error_count: AtomicU32::new(0),
            });
        }
        Ok(Box::new(StripedContext {
            stripes: parsed,
            stripe_width: ti.info().len / stripes,
            chunk_size,
        }))
    }
}

/// The checks `stripe_ctr` makes before it opens any device, in its order:
/// the stripe count and chunk size, and whether the line divides evenly.
fn check_shape(len: u64, argv: &[&str]) -> Result<(u64, u64), &'static str> {
    if argv.len() < 2 {
        return Err("Not enough arguments");
    }
    let stripes = match kstrtouint(argv[0]) {
        Some(n) if n > 0 => u64::from(n),
        _ => return Err("Invalid stripe count"),
    };
    let chunk_size = match kstrtouint(argv[1]) {
        Some(n) if n > 0 => u64::from(n),
        _ => return Err("Invalid chunk_size"),
    };
    if !len.is_multiple_of(stripes) {
        return Err("Target length not divisible by number of stripes");
    }
    if !(len / stripes).is_multiple_of(chunk_size) {
        return Err("Target length not divisible by chunk size");
    }
    if argv.len() as u64 != 2 + 2 * stripes {
        return Err("Not enough destinations specified");
    }
    Ok((stripes, chunk_size))
}

impl StripedContext {
    /// `stripe_map_sector`: which stripe holds `offset` (sectors into the
    /// line), and where on that stripe.
    fn map_sector(&self, offset: u64) -> (usize, u64) {
        let chunk = offset / self.chunk_size;
        let chunk_offset = offset % self.chunk_size;
        let stripes = self.stripes.len() as u64;
        let stripe = (chunk % stripes) as usize;
        let row = chunk / stripes;
        (stripe, row * self.chunk_size + chunk_offset)
    }
}

impl StripedContext {
    /// `stripe_map_range_sector`: where on stripe `target_stripe` the range
    /// that holds line offset `offset` begins or ends. A sector that lies on
    /// another stripe is rounded to that stripe's chunk boundary.
    fn map_range_sector(&self, offset: u64, target_stripe: usize) -> u64 {
        let (stripe, result) = self.map_sector(offset);
        if stripe == target_stripe {
            return result;
        }
        let rounded = result - result % self.chunk_size;
        if target_stripe < stripe {
            rounded + self.chunk_size
        } else {
            rounded
        }
    }

    /// `stripe_map_range`: the part of a discard (or secure erase, or
    /// write-zeroes) that falls on stripe `target_stripe`, or, when none
    /// does, the clone ended at once (`bio_endio()`, `DM_MAPIO_SUBMITTED`).
    fn map_range(&self, ti: &TargetInfo, bio: &mut Bio, target_stripe: usize) -> MapResult {
        let offset = ti.target_offset(bio.sector);
        let begin = self.map_range_sector(offset, target_stripe);
        let end = self.map_range_sector(offset + bio.sectors(), target_stripe);
        if begin >= end {
            bio.status = BlkStatus::Ok;
            bio.endio();
            return MapResult::Submitted;
        }
        let stripe = &self.stripes[target_stripe];
        bio.dev = stripe.dev.dev;
        bio.sector = begin + stripe.physical_start;
        bio.extent = end - begin;
        MapResult::Remapped
    }
}

impl Target for StripedContext {
    /// `stripe_map` (dm-stripe.c lines 267-295 in 6.1).
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        let target_stripe = bio.target_bio_nr as usize;
        if bio.preflush {
            // An empty flush: clone N goes to stripe N, sector untouched.
            bio.dev = self.stripes[target_stripe].dev.dev;
            return MapResult::Remapped;
        }
        if matches!(
            bio.op,
            BioOp::Discard | BioOp::SecureErase | BioOp::WriteZeroes
        ) {
            return self.map_range(ti, bio, target_stripe);
        }
        let (stripe, sector) = self.map_sector(ti.target_offset(bio.sector));
        let stripe = &self.stripes[stripe];
        bio.sector = stripe.physical_start + sector;
        bio.dev = stripe.dev.dev;
        MapResult::Remapped
    }

    /// Count errors per device, for the `A`/`D` letters in the status.
    fn end_io(&self, _ti: &TargetInfo, bio: &Bio, status: &mut BlkStatus) -> EndIo {
        if *status != BlkStatus::Ok {
            for stripe in self.stripes.iter().filter(|s| s.dev.dev == bio.dev) {
                stripe.error_count.fetch_add(1, Ordering::Relaxed);
            }
        }
        EndIo::Done
    }

    fn status(&self, _ti: &TargetInfo, kind: StatusType) -> String {
        match kind {
            StatusType::Info => {
                let names: String = self
                    .stripes
                    .iter()
                    .map(|s| format!("{} ", s.dev.name))
                    .collect();
                let health: String = self
                    .stripes
                    .iter()
                    .map(|s| {
                        if s.error_count.load(Ordering::Relaxed) > 0 {
                            'D'
                        } else {
                            'A'
                        }
                    })
                    .collect();
                format!("{} {names}1 {health}", self.stripes.len())
            }
            StatusType::Table => {
                let mut text = format!("{} {}", self.stripes.len(), self.chunk_size);
                for s in &self.stripes {
                    text += &format!(" {} {}", s.dev.name, s.physical_start);
                }
                text
            }
        }
    }

    fn iterate_devices(
        &self,
        _ti: &TargetInfo,
        callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        self.stripes
            .iter()
            .any(|s| callout(&s.dev, s.physical_start, self.stripe_width))
    }
}
