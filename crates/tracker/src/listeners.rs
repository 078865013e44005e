use crate::{TrackerConfig, TrackerError};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, TcpListener, UdpSocket};

/// Bound sockets handed to [`crate::run`]. Tests bind `127.0.0.1:0` and read
/// the chosen ports back; daemons use [`Listeners::bind`].
#[derive(Debug, Default)]
pub struct Listeners {
    /// HTTP listener, if HTTP is served.
    pub http: Option<TcpListener>,
    /// UDP socket, if UDP is served.
    pub udp: Option<UdpSocket>,
}

impl Listeners {
    /// Binds what `config` enables, at its addresses.
    pub fn bind(config: &TrackerConfig) -> Result<Self, TrackerError> {
        Ok(Self {
            http: config
                .http
                .enabled
                .then(|| bind_tcp(config.http.listen))
                .transpose()?,
            udp: config
                .udp
                .enabled
                .then(|| bind_udp(config.udp.listen, config.udp.receive_buffer_bytes))
                .transpose()?,
        })
    }

    /// Address of the HTTP listener.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Address of the UDP socket.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }
}

/// A TCP listener with address reuse, `SO_REUSEPORT` (so each HTTP worker
/// can get its own listener on the same port, see [`crate::serve`]) and a
/// deep accept backlog (a fleet restarting at once opens thousands of
/// connections in a burst).
pub fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, TrackerError> {
    let err = |source| TrackerError::Bind {
        protocol: "http",
        addr,
        source,
    };
    probe_port(addr, Type::STREAM, Protocol::TCP).map_err(err)?;
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    s.set_reuse_address(true).map_err(err)?;
    #[cfg(unix)]
    s.set_reuse_port(true).map_err(err)?;
    s.bind(&addr.into()).map_err(err)?;
    s.listen(4096).map_err(err)?;
    Ok(s.into())
}

/// SO_REUSEPORT would let us share a port with another tracker already
/// running as the same user, silently splitting its traffic. A plain bind
/// first turns that into the usual "address in use".
fn probe_port(addr: SocketAddr, ty: Type, proto: Protocol) -> std::io::Result<()> {
    if addr.port() != 0 {
        let probe = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
        if ty == Type::STREAM {
            // A listener's TIME_WAIT connections must not make it fail.
            probe.set_reuse_address(true)?;
        }
        probe.bind(&addr.into())?;
    }
    Ok(())
}

/// A UDP socket with a receive buffer of `recv_buffer` bytes (best effort)
/// and `SO_REUSEPORT`, so that each UDP worker can get its own socket on the
/// same port (see [`crate::serve`]).
pub fn bind_udp(addr: SocketAddr, recv_buffer: usize) -> Result<UdpSocket, TrackerError> {
    let err = |source| TrackerError::Bind {
        protocol: "udp",
        addr,
        source,
    };
    probe_port(addr, Type::DGRAM, Protocol::UDP).map_err(err)?;
    let s =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    if recv_buffer > 0 {
        let _ = s.set_recv_buffer_size(recv_buffer);
        let _ = s.set_send_buffer_size(recv_buffer);
    }
    #[cfg(unix)]
    s.set_reuse_port(true).map_err(err)?;
    s.bind(&addr.into()).map_err(err)?;
    Ok(s.into())
}

/// Another UDP socket on the address `first` is bound to, with its buffer
/// sizes, if `first` was bound with `SO_REUSEPORT` (as [`bind_udp`] does):
/// the kernel then hands each client's datagrams to one socket, and workers
/// do not contend for one socket's queue.
pub(crate) fn sibling_udp(first: &UdpSocket) -> Option<UdpSocket> {
    #[cfg(unix)]
    {
        let first = socket2::SockRef::from(first);
        if !first.reuse_port().ok()? {
            return None;
        }
        let addr = first.local_addr().ok()?.as_socket()?;
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).ok()?;
        if addr.is_ipv6() {
            s.set_only_v6(first.only_v6().ok()?).ok()?;
        }
        // The kernel reports twice the size that was set.
        if let Ok(n) = first.recv_buffer_size() {
            let _ = s.set_recv_buffer_size(n / 2);
        }
        if let Ok(n) = first.send_buffer_size() {
            let _ = s.set_send_buffer_size(n / 2);
        }
        s.set_reuse_port(true).ok()?;
        s.bind(&addr.into()).ok()?;
        Some(s.into())
    }
    #[cfg(not(unix))]
    {
        let _ = first;
        None
    }
}

/// Another listener on the address `first` is bound to, if `first` was
/// bound with `SO_REUSEPORT` (as [`bind_tcp`] does): the kernel then spreads
/// new connections over the listeners, and no accept wakes every worker.
pub(crate) fn sibling_tcp(first: &TcpListener) -> Option<TcpListener> {
    #[cfg(unix)]
    {
        let reuse = socket2::SockRef::from(first).reuse_port().ok()?;
        if !reuse {
            return None;
        }
        let addr = first.local_addr().ok()?;
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).ok()?;
        if addr.is_ipv6() {
            s.set_only_v6(socket2::SockRef::from(first).only_v6().ok()?)
                .ok()?;
        }
        s.set_reuse_address(true).ok()?;
        s.set_reuse_port(true).ok()?;
        s.bind(&addr.into()).ok()?;
        s.listen(4096).ok()?;
        Some(s.into())
    }
    #[cfg(not(unix))]
    {
        let _ = first;
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn second_bind_of_a_port_fails() {
        let first = super::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let err = super::bind_tcp(addr).unwrap_err();
        assert!(
            matches!(
                err,
                crate::TrackerError::Bind {
                    protocol: "http",
                    ..
                }
            ),
            "{err}"
        );
        assert!(super::sibling_tcp(&first).is_some());
    }

    #[test]
    fn second_bind_of_a_udp_port_fails_but_siblings_share_it() {
        let first = super::bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
        let addr = first.local_addr().unwrap();
        let err = super::bind_udp(addr, 0).unwrap_err();
        assert!(
            matches!(
                err,
                crate::TrackerError::Bind {
                    protocol: "udp",
                    ..
                }
            ),
            "{err}"
        );
        let sibling = super::sibling_udp(&first).unwrap();
        assert_eq!(sibling.local_addr().unwrap(), addr);
        // Every datagram reaches one of the two sockets.
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..20 {
            client.send_to(b"x", addr).unwrap();
        }
        let mut got = 0;
        for s in [&first, &sibling] {
            s.set_read_timeout(Some(std::time::Duration::from_millis(200)))
                .unwrap();
            let mut b = [0u8; 8];
            while s.recv_from(&mut b).is_ok() {
                got += 1;
            }
        }
        assert_eq!(got, 20);
    }
}
