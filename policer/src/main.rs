//! The `policer` command line: a thin layer over the library.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    end_quietly_in_a_pipe();
    no_backtrace_for_users();
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("policer: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Rule: when the reader of our output goes away (`policer stats eth0 | head -1`), end
/// as `cat` and `head`'s other peers do, killed by SIGPIPE, silently. Reason: Rust
/// ignores SIGPIPE, so `println!` would panic ("failed printing to stdout: Broken pipe").
fn end_quietly_in_a_pipe() {
    // SAFETY: setting a signal's disposition to its default, before any thread of ours
    // writes; no handler is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Rule: a panic (a bug) prints one line saying so, with where and why, and no backtrace
/// (`POLICER_BACKTRACE=1` adds one). Reason: a backtrace means nothing to a user, and
/// `RUST_BACKTRACE` is often set machine-wide.
fn no_backtrace_for_users() {
    let backtrace = std::env::var_os("POLICER_BACKTRACE").is_some_and(|v| v == "1");
    std::panic::set_hook(Box::new(move |info| {
        let location = info.location().map(|l| format!(" at {l}")).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        eprintln!("policer: internal error{location}: {message} (a bug: please report it)");
        if backtrace {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
}
