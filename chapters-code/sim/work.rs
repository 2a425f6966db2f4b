//! Time, and what happens in it: the clock (`jiffies`), the delayed work of
//! targets that keep time, and the clones a target keeps past `map` and
//! lets go of later, from that work or from a suspend hook.
//!
//! The kernel runs a target's work on a workqueue thread while programs
//! wait; the model has no threads. Its clock moves only when someone waits
//! ([`Simulator::wait_for`], a suspend waiting for what is in flight,
//! [`Simulator::advance`]), and whatever delayed work falls due on the way
//! runs then, in the order of its due times.

use std::rc::Rc;

use super::tables::BuiltTable;
use super::{Hung, Simulator};
use crate::dm::bio::{Bio, BlkStatus, CloneId};
use crate::dm::target::{Clock, HeldClones};

/// How many work items may run at one moment of the clock before the model
/// calls it a loop: a work function that keeps arming itself for "now".
const RUNS_AT_ONE_TIME: u32 = 100_000;

/// The core as a target's work or suspend hook reaches it.
pub(super) struct Core<'a> {
    pub(super) sim: &'a mut Simulator,
}

impl HeldClones for Core<'_> {
    /// `dm_submit_bio_remap(clone, NULL)` on a clone the target kept: it
    /// goes where `map` pointed it, and `block_bio_remap` fires now.
    fn submit_bio_remap(&mut self, clone: CloneId) {
        let held = self.sim.take_held(clone, "dm_submit_bio_remap");
        self.sim.send_down(held);
    }

    /// `clone->bi_status = status; bio_endio(clone)` on a clone the target
    /// kept: `clone_endio()` runs, and with it the target's `end_io`.
    fn endio(&mut self, clone: CloneId, status: BlkStatus) {
        let mut held = self.sim.take_held(clone, "bio_endio");
        held.bio.status = status;
        self.sim.end_clone(held);
    }
}

impl Simulator {
    /// The kernel's clock, as the targets read it.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A clone its target keeps, handed back to the core.
    ///
    /// # Panics
    /// If the target does not hold `clone`: in the kernel, a clone sent on
    /// or ended twice is memory used after it was freed.
    fn take_held(&mut self, clone: CloneId, call: &str) -> super::io::CloneInFlight {
        match self.clones.remove(&clone) {
            Some(held) if held.held => held,
            other => panic!(
                "{call} on {clone}, which no target holds ({}): a clone sent on or ended twice",
                if other.is_some() {
                    "it is below, in a device"
                } else {
                    "it has ended"
                }
            ),
        }
    }

    /// Clones the targets hold now.
    pub fn held_clones(&self) -> usize {
        self.clones.values().filter(|c| c.held).count()
    }

    /// The earliest delayed work armed by a target of a live table: when,
    /// on which device, and which line.
    fn next_work(&self) -> Option<(u64, String, Rc<BuiltTable>, usize)> {
        self.mapped
            .iter()
            .filter_map(|(name, md)| md.live.as_ref().map(|t| (name, t)))
            .flat_map(|(name, table)| {
                (table.lines.iter().enumerate()).filter_map(move |(i, line)| {
                    let due = line.target.work_due()?;
                    Some((due, name.clone(), Rc::clone(table), i))
                })
            })
            .min_by_key(|(due, ..)| *due)
    }

    /// Run the earliest armed work if it is due by `limit`; whether one ran.
    fn run_next_work(&mut self, limit: Option<u64>) -> bool {
        let Some((due, name, table, index)) = self.next_work() else {
            return false;
        };
        if limit.is_some_and(|limit| due > limit) {
            return false;
        }
        self.clock.advance_to(due);
        let line = &table.lines[index];
        let info = self.info_now(&name, line);
        line.target.run_work(&info, &mut Core { sim: self });
        true
    }

    /// Let `ms` milliseconds pass, running the delayed work that falls due.
    pub fn advance(&mut self, ms: u64) {
        let until = self.clock.now() + ms;
        let mut runs = 0;
        let mut at = self.clock.now();
        while self.run_next_work(Some(until)) {
            runs = if self.clock.now() == at { runs + 1 } else { 0 };
            at = self.clock.now();
            assert!(
                runs < RUNS_AT_ONE_TIME,
                "a target's work keeps arming itself for the same moment"
            );
        }
        self.clock.advance_to(until);
    }

    /// Wait for the bio [`Submission::Deferred`](super::Submission) named
    /// `id` to end, for at most `within` milliseconds (`None`: as long as
    /// anything is left to happen), running the delayed work that falls
    /// due. `None` if it has not ended by then.
    pub fn wait_for(&mut self, id: u64, within: Option<u64>) -> Option<Bio> {
        let limit = within.map(|ms| self.clock.now() + ms);
        loop {
            if let Some(bio) = self.completed.remove(&id) {
                return Some(bio);
            }
            if !self.run_next_work(limit) {
                if let Some(limit) = limit {
                    self.clock.advance_to(limit);
                }
                return None;
            }
        }
    }

    /// Run delayed work until nothing of device `name` is in flight; the
    /// number still in flight when nothing is left to run.
    pub(super) fn wait_idle(&mut self, name: &str) -> Result<(), usize> {
        while self.in_flight(name) > 0 {
            if !self.run_next_work(None) {
                return Err(self.in_flight(name));
            }
        }
        Ok(())
    }

    /// Why a bio a program waits for would never end, in words.
    pub fn why_waiting(&self, id: u64) -> Hung {
        let held = self.held_clones();
        Hung(format!(
            "bio {id} has not ended and no delayed work is armed ({held} clone(s) kept by \
             their targets): a target returned DM_MAPIO_SUBMITTED and never sent the clone \
             on nor ended it"
        ))
    }
}
