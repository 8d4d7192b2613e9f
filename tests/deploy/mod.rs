//! What ships beside the binary: the Kubernetes manifests and Dockerfile, monitoring rules and
//! dashboard, generated completions and man pages, file permissions and secrets handling.

mod generated;
mod manifests;
mod monitoring;
mod private_files;
mod secrets;
