//! `exhook-db`: adds users and ACL rules to the database example's store,
//! and queries it. Run it from the broker's working directory so that a
//! relative `database` path means the same file.

use emqx_example_database::acl::{self, Action, Permission, Who};
use emqx_example_database::password::{self, Cost};
use emqx_example_database::settings::{Location, DEFAULT_DATABASE};
use emqx_example_database::store::{Connection, Database, NewRule};
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: exhook-db [--database PATH | --database-url URL] COMMAND

Store: an SQLite file (default data/exhook_database.sqlite3), or PostgreSQL
with --database-url (a URL or key=value pairs, as the handler's database_url).

Commands:
  init                         create the tables if missing
  add-user USERNAME [--superuser] [--memory-kib N] [--iterations N] [--lanes N]
                               add or replace a user; the password is the first
                               line of standard input (never an argument)
  remove-user USERNAME
  add-rule [--seq N] PERMISSION WHO ACTION TOPIC
                               PERMISSION allow|deny; WHO all|username:NAME|clientid:ID;
                               ACTION publish|subscribe|pubsub; TOPIC a filter that may use
                               %u and %c as whole levels, or 'eq TOPIC'. Rules apply in
                               (seq, id) order, the first match wins; seq defaults to 0
  remove-rule ID
  query SQL                    run one statement; rows tab-separated under a header
                               (NULL as \\N, binary as \\x and hex)
  lock                         SQLite: hold the write lock until standard input closes
                               (to see what the broker does meanwhile)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exhook-db: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut location = Location::Sqlite(DEFAULT_DATABASE.into());
    let mut rest = args;
    loop {
        match rest {
            [flag, value, tail @ ..] if flag == "--database" => {
                location = Location::Sqlite(value.into());
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "--database-url" => {
                location = Location::Postgres(value.clone());
                rest = tail;
            }
            _ => break,
        }
    }
    let Some((command, rest)) = rest.split_first() else {
        return Err(USAGE.into());
    };
    let db = Database::new(&location, Duration::from_secs(10))?;
    let connect = || {
        db.connect(Duration::from_secs(10))
            .map_err(|e| e.to_string())
    };
    match command.as_str() {
        "init" => connect().map(|_| println!("tables ready in the {}", db.describe())),
        "add-user" => add_user(&mut connect()?, rest),
        "remove-user" => match rest {
            [username] => match connect()?
                .remove_user(username)
                .map_err(|e| e.to_string())?
            {
                true => Ok(()),
                false => Err(format!("no user {username:?}")),
            },
            _ => Err(USAGE.into()),
        },
        "add-rule" => add_rule(&mut connect()?, rest),
        "remove-rule" => match rest {
            [id] => {
                let id = id.parse().map_err(|_| format!("not a rule id: {id}"))?;
                match connect()?.remove_rule(id).map_err(|e| e.to_string())? {
                    true => Ok(()),
                    false => Err(format!("no rule {id}")),
                }
            }
            _ => Err(USAGE.into()),
        },
        "query" => match rest {
            [sql] => query(&mut connect()?, sql),
            _ => Err(USAGE.into()),
        },
        "lock" => lock(&location),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

/// Options found: name, and value unless a flag.
type Found<'a> = Vec<(&'a str, Option<&'a str>)>;

/// `--name value` options among `args`; the rest in order.
fn options<'a>(
    args: &'a [String],
    with_value: &[&str],
    flags: &[&str],
) -> Result<(Found<'a>, Vec<&'a str>), String> {
    let (mut found, mut rest) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if with_value.contains(&arg) {
            let value = args
                .get(i + 1)
                .ok_or_else(|| format!("{arg} needs a value"))?;
            found.push((arg, Some(value.as_str())));
            i += 2;
        } else if flags.contains(&arg) {
            found.push((arg, None));
            i += 1;
        } else {
            rest.push(arg);
            i += 1;
        }
    }
    Ok((found, rest))
}

fn number<T: std::str::FromStr>(name: &str, value: Option<&str>) -> Result<T, String> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{name} needs a number"))
}

fn add_user(conn: &mut Connection, args: &[String]) -> Result<(), String> {
    let (opts, rest) = options(
        args,
        &["--memory-kib", "--iterations", "--lanes"],
        &["--superuser"],
    )?;
    let [username] = rest.as_slice() else {
        return Err(USAGE.into());
    };
    let mut cost = Cost::default();
    let mut superuser = false;
    for (name, value) in opts {
        match name {
            "--memory-kib" => cost.memory_kib = number(name, value)?,
            "--iterations" => cost.iterations = number(name, value)?,
            "--lanes" => cost.parallelism = number(name, value)?,
            _ => superuser = true,
        }
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    let hash = password::hash(password.as_bytes(), cost)?;
    conn.put_user(username, &hash, superuser)
        .map_err(|e| e.to_string())
}

fn add_rule(conn: &mut Connection, args: &[String]) -> Result<(), String> {
    let (opts, rest) = options(args, &["--seq"], &[])?;
    let [permission, who, action, topic] = rest.as_slice() else {
        return Err(USAGE.into());
    };
    let seq = match opts.first() {
        Some((name, value)) => number(name, *value)?,
        None => 0,
    };
    let (kind, name) = match who.split_once(':') {
        Some((kind, name)) => (kind, Some(name)),
        None => (*who, None),
    };
    let who = Who::parse(kind, name)?;
    let rule = NewRule {
        who: kind.to_string(),
        name: match who {
            Who::All => None,
            Who::Username(n) | Who::Clientid(n) => Some(n),
        },
        action: Action::parse(action)?.name().into(),
        topic: topic.to_string(),
        permission: Permission::parse(permission)?.name().into(),
    };
    acl::parse_topic(topic).map_err(|e| format!("topic {topic:?}: {e}"))?;
    let id = conn.add_rule(seq, &rule).map_err(|e| e.to_string())?;
    println!("{id}");
    Ok(())
}

/// Tabs, newlines and backslashes escaped, as PostgreSQL's text COPY does.
fn field(value: Option<&str>) -> String {
    match value {
        None => "\\N".into(),
        Some(v) => v
            .replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n"),
    }
}

fn query(conn: &mut Connection, sql: &str) -> Result<(), String> {
    let result = conn.query_text(sql).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let print = |out: &mut std::io::StdoutLock, values: Vec<String>| {
        writeln!(out, "{}", values.join("\t")).map_err(|e| e.to_string())
    };
    if !result.columns.is_empty() {
        print(
            &mut out,
            result.columns.iter().map(|c| field(Some(c))).collect(),
        )?;
    }
    for row in result.rows {
        print(&mut out, row.iter().map(|v| field(v.as_deref())).collect())?;
    }
    Ok(())
}

fn lock(location: &Location) -> Result<(), String> {
    let Location::Sqlite(path) = location else {
        return Err("lock is for SQLite files".into());
    };
    let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    conn.busy_timeout(Duration::from_secs(10))
        .and_then(|()| conn.execute_batch("BEGIN EXCLUSIVE"))
        .map_err(|e| format!("cannot take the lock: {e}"))?;
    println!("locked");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}
