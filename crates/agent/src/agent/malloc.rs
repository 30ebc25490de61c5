//! glibc malloc tuning for the long-running agent: few arenas, and freed memory handed back after
//! each pass.
//!
//! glibc gives every thread that allocates under contention its own arena (up to 8 per core) and keeps
//! what is freed in each; for an agent that is idle between passes that is resident memory nobody
//! uses (docs/benchmarks.md, "Kubernetes sink"). Other C libraries and allocators: nothing is done.

/// At most `arenas` malloc arenas (`mallopt(M_ARENA_MAX)`); call before any thread is started.
/// `MALLOC_ARENA_MAX` in the environment, when set, is the operator's choice and is left in force.
pub fn limit_arenas(arenas: i32, set_by_environment: bool) {
    if set_by_environment {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter; M_ARENA_MAX takes any positive count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// Returns the free memory of every arena to the kernel (`malloc_trim(0)`): a pass frees most of
/// what it allocated (the fetched snapshot, API responses), and glibc would otherwise keep it.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena).
    unsafe {
        libc::malloc_trim(0);
    }
}
