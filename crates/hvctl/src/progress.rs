//! Job progress on stderr: an indicatif bar per operation on a terminal, plain lines otherwise.

use std::io::Write;
use std::sync::{Arc, Mutex};

use hyperv::JobProgress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The widest label in front of a bar: with the bar and percentage, 53 columns, so that a bar
/// and part of its message fit one line of an 80-column terminal.
const PREFIX: usize = 24;

/// The last (state, percent) printed for a job.
type Seen = (String, Option<u16>);

/// Where job progress goes.
#[derive(Clone)]
pub enum ProgressSink {
    /// Progress bars (stderr is a terminal).
    Bars(MultiProgress),
    /// One line per change of state or percentage.
    Lines,
    /// Nothing (`-q`).
    Off,
}

impl ProgressSink {
    /// Bars on a terminal, lines otherwise, nothing when `quiet`.
    pub fn new(bars: bool, quiet: bool) -> Self {
        if quiet {
            ProgressSink::Off
        } else if bars {
            ProgressSink::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            ProgressSink::Lines
        }
    }

    /// Removes the bars from the terminal (the run was interrupted: they stop where they are).
    pub fn clear(&self) {
        if let ProgressSink::Bars(mp) = self {
            let _ = mp.clear();
        }
    }

    /// A callback for one operation, labelled e.g. `web01 on hv02`.
    pub fn callback(&self, label: String) -> impl FnMut(&JobProgress) + Send + 'static {
        let sink = self.clone();
        let mut bar: Option<ProgressBar> = None;
        let last: Arc<Mutex<Option<Seen>>> = Arc::new(Mutex::new(None));
        move |p: &JobProgress| {
            let state = p.state.to_string();
            match &sink {
                ProgressSink::Bars(mp) => {
                    let b = bar.get_or_insert_with(|| {
                        let b = mp.add(ProgressBar::new(100));
                        // One line: the label cut to PREFIX, a fixed bar, and the message
                        // cut to what is left of the terminal's width (`wide_msg`).
                        let style = ProgressStyle::with_template("{prefix} [{bar:20}] {pos:>3}% {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> ");
                        b.set_style(style);
                        b.set_prefix(crate::output::fit(&label, PREFIX));
                        b
                    });
                    b.set_position(u64::from(p.percent_complete.unwrap_or(0)));
                    b.set_message(format!("{state} (job {})", p.job_id));
                    if p.state.is_finished() {
                        // Results are printed after the operation: the bar leaves no trace.
                        b.finish_and_clear();
                        mp.remove(b);
                    }
                }
                ProgressSink::Off => {}
                ProgressSink::Lines => {
                    let key = (state.clone(), p.percent_complete);
                    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                    if last.as_ref() != Some(&key) {
                        let pct = p.percent_complete.map(|v| format!(" {v}%")).unwrap_or_default();
                        let _ = writeln!(std::io::stderr().lock(), "{label}: job {} {state}{pct}", p.job_id);
                        *last = Some(key);
                    }
                }
            }
        }
    }
}
