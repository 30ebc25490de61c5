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

/// Bytes the C allocator has handed out and not got back: glibc's `mallinfo2()`, `uordblks` (in use
/// in every arena) plus `hblkhd` (blocks served by their own mmap) — the "in use" total of
/// `malloc_stats()`. Unlike RSS it does not hold freed memory an arena keeps, so it grows with a leak
/// and stays flat under fragmentation. `None` with another C library.
pub fn heap_in_use() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no arguments and returns a plain struct; it locks each arena while
        // it sums it, as malloc does.
        let info = unsafe { libc::mallinfo2() };
        Some(u64::try_from(info.uordblks.saturating_add(info.hblkhd)).unwrap_or(u64::MAX))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn heap_in_use_counts_a_live_block_until_it_is_freed() {
        // Over the mmap threshold: a mapping of its own, counted in hblkhd; zeroed, so never touched.
        const SIZE: usize = 256 << 20;
        let before = heap_in_use().expect("glibc");
        let block = vec![0u8; SIZE];
        let during = heap_in_use().expect("glibc");
        std::hint::black_box(&block);
        drop(block);
        let after = heap_in_use().expect("glibc");
        // Other test threads allocate and free meanwhile; 256 MiB dwarfs what they hold.
        assert!(during >= before + SIZE as u64 / 2, "{before} -> {during}");
        assert!(after + (SIZE as u64) / 2 <= during, "{during} -> {after}");
    }
}
