//! Progress for long steps: a spinner with the elapsed time on a terminal,
//! plain start and end lines otherwise (CI logs stay readable).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    tty: bool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Start a step; it shows until [`Step::done`] (or is dropped).
    pub fn step(&self, message: impl Into<String>) -> Step {
        self.start(message.into(), "{spinner} {msg} [{elapsed}]")
    }

    /// Start a step that knows how far along it is ([`Step::set_percent`]).
    pub fn bar(&self, message: impl Into<String>) -> Step {
        self.start(
            message.into(),
            "{spinner} {msg} [{bar:30}] {pos:>3}% [{elapsed}]",
        )
    }

    fn start(&self, message: String, template: &str) -> Step {
        let bar = if self.tty {
            let bar = ProgressBar::new(100).with_message(message.clone());
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("{message} ...");
            None
        };
        Step {
            bar,
            message,
            start: Instant::now(),
        }
    }
}

pub struct Step {
    bar: Option<ProgressBar>,
    message: String,
    start: Instant,
}

impl Step {
    /// Show the latest news of a running step.
    pub fn update(&self, news: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {news}", self.message));
        }
    }

    pub fn set_percent(&self, percent: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(percent.clamp(0.0, 100.0) as u64);
        }
    }

    /// Print a line above the spinner (or plainly).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn done(self) {
        self.done_with(String::new());
    }

    pub fn done_with(mut self, detail: String) {
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        let line = format!(
            "{}{detail} ({:.1} s)",
            self.message,
            self.start.elapsed().as_secs_f64()
        );
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
