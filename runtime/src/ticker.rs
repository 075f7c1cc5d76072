//! The epoch ticker: a thread that advances the engine's epoch every millisecond while any
//! invocation runs, which is what lets a timeout interrupt a guest. It sleeps while the runtime
//! is idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

use wasmtime::Engine;

use crate::limits::EPOCH_TICK;

pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    active: AtomicUsize,
    stop: AtomicBool,
}

/// Keeps the ticker running while it lives.
pub(crate) struct Active<'a> {
    ticker: &'a Ticker,
}

impl Ticker {
    pub(crate) fn start(engine: Engine) -> std::io::Result<Self> {
        let shared = Arc::new(Shared { active: AtomicUsize::new(0), stop: AtomicBool::new(false) });
        let thread = thread::Builder::new().name("tidepool-epoch".into()).spawn({
            let shared = shared.clone();
            move || {
                while !shared.stop.load(Ordering::Acquire) {
                    if shared.active.load(Ordering::Acquire) == 0 {
                        // Woken by `activate` (or `drop`); an unpark before this park is not lost.
                        thread::park();
                        continue;
                    }
                    thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            }
        })?;
        Ok(Ticker { shared, thread: Some(thread) })
    }

    pub(crate) fn activate(&self) -> Active<'_> {
        if self.shared.active.fetch_add(1, Ordering::AcqRel) == 0
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
        Active { ticker: self }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.ticker.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
