//! End-to-end tests of the git source against real repositories and real servers on 127.0.0.1.

mod harness;

mod errors;
mod snapshot;
mod transports;
mod tree_diff;
mod webhook;
