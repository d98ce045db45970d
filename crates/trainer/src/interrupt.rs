//! Stopping a run from outside, as burn-train's `Interrupter`: an object the training loop
//! is handed and asks between steps, instead of a global it reads. Ctrl-C is one source;
//! a test or an embedding program can interrupt a run the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A request to stop, shared between whoever asks and the loop that obeys.
#[derive(Debug, Clone, Default)]
pub struct Interrupter {
    requests: Arc<AtomicUsize>,
}

impl Interrupter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the loop to finish its current step, save a checkpoint and stop. Returns how many
    /// requests came before this one.
    pub fn stop(&self) -> usize {
        self.requests.fetch_add(1, Ordering::SeqCst)
    }

    /// Whether a stop has been requested.
    pub fn should_stop(&self) -> bool {
        self.requests.load(Ordering::SeqCst) > 0
    }

    /// Routes Ctrl-C here: the first press asks for a checkpointed stop, the second exits at
    /// once (status 130) for a user who will not wait for the step to end.
    pub fn stop_on_ctrl_c(&self) {
        let this = self.clone();
        // Only fails when a handler is already installed: then that one decides.
        let _ = ctrlc::set_handler(move || {
            if this.stop() >= 1 {
                eprintln!("second Ctrl-C: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!("Ctrl-C: finishing the current step and saving a checkpoint");
        });
    }
}
