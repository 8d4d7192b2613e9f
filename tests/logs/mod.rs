//! The daemon's log pipeline and `svc logs`: capture, content, rotation, back-pressure, a full
//! disk, following, and log lines of any bytes.

mod backpressure;
mod cli;
mod content;
mod disk_full;
mod follow;
mod line_input;
mod rotate_compare;
mod rotation;
