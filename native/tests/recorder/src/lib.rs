//! A handler for the plugin's own tests. It implements all 19 hooks, has no
//! opinion on any decision, and appends one line per event to the file its
//! driver config names (`record_to`), with the decoded fields, so a test can
//! check that each hook reached the handler with the right data.
//!
//! It misbehaves on request, keyed by clientid (or message sender):
//! `panic...` panics in the handler; `fail...` gives up on the call
//! (`emqx_extension_sdk::fail`); `slow-MS...` sleeps MS milliseconds
//! first; `jitter...` sleeps 0 to 255 µs, varying from event to event, so
//! that events handled in parallel finish out of order.
//!
//! And it logs on request: `log...` one record at each level, `logthread...`
//! one record from a thread of its own, `logburst-N...` N records at info;
//! `print...` (in `client.connected`) prints a line to stdout and one to
//! stderr.

use emqx_extension_sdk::*;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// The recorder; `out` is the record file.
pub struct Recorder {
    out: Mutex<File>,
    /// Lines written, shown in the driver's stats.
    lines: std::sync::atomic::AtomicU64,
}

impl Recorder {
    fn record(&self, client: &str, line: String) {
        if let Some(rest) = client.strip_prefix("slow-") {
            let ms: u64 = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
        }
        if client.starts_with("jitter") {
            let spread = line
                .bytes()
                .fold(0u8, |h, b| h.wrapping_mul(31).wrapping_add(b));
            std::thread::sleep(Duration::from_micros(u64::from(spread)));
        }
        if client.starts_with("panic") {
            panic!("recorder asked to panic by {client}");
        }
        if client.starts_with("fail") {
            fail(format!("recorder asked to fail by {client}"));
        }
        log_on_request(client);
        self.write_line(&line);
    }

    /// One write per line: the Port transport runs several processes that
    /// append to the same file, and O_APPEND keeps a single write whole.
    fn write_line(&self, line: &str) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(format!("{line}\n").as_bytes());
            self.lines
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

fn log_on_request(client: &str) {
    if let Some(rest) = client.strip_prefix("logburst-") {
        let n: usize = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        for i in 0..n {
            log::info!("burst {i} from {client}");
        }
    } else if client.starts_with("logthread") {
        let client = client.to_string();
        let _ = std::thread::spawn(move || log::info!("from a thread of {client}")).join();
    } else if client.starts_with("log") {
        log::error!("error from {client}");
        log::warn!("warning from {client}");
        log::info!("info from {client}");
        log::debug!("debug from {client}");
        log::trace!("trace from {client}");
    }
}

fn client_fields(c: &ClientInfo) -> String {
    let mut s = format!(
        "clientid={} username={:?} peerhost={:?} sockport={} protocol={} zone={} mountpoint={:?}",
        c.clientid(),
        c.username(),
        c.peerhost(),
        c.sockport(),
        c.protocol(),
        c.zone(),
        c.mountpoint()
    );
    if let Some(p) = c.password() {
        let _ = write!(s, " password_len={}", p.len());
    }
    for (k, v) in [("ws_cookie", c.ws_cookie()), ("dn", c.dn()), ("cn", c.cn())] {
        if let Some(v) = v {
            let _ = write!(s, " {k}={v}");
        }
    }
    s
}

fn conn_fields(c: &ConnInfo) -> String {
    format!(
        "conn_clientid={:?} socktype={} peername={:?} sockname={:?} proto_ver={:?} keepalive={:?} props={}",
        c.clientid(),
        c.socktype(),
        c.peername(),
        c.sockname(),
        c.proto_ver(),
        c.keepalive(),
        c.conn_props().len()
    )
}

fn message_fields(m: &Message) -> String {
    format!(
        "from={} topic={} payload={} qos={} id={} retain={} username={:?}",
        m.from(),
        m.topic(),
        String::from_utf8_lossy(m.payload()),
        m.qos(),
        m.id_hex(),
        m.flags().retain,
        m.headers().username()
    )
}

fn session_fields(s: &SessionInfo) -> String {
    let subs: Vec<String> = s
        .subscriptions()
        .iter()
        .map(|(t, o)| format!("{t}@{}", o.qos()))
        .collect();
    format!(
        "subscriptions={} created_at={:?}",
        subs.join(","),
        s.created_at()
    )
}

#[handler]
impl Handler for Recorder {
    fn init(config: &Config) -> Result<Self, InitError> {
        let path = config.get("record_to").ok_or("record_to is not set")?;
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        Ok(Recorder {
            out: Mutex::new(out),
            lines: Default::default(),
        })
    }

    fn deinit(&self) {
        self.write_line("deinit");
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let lines = self.lines.load(std::sync::atomic::Ordering::Relaxed);
        vec![("lines_written".into(), lines)]
    }

    fn on_client_connect(
        &self,
        conn: &ConnInfo,
        props: &Properties,
        _: &Context,
    ) -> ConnectDecision {
        let id = conn.clientid().unwrap_or_default();
        self.record(
            &id,
            format!(
                "client.connect {} nprops={}",
                conn_fields(conn),
                props.len()
            ),
        );
        ConnectDecision::Accept
    }

    fn on_client_connack(&self, conn: &ConnInfo, reason: &str, _: &Properties, _: &Context) {
        let id = conn.clientid().unwrap_or_default();
        self.record(
            &id,
            format!("client.connack {} reason={reason}", conn_fields(conn)),
        );
    }

    fn on_client_connected(&self, client: &ClientInfo, conn: &ConnInfo, _: &Context) {
        if client.clientid().starts_with("print") {
            println!("printed by {}", client.clientid());
            eprintln!("eprinted by {}", client.clientid());
        }
        self.record(
            &client.clientid(),
            format!(
                "client.connected {} {}",
                client_fields(client),
                conn_fields(conn)
            ),
        );
    }

    fn on_client_disconnected(
        &self,
        client: &ClientInfo,
        reason: &Reason,
        conn: &ConnInfo,
        _: &Context,
    ) {
        let line = format!(
            "client.disconnected {} reason={} {}",
            client_fields(client),
            reason.text(),
            conn_fields(conn)
        );
        self.record(&client.clientid(), line);
    }

    fn on_client_authenticate(
        &self,
        client: &ClientInfo,
        so_far: AuthResult,
        _: &Context,
    ) -> AuthDecision {
        let line = format!(
            "client.authenticate {} so_far={so_far:?}",
            client_fields(client)
        );
        self.record(&client.clientid(), line);
        AuthDecision::Ignore
    }

    fn on_client_check_acl(
        &self,
        client: &ClientInfo,
        pubsub: PubSub,
        topic: &str,
        so_far: bool,
        _: &Context,
    ) -> AclDecision {
        let line = format!(
            "client.check_acl {} pubsub={pubsub:?} topic={topic} so_far={so_far}",
            client_fields(client)
        );
        self.record(&client.clientid(), line);
        AclDecision::Ignore
    }

    fn on_client_subscribe(
        &self,
        client: &ClientInfo,
        _: &Properties,
        filter: &str,
        opts: &SubOpts,
        _: &Context,
    ) -> FilterDecision {
        let line = format!(
            "client.subscribe {} filter={filter} qos={}",
            client_fields(client),
            opts.qos()
        );
        self.record(&client.clientid(), line);
        FilterDecision::Keep
    }

    fn on_client_unsubscribe(
        &self,
        client: &ClientInfo,
        _: &Properties,
        filter: &str,
        _: &Context,
    ) {
        self.record(
            &client.clientid(),
            format!(
                "client.unsubscribe {} filter={filter}",
                client_fields(client)
            ),
        );
    }

    fn on_session_created(&self, client: &ClientInfo, session: &SessionInfo, _: &Context) {
        self.record(
            &client.clientid(),
            format!(
                "session.created {} {}",
                client_fields(client),
                session_fields(session)
            ),
        );
    }

    fn on_session_subscribed(
        &self,
        client: &ClientInfo,
        filter: &str,
        opts: &SubOpts,
        _: &Context,
    ) {
        let line = format!(
            "session.subscribed {} filter={filter} qos={} is_new={:?}",
            client_fields(client),
            opts.qos(),
            opts.is_new()
        );
        self.record(&client.clientid(), line);
    }

    fn on_session_unsubscribed(&self, client: &ClientInfo, filter: &str, _: &SubOpts, _: &Context) {
        self.record(
            &client.clientid(),
            format!(
                "session.unsubscribed {} filter={filter}",
                client_fields(client)
            ),
        );
    }

    fn on_session_resumed(&self, client: &ClientInfo, session: &SessionInfo, _: &Context) {
        self.record(
            &client.clientid(),
            format!(
                "session.resumed {} {}",
                client_fields(client),
                session_fields(session)
            ),
        );
    }

    fn on_session_discarded(&self, client: &ClientInfo, session: &SessionInfo, _: &Context) {
        self.record(
            &client.clientid(),
            format!(
                "session.discarded {} {}",
                client_fields(client),
                session_fields(session)
            ),
        );
    }

    fn on_session_takeovered(&self, client: &ClientInfo, session: &SessionInfo, _: &Context) {
        self.record(
            &client.clientid(),
            format!(
                "session.takeovered {} {}",
                client_fields(client),
                session_fields(session)
            ),
        );
    }

    fn on_session_terminated(
        &self,
        client: &ClientInfo,
        reason: &Reason,
        session: &SessionInfo,
        _: &Context,
    ) {
        let line = format!(
            "session.terminated {} reason={} {}",
            client_fields(client),
            reason.text(),
            session_fields(session)
        );
        self.record(&client.clientid(), line);
    }

    fn on_message_publish(&self, message: &Message, _: &Context) -> PublishDecision {
        self.record(
            &message.from(),
            format!("message.publish {}", message_fields(message)),
        );
        PublishDecision::Continue
    }

    fn on_message_delivered(
        &self,
        client: &ClientInfo,
        message: &Message,
        _: &Context,
    ) -> DeliveredDecision {
        let line = format!(
            "message.delivered {} {}",
            client_fields(client),
            message_fields(message)
        );
        self.record(&client.clientid(), line);
        DeliveredDecision::Continue
    }

    fn on_message_acked(&self, client: &ClientInfo, message: &Message, _: &Context) {
        self.record(
            &client.clientid(),
            format!(
                "message.acked {} {}",
                client_fields(client),
                message_fields(message)
            ),
        );
    }

    fn on_message_dropped(&self, message: &Message, node: &str, reason: &Reason, _: &Context) {
        let line = format!(
            "message.dropped {} node={node} reason={}",
            message_fields(message),
            reason.text()
        );
        self.record(&message.from(), line);
    }
}

export_handler!(Recorder, "emqx_test_recorder");
