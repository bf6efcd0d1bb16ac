//! The `ordo` binary: all of it lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    ordo::cli::main()
}
