//! HTTPS served directly (rustls), for deployments without a TLS proxy in
//! front: a listener that accepts TCP, completes each handshake on a task
//! of its own (a slow or silent client holds up no one else), and hands
//! finished TLS streams to the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use crate::tls::Certificates;

/// Longest a client may take to finish its handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Handshakes done and not yet taken by the server.
const READY: usize = 128;

/// A TCP listener that yields TLS streams.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` with the certificate `certs` holds now (a
    /// renewed one is picked up at the next connection).
    pub fn new(tcp: TcpListener, certs: Arc<Certificates>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(READY);
        tokio::spawn(async move {
            while !tx.is_closed() {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors, say: wait, do not spin.
                        tracing::warn!(error = %e, "https: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = match certs.acceptor() {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::error!(error = %e, "https: no usable certificate");
                        continue;
                    }
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "https: handshake failed"),
                        Err(_) => tracing::debug!(%peer, "https: handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accepting task is gone (its runtime is shutting down).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
