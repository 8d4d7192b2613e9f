//! Fault suites (short in CI, long with `SVC_FAULTS=long` from `scripts/faults.sh`): the
//! supervisor under crashes and floods, the service under sign-up load with its store or queue
//! taken away, and Redis killed under the API and the worker.

mod redis_outage;
mod service;
mod supervisor;
