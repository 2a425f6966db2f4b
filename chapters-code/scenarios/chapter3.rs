//! Chapter 3: `hello_target` from setup to teardown.
//!
//! The workflow a learner runs with their first target: a 128 MiB backing file
//! on a loop device, the module loaded, `my_device_mapper` created over it,
//! 16 KiB written through it and found again in the backing file, a file
//! system made on it (real kernels only), and everything undone.

use std::io::Write;
use std::path::PathBuf;

use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Deserializer, Serialize};

use super::{
    Narrator, Result, ScenarioError, join_remaps, make_backing_file, read_file_at, show_info,
    show_status, show_table, table_argument,
};
use crate::SECTOR_SIZE;
use crate::dm::TableSlot;
use crate::dm::trace::Remap;
use crate::dm::units::{Bytes, Sectors};
use crate::driver::{Backend, BackendError, BackendKind};
use crate::manifest::{Manifest, Stage};
use crate::table::Table;

/// The mapped device's name, as in the original setup script.
pub const DEVICE: &str = "my_device_mapper";
/// The backing file's name inside the backend's scratch directory.
pub const BACKING_FILE: &str = "mydisk.img";
/// 128 MiB: 262144 sectors.
pub const BACKING_BYTES: u64 = 128 << 20;
/// How much the write step writes: 16 KiB.
pub const WRITE_BYTES: usize = 16 << 10;
/// The seed for the write step's data, so that every run writes the same bytes.
pub const DEFAULT_SEED: u64 = 2026;

/// One step of the chapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Backing file, loop device, module, `dmsetup create`.
    Setup,
    /// 16 KiB through the mapped device, verified in the backing file.
    Write,
    /// `mkfs.ext4`, mount, make and copy files, unmount (real kernels only).
    Format,
    /// Remove the device, detach the loop device, unload the module.
    Teardown,
}

/// Every step, in order.
pub const ALL_STEPS: [Step; 4] = [Step::Setup, Step::Write, Step::Format, Step::Teardown];

/// What the chapter can be told.
#[derive(Clone, Debug)]
pub struct Options {
    /// A table to use instead of `0 262144 hello_target <loop> 0`.
    pub table: Option<String>,
    /// Seed for the 16 KiB written.
    pub seed: u64,
    /// The module stage whose target the table uses.
    pub stage: &'static Stage,
    /// Where the write step writes: a sector of the mapped device.
    pub at: u64,
    /// How much it writes, in bytes (whole sectors).
    pub bytes: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            table: None,
            seed: DEFAULT_SEED,
            stage: Manifest::bundled()
                .stage_of_chapter(3)
                .expect("the manifest names chapter 3's stage (a test checks it)"),
            at: 0,
            bytes: WRITE_BYTES as u64,
        }
    }
}

/// What a run found, for comparing the simulator with a real kernel.
///
/// Read back from JSON, every field must be there under its own name: a
/// report written by another version of the workbook is refused rather than
/// compared field by missing field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Which backend ran.
    pub backend: String,
    /// Steps that ran, in order.
    pub steps: Vec<Step>,
    /// The stage's target as `dmsetup targets` listed it after loading.
    #[serde(deserialize_with = "present")]
    pub target: Option<String>,
    /// `dmsetup table` after creating the device.
    pub table: Vec<String>,
    /// `dmsetup status` after creating the device.
    pub status: Vec<String>,
    /// Where the written data was found.
    #[serde(deserialize_with = "present")]
    pub placement: Option<Placement>,
    /// Files seen on the new file system (real kernels only).
    pub files: Vec<String>,
}

/// Where the write step's data went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The mapped device's sector the write started at.
    pub at: u64,
    /// Bytes written.
    pub bytes: u64,
    /// CRC-32 of those bytes.
    pub crc32: u32,
    /// The device the table line holding `at` sends it to (`major:minor` as
    /// the table shows it).
    pub device: String,
    /// The byte offset on that device where the data must be.
    pub offset: u64,
    /// How many of the written bytes that table line covers.
    pub expected: u64,
    /// How many of those the backing file holds at `offset`.
    pub matched: u64,
    /// Whether reading the mapped device gave the data back.
    pub read_back: bool,
    /// Whether the backing file holds all `expected` bytes at `offset`.
    pub in_backing_file: bool,
    /// Where the core sent the write and then the read, as the kernel's
    /// `block_bio_remap` event reports it (`None`: the backend cannot see it).
    pub remaps: Option<Vec<Remap>>,
}

/// An `Option` field that must be in the JSON, as `null` when empty. Serde
/// takes a missing `Option` as `None`, which would let a renamed field pass.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> std::result::Result<Option<T>, D::Error> {
    Option::deserialize(deserializer)
}

/// Where a sector of the mapped device lands on a passthrough line's device.
struct Landing {
    device: String,
    /// Byte offset on that device.
    offset: u64,
    /// Bytes from the sector to the line's end.
    covered: u64,
}

/// One run of the chapter: the backend, the options, the report being
/// filled in, and what the steps hand on to each other.
struct Run<'r, 'w> {
    n: Narrator<'w>,
    backend: &'r mut dyn Backend,
    options: &'r Options,
    report: Report,
    loop_device: Option<String>,
    backing_file: Option<PathBuf>,
}

/// Run `steps` in order on `backend`, printing to `out`.
///
/// The simulator forgets everything when the process ends, so there a step
/// without its `setup` gets one first. A real kernel keeps the device between
/// runs, so `chapter3 setup` and a later `chapter3 write` work on the same one.
pub fn run(
    backend: &mut dyn Backend,
    steps: &[Step],
    options: &Options,
    out: &mut dyn Write,
) -> Result<Report> {
    let mut run = Run {
        n: Narrator::new(out),
        report: Report {
            backend: backend.kind().to_string(),
            ..Report::default()
        },
        backend,
        options,
        loop_device: None,
        backing_file: None,
    };
    let mut steps = steps.to_vec();
    if run.backend.kind() == BackendKind::Sim && !steps.contains(&Step::Setup) {
        run.n
            .note("The simulator starts empty each run: setting up first.")?;
        steps.insert(0, Step::Setup);
    }
    for step in steps {
        run.report.steps.push(step);
        match step {
            Step::Setup => run.setup(),
            Step::Write => run.write(),
            Step::Format => run.format(),
            Step::Teardown => run.teardown(),
        }
        .inspect_err(|_| {
            // What the kernel said about a failure is the best explanation.
            let _ = run.n.kernel_log(run.backend);
        })?;
    }
    Ok(run.report)
}

impl Run<'_, '_> {
    fn setup(&mut self) -> Result<()> {
        self.n.heading("setup")?;
        self.n.note(&format!("On {}.", self.backend.describe()))?;
        let file = self.backend.scratch_dir().join(BACKING_FILE);
        self.n
            .command(&format!("truncate -s 128M {BACKING_FILE}"))?;
        make_backing_file(&file, BACKING_BYTES)?;
        self.backing_file = Some(file.clone());

        self.n
            .command(&format!("losetup --find --show {BACKING_FILE}"))?;
        let loop_device = self.backend.attach_loop(&file)?;
        self.n.output(&loop_device)?;
        self.loop_device = Some(loop_device.clone());

        let stage = self.options.stage;
        self.n
            .command(&format!("insmod {}/{}", stage.folder(), stage.ko))?;
        if self.backend.kind() == BackendKind::Sim {
            self.n
                .note("(the simulator registers the Rust twin, dm_workbook::targets::hello)")?;
        }
        if let Err(err) = self.backend.load_stage(stage) {
            self.undo_setup(false);
            return Err(err.into());
        }
        if let Err(err) = self.create_device(&loop_device) {
            self.undo_setup(true);
            return Err(err);
        }
        self.n.kernel_log(self.backend)?;
        Ok(())
    }

    /// `dmsetup targets`, then `dmsetup create` with the chapter's table, then
    /// a look at what the kernel made of it.
    fn create_device(&mut self, loop_device: &str) -> Result<()> {
        let stage = self.options.stage;
        self.n.command("dmsetup targets")?;
        let targets = self.backend.targets()?;
        let listing: Vec<String> = targets.iter().map(ToString::to_string).collect();
        self.n.output(&listing.join("\n"))?;
        self.report.target = targets
            .iter()
            .find(|t| t.name == stage.target)
            .map(ToString::to_string);

        let text = self.options.table.clone().unwrap_or_else(|| {
            format!(
                "0 {} {} {loop_device} 0",
                BACKING_BYTES / SECTOR_SIZE,
                stage.target
            )
        });
        let table = Table::parse(&text).map_err(BackendError::from)?;
        self.n.command(&format!(
            "dmsetup create {DEVICE} {}",
            table_argument(&table)
        ))?;
        self.backend.create_with_table(DEVICE, &table)?;
        self.report.table = show_table(&mut self.n, self.backend, DEVICE, TableSlot::Live)?;
        self.n
            .note("The table shows the device as major:minor: the kernel keeps no path.")?;
        self.report.status = show_status(&mut self.n, self.backend, DEVICE)?;
        show_info(&mut self.n, self.backend, DEVICE)?;
        Ok(())
    }

    /// A failed setup leaves nothing behind: unload the module (if it was
    /// loaded), detach the loop device, delete the backing file. Errors here
    /// are secondary to the one that stopped the setup, so they are only
    /// reported.
    fn undo_setup(&mut self, module_loaded: bool) {
        let _ = self.n.note("setup failed: undoing what it did");
        let _ = self.n.kernel_log(self.backend);
        let stage = self.options.stage;
        if module_loaded {
            let _ = self.n.command(&format!("rmmod {}", stage.target));
            if let Err(err) = self.backend.unload_stage(stage) {
                let _ = self.n.note(&format!("rmmod failed too: {err}"));
            }
        }
        if let Some(device) = self.loop_device.take() {
            let _ = self.n.command(&format!("losetup -d {device}"));
            if let Err(err) = self.backend.detach_loop(&device) {
                let _ = self.n.note(&format!("losetup -d failed too: {err}"));
            }
        }
        if let Some(file) = self.backing_file.take() {
            let _ = self.n.command(&format!("rm {BACKING_FILE}"));
            let _ = std::fs::remove_file(file);
        }
    }

    /// Where the table sends sector `at` of the mapped device, if the line
    /// holding it is a passthrough (`hello_target` or `linear`:
    /// `<device> <offset>`): the device, the byte offset on it, and how many
    /// bytes from `at` on that line covers.
    fn landing_of(&mut self, at: u64) -> Result<Option<Landing>> {
        let live = self.backend.table(DEVICE, TableSlot::Live)?;
        let Some(line) = live
            .iter()
            .find(|l| l.start <= at && l.end().is_some_and(|end| at < end))
        else {
            return Ok(None);
        };
        if line.target != "hello_target" && line.target != "linear" {
            return Ok(None);
        }
        let mut words = line.params.split_whitespace();
        let (Some(device), Some(start)) = (words.next(), words.next()) else {
            return Ok(None);
        };
        let Ok(start) = start.parse::<u64>() else {
            return Ok(None);
        };
        let end = line.end().unwrap_or(at);
        Ok(Some(Landing {
            device: device.to_string(),
            offset: (start + at - line.start) * SECTOR_SIZE,
            covered: (end - at) * SECTOR_SIZE,
        }))
    }

    /// The mapped device's size in sectors: where its live table ends.
    fn device_sectors(&mut self) -> Result<u64> {
        let live = self.backend.table(DEVICE, TableSlot::Live)?;
        Ok(live.iter().filter_map(|l| l.end()).max().unwrap_or(0))
    }

    fn write(&mut self) -> Result<()> {
        self.n.heading("write")?;
        let (seed, at, len) = (self.options.seed, self.options.at, self.options.bytes);
        let sectors = self.device_sectors()?;
        // The block device file refuses a write that starts at its end and
        // shortens one that runs past it, before any bio is made
        // (blkdev_write_iter in block/fops.c): say so rather than show a
        // shortened run.
        if len == 0 || len % SECTOR_SIZE != 0 {
            return Err(ScenarioError::Usage(format!(
                "--bytes {len} is not a whole number of 512-byte sectors"
            )));
        }
        if at.saturating_add(len / SECTOR_SIZE) > sectors {
            return Err(ScenarioError::Usage(format!(
                "--at {at} --bytes {len} runs past the device's end at sector {sectors}: \
                 the kernel refuses or shortens such a write before any bio is made"
            )));
        }
        let mut data = vec![0u8; len as usize];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
        let crc = crc32fast::hash(&data);
        let (seek, count) = if at == 0 && len == WRITE_BYTES as u64 {
            (String::new(), "bs=16K count=1".to_string())
        } else {
            (
                format!(" seek={at}"),
                format!("bs=512 count={}", len / SECTOR_SIZE),
            )
        };
        self.n.command(&format!(
            "dd if=random.bin of=/dev/mapper/{DEVICE} {count}{seek} oflag=direct"
        ))?;
        self.n.note(&format!(
            "random.bin: {len} pseudo-random bytes (seed {seed}), CRC-32 {crc:#010x}"
        ))?;
        let start = Sectors(at).bytes();
        self.n.record_remaps(self.backend)?;
        self.backend.write(DEVICE, start, &data)?;
        let written = self.n.trace(self.backend)?;

        let skip = seek.replace("seek", "skip");
        self.n.command(&format!(
            "dd if=/dev/mapper/{DEVICE} {count}{skip} iflag=direct | cmp - random.bin"
        ))?;
        let back = self.backend.read(DEVICE, start, Bytes::of(&data))?;
        let read = self.n.trace(self.backend)?;
        let remaps = join_remaps(written, read);
        let read_back = back == data;
        self.n.note(if read_back {
            "same bytes: the mapped device gives back what was written"
        } else {
            "DIFFERENT bytes came back from the mapped device"
        })?;

        let landing = self.landing_of(at)?;
        let mut placement = Placement {
            at,
            bytes: len,
            crc32: crc,
            device: String::new(),
            offset: 0,
            expected: 0,
            matched: 0,
            read_back,
            in_backing_file: false,
            remaps,
        };
        if let Some(landing) = &landing {
            let share = &data[..landing.covered.min(len) as usize];
            placement.device = landing.device.clone();
            placement.offset = landing.offset;
            placement.expected = share.len() as u64;
            placement.matched = self.check_backing_file(landing, at, share)?;
            placement.in_backing_file = placement.matched == placement.expected;
        } else {
            self.n.note(&format!(
                "The table line holding sector {at} is not a passthrough; no backing file to check."
            ))?;
        }
        let verdict = if !read_back {
            Err("the mapped device did not give back what was written".to_string())
        } else if landing.is_some() && !placement.in_backing_file {
            Err("the data did not land where the table says it must".to_string())
        } else {
            Ok(())
        };
        self.report.placement = Some(placement);
        verdict.map_err(ScenarioError::Verify)
    }

    /// How many of `data`'s leading bytes the backing file holds where the
    /// table says sector `at` lands; says what it found.
    fn check_backing_file(&mut self, landing: &Landing, at: u64, data: &[u8]) -> Result<u64> {
        let file = self
            .backing_file
            .clone()
            .unwrap_or_else(|| self.backend.scratch_dir().join(BACKING_FILE));
        let offset = landing.offset;
        self.n.command(&format!(
            "dd if={BACKING_FILE} bs=512 skip={} count={} | cmp - random.bin",
            offset / SECTOR_SIZE,
            data.len() as u64 / SECTOR_SIZE
        ))?;
        let stored = read_file_at(&file, offset, data.len())?;
        let matched = stored.iter().zip(data).take_while(|(a, b)| a == b).count() as u64;
        let whole = matched == data.len() as u64;
        let device = &landing.device;
        let sector = offset / SECTOR_SIZE;
        let note = match (whole, at) {
            (true, 0) => format!(
                "same bytes at byte {offset} of {BACKING_FILE}: sector 0 of the mapped \
                 device is sector {sector} of {device}"
            ),
            (true, _) => format!(
                "same bytes at byte {offset} of {BACKING_FILE}: sector {at} of the mapped \
                 device is sector {sector} of {device}"
            ),
            (false, _) => format!(
                "{matched} of the {} bytes this table line covers are at byte {offset} of \
                 {BACKING_FILE}; the rest are not",
                data.len()
            ),
        };
        self.n.note(&note)?;
        if whole && (data.len() as u64) < self.options.bytes {
            self.n.note(&format!(
                "the other {} bytes go to the next table line",
                self.options.bytes - data.len() as u64
            ))?;
        }
        Ok(matched)
    }

    fn format(&mut self) -> Result<()> {
        self.n.heading("format")?;
        self.n
            .command(&format!("mkfs.ext4 -q /dev/mapper/{DEVICE}"))?;
        match self.backend.run_on_device(DEVICE, "mkfs.ext4", &["-q"]) {
            Err(BackendError::Unsupported(why)) => {
                self.n.note(&format!("skipped: {why}"))?;
                return Ok(());
            }
            other => self.n.output(&other?)?,
        }
        let mount_point = self.backend.scratch_dir().join("mnt");
        std::fs::create_dir_all(&mount_point)
            .map_err(|e| BackendError::io(format!("creating {}", mount_point.display()), e))?;
        self.n.command(&format!("mount /dev/mapper/{DEVICE} mnt"))?;
        self.backend.mount(DEVICE, &mount_point)?;
        let n = &mut self.n;
        let used = (|| -> std::io::Result<Vec<String>> {
            n.command("echo hello > mnt/test.txt && cp mnt/test.txt mnt/copy.txt")?;
            std::fs::write(mount_point.join("test.txt"), "hello\n")?;
            std::fs::copy(mount_point.join("test.txt"), mount_point.join("copy.txt"))?;
            n.command("ls mnt")?;
            let mut names: Vec<String> = std::fs::read_dir(&mount_point)?
                .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<std::io::Result<_>>()?;
            names.sort();
            n.output(&names.join("  "))?;
            Ok(names)
        })();
        self.n.command("umount mnt")?;
        let unmounted = self.backend.unmount(&mount_point);
        self.report.files = used.map_err(|e| BackendError::io("using the new file system", e))?;
        unmounted?;
        Ok(())
    }

    fn teardown(&mut self) -> Result<()> {
        self.n.heading("teardown")?;
        // A device left by an earlier run names its loop device in its table.
        let loop_device = match self.loop_device.take() {
            Some(device) => Some(device),
            None => self.loop_device_of_table()?,
        };
        self.n.command(&format!("dmsetup remove {DEVICE}"))?;
        self.backend.remove(DEVICE)?;
        if let Some(device) = loop_device {
            self.n.command(&format!("losetup -d {device}"))?;
            self.backend.detach_loop(&device)?;
        }
        let stage = self.options.stage;
        self.n.command(&format!("rmmod {}", stage.target))?;
        self.backend.unload_stage(stage)?;
        let file = self
            .backing_file
            .take()
            .unwrap_or_else(|| self.backend.scratch_dir().join(BACKING_FILE));
        self.n.command(&format!("rm {BACKING_FILE}"))?;
        std::fs::remove_file(&file)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| BackendError::io(format!("removing {}", file.display()), e))?;
        self.n.kernel_log(self.backend)?;
        Ok(())
    }

    /// The loop device the live table points at (`7:N` is `/dev/loopN`).
    fn loop_device_of_table(&mut self) -> Result<Option<String>> {
        let live = self.backend.table(DEVICE, TableSlot::Live)?;
        Ok(live.iter().find_map(|line| {
            let device = line.params.split_whitespace().next()?;
            let minor = device.strip_prefix("7:")?;
            Some(format!("/dev/loop{minor}"))
        }))
    }
}
