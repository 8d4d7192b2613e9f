//! `svc worker` as a real process: jobs on the embedded queue, a real SMTP server, and Redis
//! killed and restarted under it.

mod embedded_queue;
mod redis_restart;
mod smtp;
