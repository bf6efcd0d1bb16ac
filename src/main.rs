//! The `ordo` binary: all of it lives in the library's `cli` module.

// Loading and planning allocate many small strings and maps; mimalloc does that markedly
// faster than the system allocator (see benches/pipeline.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ordo::cli::main()
}
