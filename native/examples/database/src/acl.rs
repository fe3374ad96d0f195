//! ACL rules as EMQX's `acl.conf` has them (who, action, topic filter,
//! allow or deny; the first rule that matches decides), compiled into an
//! in-memory snapshot that answers a check in well under a microsecond.
//!
//! Topic filters may hold the placeholders `%u` (username) and `%c`
//! (clientid) as whole levels; a filter written `eq TOPIC` matches only
//! that exact topic (`eq #` denies subscribing to `#` itself but not to
//! `a/#`). Placeholder values are compared as literal text, so a username
//! such as `+` or `#` never acts as a wildcard; a rule whose placeholder
//! the client lacks (no username) does not match. A rule's `+` does not
//! match a subscription's `#` (`public/+` does not grant `public/#`).

use std::collections::HashMap;

/// Who a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    All,
    Username(String),
    Clientid(String),
}

/// Publish, subscribe, or both (`pubsub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    Subscribe,
    PubSub,
}

/// A rule's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Allow,
    Deny,
}

/// What the handler answers when no rule matches (`acl_nomatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMatch {
    /// No opinion: the next driver or the broker's own `acl_nomatch` decides.
    Ignore,
    Allow,
    Deny,
}

/// The answer to one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    Ignore,
}

/// A row of the rules table, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub id: i64,
    pub who: String,
    pub name: Option<String>,
    pub action: String,
    pub topic: String,
    pub permission: String,
}

/// Who asks: the client's identity.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub username: Option<&'a str>,
    pub clientid: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Word(String),
    Plus,
    Hash,
    Username,
    Clientid,
}

#[derive(Debug, Clone)]
enum Pattern {
    Filter(Vec<Level>),
    Exact(String),
}

#[derive(Debug, Clone)]
struct Rule {
    action: Action,
    permission: Permission,
    pattern: Pattern,
}

/// The rules in table order, indexed by who they apply to.
#[derive(Debug, Default)]
pub struct Snapshot {
    rules: Vec<Rule>,
    for_all: Vec<u32>,
    by_username: HashMap<String, Vec<u32>>,
    by_clientid: HashMap<String, Vec<u32>>,
}

impl Who {
    /// `all`, `username` + name, or `clientid` + name.
    pub fn parse(kind: &str, name: Option<&str>) -> Result<Who, String> {
        match (kind, name) {
            ("all", _) => Ok(Who::All),
            ("username", Some(n)) => Ok(Who::Username(n.to_string())),
            ("clientid", Some(n)) => Ok(Who::Clientid(n.to_string())),
            ("username" | "clientid", None) => Err(format!("who = {kind} needs a name")),
            _ => Err(format!(
                "who = {kind:?}: expected all, username or clientid"
            )),
        }
    }
}

impl Action {
    pub fn parse(text: &str) -> Result<Action, String> {
        match text {
            "publish" => Ok(Action::Publish),
            "subscribe" => Ok(Action::Subscribe),
            "pubsub" => Ok(Action::PubSub),
            _ => Err(format!(
                "action = {text:?}: expected publish, subscribe or pubsub"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
            Action::PubSub => "pubsub",
        }
    }

    fn covers(self, asked: Action) -> bool {
        self == Action::PubSub || self == asked
    }
}

impl Permission {
    pub fn parse(text: &str) -> Result<Permission, String> {
        match text {
            "allow" => Ok(Permission::Allow),
            "deny" => Ok(Permission::Deny),
            _ => Err(format!("permission = {text:?}: expected allow or deny")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Permission::Allow => "allow",
            Permission::Deny => "deny",
        }
    }
}

/// Checks a rule's topic: an MQTT filter (placeholders allowed as whole
/// levels) or `eq TOPIC`.
pub fn parse_topic(topic: &str) -> Result<(), String> {
    pattern(topic).map(|_| ())
}

fn pattern(topic: &str) -> Result<Pattern, String> {
    if let Some(exact) = topic.strip_prefix("eq ") {
        return if exact.is_empty() {
            Err("eq needs a topic".into())
        } else {
            Ok(Pattern::Exact(exact.to_string()))
        };
    }
    emqx_extension_sdk::TopicFilter::parse(topic).map_err(|e| e.to_string())?;
    Ok(Pattern::Filter(
        topic
            .split('/')
            .map(|level| match level {
                "+" => Level::Plus,
                "#" => Level::Hash,
                "%u" => Level::Username,
                "%c" => Level::Clientid,
                word => Level::Word(word.to_string()),
            })
            .collect(),
    ))
}

impl Pattern {
    fn matches(&self, subject: &Subject, topic: &str) -> bool {
        let levels = match self {
            Pattern::Exact(exact) => return exact == topic,
            Pattern::Filter(levels) => levels,
        };
        // A wildcard first level never matches `$SYS/...` (MQTT 4.7.2).
        if topic.starts_with('$') && matches!(levels.first(), Some(Level::Plus | Level::Hash)) {
            return false;
        }
        let mut words = topic.split('/');
        for level in levels {
            let word = match (level, words.next()) {
                (Level::Hash, _) => return true,
                (_, None) => return false,
                (_, Some(word)) => word,
            };
            let same = match level {
                Level::Word(w) => w == word,
                // A subscription to `a/#` is wider than a rule for `a/+`
                // grants (EMQX 4.4 would let it through).
                Level::Plus => word != "#",
                Level::Username => subject.username == Some(word),
                Level::Clientid => subject.clientid == word,
                Level::Hash => unreachable!("returned above"),
            };
            if !same {
                return false;
            }
        }
        words.next().is_none()
    }
}

impl Snapshot {
    /// Compiles rows already in table order; a row that does not parse
    /// makes the whole snapshot fail (skipping a deny rule would open
    /// access), naming the row.
    pub fn compile(rows: &[RuleRow]) -> Result<Snapshot, String> {
        let mut snapshot = Snapshot::default();
        for (index, row) in rows.iter().enumerate() {
            let bad = |e: String| format!("ACL rule id {}: {e}", row.id);
            let who = Who::parse(&row.who, row.name.as_deref()).map_err(bad)?;
            let rule = Rule {
                action: Action::parse(&row.action).map_err(bad)?,
                permission: Permission::parse(&row.permission).map_err(bad)?,
                pattern: pattern(&row.topic).map_err(|e| bad(format!("topic: {e}")))?,
            };
            let index = u32::try_from(index).map_err(|_| "too many ACL rules".to_string())?;
            snapshot.rules.push(rule);
            match who {
                Who::All => snapshot.for_all.push(index),
                Who::Username(u) => snapshot.by_username.entry(u).or_default().push(index),
                Who::Clientid(c) => snapshot.by_clientid.entry(c).or_default().push(index),
            }
        }
        Ok(snapshot)
    }

    /// How many rules the snapshot holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule, in table order, that applies to `subject`, covers
    /// `action` and matches `topic`; `no_match` when none does.
    pub fn check(
        &self,
        subject: &Subject,
        action: Action,
        topic: &str,
        no_match: NoMatch,
    ) -> Verdict {
        let empty: &[u32] = &[];
        let mut lists = [
            self.for_all.as_slice(),
            subject
                .username
                .and_then(|u| self.by_username.get(u))
                .map_or(empty, Vec::as_slice),
            self.by_clientid
                .get(subject.clientid)
                .map_or(empty, Vec::as_slice),
        ];
        // The three lists are each in table order: merge them.
        while let Some(next) = lists
            .iter_mut()
            .filter(|l| !l.is_empty())
            .min_by_key(|l| l[0])
        {
            let index = next[0];
            *next = &next[1..];
            let rule = &self.rules[index as usize];
            if rule.action.covers(action) && rule.pattern.matches(subject, topic) {
                return match rule.permission {
                    Permission::Allow => Verdict::Allow,
                    Permission::Deny => Verdict::Deny,
                };
            }
        }
        match no_match {
            NoMatch::Ignore => Verdict::Ignore,
            NoMatch::Allow => Verdict::Allow,
            NoMatch::Deny => Verdict::Deny,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        id: i64,
        who: &str,
        name: Option<&str>,
        action: &str,
        topic: &str,
        perm: &str,
    ) -> RuleRow {
        RuleRow {
            id,
            who: who.into(),
            name: name.map(Into::into),
            action: action.into(),
            topic: topic.into(),
            permission: perm.into(),
        }
    }

    /// EMQX's default acl.conf, plus per-user rules with placeholders.
    fn snapshot() -> Snapshot {
        Snapshot::compile(&[
            row(
                1,
                "username",
                Some("dashboard"),
                "subscribe",
                "$SYS/#",
                "allow",
            ),
            row(2, "all", None, "pubsub", "users/%u/#", "allow"),
            row(3, "all", None, "publish", "clients/%c/status", "allow"),
            row(
                4,
                "clientid",
                Some("sensor-1"),
                "publish",
                "sensors/#",
                "allow",
            ),
            row(5, "all", None, "subscribe", "$SYS/#", "deny"),
            row(6, "all", None, "subscribe", "eq #", "deny"),
            row(7, "username", Some("alice"), "publish", "users/#", "deny"),
            row(8, "all", None, "subscribe", "public/+", "allow"),
        ])
        .unwrap()
    }

    fn check(username: Option<&str>, clientid: &str, action: Action, topic: &str) -> Verdict {
        let subject = Subject { username, clientid };
        snapshot().check(&subject, action, topic, NoMatch::Ignore)
    }

    #[test]
    fn placeholders_take_the_clients_own_names() {
        use Action::*;
        assert_eq!(
            check(Some("alice"), "c1", Publish, "users/alice/x"),
            Verdict::Allow
        );
        assert_eq!(
            check(Some("alice"), "c1", Subscribe, "users/alice/#"),
            Verdict::Allow
        );
        // Rule 7 denies alice other users' topics; for bob no rule matches.
        assert_eq!(
            check(Some("alice"), "c1", Publish, "users/bob/x"),
            Verdict::Deny
        );
        assert_eq!(
            check(Some("bob"), "c1", Publish, "users/alice/x"),
            Verdict::Ignore
        );
        assert_eq!(
            check(Some("bob"), "c9", Publish, "clients/c9/status"),
            Verdict::Allow
        );
        assert_eq!(
            check(Some("bob"), "c9", Publish, "clients/c8/status"),
            Verdict::Ignore
        );
    }

    #[test]
    fn first_matching_rule_wins_in_table_order() {
        use Action::*;
        // Rule 1 (allow dashboard) comes before rule 5 (deny everyone).
        assert_eq!(
            check(Some("dashboard"), "d", Subscribe, "$SYS/brokers"),
            Verdict::Allow
        );
        assert_eq!(
            check(Some("bob"), "d", Subscribe, "$SYS/brokers"),
            Verdict::Deny
        );
        // Rule 2 allows alice her own topics before rule 7 denies users/#.
        assert_eq!(
            check(Some("alice"), "c", Publish, "users/alice/1"),
            Verdict::Allow
        );
        assert_eq!(
            check(None, "sensor-1", Publish, "sensors/t"),
            Verdict::Allow
        );
    }

    #[test]
    fn eq_matches_the_literal_filter_only() {
        use Action::*;
        assert_eq!(check(Some("bob"), "c", Subscribe, "#"), Verdict::Deny);
        assert_eq!(
            check(Some("bob"), "c", Subscribe, "public/#"),
            Verdict::Ignore
        );
        assert_eq!(
            check(Some("bob"), "c", Subscribe, "public/+/x"),
            Verdict::Ignore
        );
        assert_eq!(
            check(Some("bob"), "c", Subscribe, "public/+"),
            Verdict::Allow
        );
        assert_eq!(
            check(Some("bob"), "c", Subscribe, "public/a"),
            Verdict::Allow
        );
    }

    #[test]
    fn names_that_look_like_wildcards_stay_literal() {
        use Action::*;
        assert_eq!(
            check(Some("+"), "c", Publish, "users/bob/x"),
            Verdict::Ignore
        );
        assert_eq!(
            check(Some("#"), "c", Publish, "users/bob/x"),
            Verdict::Ignore
        );
        assert_eq!(
            check(Some("a/b"), "c", Publish, "users/a/b/x"),
            Verdict::Ignore
        );
        // No username: rules with %u never match.
        assert_eq!(check(None, "c", Publish, "users/%u/x"), Verdict::Ignore);
    }

    #[test]
    fn wildcards_do_not_match_dollar_topics_and_hash_matches_the_parent() {
        let s = Snapshot::compile(&[
            row(1, "all", None, "pubsub", "#", "allow"),
            row(2, "all", None, "pubsub", "a/#", "deny"),
        ])
        .unwrap();
        let who = Subject {
            username: None,
            clientid: "c",
        };
        assert_eq!(
            s.check(&who, Action::Publish, "$SYS/x", NoMatch::Deny),
            Verdict::Deny
        );
        assert_eq!(
            s.check(&who, Action::Publish, "b", NoMatch::Deny),
            Verdict::Allow
        );
        let s = Snapshot::compile(&[row(1, "all", None, "pubsub", "a/#", "allow")]).unwrap();
        assert_eq!(
            s.check(&who, Action::Publish, "a", NoMatch::Deny),
            Verdict::Allow
        );
        assert_eq!(
            s.check(&who, Action::Publish, "ab", NoMatch::Deny),
            Verdict::Deny
        );
    }

    #[test]
    fn no_match_answers_as_configured() {
        let s = Snapshot::default();
        let who = Subject {
            username: None,
            clientid: "c",
        };
        assert_eq!(
            s.check(&who, Action::Publish, "t", NoMatch::Allow),
            Verdict::Allow
        );
        assert_eq!(
            s.check(&who, Action::Publish, "t", NoMatch::Deny),
            Verdict::Deny
        );
        assert_eq!(
            s.check(&who, Action::Publish, "t", NoMatch::Ignore),
            Verdict::Ignore
        );
    }

    #[test]
    fn a_bad_row_fails_the_whole_snapshot_naming_it() {
        let e = Snapshot::compile(&[
            row(1, "all", None, "pubsub", "a/#", "deny"),
            row(9, "all", None, "pubsub", "a/#/b", "deny"),
        ])
        .unwrap_err();
        assert!(e.contains("id 9"), "{e}");
        assert!(Snapshot::compile(&[row(1, "everyone", None, "pubsub", "a", "deny")]).is_err());
        assert!(Snapshot::compile(&[row(1, "username", None, "pubsub", "a", "deny")]).is_err());
        assert!(Snapshot::compile(&[row(1, "all", None, "read", "a", "deny")]).is_err());
    }
}
