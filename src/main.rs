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
    ordo::cli::main()
}
