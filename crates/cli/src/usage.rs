//! Parsing the command line. Clap names the flag in its errors even when the
//! bad value came from the flag's environment variable; then a note names
//! the variable, so `ANTHILL_TRACKER_INTERVAL=5` in a unit file is findable.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Parses the arguments or exits: 0 for help and version, 2 for bad usage.
pub(crate) fn parse<T: clap::Parser>() -> T {
    match T::try_parse() {
        Ok(t) => t,
        Err(e) => {
            let _ = e.print();
            let args: Vec<OsString> = std::env::args_os().collect();
            for (var, value) in env_sources(&T::command(), &e, &args, |v| std::env::var_os(v)) {
                crate::progress::say(&format!(
                    "note: the value came from the environment: {var}={}",
                    crate::shown::line(&format!("{value:?}"))
                ));
            }
            std::process::exit(e.exit_code());
        }
    }
}

/// The environment variables behind the arguments a clap error names: set,
/// and the flag itself not on the command line.
fn env_sources(
    cmd: &clap::Command,
    e: &clap::Error,
    args: &[OsString],
    env: impl Fn(&str) -> Option<OsString>,
) -> Vec<(String, String)> {
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue
            | ErrorKind::ValueValidation
            | ErrorKind::ArgumentConflict
            | ErrorKind::NoEquals
            | ErrorKind::WrongNumberOfValues
            | ErrorKind::TooManyValues
    ) {
        return Vec::new();
    }
    let mut named = Vec::new();
    for kind in [ContextKind::InvalidArg, ContextKind::PriorArg] {
        match e.get(kind) {
            Some(ContextValue::String(s)) => named.push(s.clone()),
            Some(ContextValue::Strings(v)) => named.extend(v.iter().cloned()),
            _ => {}
        }
    }
    let mut found = Vec::new();
    for shown in named {
        let Some(long) = shown
            .strip_prefix("--")
            .and_then(|s| s.split([' ', '=']).next())
        else {
            continue;
        };
        let on_command_line = args.iter().any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{long}") || a.starts_with(&format!("--{long}="))
        });
        if on_command_line {
            continue;
        }
        for var in env_of(cmd, long) {
            if let Some(value) = env(&var) {
                let pair = (var, value.to_string_lossy().into_owned());
                if !found.contains(&pair) {
                    found.push(pair);
                }
            }
        }
    }
    found
}

/// The environment variables of every `--long` argument in the command tree.
fn env_of(cmd: &clap::Command, long: &str) -> Vec<String> {
    let mut vars: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.get_long() == Some(long))
        .filter_map(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    for sub in cmd.get_subcommands() {
        vars.extend(env_of(sub, long));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[arg(long, env = "TEST_ANTHILL_INTERVAL")]
        interval: Option<u32>,
    }

    #[test]
    fn a_bad_value_from_the_environment_is_traced_to_its_variable() {
        let e = Cli::try_parse_from(["x", "--interval", "5s"]).unwrap_err();
        let env = |v: &str| (v == "TEST_ANTHILL_INTERVAL").then(|| OsString::from("5s"));
        // On the command line: the flag is the source.
        let args = [OsString::from("x"), "--interval".into(), "5s".into()];
        assert!(env_sources(&Cli::command(), &e, &args, env).is_empty());
        // Not on the command line: the variable is.
        let args = [OsString::from("x")];
        assert_eq!(
            env_sources(&Cli::command(), &e, &args, env),
            [("TEST_ANTHILL_INTERVAL".to_string(), "5s".to_string())]
        );
        assert!(env_sources(&Cli::command(), &e, &args, |_| None).is_empty());
    }
}
