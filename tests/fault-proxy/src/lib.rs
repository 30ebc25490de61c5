//! Fault-injecting proxies on loopback for tests: [`HttpProxy`] answers chosen requests with errors,
//! [`TcpProxy`] cuts connections, in the middle of a transfer if asked.

mod http;
mod tcp;

pub use http::{HttpProxy, Seen};
pub use tcp::TcpProxy;
