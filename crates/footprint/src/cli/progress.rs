//! Progress for long commands: a bar on a terminal, and plain lines (at most one every five
//! seconds) when standard error is a file or a pipe, so that logs of a cron job or a CI run
//! still say how far a command got.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// Time between two plain lines.
const EVERY: Duration = Duration::from_secs(5);

/// A bar without a length (a counter or a spinner) drawing to [`draw_target`] in `template`.
pub fn bar(template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, draw_target());
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar
}

/// Where progress bars draw: standard error as a bar on a terminal, as plain lines otherwise.
pub fn draw_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::term_like_with_hz(Box::new(PlainLines::default()), 1)
    }
}

/// Writes what a bar draws as whole lines, at most one every [`EVERY`], never the same twice.
#[derive(Debug, Default)]
struct PlainLines {
    state: Mutex<Lines>,
}

#[derive(Debug, Default)]
struct Lines {
    pending: String,
    last: String,
    written_at: Option<Instant>,
}

impl PlainLines {
    fn emit(&self, text: &str) -> std::io::Result<()> {
        let mut lines = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        lines.pending.push_str(text);
        let line = std::mem::take(&mut lines.pending).trim().to_owned();
        let due = lines.written_at.is_none_or(|at| at.elapsed() >= EVERY);
        if line.is_empty() || line == lines.last || !due {
            return Ok(());
        }
        writeln!(std::io::stderr(), "{line}")?;
        lines.last = line;
        lines.written_at = Some(Instant::now());
        Ok(())
    }
}

impl TermLike for PlainLines {
    fn width(&self) -> u16 {
        100
    }

    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn write_line(&self, text: &str) -> std::io::Result<()> {
        self.emit(text)
    }

    fn write_str(&self, text: &str) -> std::io::Result<()> {
        let mut lines = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        lines.pending.push_str(text);
        Ok(())
    }

    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn flush(&self) -> std::io::Result<()> {
        self.emit("")
    }
}
