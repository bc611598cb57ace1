use std::process::ExitCode;

fn main() -> ExitCode {
    docker_link::main(std::env::args_os().collect())
}
