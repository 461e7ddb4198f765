use std::time::Duration;

use anyhow::Context as _;
use aya_log::EbpfLogger;
use clap::Args;
use policer::Policer;
use tokio::io::{Interest, unix::AsyncFd};

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Interface whose policer's log to follow.
    iface: String,
    #[command(flatten)]
    direction: super::DirectionArg,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

pub async fn run(args: LogArgs) -> anyhow::Result<()> {
    let policer = Policer::open(&args.iface, args.direction.get())?;
    let program_id = policer.program_id()?;
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .target(env_logger::Target::Stdout)
        .format_timestamp_millis()
        .init();
    let logger = EbpfLogger::init_from_id(program_id)
        .with_context(|| format!("opening the log of program {program_id}"))?;
    // SAFETY: the logger owns its ring buffer's descriptor, which stays open and unchanged
    // until the AsyncFd (which owns the logger) is dropped.
    let mut logger = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
        .context("waiting on the log ring buffer")?;
    eprintln!(
        "policer: following the kernel log of the policer on {} (program {program_id})",
        args.iface
    );
    let follow = async {
        loop {
            let mut ready = logger.readable_mut().await?;
            ready.get_inner_mut().flush();
            ready.clear_ready();
        }
    };
    let result: std::io::Result<()> = match args.timeout {
        Some(seconds) => {
            tokio::time::timeout(Duration::from_secs(seconds), follow).await.unwrap_or(Ok(()))
        }
        None => tokio::select! {
            result = follow => result,
            _ = tokio::signal::ctrl_c() => Ok(()),
        },
    };
    result.context("reading the log")
}
