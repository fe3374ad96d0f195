//! MQTT topic filters, matched the way the broker matches subscriptions.
//!
//! - `+` matches exactly one level, which may be empty;
//! - `#` matches the parent level and any number of levels below it, and
//!   must be the last level;
//! - a topic whose first level starts with `$` (`$SYS/...`) is not matched
//!   by a filter whose first level is a wildcard (MQTT 3.1.1 section 4.7.2).

use std::fmt;

/// A validated MQTT topic filter.
///
/// ```
/// use emqx_extension_sdk::TopicFilter;
/// let f = TopicFilter::parse("sensors/+/temp").unwrap();
/// assert!(f.matches("sensors/kitchen/temp"));
/// assert!(!f.matches("sensors/kitchen/humidity"));
/// assert!(!TopicFilter::parse("#").unwrap().matches("$SYS/brokers"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    filter: String,
}

/// Why a topic filter was refused.
///
/// ```
/// use emqx_extension_sdk::{TopicFilter, TopicFilterError};
/// assert_eq!(TopicFilter::parse("a/#/b"), Err(TopicFilterError::HashNotLast("a/#/b".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicFilterError {
    /// The filter is empty.
    Empty,
    /// `#` is not the last level.
    HashNotLast(String),
    /// A wildcard shares a level with other characters (`a+`, `b#`).
    WildcardInLevel(String),
    /// The filter contains a NUL character.
    Nul(String),
}

impl fmt::Display for TopicFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicFilterError::Empty => write!(f, "empty topic filter"),
            TopicFilterError::HashNotLast(t) => {
                write!(f, "topic filter {t:?}: '#' must be the last level")
            }
            TopicFilterError::WildcardInLevel(t) => {
                write!(f, "topic filter {t:?}: a wildcard must fill a whole level")
            }
            TopicFilterError::Nul(t) => write!(f, "topic filter {t:?} contains NUL"),
        }
    }
}

impl std::error::Error for TopicFilterError {}

impl TopicFilter {
    /// Parses and validates `filter`.
    pub fn parse(filter: &str) -> Result<TopicFilter, TopicFilterError> {
        if filter.is_empty() {
            return Err(TopicFilterError::Empty);
        }
        if filter.contains('\0') {
            return Err(TopicFilterError::Nul(filter.into()));
        }
        let levels: Vec<&str> = filter.split('/').collect();
        for (i, level) in levels.iter().enumerate() {
            let has_wildcard = level.contains('+') || level.contains('#');
            if has_wildcard && level.len() > 1 {
                return Err(TopicFilterError::WildcardInLevel(filter.into()));
            }
            if *level == "#" && i + 1 != levels.len() {
                return Err(TopicFilterError::HashNotLast(filter.into()));
            }
        }
        Ok(TopicFilter {
            filter: filter.into(),
        })
    }

    /// The filter as written.
    pub fn as_str(&self) -> &str {
        &self.filter
    }

    /// Whether `topic` (a topic name, without wildcards) matches this filter.
    pub fn matches(&self, topic: &str) -> bool {
        matches(&self.filter, topic)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.filter)
    }
}

/// Whether topic name `topic` matches topic filter `filter`; `filter` is
/// assumed valid (see [`TopicFilter::parse`]).
///
/// ```
/// use emqx_extension_sdk::topic::matches;
/// assert!(matches("a/#", "a"));
/// assert!(matches("+/b", "/b"));
/// assert!(!matches("+/#", "$SYS/uptime"));
/// assert!(matches("$SYS/#", "$SYS/uptime"));
/// ```
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_parent_and_every_level_below() {
        for topic in ["a", "a/b", "a/b/c", "a/"] {
            assert!(matches("a/#", topic), "a/# should match {topic}");
        }
        assert!(!matches("a/#", "ab"));
        assert!(!matches("a/#", "b/a"));
        assert!(matches("#", "anything/at/all"));
        assert!(matches("#", "/leading/slash"));
    }

    #[test]
    fn plus_matches_exactly_one_level_including_empty() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/+/c", "a//c"));
        assert!(!matches("a/+/c", "a/b/x/c"));
        assert!(!matches("a/+", "a"));
        assert!(matches("a/+", "a/"));
        assert!(matches("+", "a"));
        assert!(!matches("+", "a/b"));
        assert!(matches("+/+", "/"));
    }

    #[test]
    fn literal_levels_must_be_equal() {
        assert!(matches("p/1", "p/1"));
        assert!(!matches("p/1", "p/10"));
        assert!(!matches("p/1", "p/1/"));
        assert!(!matches("p/1/", "p/1"));
        assert!(!matches("P/1", "p/1"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        assert!(!matches("#", "$SYS/brokers"));
        assert!(!matches("+/brokers", "$SYS/brokers"));
        assert!(matches("$SYS/#", "$SYS/brokers"));
        assert!(matches("$SYS/+", "$SYS/brokers"));
        // Only the first level is special.
        assert!(matches("a/+", "a/$b"));
    }

    #[test]
    fn invalid_filters_are_refused_with_the_reason() {
        assert_eq!(TopicFilter::parse(""), Err(TopicFilterError::Empty));
        assert!(matches!(
            TopicFilter::parse("a/#/c"),
            Err(TopicFilterError::HashNotLast(_))
        ));
        assert!(matches!(
            TopicFilter::parse("a/b+"),
            Err(TopicFilterError::WildcardInLevel(_))
        ));
        assert!(matches!(
            TopicFilter::parse("a#"),
            Err(TopicFilterError::WildcardInLevel(_))
        ));
        assert!(matches!(
            TopicFilter::parse("a/\0"),
            Err(TopicFilterError::Nul(_))
        ));
        assert!(TopicFilter::parse("/").is_ok());
        assert!(TopicFilter::parse("+/+/#").is_ok());
    }
}
