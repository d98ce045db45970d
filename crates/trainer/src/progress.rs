//! Progress display: an indicatif bar (epoch, step, lr, loss, throughput, ETA) on a terminal,
//! plain lines otherwise (logs, CI), so redirected output stays readable.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use lrplan_schedule::Phase;

use crate::amp;
use crate::log::EpochMetrics;

pub struct Progress {
    bar: Option<ProgressBar>,
    total_epochs: u32,
    epoch: u32,
    iters: usize,
    images: usize,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// Progress of a run of `total_epochs` epochs (the plan's total).
    pub fn new(total_epochs: u32) -> Progress {
        Progress {
            bar: None,
            total_epochs,
            epoch: 0,
            iters: 0,
            images: 0,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    pub fn epoch(&mut self, epoch: u32, phase: Phase, iters: usize) {
        self.epoch = epoch;
        self.iters = iters;
        self.images = 0;
        self.started = Instant::now();
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new(iters as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(format!(
                "epoch {}/{} {}",
                epoch + 1,
                self.total_epochs,
                phase.name()
            ));
            self.bar = Some(bar);
        } else {
            println!(
                "epoch {}/{} ({}, {iters} iterations)",
                epoch + 1,
                self.total_epochs,
                phase.name()
            );
        }
    }

    pub fn step(&mut self, iteration: u64, lr: f64, loss: f64, batch: usize) {
        self.images += batch;
        let rate = self.images as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match &self.bar {
            Some(bar) => {
                bar.set_position(iteration + 1);
                bar.set_message(format!("lr {lr:.3e} loss {loss:.4} {rate:.0} img/s"));
            }
            None => {
                if self.last_line.elapsed().as_secs_f64() > 10.0 {
                    self.last_line = Instant::now();
                    println!(
                        "  step {}/{} lr {lr:e} loss {loss:.4} {rate:.0} img/s",
                        iteration + 1,
                        self.iters
                    );
                }
            }
        }
    }

    /// A step the fp16 loss scaler skipped: one line, above the bar.
    pub fn skipped(&mut self, step: u64, scale: f32) {
        let line = format!(
            "  step {step} skipped: gradients not finite at loss scale {scale}; scale now {}",
            scale * amp::BACKOFF_FACTOR as f32
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    pub fn epoch_done(&mut self, m: &EpochMetrics) {
        self.finish();
        println!(
            "epoch {}/{}: lr {:e} train_loss {:.4} val_loss {:.4} val_acc {:.4} ({:.1}s)",
            m.epoch + 1,
            self.total_epochs,
            m.lr,
            m.train_loss,
            m.val_loss,
            m.val_acc,
            m.seconds
        );
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
