//! The daemon's end of an instance's `$NOTIFY_SOCKET` (`ready = "notify"`).
//!
//! A program that runs as the daemon's own user gets a socket file in the state folder (mode
//! 0700: nobody else can even reach it). A program the daemon switched to another user cannot
//! reach that folder, and opening the folder up would open the control socket's folder too, so
//! it gets an abstract socket instead (`@…`, systemd's convention for such names; no file, so no
//! folder and no chown). Anyone on the host can address an abstract socket, so this one asks the
//! kernel for each sender's credentials (`SO_PASSCRED`) and heeds only datagrams from the
//! program's own uid, as systemd checks who sends to its notify socket.

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::path::Path;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr, sockopt};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

/// Largest notify datagram read; the protocol's messages are a few short lines.
const MAX_MESSAGE: usize = 4096;

/// A state change a program reported on its notify socket.
#[derive(Debug, PartialEq, Eq)]
pub enum NotifyMessage {
    Ready,
    Stopping,
    Other,
}

/// One instance's notify socket.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    /// For an abstract socket: the only uid whose datagrams count.
    sender: Option<u32>,
}

impl NotifySocket {
    /// Binds a socket file at `path` (replacing a stale one). Returns the socket and the
    /// `$NOTIFY_SOCKET` value.
    ///
    /// # Errors
    /// Fails when the old file cannot be removed or the socket cannot be bound.
    pub fn bind_path(path: &Path) -> std::io::Result<(NotifySocket, String)> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let socket = UnixDatagram::bind(path)?;
        let address = path.to_string_lossy().into_owned();
        Ok((
            NotifySocket {
                socket,
                sender: None,
            },
            address,
        ))
    }

    /// Binds an abstract socket under a random name that heeds only datagrams sent by `uid`.
    /// Returns the socket and the `$NOTIFY_SOCKET` value (`@` and the name).
    ///
    /// # Errors
    /// Fails when no socket can be bound or credentials cannot be asked for.
    pub fn bind_abstract(uid: u32) -> std::io::Result<(NotifySocket, String)> {
        const ATTEMPTS: usize = 4;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let name = format!(
                "svc-notify/{}/{:016x}",
                std::process::id(),
                fastrand::u64(..)
            );
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            match std::os::unix::net::UnixDatagram::bind_addr(&addr) {
                Ok(socket) => {
                    nix::sys::socket::setsockopt(&socket, sockopt::PassCred, &true)?;
                    socket.set_nonblocking(true)?;
                    let socket = UnixDatagram::from_std(socket)?;
                    let notify = NotifySocket {
                        socket,
                        sender: Some(uid),
                    };
                    return Ok((notify, format!("@{name}")));
                }
                // Someone holds that name: try another.
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free notify socket name")))
    }

    /// The next message; a datagram from another uid than the expected sender counts as
    /// [`NotifyMessage::Other`] (and is logged).
    ///
    /// # Errors
    /// Fails when the socket cannot be read.
    pub async fn recv(&self) -> std::io::Result<NotifyMessage> {
        let mut buf = [0u8; MAX_MESSAGE];
        let Some(expected) = self.sender else {
            let n = self.socket.recv(&mut buf).await?;
            return Ok(parse(&buf[..n]));
        };
        let (n, sender) = self
            .socket
            .async_io(Interest::READABLE, || {
                recv_with_sender(&self.socket, &mut buf)
            })
            .await?;
        if sender == Some(expected) {
            return Ok(parse(&buf[..n]));
        }
        tracing::warn!(
            sender = ?sender,
            expected,
            "ignored a notify message from another user than the program's"
        );
        Ok(NotifyMessage::Other)
    }
}

/// One datagram and the uid the kernel vouches sent it.
fn recv_with_sender(
    socket: &UnixDatagram,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<u32>)> {
    let mut control = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
    let mut iov = [IoSliceMut::new(buf)];
    let message = nix::sys::socket::recvmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let sender = message.cmsgs()?.find_map(|cmsg| match cmsg {
        ControlMessageOwned::ScmCredentials(credentials) => Some(credentials.uid()),
        _ => None,
    });
    Ok((message.bytes, sender))
}

/// What a notify datagram says, by its lines.
fn parse(message: &[u8]) -> NotifyMessage {
    let lines = || message.split(|&b| b == b'\n');
    if lines().any(|line| line == b"READY=1") {
        NotifyMessage::Ready
    } else if lines().any(|line| line == b"STOPPING=1") {
        NotifyMessage::Stopping
    } else {
        NotifyMessage::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(address: &str, message: &[u8]) {
        let name = address.strip_prefix('@').expect("abstract");
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        std::os::unix::net::UnixDatagram::unbound()
            .unwrap()
            .send_to_addr(message, &addr)
            .unwrap();
    }

    #[tokio::test]
    async fn an_abstract_socket_heeds_only_its_programs_uid() {
        let me = nix::unistd::geteuid().as_raw();
        let (mine, address) = NotifySocket::bind_abstract(me).unwrap();
        assert!(address.starts_with("@svc-notify/"), "{address}");
        send(&address, b"STATUS=x\nREADY=1\n");
        assert_eq!(mine.recv().await.unwrap(), NotifyMessage::Ready);

        let someone_else = me.wrapping_add(1);
        let (theirs, address) = NotifySocket::bind_abstract(someone_else).unwrap();
        send(&address, b"READY=1");
        assert_eq!(theirs.recv().await.unwrap(), NotifyMessage::Other);
    }

    #[test]
    fn messages_parse_by_line() {
        assert_eq!(parse(b"READY=1"), NotifyMessage::Ready);
        assert_eq!(parse(b"MAINPID=3\nSTOPPING=1"), NotifyMessage::Stopping);
        assert_eq!(parse(b"READY=10"), NotifyMessage::Other);
    }
}
