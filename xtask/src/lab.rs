//! The qemu lab (being written).
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LabArgs {}

pub fn run(_args: LabArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the lab is not written yet")
}
