//! Progress on steps that take more than a moment (an install waiting for readiness, a pull):
//! at a terminal, an indicatif spinner that says what it waits for and how long it has; in a
//! log or a pipe, the same words once, as a line.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::output::note;

/// A step in progress; cleared when dropped.
pub struct Step {
    bar: Option<ProgressBar>,
}

impl Step {
    /// Starts the step, saying `what` (e.g. `installing notes 0.1.0 from …`).
    pub fn start(what: impl Into<String>) -> Self {
        let what = what.into();
        if !std::io::stderr().is_terminal() {
            note(format!("{what}…"));
            return Self { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message(what);
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar: Some(bar) }
    }

    /// What the step does now (e.g. the engine's latest pull status); at a terminal only, a
    /// log keeping the lines said once.
    pub fn set(&self, now: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(now.into());
        }
    }

    /// Whether a spinner shows this step (else its updates are worth printing as lines).
    pub fn animated(&self) -> bool {
        self.bar.is_some()
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
