//! Running the short setup commands (`ip`, `tc`) and turning failures into errors.

use crate::NetsimError;
use std::process::{Command, Output};

/// The command line, for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion; a non-zero exit is [`NetsimError::Command`]. Returns stdout.
pub(crate) fn run(cmd: &mut Command) -> Result<String, NetsimError> {
    let out = cmd.output().map_err(|source| NetsimError::Spawn {
        program: cmd.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    stdout_if_success(cmd, &out)
}

/// The output's stdout if `cmd` exited 0, else [`NetsimError::Command`].
fn stdout_if_success(cmd: &Command, out: &Output) -> Result<String, NetsimError> {
    if !out.status.success() {
        return Err(NetsimError::Command {
            command: describe(cmd),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`run`], with `input` written to the command's stdin.
pub(crate) fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Result<String, NetsimError> {
    use std::io::Write;
    use std::process::Stdio;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let spawn_err = |source| NetsimError::Spawn {
        program: program.clone(),
        source,
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows as the command's failure below.
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    stdout_if_success(cmd, &out)
}

/// `ip ARGS...`
pub(crate) fn ip<const N: usize>(args: [&str; N]) -> Result<String, NetsimError> {
    run(Command::new("ip").args(args))
}

/// `tc ARGS...`
pub(crate) fn tc<const N: usize>(args: [&str; N]) -> Result<String, NetsimError> {
    run(Command::new("tc").args(args))
}
