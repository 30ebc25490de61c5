//! The byte budget of one fetch: counts the pack bytes gix reads from the remote and stops the fetch
//! once they pass the limit, so a hostile commit cannot fill the (memory-backed) cache volume.
//!
//! gix 0.87 sends no partial-clone filter (`blob:limit`), so the pack of a commit holds every object
//! of its tree, inside the configured paths or not. What bounds the agent is this budget on the
//! pack's size, and `gitoxide.objects.allocLimit` (see `open_options`) on the size of any one object
//! inflated while the pack is indexed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gix::progress::{Count, Id, MessageLevel, NestedProgress, Progress, Step, StepShared, Unit};

/// The id gix-pack gives the progress of "read pack" (`gix_pack::bundle::write::ProgressId::ReadPackBytes`).
const READ_PACK_BYTES: Id = *b"BWRB";

/// What a fetch may read, shared by every progress node of one fetch.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    read: AtomicUsize,
    exceeded: AtomicBool,
    /// The flag handed to gix: set when the budget is exceeded or the caller interrupts.
    stop: AtomicBool,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(Budget {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            read: AtomicUsize::new(0),
            exceeded: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        })
    }

    /// Whether the fetch was stopped because the pack passed the limit.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// Runs `receive` with the budget's stop flag, forwarding the caller's `interrupt` to it: a thread
    /// looks at `interrupt` while the fetch runs, since gix reads only the one flag it is given.
    pub(crate) fn run<T>(
        &self,
        interrupt: &AtomicBool,
        receive: impl FnOnce(&AtomicBool) -> T,
    ) -> T {
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    if interrupt.load(Ordering::Relaxed) {
                        self.stop.store(true, Ordering::Relaxed);
                        return;
                    }
                    std::thread::park_timeout(Duration::from_millis(50));
                }
            });
            let out = receive(&self.stop);
            done.store(true, Ordering::Relaxed);
            out
        })
    }

    fn add(&self, bytes: usize) {
        let read = self
            .read
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if read > self.limit {
            self.exceeded.store(true, Ordering::Relaxed);
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// A progress tree that discards everything but the pack's byte count.
pub(crate) struct BudgetProgress {
    budget: Arc<Budget>,
    counts_pack: bool,
    step: StepShared,
}

impl BudgetProgress {
    pub(crate) fn new(budget: Arc<Budget>) -> Self {
        BudgetProgress {
            budget,
            counts_pack: false,
            step: StepShared::default(),
        }
    }

    fn child(&self, id: Id) -> Self {
        BudgetProgress {
            budget: Arc::clone(&self.budget),
            counts_pack: id == READ_PACK_BYTES,
            step: StepShared::default(),
        }
    }
}

impl Count for BudgetProgress {
    fn set(&self, step: Step) {
        let before = self.step.swap(step, Ordering::Relaxed);
        if self.counts_pack {
            self.budget.add(step.saturating_sub(before));
        }
    }

    fn step(&self) -> Step {
        self.step.load(Ordering::Relaxed)
    }

    fn inc_by(&self, step: Step) {
        self.step.fetch_add(step, Ordering::Relaxed);
        if self.counts_pack {
            self.budget.add(step);
        }
    }

    fn counter(&self) -> StepShared {
        Arc::clone(&self.step)
    }
}

impl Progress for BudgetProgress {
    fn init(&mut self, _max: Option<Step>, _unit: Option<Unit>) {}

    fn set_name(&mut self, _name: String) {}

    fn name(&self) -> Option<String> {
        None
    }

    fn id(&self) -> Id {
        if self.counts_pack {
            READ_PACK_BYTES
        } else {
            gix::progress::UNKNOWN
        }
    }

    fn message(&self, _level: MessageLevel, _message: String) {}
}

impl NestedProgress for BudgetProgress {
    type SubProgress = BudgetProgress;

    fn add_child(&mut self, _name: impl Into<String>) -> Self::SubProgress {
        self.child(gix::progress::UNKNOWN)
    }

    fn add_child_with_id(&mut self, _name: impl Into<String>, id: Id) -> Self::SubProgress {
        self.child(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pack_bytes_count_and_passing_the_limit_stops_the_fetch() {
        let budget = Budget::new(100);
        let mut root = BudgetProgress::new(Arc::clone(&budget));
        let other = root.add_child_with_id("indexing", *b"BWCI");
        other.inc_by(1_000);
        assert!(!budget.exceeded());
        let pack = root.add_child_with_id("read pack", READ_PACK_BYTES);
        pack.inc_by(60);
        pack.set(100);
        assert!(!budget.exceeded(), "exactly the limit is allowed");
        pack.inc_by(1);
        assert!(budget.exceeded());
        assert!(budget.stop.load(Ordering::Relaxed));
    }

    #[test]
    fn the_callers_interrupt_reaches_the_flag_gix_reads() {
        let budget = Budget::new(u64::MAX);
        let interrupt = AtomicBool::new(true);
        let seen = budget.run(&interrupt, |stop| {
            // The forwarding thread sets the flag; wait for it as gix's read loop would.
            while !stop.load(Ordering::Relaxed) {
                std::thread::yield_now();
            }
            true
        });
        assert!(seen);
        assert!(!budget.exceeded());
    }
}
