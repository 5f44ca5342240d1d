//! The global allocator: mimalloc with the `mimalloc` feature, else the system's (glibc).
//!
//! Allocation was the largest single item of the gateway's CPU with every feature on (BENCHMARKS.md,
//! "Where the CPU goes with every feature on"): many short-lived buffers per request, on a
//! multi-threaded runtime where glibc's per-thread arenas also hold memory back.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
