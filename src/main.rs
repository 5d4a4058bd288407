//! The `tessera` binary: everything is in the library; see [`tessera::cli`].

fn main() -> std::process::ExitCode {
    tessera::cli::main()
}
