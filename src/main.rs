//! The `ordo` binary: all of it lives in the library's `cli` module.

// Loading and planning allocate many small strings and maps; mimalloc does that markedly
// faster than the system allocator (see benches/pipeline.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Only the C libraries (SQLite, libgit2, OpenSSL) use the system allocator, and little:
    // one arena for all threads instead of one per thread keeps a long-running controller's
    // memory down.
    // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    // Loading a large site frees much as it goes (declarations once resolved, buffers that
    // grew); handing that memory back after 10 ms instead of mimalloc's default second keeps
    // the peak down by a fifth for 10,000 nodes. At once (0) would cost a quarter more time
    // for 100,000 nodes, refaulting memory that is soon used again.
    // SAFETY: mi_option_set only stores an option's value.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    ordo::cli::main()
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_t`: milliseconds before freed memory
/// is returned to the system. The bindings leave this option unnamed.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_with_its_default_of_a_second() {
        // No other option of mimalloc's defaults to 1000: this is the one `main` sets.
        // SAFETY: reading an option has no effect on the allocator.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
    }
}
