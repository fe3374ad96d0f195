//! The seed article's four jobs on a real database: logins checked
//! against a users table (Argon2id hashes), publish/subscribe decided by
//! ACL rules from a table (kept in memory, refreshed), who is online and
//! the history of connects and disconnects, and messages on chosen topics
//! stored. SQLite by default; PostgreSQL when `database_url` is set, which
//! lets several broker nodes share users, rules and online state.
//!
//! README.md beside this crate lists the settings, the tables, the failure
//! behaviour and the `exhook-db` command that adds users and rules.
//!
//! Statistics for the driver's stats report: [`DatabaseHandler::write_stats`]
//! ([`WriteStats::pairs`] gives them as name/value pairs).

pub mod acl;
mod hooks;
pub mod password;
mod pool;
pub mod service;
pub mod settings;
pub mod store;
mod throttle;
mod writer;

pub use service::{Login, Service, Undecided};
pub use settings::Settings;
pub use writer::WriteStats;

/// The handler the plugin loads: its settings and the service doing the work.
pub struct DatabaseHandler {
    settings: Settings,
    service: Service,
}

/// The one place where the handler gives up on a decision: the broker then
/// answers with the driver's `failed_action` and the SDK logs the text
/// (rate-limited).
pub(crate) fn cannot_decide(why: &str) -> ! {
    emqx_extension_sdk::fail(format!("cannot decide: {why}"))
}

/// Runs `f` on a short-lived thread that is not the broker's (see
/// `emqx_extension_sdk::run_on_own_thread`).
fn off_the_broker<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, String> {
    emqx_extension_sdk::run_on_own_thread(f).map_err(|e| e.to_string())
}

impl DatabaseHandler {
    /// Reads the settings through `get` (the driver's `Config`), connects,
    /// loads the ACL rules and starts the handler's threads. A database
    /// that does not answer yet is not an error: it is retried, and until
    /// then logins and ACL checks get the failure policy.
    pub fn start<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<DatabaseHandler, String> {
        let settings = Settings::from_lookup(get)?;
        for filter in &settings.store_topics {
            emqx_extension_sdk::TopicFilter::parse(filter)
                .map_err(|e| format!("setting store_topics: {e}"))?;
        }
        let service = off_the_broker(|| Service::start(&settings))??;
        log::info!(
            "started: {}, node {}, {} ACL rules, storing messages on {:?}",
            settings.location_text(),
            settings.node,
            service
                .acl_rules()
                .map_or("no (database unavailable)".to_string(), |n| n.to_string()),
            settings.store_topics
        );
        Ok(DatabaseHandler { settings, service })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The writer's counters: records waiting, written, and dropped (queue
    /// full while the database was down, refused by it, left at stop).
    ///
    /// ```no_run
    /// # let handler = emqx_example_database::DatabaseHandler::start(|_| None).unwrap();
    /// for (name, value) in handler.write_stats().pairs() {
    ///     println!("{name} {value}");
    /// }
    /// ```
    pub fn write_stats(&self) -> WriteStats {
        self.service.write_stats()
    }

    /// Flushes what is queued, stops the threads and closes the
    /// connections, from a thread that is not the broker's. Idempotent.
    pub fn stop(&self) {
        let service = &self.service;
        if off_the_broker(|| service.stop()).is_err() {
            log::error!("stopping failed: queued records may be lost");
        }
    }
}

impl Drop for DatabaseHandler {
    /// A handler dropped without `deinit` (its driver failed to load after
    /// `init`) still stops off the broker's threads.
    fn drop(&mut self) {
        self.stop();
    }
}
