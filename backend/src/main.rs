//! The `order-notify` binary: everything lives in the library, so tests run the same code.

fn main() -> std::process::ExitCode {
    order_notify::cli::run()
}
