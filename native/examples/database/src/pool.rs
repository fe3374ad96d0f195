//! A small pool of database connections, shared by logins (on the
//! driver's worker threads), the ACL refresh and the writer.
//!
//! Not r2d2: its reaper thread (scheduled-thread-pool) is never joined,
//! and a thread of this library still running when the broker unloads it
//! would crash the broker. Here nothing runs but the callers.
//!
//! A failed connect pauses new connects for [`RETRY_PAUSE`], so that while
//! the database is down a login is refused at once instead of each one
//! waiting out a connect timeout; the first use after the pause tries again.

use crate::store::{Connection, Database, DbError};
use crate::throttle::Health;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long connects pause after one failed.
pub const RETRY_PAUSE: Duration = Duration::from_millis(500);

pub struct Pool {
    db: Database,
    max: usize,
    op_timeout: Duration,
    state: Mutex<State>,
    returned: Condvar,
    pub health: Health,
}

struct State {
    idle: Vec<Connection>,
    open: usize,
    paused_until: Option<Instant>,
}

impl Pool {
    pub fn new(db: Database, max: usize, op_timeout: Duration, health: Health) -> Pool {
        Pool {
            db,
            max: max.max(1),
            op_timeout,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                paused_until: None,
            }),
            returned: Condvar::new(),
            health,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` on a connection, giving up at `deadline`. A connection
    /// that fails with a transient error is closed; if it had been idle in
    /// the pool (the server may have restarted since, and then the other
    /// idle ones are dead too: they are closed as well) `op` is tried once
    /// more on a new one.
    pub fn run<R>(
        &self,
        deadline: Instant,
        mut op: impl FnMut(&mut Connection) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        let mut retried = false;
        loop {
            let (mut conn, fresh) = self.checkout(deadline)?;
            match op(&mut conn) {
                Ok(r) => {
                    self.checkin(conn);
                    self.health.ok();
                    return Ok(r);
                }
                Err(e) if e.transient => {
                    self.discard(conn);
                    if fresh || retried || Instant::now() >= deadline {
                        self.health.failed(&e);
                        return Err(e);
                    }
                    self.close_idle();
                    retried = true;
                }
                Err(e) => {
                    self.checkin(conn);
                    return Err(e);
                }
            }
        }
    }

    /// An idle connection, or a new one; `true` when new.
    fn checkout(&self, deadline: Instant) -> Result<(Connection, bool), DbError> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok((conn, false));
            }
            let now = Instant::now();
            if state.open < self.max {
                if let Some(until) = state.paused_until.filter(|u| *u > now) {
                    let e = DbError::transient(format!(
                        "{} unavailable; next connect in {} ms",
                        self.health.what(),
                        until.duration_since(now).as_millis()
                    ));
                    self.health.failed(&e);
                    return Err(e);
                }
                state.open += 1;
                drop(state);
                let timeout = deadline.saturating_duration_since(now).min(self.op_timeout);
                return match self.db.connect(timeout) {
                    Ok(conn) => Ok((conn, true)),
                    Err(e) => {
                        let mut state = self.lock();
                        state.open -= 1;
                        if e.transient {
                            state.paused_until = Some(Instant::now() + RETRY_PAUSE);
                        }
                        drop(state);
                        self.returned.notify_one();
                        self.health.failed(&e);
                        Err(e)
                    }
                };
            }
            if now >= deadline {
                return Err(DbError::transient(format!(
                    "no free connection to the {} in time",
                    self.health.what()
                )));
            }
            state = self
                .returned
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn checkin(&self, conn: Connection) {
        if conn.is_broken() {
            return self.discard(conn);
        }
        self.lock().idle.push(conn);
        self.returned.notify_one();
    }

    fn discard(&self, conn: Connection) {
        drop(conn);
        self.lock().open -= 1;
        self.returned.notify_one();
    }

    /// Closes the idle connections (the ones in use close when returned
    /// broken, or stay until the pool is dropped).
    pub fn close_idle(&self) {
        let idle = std::mem::take(&mut self.lock().idle);
        let closed = idle.len();
        drop(idle);
        self.lock().open -= closed;
    }
}
