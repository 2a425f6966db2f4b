//! What a mapped device offers the block layer above it: a write cache to
//! flush, discards, secure erases, write-zeroes. Linux 6.1 decides it from
//! the table's lines and the devices they use when it binds a table
//! (`dm_table_set_restrictions()`, `drivers/md/dm-table.c` line 1947); the
//! model asks the same questions of the live table each time.

use super::tables::BuiltTable;
use super::{DM_MAJOR, LOOP_MAJOR, Simulator, WriteCache};
use crate::dm::bio::{BioOp, DevT};
use crate::dm::target::TargetInfo;

impl Simulator {
    /// `queue/write_cache` of mapped device `name`: `write back` only if
    /// some line asks for flushes and uses a device with a write cache.
    pub fn write_cache(&self, name: &str) -> Option<WriteCache> {
        let md = self.mapped.get(name)?;
        Some(self.device_write_cache(DevT::new(DM_MAJOR, md.minor)))
    }

    /// `QUEUE_FLAG_WC` of any block device the model has.
    pub(super) fn device_write_cache(&self, dev: DevT) -> WriteCache {
        match dev.major {
            LOOP_MAJOR => self
                .loops
                .get(&dev.minor)
                .map_or(WriteCache::WriteThrough, |l| l.write_cache),
            DM_MAJOR => match self.live_table(dev) {
                Some(table) if self.table_supports_flush(table) => WriteCache::WriteBack,
                _ => WriteCache::WriteThrough,
            },
            _ => WriteCache::WriteThrough,
        }
    }

    /// Whether block device `dev` takes bios of `op` at all: the checks of
    /// `submit_bio_noacct()` (Linux 6.1 `block/blk-core.c` lines 768-783).
    pub(super) fn device_offers(&self, dev: DevT, op: BioOp) -> bool {
        if op.has_data() {
            return true;
        }
        match dev.major {
            // A file-backed loop device discards and writes zeroes with
            // fallocate (`loop_config_discard()`, `drivers/block/loop.c`
            // lines 778-796) and has no secure erase.
            LOOP_MAJOR => op != BioOp::SecureErase,
            DM_MAJOR => self
                .live_table(dev)
                .is_some_and(|table| self.table_offers(table, op)),
            _ => false,
        }
    }

    /// `dm_table_supports_flush(t, QUEUE_FLAG_WC)` (`dm-table.c` lines
    /// 1790-1813): a line with no `num_flush_bios` is skipped; the table
    /// supports flushes if any other line uses a device with a write cache
    /// (`device_flush_capable()`, lines 1781-1788). (`flush_supported`, for
    /// targets that flush without a device, no twin sets.)
    fn table_supports_flush(&self, table: &BuiltTable) -> bool {
        table.lines.iter().any(|line| {
            line.info.num_flush_bios > 0
                && line.target.iterate_devices(&line.info, &mut |dev, _, _| {
                    self.device_write_cache(dev.dev) == WriteCache::WriteBack
                })
        })
    }

    /// `dm_table_supports_discards()`, `_secure_erase()` and
    /// `_write_zeroes()` (`dm-table.c` lines 1895, 1924 and 1851): every line must ask for clones of `op` and every device
    /// each line uses must offer it. A line without `iterate_devices` (the
    /// model sees it name no device) offers nothing: `discards_supported`,
    /// which would let it, no twin sets.
    fn table_offers(&self, table: &BuiltTable, op: BioOp) -> bool {
        table.lines.iter().all(|line| {
            if clones_for(&line.info, op) == 0 {
                return false;
            }
            let mut devices = 0;
            let incapable = line.target.iterate_devices(&line.info, &mut |dev, _, _| {
                devices += 1;
                !self.device_offers(dev.dev, op)
            });
            devices > 0 && !incapable
        })
    }

    fn live_table(&self, dev: DevT) -> Option<&BuiltTable> {
        self.mapped
            .values()
            .find(|md| md.minor == dev.minor)
            .and_then(|md| md.live.as_deref())
    }
}

/// How many clones of a bio of `op` a line asked for: `num_flush_bios` is
/// for empty flushes, the others as `__process_abnormal_io()` reads them
/// (`drivers/md/dm.c` lines 1601-1631). Reads and writes go once.
pub(super) fn clones_for(info: &TargetInfo, op: BioOp) -> u32 {
    match op {
        BioOp::Read | BioOp::Write => 1,
        BioOp::Discard => info.num_discard_bios,
        BioOp::SecureErase => info.num_secure_erase_bios,
        BioOp::WriteZeroes => info.num_write_zeroes_bios,
    }
}
