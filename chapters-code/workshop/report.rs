//! What a check found, for the learner and as JSON.
//!
//! A kernel check is read from what `exercises/harness.sh` prints, wherever
//! it ran (the running kernel or the lab's guest):
//!
//! - `WS-STEP <id> <text>`: a step began (the one before it passed);
//! - `WS-FAIL <id> <text>`: the step failed, and why; the check stops there;
//! - `WS-KMSG <line>`: a kernel log line written during the check;
//! - `WS-END <status>`: the harness finished (0: every step passed).
//!
//! Anything else is the check's own output, kept for the learner. Kernel log
//! lines are held to the alarms (`crate::alarms`): a BUG, a WARNING, an Oops
//! or a hung task fails the check whatever its steps said.

use serde::{Deserialize, Serialize};

use super::{Exercise, Kind};

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    /// An earlier step failed, so this one never ran.
    NotRun,
}

/// One step's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    pub id: String,
    /// What the step checks.
    pub checks: String,
    pub outcome: Outcome,
    /// What the check saw, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The hint that fits (1-based), when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<usize>,
}

/// A check's result: the machine-readable file `workshop check` writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The exercise's folder, `NN-name`.
    pub exercise: String,
    pub kind: Kind,
    /// Where it ran: `simulator`, `kernel 6.1.0-28-amd64`, `lab 6.1`.
    pub ran_on: String,
    pub passed: bool,
    pub steps: Vec<StepResult>,
    /// The kernel's complaints, one line each.
    #[serde(default)]
    pub kernel_complaints: Vec<String>,
    /// What the check printed, for a closer look.
    #[serde(default)]
    pub output: Vec<String>,
    pub seconds: f64,
}

impl Report {
    /// An empty report for `exercise`, to fill step by step.
    pub fn new(exercise: &Exercise, ran_on: impl Into<String>) -> Report {
        Report {
            exercise: exercise.dir.clone(),
            kind: exercise.kind,
            ran_on: ran_on.into(),
            passed: false,
            steps: Vec::new(),
            kernel_complaints: Vec::new(),
            output: Vec::new(),
            seconds: 0.0,
        }
    }

    /// Record a passed step (once: a battery loads a module per run).
    pub fn pass(&mut self, exercise: &Exercise, id: &str) {
        if self.steps.iter().any(|s| s.id == id) {
            return;
        }
        self.steps.push(StepResult {
            id: id.to_string(),
            checks: exercise.step_text(id),
            outcome: Outcome::Passed,
            detail: None,
            hint: None,
        });
    }

    pub fn fail(&mut self, exercise: &Exercise, id: &str, detail: impl Into<String>) {
        self.steps.push(StepResult {
            id: id.to_string(),
            checks: exercise.step_text(id),
            outcome: Outcome::Failed,
            detail: Some(detail.into()),
            hint: Some(exercise.hint_for(id)),
        });
    }

    /// The first failed step.
    pub fn first_failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.outcome == Outcome::Failed)
    }

    /// Mark the exercise's declared steps that did not run, and decide.
    pub fn finish(&mut self, exercise: &Exercise) {
        for step in &exercise.steps {
            if !self.steps.iter().any(|s| s.id == step.id) {
                self.steps.push(StepResult {
                    id: step.id.clone(),
                    checks: step.checks.clone(),
                    outcome: Outcome::NotRun,
                    detail: None,
                    hint: None,
                });
            }
        }
        self.passed = self.kernel_complaints.is_empty()
            && !self.steps.is_empty()
            && self.steps.iter().all(|s| s.outcome == Outcome::Passed);
    }

    /// The report in plain words, for the terminal.
    pub fn render(&self, exercise: &Exercise) -> String {
        let mut text = format!(
            "exercise {} ({}) on {}: {} ({:.1} s)\n",
            exercise.id(),
            exercise.title,
            self.ran_on,
            if self.passed { "PASSED" } else { "FAILED" },
            self.seconds
        );
        for s in &self.steps {
            let mark = match s.outcome {
                Outcome::Passed => "  ok    ",
                Outcome::Failed => "  FAIL  ",
                Outcome::NotRun => "  -     ",
            };
            text += &format!("{mark}{}\n", s.checks);
            if let Some(detail) = &s.detail {
                for line in detail.lines() {
                    text += &format!("          {line}\n");
                }
            }
        }
        for c in &self.kernel_complaints {
            text += &format!("  FAIL  the kernel complained: {c}\n");
        }
        if let Some(failed) = self.first_failure() {
            let hint = failed.hint.unwrap_or(1);
            text += &format!(
                "\nThe hint that fits: `cargo run --bin workshop -- hint {} --number {hint}`\n",
                exercise.number()
            );
        } else if !self.kernel_complaints.is_empty() {
            text += &format!(
                "\nThe kernel's log explains it; the transcript is above. Hints: `cargo run --bin workshop -- hint {}`\n",
                exercise.number()
            );
        }
        text
    }
}

/// One harness run, read from its output: the steps in order, the kernel
/// lines, the rest, and the exit status if it finished.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HarnessRun {
    /// `(id, text)` of each step begun.
    pub steps: Vec<(String, String)>,
    /// `(id, why)` of the failed step.
    pub failure: Option<(String, String)>,
    pub kmsg: Vec<String>,
    pub output: Vec<String>,
    /// `None`: the harness never finished (the machine crashed or hung).
    pub status: Option<i32>,
    /// Kernel lines a console showed while it ran (the lab's guest): all
    /// that is left of the log of a run the machine died in.
    pub console: Vec<String>,
}

impl HarnessRun {
    /// Read the harness's output.
    pub fn parse(text: &str) -> HarnessRun {
        let mut run = HarnessRun::default();
        for line in text.lines() {
            run.feed(line);
        }
        run
    }

    pub fn feed(&mut self, line: &str) {
        let line = line.trim_end_matches('\r');
        let split = |rest: &str| {
            let (id, text) = rest.split_once(' ').unwrap_or((rest, ""));
            (id.to_string(), text.to_string())
        };
        if let Some(rest) = line.strip_prefix("WS-STEP ") {
            self.steps.push(split(rest));
        } else if let Some(rest) = line.strip_prefix("WS-FAIL ") {
            if self.failure.is_none() {
                self.failure = Some(split(rest));
            }
        } else if let Some(rest) = line.strip_prefix("WS-KMSG ") {
            self.kmsg.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("WS-END ") {
            self.status = rest.trim().parse().ok();
        } else {
            self.output.push(line.to_string());
        }
    }

    /// Add this run's steps to `report`: each begun step passed unless it is
    /// the failed one; a run that never finished failed at its last step.
    /// `kernel_log`: whether the kernel's complaints count against it (not
    /// for a battery's mutant, whose bug may make the kernel complain).
    pub fn add_to(&self, report: &mut Report, exercise: &Exercise, prefix: &str, kernel_log: bool) {
        for (id, text) in &self.steps {
            let failed = self.failure.as_ref().filter(|(f, _)| f == id);
            let unfinished = self.status.is_none()
                && self.failure.is_none()
                && Some(id) == self.steps.last().map(|(last, _)| last);
            if let Some((_, why)) = failed {
                report.fail(exercise, id, format!("{prefix}{why}"));
            } else if unfinished {
                report.fail(
                    exercise,
                    id,
                    format!("{prefix}the check never finished this step ({text}): the kernel crashed or hung"),
                );
            } else {
                report.pass(exercise, id);
            }
        }
        if let Some((id, why)) = &self.failure
            && !self.steps.iter().any(|(s, _)| s == id)
        {
            report.fail(exercise, id, format!("{prefix}{why}"));
        }
        if self.status.is_some_and(|s| s != 0) && self.failure.is_none() {
            let last = self.steps.last().map_or("load", |(id, _)| id.as_str());
            report.fail(
                exercise,
                last,
                format!(
                    "{prefix}the check script stopped with status {}",
                    self.status.unwrap_or(-1)
                ),
            );
        }
        report.output.extend(self.output.iter().cloned());
        if !kernel_log {
            return;
        }
        for raised in crate::alarms::raised(self.kmsg.iter().map(String::as_str)) {
            let line = raised.summary();
            if !report.kernel_complaints.contains(&line) {
                report.kernel_complaints.push(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workshop::Manifest;

    fn first() -> &'static Exercise {
        Manifest::bundled().exercise(1).unwrap()
    }

    #[test]
    fn a_run_that_failed_names_its_step_and_hint() {
        let e = first();
        let step = &e.steps[1];
        let text = format!(
            "WS-STEP load insmod fixme.ko\nhello\nWS-STEP {id} x\nWS-FAIL {id} it went wrong\nWS-KMSG [ 1.0] ok\nWS-END 1\n",
            id = step.id
        );
        let run = HarnessRun::parse(&text);
        let mut report = Report::new(e, "kernel");
        run.add_to(&mut report, e, "", true);
        report.finish(e);
        assert!(!report.passed);
        let failed = report.first_failure().unwrap();
        assert_eq!(failed.id, step.id);
        assert_eq!(failed.hint, Some(step.hint));
        assert_eq!(report.output, ["hello"]);
        assert!(
            report
                .render(e)
                .contains(&format!("--number {}", step.hint))
        );
        let json = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn a_kernel_complaint_fails_a_run_whose_steps_passed() {
        let e = first();
        let mut text = String::new();
        for s in &e.steps {
            text += &format!("WS-STEP {} x\n", s.id);
        }
        text += "WS-KMSG [ 2.0] WARNING: CPU: 0 PID: 1 at drivers/md/dm.c:10 x\nWS-END 0\n";
        let mut report = Report::new(e, "kernel");
        HarnessRun::parse(&text).add_to(&mut report, e, "", true);
        report.finish(e);
        assert!(!report.passed);
        assert_eq!(report.kernel_complaints.len(), 1);
        assert!(report.steps.iter().all(|s| s.outcome == Outcome::Passed));
    }

    #[test]
    fn a_run_that_never_finished_failed_at_its_last_step() {
        let e = first();
        let id = &e.steps[0].id;
        let run = HarnessRun::parse(&format!("WS-STEP {id} x\n"));
        let mut report = Report::new(e, "lab 6.1");
        run.add_to(&mut report, e, "", true);
        report.finish(e);
        let failed = report.first_failure().unwrap();
        assert_eq!(&failed.id, id);
        assert!(failed.detail.as_ref().unwrap().contains("crashed or hung"));
    }
}
