//! The backend-neutral queue suite, run against the Redis backend (BullMQ layout) on a real
//! `redis-server` of its own per test, with a unique key prefix.

use crate::common::redis_server;
use crate::queue::contract;

use std::time::Duration;

use contract::Fixture;
use redis_server::{RedisServer, unique_prefix};
use svc::queue::redis::{RedisConfig, RedisQueue};

fn redis_fixture() -> Fixture<RedisQueue> {
    let server = RedisServer::start();
    let mut config = RedisConfig::for_url(&server.url());
    config.prefix = unique_prefix("contract");
    // The stalled-check guard's TTL: short, so the suite's lease expiries are seen quickly.
    config.stalled_interval = Duration::from_millis(100);
    let open = move || RedisQueue::new(config.clone()).expect("open the Redis queue");
    Fixture {
        queue: open(),
        open: Box::new(open),
        _guard: Box::new(server),
    }
}

queue_contract!(redis_fixture());
