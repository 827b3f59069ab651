fn main() {
    std::process::exit(sealtrail::cli::main());
}
