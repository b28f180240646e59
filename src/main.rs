fn main() -> std::process::ExitCode {
    hapair::cli::main()
}
