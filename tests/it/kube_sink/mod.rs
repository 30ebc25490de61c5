//! The Kubernetes sink, the drift watch and leader election against the kube-api-test-server, with
//! the real kube client and the real `kubectl` making changes by hand.

mod harness;

mod apply;
mod client;
mod drift;
mod failed_files;
mod faults;
mod feed;
mod instances;
mod leader;
mod ownership;
mod policies;
mod restarts;
