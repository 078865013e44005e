//! Messages between the torrent actor, its peer tasks and its handles.

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};
use wire::{Handshake, Message};

use crate::{PeerSlot, TorrentError};

/// What the torrent actor receives; one channel per torrent.
#[derive(Debug)]
pub(crate) enum Event {
    /// A peer finished the handshake and wants to join. The reply carries
    /// its slot, or `None` if the actor refused it (cap, ban, duplicate).
    Connected(Box<Connected>),
    /// Messages decoded from one read, in order.
    Messages(PeerSlot, Vec<Message>),
    /// These blocks were written to the peer's socket.
    Uploaded(PeerSlot, Vec<wire::BlockRequest>),
    /// The connection ended.
    Gone(PeerSlot, PeerGone),
    /// An outgoing connection attempt failed.
    ConnectFailed(SocketAddr, String),
    /// A piece was hashed (and written when it matched).
    PieceDone {
        /// The piece.
        piece: u32,
        /// `Ok(true)` verified and stored, `Ok(false)` hash mismatch;
        /// an error is a storage failure or a bug (the task panicked),
        /// never the data's fault.
        result: Result<bool, TorrentError>,
        /// The piece buffer, returned for reuse.
        buf: Vec<u8>,
    },
    /// The data for metadata from peers was opened and checked.
    Opened(Box<Result<crate::open::Loaded, TorrentError>>),
    /// A background resume save finished.
    ResumeSaved {
        result: Result<(), storage::ResumeError>,
        background: bool,
    },
    /// A web seed failed too often and stopped (it reports `Gone` next).
    WebSeedGaveUp(TorrentError),
    /// A request from a [`crate::TorrentHandle`].
    Cmd(TorrentCmd),
}

/// A new connection, handed to the actor.
#[derive(Debug)]
pub(crate) struct Connected {
    pub(crate) addr: SocketAddr,
    pub(crate) handshake: Handshake,
    pub(crate) outgoing: bool,
    pub(crate) cmd: mpsc::Sender<PeerCmd>,
    pub(crate) reply: oneshot::Sender<Option<PeerSlot>>,
}

/// What a handle can ask of the torrent actor.
#[derive(Debug)]
pub(crate) enum TorrentCmd {
    /// Connect to these addresses (from `--peer`, a tracker, a magnet link).
    AddPeers(Vec<SocketAddr>),
    /// Drop every peer and stop connecting, or start again.
    Pause(bool),
    /// Save state and stop the actor.
    Stop(oneshot::Sender<()>),
}

/// What the actor asks of a peer task.
#[derive(Debug)]
pub(crate) enum PeerCmd {
    /// Send these messages.
    Send(Vec<Message>),
    /// Read these blocks from storage and send them as `piece` messages.
    Serve(Vec<wire::BlockRequest>),
}

/// Why a peer connection ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error("peer closed the connection")]
    Closed,
    #[error("bad handshake: {0}")]
    Handshake(#[from] wire::HandshakeError),
    #[error("bad message: {0}")]
    Decode(#[from] wire::DecodeError),
    #[error("handshake for another torrent")]
    WrongTorrent,
    #[error("torrent stopped")]
    TorrentGone,
    #[error("dropped by the torrent")]
    Dropped,
    #[error("storage: {0}")]
    Storage(#[from] storage::StorageError),
    /// A blocking task of this connection panicked.
    #[error("internal error (this is a bug, please report): {0}")]
    Bug(String),
}

/// Why a peer left its torrent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerGone {
    /// Its connection ended.
    #[error(transparent)]
    Error(#[from] PeerError),
    /// A web seed stopped (it gave up, or the torrent needs it no more).
    #[error("web seed stopped")]
    WebSeedStopped,
    /// Its command queue was full or closed.
    #[error("its command queue is full or closed")]
    QueueFull,
}
