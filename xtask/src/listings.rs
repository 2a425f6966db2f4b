//! The listings checker (being written).
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ListingsArgs {}

pub fn run(_args: ListingsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the listings checker is not written yet")
}
