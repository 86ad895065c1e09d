//! The `weft` binary: everything lives in `weft-cli`.

fn main() -> std::process::ExitCode {
    weft_cli::main()
}
