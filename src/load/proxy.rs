//! A TCP proxy the load owns, put between intake and the broker, so the
//! network can be cut without touching the broker: a cut drops every
//! connection through it at once and refuses new ones until it ends — what a
//! switch failing or a firewall rule looks like from intake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The switch: `true` while the line is cut.
#[derive(Clone)]
pub struct Proxy {
    cut: Arc<watch::Sender<bool>>,
}

impl Proxy {
    /// Listens on `listener`, forwarding to `target`, until dropped.
    pub fn start(listener: TcpListener, target: SocketAddr) -> Proxy {
        let (tx, _) = watch::channel(false);
        let tx = Arc::new(tx);
        let p = Proxy { cut: tx.clone() };
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if *tx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut cut = tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        p
    }

    /// Cuts the line for `hold`, then mends it.
    pub async fn cut_for(&self, hold: Duration) {
        self.cut.send_replace(true);
        tokio::time::sleep(hold).await;
        self.cut.send_replace(false);
    }
}
