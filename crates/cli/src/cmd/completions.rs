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
        // Generated in memory: clap_complete panics when its writer fails.
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, "anthill", &mut script);
        crate::output::write_stdout(&script)?;
        Ok(ExitCode::SUCCESS)
    }
}
