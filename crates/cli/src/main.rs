//! `anthill`: the one binary. Each subcommand lives in `cmd/<name>.rs` with a
//! clap `Args` struct and a `run` method; this file only dispatches and maps
//! errors to exit codes (0 success, 1 reported failure, 2 bad usage — clap's own).

mod bytes;
mod cmd;
mod input;
mod logging;
mod output;
mod progress;
mod report;
mod shown;
mod signals;
mod usage;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Ship big updates to a fleet of servers over BitTorrent.
#[derive(Debug, Parser)]
#[command(name = "anthill", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, show, verify .torrent files and print magnet links.
    Torrent(cmd::torrent::Args),
    /// Run the main job on built-in sample data (no setup needed).
    Demo(cmd::demo::Args),
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions(cmd::completions::Args),
    /// Run the BitTorrent tracker (HTTP and UDP announces, scrape, stats, metrics).
    Tracker(cmd::tracker::Args),
    /// Seed existing data (super-seeding by default: the origin of a release).
    Seed(cmd::seed::Args),
    /// Download a torrent, magnet link or URL; optionally keep seeding.
    Get(cmd::get::Args),
    /// Run a hub: releases dropped in DIR/incoming/ are signed, seeded and published in a feed.
    Hub(cmd::hub::Args),
    /// Hand a tree to a running hub and wait until it is published or rejected.
    Publish(cmd::publish::Args),
    /// Make a minisign Ed25519 key pair for a hub and print the public key.
    Keygen(cmd::keygen::Args),
    /// Follow hub feeds: verify, download, install and seed each new release exactly once.
    Agent(cmd::agent::Args),
}

fn main() -> ExitCode {
    let cli: Cli = usage::parse();
    let result = match cli.command {
        Command::Torrent(a) => a.run(),
        Command::Demo(a) => a.run(),
        Command::Completions(a) => a.run(),
        Command::Tracker(a) => a.run(),
        Command::Seed(a) => a.run(),
        Command::Get(a) => a.run(),
        Command::Hub(a) => a.run(),
        Command::Publish(a) => a.run(),
        Command::Keygen(a) => a.run(),
        Command::Agent(a) => a.run(),
    };
    match result {
        Ok(code) => code,
        Err(err) if report::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            report::print_error(&err);
            ExitCode::FAILURE
        }
    }
}
