//! The programs the daemon runs now: each with its config, its listening socket, its instance
//! actors and its restart triggers. Changes (a config reload, a scale) go through here.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::DropGuard;

use super::instance::{Context, InstanceHandle};
use crate::config::{Condition, Program, dependency_closure};
use crate::logs::Level;
use crate::protocol::State;

/// One program as the daemon runs it.
pub struct Entry {
    pub program: Arc<Program>,
    /// The socket bound for `listen`, shared by every instance and kept across reloads.
    pub listener: Option<Arc<OwnedFd>>,
    /// In index order.
    pub instances: Vec<InstanceHandle>,
    /// Set by `svc scale` (the config's number differs) until the next config reload.
    pub scaled: bool,
    /// Stops the program's watch, memory and cron tasks when the entry goes.
    pub triggers: Option<DropGuard>,
}

/// Every program, in config order.
pub struct Programs {
    entries: Mutex<Vec<Entry>>,
    context: Context,
}

/// How far a program has come in a start, for the programs that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Waiting,
    /// Every instance forked.
    Started,
    /// Every instance online (or finished cleanly, for a one-shot program).
    Ready,
    /// It did not get there: a dependency failed, or an instance did not come up.
    Failed,
}

impl Progress {
    fn reached(self, condition: Condition) -> bool {
        match condition {
            Condition::Started => matches!(self, Progress::Started | Progress::Ready),
            Condition::Ready => self == Progress::Ready,
        }
    }
}

impl Programs {
    pub fn new(context: Context) -> Programs {
        Programs {
            entries: Mutex::new(Vec::new()),
            context,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a program, stopped, with `listener` for its `listen` (bound by [`bind_listener`]).
    pub fn add(&self, program: Arc<Program>, listener: Option<Arc<OwnedFd>>) {
        let instances = (0..program.instances)
            .map(|index| self.spawn(&program, listener.clone(), index))
            .collect();
        self.lock().push(Entry {
            program,
            listener,
            instances,
            scaled: false,
            triggers: None,
        });
    }

    fn spawn(
        &self,
        program: &Arc<Program>,
        listener: Option<Arc<OwnedFd>>,
        index: u32,
    ) -> InstanceHandle {
        InstanceHandle::spawn(program.clone(), listener, index, self.context.clone())
    }

    /// Runs `f` on the entry of `name`, if there is one.
    pub fn with<T>(&self, name: &str, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        self.lock()
            .iter_mut()
            .find(|e| e.program.name == name)
            .map(f)
    }

    /// How many instances each program runs now.
    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.lock()
            .iter()
            .map(|e| (e.program.name.clone(), e.instances.len() as u32))
            .collect()
    }

    /// Every instance, in config order, then by index.
    pub fn all_instances(&self) -> Vec<InstanceHandle> {
        self.lock()
            .iter()
            .flat_map(|e| e.instances.iter().cloned())
            .collect()
    }

    /// The instances of the named programs; with no names, all (or only autostart ones).
    pub fn select(&self, names: &[String], autostart_only: bool) -> Vec<InstanceHandle> {
        self.lock()
            .iter()
            .filter(|e| selected(&e.program, names, autostart_only))
            .flat_map(|e| e.instances.iter().cloned())
            .collect()
    }

    /// Names that match no program.
    pub fn unknown<'a>(&self, names: &'a [String]) -> Vec<&'a str> {
        let entries = self.lock();
        names
            .iter()
            .filter(|n| !entries.iter().any(|e| &e.program.name == *n))
            .map(String::as_str)
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|e| e.program.name.clone()).collect()
    }

    /// Starts the named programs (every autostart one when none is named) and the programs they
    /// depend on, each once its dependencies reached their condition; returns when every one has
    /// come to rest.
    pub async fn start(&self, names: &[String], autostart_only: bool) {
        let mut progress: HashMap<String, watch::Receiver<Progress>> = HashMap::new();
        let mut tasks = JoinSet::new();
        for (program, instances) in self.with_dependencies(names, autostart_only) {
            let (tx, rx) = watch::channel(Progress::Waiting);
            let dependencies: Vec<_> = program
                .depends_on
                .iter()
                .filter_map(|(name, condition)| {
                    progress
                        .get(name)
                        .map(|rx| (name.clone(), *condition, rx.clone()))
                })
                .collect();
            progress.insert(program.name.clone(), rx);
            let logs = self.context.logs.clone();
            tasks.spawn(async move {
                for (name, condition, mut rx) in dependencies {
                    let reached = rx
                        .wait_for(|p| p.reached(condition) || *p == Progress::Failed)
                        .await
                        .is_ok_and(|p| p.reached(condition));
                    if !reached {
                        let _ = tx.send(Progress::Failed);
                        let name_of = Arc::from(program.name.as_str());
                        let message = format!(
                            "not started: its dependency {name} did not become {}",
                            condition.as_str()
                        );
                        logs.event(&name_of, 0, Level::Error, message);
                        return;
                    }
                }
                for instance in &instances {
                    instance.begin().await;
                }
                let _ = tx.send(Progress::Started);
                let mut settling = JoinSet::new();
                for instance in instances {
                    settling.spawn(async move { instance.settle().await });
                }
                let came_up = settling.join_all().await.into_iter().all(|up| up);
                let _ = tx.send(if came_up {
                    Progress::Ready
                } else {
                    Progress::Failed
                });
            });
        }
        tasks.join_all().await;
    }

    /// Stops the named programs (all when none is named), each after every selected program
    /// that depends on it has stopped; returns when no process of theirs is left.
    pub async fn stop(&self, names: &[String]) {
        let chosen: Vec<(Arc<Program>, Vec<InstanceHandle>)> = self
            .lock()
            .iter()
            .filter(|e| selected(&e.program, names, false))
            .map(|e| (e.program.clone(), e.instances.clone()))
            .collect();
        let mut stopped: HashMap<String, watch::Receiver<bool>> = HashMap::new();
        let mut senders = HashMap::new();
        for (program, _) in &chosen {
            let (tx, rx) = watch::channel(false);
            stopped.insert(program.name.clone(), rx);
            senders.insert(program.name.clone(), tx);
        }
        let mut tasks = JoinSet::new();
        for (program, instances) in &chosen {
            let dependents: Vec<watch::Receiver<bool>> = chosen
                .iter()
                .filter(|(other, _)| other.depends_on.contains_key(&program.name))
                .filter_map(|(other, _)| stopped.get(&other.name).cloned())
                .collect();
            let instances = instances.clone();
            let done = senders.remove(&program.name);
            tasks.spawn(async move {
                for mut dependent in dependents {
                    let _ = dependent.wait_for(|stopped| *stopped).await;
                }
                in_parallel(instances, |i| async move { i.stop().await }).await;
                if let Some(done) = done {
                    let _ = done.send(true);
                }
            });
        }
        tasks.join_all().await;
    }

    /// The selected programs and, before each, the programs it depends on (dependencies first).
    fn with_dependencies(
        &self,
        names: &[String],
        autostart_only: bool,
    ) -> Vec<(Arc<Program>, Vec<InstanceHandle>)> {
        let entries = self.lock();
        let configs: Vec<Program> = entries.iter().map(|e| (*e.program).clone()).collect();
        let chosen: Vec<String> = entries
            .iter()
            .filter(|e| selected(&e.program, names, autostart_only))
            .map(|e| e.program.name.clone())
            .collect();
        dependency_closure(&configs, &chosen)
            .iter()
            .filter_map(|name| entries.iter().find(|e| &e.program.name == name))
            .map(|e| (e.program.clone(), e.instances.clone()))
            .collect()
    }

    /// Gives every instance of `name` its new config, and the entry too.
    pub async fn adopt(&self, program: Arc<Program>, listener: Option<Arc<OwnedFd>>) {
        let instances = self
            .with(&program.name, |e| {
                e.program = program.clone();
                e.listener = listener.clone();
                e.instances.clone()
            })
            .unwrap_or_default();
        for instance in instances {
            instance.adopt(program.clone(), listener.clone()).await;
        }
    }

    /// Runs `count` instances of `name`: new ones are started (when `start` or when the program
    /// runs), surplus ones drained from the highest index down, then forgotten.
    pub async fn resize(&self, name: &str, count: u32) {
        let Some((program, listener, current)) = self.with(name, |e| {
            (e.program.clone(), e.listener.clone(), e.instances.clone())
        }) else {
            return;
        };
        let now = current.len() as u32;
        if count > now {
            let running = current.iter().any(|i| i.snapshot().state != State::Stopped)
                || (current.is_empty() && program.autostart);
            let added: Vec<InstanceHandle> = (now..count)
                .map(|index| self.spawn(&program, listener.clone(), index))
                .collect();
            self.with(name, |e| e.instances.extend(added.iter().cloned()));
            if running {
                in_parallel(added, |i| async move { i.start().await }).await;
            }
        } else if count < now {
            let surplus: Vec<InstanceHandle> = current[count as usize..].to_vec();
            in_parallel(surplus, |i| async move { i.stop().await }).await;
            self.with(name, |e| e.instances.truncate(count as usize));
        }
    }

    /// Stops a program's instances and forgets it.
    pub async fn remove(&self, name: &str) {
        self.stop(&[name.to_owned()]).await;
        self.lock().retain(|e| e.program.name != name);
    }
}

/// Whether `program` is chosen by `names` (or, with no names, by `autostart_only`).
fn selected(program: &Program, names: &[String], autostart_only: bool) -> bool {
    if names.is_empty() {
        !autostart_only || program.autostart
    } else {
        names.contains(&program.name)
    }
}

/// Binds `program`'s `listen` socket, if it has one; the daemon holds it for the program's life.
///
/// # Errors
/// The address cannot be bound (in use, not ours).
pub fn bind_listener(program: &Program) -> anyhow::Result<Option<Arc<OwnedFd>>> {
    let Some(addr) = program.listen else {
        return Ok(None);
    };
    let listener = std::net::TcpListener::bind(addr).with_context(|| {
        format!(
            "cannot listen on {addr} for programs.{}.listen",
            program.name
        )
    })?;
    Ok(Some(Arc::new(OwnedFd::from(listener))))
}

/// Runs `action` on every instance concurrently and waits for all of them.
pub async fn in_parallel<F, Fut>(instances: Vec<InstanceHandle>, action: F)
where
    F: Fn(InstanceHandle) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut set = JoinSet::new();
    for instance in instances {
        set.spawn(action(instance));
    }
    set.join_all().await;
}
