//! The Port transport: the same handler, in an OS process of its own,
//! serving hook calls over stdin/stdout with `{packet, 4}` framing and the
//! External Term Format.
//!
//! Requests (Erlang to handler), one term a frame:
//!
//! | request | answer |
//! |---|---|
//! | `{init, Name, [{Key, Value}], Opts}` | `{init_ok, [{HookName, Mode}]}` or `{init_error, Reason}` |
//! | `{call, Id, HookIndex, ArgsTuple, TimeoutMs}` | `{reply, Id, Result}`, in any order: many calls are in flight |
//! | `{cast, HookIndex, ArgsTuple, TimeoutMs}` | none; `{dropped, HookIndex}` if the queue was full |
//! | `deinit` | `deinit_ok`, then the process exits |
//!
//! And at any time, before the answer to `init` too, from the handler:
//! `{log, Level, Text}` or `{log, Level, Text, Meta}`.
//!
//! `Opts` sizes the process's worker pool: `#{pool_size, pool_max,
//! queue_capacity, spin_us}`, each optional. A call the pool refuses is
//! answered at once: `{error, queue_full}`, `{error, saturated}` (every
//! worker stalled in a long call, and as many as `pool_max`), or
//! `{error, not_loaded}` (stopping).
//!
//! Calls run on the same worker pool as in the NIF transport: one lane per
//! clientid, so one client's events keep their order while any free worker
//! serves the other clients, and a slow call holds up only its own
//! client. On `deinit` the calls queued are handled first. The process keeps
//! the protocol's file descriptors to itself and points its stdout at
//! stderr, so a handler's `println!` ends up in the broker's log instead
//! of corrupting the protocol.

use super::dispatch::{client_bytes, client_term};
use super::logging;
use super::pool::{JobKind, Pool, PoolConfig, PoolOption, Rejected, Stop, Work};
use super::{call_handler, error_reply, guarded, mode_key, CallError, Factory};
use crate::decode;
use crate::hook::{Context, Hook, HookSpec};
use crate::value::{Build, EtfBuild, Key, Value};
use crate::{Config, Handler, InitError};
use eetf::Term;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::fd::FromRawFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Serves one driver over stdin/stdout until `deinit` or end of input;
/// the process's exit code.
pub fn serve(factory: Factory, own_crate: &'static str) -> i32 {
    super::install_panic_hook();
    logging::own_crate(own_crate);
    let (input, output) = match take_protocol_fds() {
        Ok(fds) => fds,
        Err(e) => {
            eprintln!("emqx_exhook_port: cannot take stdin/stdout: {e}");
            return 2;
        }
    };
    let mut input = BufReader::new(input);
    let output = Arc::new(Mutex::new(output));
    let (core, pool) = match init(&mut input, &output, factory) {
        Some(started) => started,
        None => {
            logging::stop();
            return 1;
        }
    };
    loop {
        let request = match read_frame(&mut input) {
            Ok(Some(term)) => term,
            Ok(None) => break,
            Err(e) => {
                eprintln!("emqx_exhook_port {}: bad request: {e}", core.name);
                break;
            }
        };
        if (&request).is(Key::deinit) {
            // Calls already read are run: the broker may have switched to
            // another instance of the driver, and these were accepted here.
            pool.stop(Stop::Finish);
            let _ = guarded(|| core.handler.deinit());
            logging::stop();
            core.send(&EtfBuild.atom(Key::deinit_ok));
            return 0;
        }
        if let Some(level) = log_level_request(&request) {
            logging::set_level(level);
            continue;
        }
        if let Err(e) = core.submit(&pool, request) {
            eprintln!("emqx_exhook_port {}: {e}", core.name);
        }
    }
    // The VM went away or closed the port: nobody is left to answer.
    pool.stop(Stop::Drain);
    let _ = guarded(|| core.handler.deinit());
    logging::stop();
    0
}

/// `{log_level, Level}`: the broker's level changed.
fn log_level_request(request: &Term) -> Option<log::LevelFilter> {
    let fields = request.elements()?;
    match fields.as_slice() {
        [tag, level] if tag.atom_text().as_deref() == Some("log_level") => {
            Some(logging::level_filter(&level.atom_text()?))
        }
        _ => None,
    }
}

/// Moves the protocol to private descriptors, points stdin at /dev/null
/// and catches stdout and stderr (see [`catch_output`]), for the
/// handler's own use.
fn take_protocol_fds() -> std::io::Result<(File, File)> {
    // SAFETY: plain descriptor calls on the process's own standard streams;
    // each new descriptor is owned by exactly one `File`.
    let (input, output) = unsafe {
        let input = libc::dup(0);
        let output = libc::dup(1);
        if input < 0 || output < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        (File::from_raw_fd(input), File::from_raw_fd(output))
    };
    catch_output()?;
    Ok((input, output))
}

/// What the handler (or anything in this process) writes to stdout and
/// stderr becomes log records, line by line, at info and warning: they
/// reach the broker's log as `{log, ...}` frames. Before the handler's
/// logger runs, the lines go to the stderr the process was started with.
fn catch_output() -> std::io::Result<()> {
    // SAFETY: dup of the process's own stderr; the new descriptor is owned
    // by `fallback`.
    let fallback = unsafe { libc::dup(2) };
    if fallback < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fallback` was just made and nothing else owns it.
    let fallback = Arc::new(Mutex::new(unsafe { File::from_raw_fd(fallback) }));
    for (fd, stderr) in [(1, false), (2, true)] {
        let mut ends = [0; 2];
        // SAFETY: pipe fills `ends` with two new descriptors; the write end
        // replaces `fd` and is closed, the read end is owned by `reader`.
        let reader = unsafe {
            if libc::pipe(ends.as_mut_ptr()) < 0 || libc::dup2(ends[1], fd) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(ends[1]);
            File::from_raw_fd(ends[0])
        };
        let fallback = Arc::clone(&fallback);
        std::thread::Builder::new()
            .name(
                if stderr {
                    "exhook-stderr"
                } else {
                    "exhook-stdout"
                }
                .into(),
            )
            .spawn(move || {
                for line in std::io::BufRead::lines(BufReader::new(reader)).map_while(Result::ok) {
                    if logging::installed() {
                        logging::print_line(format_args!("{line}"), stderr);
                    } else {
                        let mut out = fallback.lock().unwrap_or_else(PoisonError::into_inner);
                        let _ = writeln!(out, "{line}");
                    }
                }
            })?;
    }
    Ok(())
}

/// The handler's log records go to the VM as `{log, Level, Text, Meta}` frames.
struct PortSink {
    output: Arc<Mutex<File>>,
}

impl logging::Sink for PortSink {
    fn send(&mut self, batch: Vec<logging::Record>) {
        let b = EtfBuild;
        for r in batch {
            let mut meta = HashMap::new();
            let text = |t: &str| text_term(t);
            meta.insert(atom("target"), text(&r.target));
            if let Some(hook) = r.hook {
                meta.insert(atom("hook"), text(hook));
            }
            if let Some(client) = &r.client {
                meta.insert(atom("clientid"), text(client));
            }
            if r.dropped > 0 {
                meta.insert(
                    atom("dropped"),
                    b.int(i64::try_from(r.dropped).unwrap_or(i64::MAX)),
                );
            }
            let frame = b.tuple(&[
                atom("log"),
                atom(logging::otp_level(r.level)),
                text(&r.text),
                Term::from(eetf::Map::from(meta)),
            ]);
            send_frame(&self.output, &frame);
        }
    }
}

fn atom(name: &str) -> Term {
    Term::from(eetf::Atom::from(name))
}

fn read_frame(input: &mut impl Read) -> std::io::Result<Option<Term>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
    input.read_exact(&mut frame)?;
    Term::decode(frame.as_slice())
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

fn text_term(s: &str) -> Term {
    EtfBuild.binary(s.as_bytes())
}

/// What the workers share.
struct PortCore {
    name: String,
    handler: Box<dyn Handler>,
    spec: HookSpec,
    hooks: crate::HookSet,
    output: Arc<Mutex<File>>,
}

struct PortJob {
    hook: Hook,
    args: Term,
    reply_to: Option<Term>,
    deadline: Instant,
}

impl PortCore {
    /// Writes one frame; frames from concurrent workers never interleave.
    fn send(&self, term: &Term) {
        send_frame(&self.output, term);
    }

    fn submit(&self, pool: &Pool<PortJob>, request: Term) -> Result<(), String> {
        let Term::Tuple(t) = request else {
            return Err("request is not a tuple".into());
        };
        let mut e = t.elements.into_iter();
        let (kind, job) = match (e.next(), e.next(), e.next(), e.next(), e.next()) {
            (Some(tag), Some(id), Some(hook), Some(args), Some(timeout))
                if (&tag).is(Key::call) =>
            {
                (JobKind::Call, job(hook, args, timeout, Some(id))?)
            }
            (Some(tag), Some(hook), Some(args), Some(timeout), None) if (&tag).is(Key::cast) => {
                (JobKind::Notify, job(hook, args, timeout, None)?)
            }
            _ => return Err("unknown request".into()),
        };
        if !self.hooks.contains(job.hook) {
            let what = if kind == JobKind::Call {
                "call"
            } else {
                "cast"
            };
            return Err(format!(
                "{what} for {}, which the handler does not implement",
                job.hook.name()
            ));
        }
        let lane = pool.lane(client_bytes(job.hook, &job.args));
        // A refused call is answered at once so the caller is not left waiting.
        let (job, tag) = match pool.submit(lane, job, kind) {
            Ok(()) => return Ok(()),
            Err(Rejected::Full(j)) => (j, Key::queue_full),
            Err(Rejected::Saturated(j)) => (j, Key::saturated),
            Err(Rejected::Closed(j)) => (j, Key::not_loaded),
        };
        match job.reply_to {
            Some(id) => self.reply(id, error_reply(&EtfBuild, tag, None)),
            // The plugin counts the cast as dropped.
            None => self.send(&EtfBuild.tuple(&[
                EtfBuild.atom(Key::dropped),
                EtfBuild.int(i64::from(job.hook.index())),
            ])),
        }
        Ok(())
    }

    fn reply(&self, id: Term, result: Term) {
        self.send(&EtfBuild.tuple(&[EtfBuild.atom(Key::reply), id, result]));
    }
}

fn job(hook: Term, args: Term, timeout: Term, reply_to: Option<Term>) -> Result<PortJob, String> {
    let index = (&hook).int().and_then(|i| u8::try_from(i).ok());
    let hook = index.and_then(Hook::from_index).ok_or("bad hook index")?;
    let timeout = (&timeout)
        .int()
        .and_then(|t| u64::try_from(t).ok())
        .ok_or("bad timeout")?;
    Ok(PortJob {
        hook,
        args,
        reply_to,
        deadline: Instant::now() + Duration::from_millis(timeout),
    })
}

fn send_frame(output: &Mutex<File>, term: &Term) {
    let mut frame = vec![0u8; 4];
    if term.encode(&mut frame).is_err() {
        return;
    }
    let len = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
    // A write error means the VM closed the port; reading stdin ends too.
    let _ = out.write_all(&frame).and_then(|()| out.flush());
}

impl Work<PortJob> for PortCore {
    fn run(&self, job: PortJob) {
        if job.reply_to.is_some() && Instant::now() >= job.deadline {
            // The caller has stopped waiting; its timeout is its answer.
            return;
        }
        let ctx = Context::new(job.hook, &self.name, job.deadline);
        let outcome = call_handler(
            &EtfBuild,
            &self.name,
            &*self.handler,
            &self.spec,
            &job.args,
            &ctx,
        );
        let result = match outcome {
            Ok(term) => term,
            Err(e) => {
                let client = client_term(job.hook, &job.args)
                    .and_then(decode::text)
                    .unwrap_or_default();
                let (tag, text) = e.tag();
                if job.reply_to.is_none() {
                    eprintln!(
                        "emqx_exhook_port {}: {} {} for client {client}: {}",
                        self.name,
                        job.hook.name(),
                        tag.name(),
                        text.unwrap_or("")
                    );
                }
                error_reply(&EtfBuild, tag, text)
            }
        };
        if let Some(id) = job.reply_to {
            self.reply(id, result);
        }
    }

    fn drain(&self, job: PortJob) {
        if let Some(id) = job.reply_to {
            self.reply(id, error_reply(&EtfBuild, Key::not_loaded, None));
        }
    }
}

/// Reads `{init, Name, Settings, Opts}`, builds the handler and its pool,
/// and answers `init_ok` or `init_error`.
fn init(
    input: &mut impl Read,
    output: &Arc<Mutex<File>>,
    factory: Factory,
) -> Option<(Arc<PortCore>, Pool<PortJob>)> {
    let b = EtfBuild;
    let refuse = |why: String| {
        send_frame(
            output,
            &b.tuple(&[b.atom(Key::init_error), text_term(&why)]),
        );
        None
    };
    let request = match read_frame(input) {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(e) => return refuse(format!("bad init request: {e}")),
    };
    let Some(InitRequest {
        name,
        settings,
        pool: opts,
        log_level,
    }) = init_request(&request)
    else {
        return refuse("expected {init, Name, Settings, Opts}".into());
    };
    // Before init, so that what the handler logs while it starts is kept.
    logging::start(
        Box::new(PortSink {
            output: Arc::clone(output),
        }),
        log_level,
        &name,
    );
    let config = Config::new(name.clone(), settings);
    let handler = match guarded(|| factory(&config)) {
        Ok(Ok(h)) => h,
        Ok(Err(InitError(message))) | Err(CallError::Failed(message)) => return refuse(message),
        Err(panic) => {
            let (_, text) = panic.tag();
            return refuse(format!("init panicked: {}", text.unwrap_or("")));
        }
    };
    let spec = handler.hook_spec();
    if let Err(problem) = spec.validate() {
        return refuse(problem);
    }
    let hooks = handler.implemented_hooks();
    let declared: Vec<Term> = hooks
        .iter()
        .map(|h| b.tuple(&[text_term(h.name()), b.atom(mode_key(spec.mode_of(h)))]))
        .collect();
    let core = Arc::new(PortCore {
        name,
        handler,
        spec,
        hooks,
        output: Arc::clone(output),
    });
    let pool = match Pool::start(&format!("exhook-{}", core.name), opts, Arc::clone(&core)) {
        Ok(pool) => pool,
        Err(e) => return refuse(format!("worker threads: {e}")),
    };
    send_frame(output, &b.tuple(&[b.atom(Key::init_ok), b.list(&declared)]));
    Some((core, pool))
}

/// How long an idle worker spins here unless `spin_us` says otherwise.
/// A worker that has parked costs a call a futex wake-up, tens of µs on a
/// busy 2-core machine, on top of the pipe's; the next request of a
/// caller that waits for each answer comes 40-100 µs after the last.
/// Measured (`bench/run.sh java`, the Rust Port rows, 2 shared cores),
/// client.authenticate from 1 caller: 10 µs gave 7.3-8.0 k calls/s,
/// p50 122-130 µs (0 µs: 7.6 k); 50 µs 23.6 k, p50 40 µs; 64 callers
/// 69-77 k calls/s with 10 µs, 76 k with 50 (the reader needs the same
/// cores, so a much longer spin costs them: 200 µs answered half as
/// many in an earlier run).
const PORT_SPIN_US: u64 = 50;

/// What `{init, Name, Settings, Opts}` asks for.
struct InitRequest {
    name: String,
    settings: Vec<(String, String)>,
    pool: PoolConfig,
    log_level: log::LevelFilter,
}

fn init_request(request: &Term) -> Option<InitRequest> {
    let fields = request.elements()?;
    let [tag, name, settings, opts] = fields.as_slice() else {
        return None;
    };
    if !tag.is(Key::init) {
        return None;
    }
    let name = decode::text(*name)?.into_owned();
    let settings = settings
        .items()?
        .into_iter()
        .map(|pair| match pair.elements()?.as_slice() {
            [k, v] => Some((
                decode::text(*k)?.into_owned(),
                decode::text(*v)?.into_owned(),
            )),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let config = PoolConfig::from_options(|option: PoolOption| {
        let mut found = None;
        opts.for_each_entry(|k, v| {
            if k.atom_text().as_deref() == Some(option.name()) {
                found = v.int().and_then(|n| u64::try_from(n).ok());
            }
        });
        if option == PoolOption::SpinUs {
            found = found.or(Some(PORT_SPIN_US));
        }
        Ok::<_, std::convert::Infallible>(found)
    })
    .unwrap_or_else(|never| match never {});
    let mut log_level = log::LevelFilter::Warn;
    opts.for_each_entry(|k, v| {
        if k.atom_text().as_deref() == Some("log_level") {
            if let Some(level) = v.atom_text() {
                log_level = logging::level_filter(&level);
            }
        }
    });
    Some(InitRequest {
        name,
        settings,
        pool: config,
        log_level,
    })
}
