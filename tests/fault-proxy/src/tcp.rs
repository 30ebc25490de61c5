//! A TCP proxy in front of a test server whose connections can be cut: all at once, or each one after
//! it has carried a number of bytes from the server (a transfer broken in the middle).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the connections share with the handle.
struct Shared {
    /// Bytes from the server after which a connection is cut; `u64::MAX`: never.
    cut_after: AtomicU64,
    accepted: AtomicUsize,
    cut: AtomicUsize,
    /// Bumped by [`TcpProxy::cut_all`]; every open connection ends when it changes.
    generation: watch::Sender<u64>,
}

pub struct TcpProxy {
    /// The port clients connect to (127.0.0.1).
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        // Ends the open connections too.
        self.shared.generation.send_modify(|g| *g += 1);
    }
}

impl TcpProxy {
    /// A proxy on a free loopback port forwarding to `upstream`.
    ///
    /// # Panics
    /// When no loopback port can be bound: a test cannot go on without its proxy.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            cut_after: AtomicU64::new(u64::MAX),
            accepted: AtomicUsize::new(0),
            cut: AtomicUsize::new(0),
            generation: watch::channel(0).0,
        });
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                state.accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(relay(client, upstream, state.clone()));
            }
        });
        TcpProxy { port, shared, task }
    }

    /// Cuts each connection (open or new) once it has carried `bytes` from the server; `None`: never.
    pub fn cut_after(&self, bytes: Option<u64>) {
        self.shared
            .cut_after
            .store(bytes.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Ends every open connection now (new ones are forwarded).
    pub fn cut_all(&self) {
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections cut so far (by [`TcpProxy::cut_after`] or [`TcpProxy::cut_all`]).
    pub fn cuts(&self) -> usize {
        self.shared.cut.load(Ordering::SeqCst)
    }
}

/// Copies both ways until either side closes or the connection is cut; a cut resets both sockets
/// (RST, as a vanished peer or a broken route looks), a close by either side is passed on.
async fn relay(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut generation = shared.generation.subscribe();
    generation.mark_unchanged();
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut from_server = 0u64;
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    let cut = loop {
        tokio::select! {
            _ = generation.changed() => break true,
            n = client_read.read(&mut up) => match n {
                Ok(0) | Err(_) => break false,
                Ok(n) => if server_write.write_all(&up[..n]).await.is_err() { break false },
            },
            n = server_read.read(&mut down) => match n {
                Ok(0) | Err(_) => break false,
                Ok(n) => {
                    let limit = shared.cut_after.load(Ordering::SeqCst);
                    let allowed = limit.saturating_sub(from_server).min(n as u64) as usize;
                    if allowed > 0 && client_write.write_all(&down[..allowed]).await.is_err() {
                        break false;
                    }
                    from_server += allowed as u64;
                    if allowed < n || from_server >= limit {
                        break true;
                    }
                }
            },
        }
    };
    if cut {
        shared.cut.fetch_add(1, Ordering::SeqCst);
        for stream in [
            client_read.reunite(client_write).ok(),
            server_read.reunite(server_write).ok(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = stream.set_zero_linger();
        }
    }
}
