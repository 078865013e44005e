use clap::CommandFactory;
use std::process::ExitCode;

/// Arguments of `anthill completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Shell to generate completions for.
    shell: clap_complete::Shell,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let mut cmd = crate::Cli::command();
        clap_complete::generate(self.shell, &mut cmd, "anthill", &mut std::io::stdout());
        Ok(ExitCode::SUCCESS)
    }
}
