//! The handler's work, in the handler's own terms (no broker data types):
//! logins against `mqtt_users`, ACL checks against the snapshot of
//! `mqtt_acl`, and records for the writer. Two threads of its own: the
//! ACL refresh and the writer.

use crate::acl::{Action, NoMatch, Snapshot, Subject, Verdict};
use crate::password;
use crate::pool::Pool;
use crate::settings::Settings;
use crate::store::{Database, Record};
use crate::throttle::{Health, Throttle};
use crate::writer::{Limits, WriteQueue, WriteStats};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A login's outcome when the handler could decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Allow,
    AllowSuperuser,
    Deny,
}

/// The handler cannot decide (the database did not answer, the ACL rules
/// were never loaded): the broker applies the driver's failure policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecided(pub String);

pub struct Service {
    pool: Arc<Pool>,
    acl: Arc<Acl>,
    queue: Arc<WriteQueue>,
    op_timeout: Duration,
    stopping: Arc<Stop>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stopped: AtomicBool,
    bad_hash_log: Throttle,
    hashing: Hashing,
}

/// Bounds the password verifications running at once to the cores: each
/// takes a core and the hash's memory (19 MiB by default) for tens of
/// milliseconds, and more at once only share the cores and add memory.
struct Hashing {
    running: Mutex<usize>,
    done: Condvar,
    max: usize,
}

impl Hashing {
    fn new() -> Hashing {
        Hashing {
            running: Mutex::new(0),
            done: Condvar::new(),
            max: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }

    /// Runs `f` once a slot is free; `None` if none frees before `deadline`.
    fn run<R>(&self, deadline: Instant, f: impl FnOnce() -> R) -> Option<R> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let timeout = deadline.saturating_duration_since(Instant::now());
        let (mut running, wait) = self
            .done
            .wait_timeout_while(running, timeout, |n| *n >= self.max)
            .unwrap_or_else(PoisonError::into_inner);
        if wait.timed_out() && *running >= self.max {
            return None;
        }
        *running += 1;
        drop(running);
        let result = f();
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.done.notify_one();
        Some(result)
    }
}

struct Acl {
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    no_match: NoMatch,
    refresh: Duration,
    bad_rules_log: Throttle,
}

/// Wakes the refresh thread early when the handler stops.
#[derive(Default)]
struct Stop {
    flag: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Sleeps `d`; false once stopping.
    fn sleep(&self, d: Duration) -> bool {
        let flag = self.flag.lock().unwrap_or_else(PoisonError::into_inner);
        let (flag, _) = self
            .wake
            .wait_timeout_while(flag, d, |stop| !*stop)
            .unwrap_or_else(PoisonError::into_inner);
        !*flag
    }

    fn set(&self) {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }
}

impl Service {
    /// Checks `settings`, loads the ACL rules once (the database may be
    /// down: then every ACL check is undecided until a refresh succeeds),
    /// and starts the two threads.
    ///
    /// In the broker, call it from a thread that is not the broker's
    /// (`emqx_extension_sdk::run_on_own_thread`).
    pub fn start(settings: &Settings) -> Result<Service, String> {
        let db = Database::new(&settings.location, settings.db_timeout)?;
        let health = Health::new(db.describe(), settings.error_log_interval);
        let pool = Arc::new(Pool::new(
            db,
            settings.connections,
            settings.db_timeout,
            health,
        ));
        let acl = Arc::new(Acl {
            snapshot: RwLock::new(None),
            no_match: settings.acl_nomatch,
            refresh: settings.acl_refresh,
            bad_rules_log: Throttle::new(settings.error_log_interval),
        });
        let queue = Arc::new(WriteQueue::new(
            Limits {
                max_records: settings.write_queue,
                max_bytes: settings.write_queue_bytes,
                batch_size: settings.batch_size,
                batch_interval: settings.batch_interval,
                flush_timeout: settings.flush_timeout,
            },
            settings.error_log_interval,
        ));
        acl.load(&pool, settings.db_timeout);
        let stopping = Arc::new(Stop::default());
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map_err(|e| format!("cannot start thread {name}: {e}"))
        };
        let refresher = {
            let (pool, acl, stopping, timeout) = (
                Arc::clone(&pool),
                Arc::clone(&acl),
                Arc::clone(&stopping),
                settings.db_timeout,
            );
            spawn(
                "exhook-db-acl",
                Box::new(move || {
                    while stopping.sleep(acl.refresh) {
                        acl.load(&pool, timeout);
                    }
                }),
            )?
        };
        let writer = {
            let (pool, queue, timeout) =
                (Arc::clone(&pool), Arc::clone(&queue), settings.db_timeout);
            match spawn(
                "exhook-db-writer",
                Box::new(move || queue.run_writer(&pool, timeout)),
            ) {
                Ok(handle) => handle,
                Err(e) => {
                    stopping.set();
                    let _ = refresher.join();
                    return Err(e);
                }
            }
        };
        Ok(Service {
            pool,
            acl,
            queue,
            op_timeout: settings.db_timeout,
            stopping,
            threads: Mutex::new(vec![refresher, writer]),
            stopped: AtomicBool::new(false),
            bad_hash_log: Throttle::new(settings.error_log_interval),
            hashing: Hashing::new(),
        })
    }

    /// Checks a login against `mqtt_users`, giving up at `deadline`. No
    /// username, an unknown one, or a wrong or missing password: denied.
    pub fn login(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<Login, Undecided> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(Undecided("the handler is stopping".into()));
        }
        let (Some(username), Some(password)) = (username, password) else {
            return Ok(Login::Deny);
        };
        let lookup_deadline = deadline.min(Instant::now() + self.op_timeout);
        let user = self
            .pool
            .run(lookup_deadline, |conn| conn.find_user(username))
            .map_err(|e| Undecided(e.message))?;
        let verified = self.hashing.run(deadline, || match &user {
            Some(user) => password::verify(password, &user.password_hash),
            None => {
                password::decoy_verify(password);
                Ok(false)
            }
        });
        let Some(verified) = verified else {
            return Err(Undecided("no time left to verify the password".into()));
        };
        let Some(user) = user else {
            return Ok(Login::Deny);
        };
        match verified {
            Ok(true) if user.is_superuser => Ok(Login::AllowSuperuser),
            Ok(true) => Ok(Login::Allow),
            Ok(false) => Ok(Login::Deny),
            Err(e) => {
                self.bad_hash_log.hit(|held_back| {
                    log::error!(
                        "user {username:?}: {e}; login denied \
                         ({held_back} more such logins since the last report)"
                    )
                });
                Ok(Login::Deny)
            }
        }
    }

    /// Decides from the ACL snapshot; no I/O, no allocation.
    pub fn check_acl(
        &self,
        subject: &Subject,
        action: Action,
        topic: &str,
    ) -> Result<Verdict, Undecided> {
        let snapshot = self
            .acl
            .snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match &*snapshot {
            Some(rules) => Ok(rules.check(subject, action, topic, self.acl.no_match)),
            None => Err(Undecided("the ACL rules could not be loaded yet".into())),
        }
    }

    /// Queues a record for the writer; false when it was dropped (counted).
    pub fn record(&self, record: Record) -> bool {
        self.queue.push(record)
    }

    pub fn write_stats(&self) -> WriteStats {
        self.queue.stats()
    }

    /// Whether the last database operation failed to reach it.
    pub fn database_down(&self) -> bool {
        self.pool.health.is_down()
    }

    /// Rules in the current snapshot, if one was loaded.
    pub fn acl_rules(&self) -> Option<usize> {
        let snapshot = self
            .acl
            .snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        snapshot.as_ref().map(|s| s.len())
    }

    /// Reloads the ACL rules now (tests; the refresh thread does it every `acl_refresh`).
    pub fn refresh_acl(&self) {
        self.acl.load(&self.pool, self.op_timeout);
    }

    /// Writes what is queued (for at most `flush_timeout`), stops both
    /// threads and closes the connections. Idempotent.
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stopping.set();
        self.queue.close();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
        self.pool.close_idle();
        let stats = self.queue.stats();
        if stats.dropped() > 0 {
            log::warn!(
                "stopped; {} records written, {} dropped ({} queue full, {} refused, {} at stop)",
                stats.written,
                stats.dropped(),
                stats.dropped_queue_full,
                stats.dropped_refused,
                stats.dropped_at_stop
            );
        }
    }
}

impl Acl {
    /// Replaces the snapshot with the table's rules; on failure the
    /// previous snapshot stays (and the failure is logged).
    fn load(&self, pool: &Pool, timeout: Duration) {
        let rows = match pool.run(Instant::now() + timeout, |conn| conn.load_rules()) {
            Ok(rows) => rows,
            Err(_) => return, // the pool's health has logged it
        };
        match Snapshot::compile(&rows) {
            Ok(snapshot) => {
                *self
                    .snapshot
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(snapshot));
            }
            Err(e) => self.bad_rules_log.hit(|_| {
                log::error!("ACL rules not loaded, the previous ones stay: {e}");
            }),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}
