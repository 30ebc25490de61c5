//! glibc malloc tuning for the long-running agent: freed memory handed back after each pass.
//!
//! glibc keeps what a thread frees in its arena for the next allocation; for an agent that is idle
//! between passes that is resident memory nobody uses: `malloc_trim` after a pass returns it (2 MiB of
//! the agent's 18 with the Kubernetes sink and 1,000 Secrets; docs/benchmarks.md, "Tunings"). Other C
//! libraries and allocators: nothing is done. The number of arenas is glibc's default
//! (`MALLOC_ARENA_MAX` in the environment sets it): limiting it to two measured no gain.

/// Returns the free memory of every arena to the kernel (`malloc_trim(0)`): a pass frees most of
/// what it allocated (the fetched snapshot, API responses), and glibc would otherwise keep it.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena).
    unsafe {
        libc::malloc_trim(0);
    }
}
