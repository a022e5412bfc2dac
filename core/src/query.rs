//! What the instance list asks for: filters, sort order and a keyset cursor, checked once here
//! so the API and the pages refuse the same mistakes with the same words.

use serde::{Deserialize, Serialize};

use crate::instance::Status;
use crate::time::Millis;
use crate::view::InstanceSummary;

/// The list's parameters as they come in a query string or from a page: all text, all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListParams {
    pub flow: Option<String>,
    pub status: Option<String>,
    /// The name of a node the instance waits at.
    pub node: Option<String>,
    pub key: Option<String>,
    /// `overdue` (stuck: an active task is past due) or `on_time`.
    pub sla: Option<String>,
    /// Last updated within the last `15m`, `1h`, `24h`, `7d`...
    pub range: Option<String>,
    /// `true`: only instances in which some step ran more than once.
    pub rework: Option<String>,
    /// `true`: only instances that fit their flow; `false`: only those that deviate.
    #[serde(default)]
    pub fits: Option<String>,
    /// Last updated at or after / before, in milliseconds since the epoch.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// `recent` (default), `oldest`, `newest`, `first`, `due`.
    pub sort: Option<String>,
    /// The cursor a previous page returned.
    pub after: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Most recently updated first.
    Recent,
    /// Least recently updated first.
    Oldest,
    /// Most recently created first.
    Newest,
    /// First created first.
    First,
    /// Soonest due first (only instances with an active task under an SLA).
    Due,
}

impl Sort {
    pub const ALL: [Sort; 5] = [Sort::Recent, Sort::Oldest, Sort::Newest, Sort::First, Sort::Due];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Recent => "recent",
            Sort::Oldest => "oldest",
            Sort::Newest => "newest",
            Sort::First => "first",
            Sort::Due => "due",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Recent => "Recently updated",
            Sort::Oldest => "Least recently updated",
            Sort::Newest => "Newest",
            Sort::First => "Oldest started",
            Sort::Due => "Soonest due",
        }
    }

    /// The value a row is ordered by, besides its id.
    pub fn key_of(self, row: &InstanceSummary) -> i64 {
        match self {
            Sort::Recent | Sort::Oldest => row.updated_at.0,
            Sort::Newest | Sort::First => row.id,
            Sort::Due => row.due.map_or(i64::MAX, |d| d.0),
        }
    }

    /// Whether larger values come first.
    pub fn descending(self) -> bool {
        matches!(self, Sort::Recent | Sort::Newest)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaFilter {
    Overdue,
    OnTime,
}

/// Where the previous page ended: the sort value and id of its last row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub value: i64,
    pub id: i64,
}

impl Cursor {
    pub fn of(sort: Sort, row: &InstanceSummary) -> Cursor {
        Cursor { value: sort.key_of(row), id: row.id }
    }

    pub fn to_text(self) -> String {
        format!("{}.{}", self.value, self.id)
    }

    pub fn parse(s: &str) -> Option<Cursor> {
        let (value, id) = s.split_once('.')?;
        Some(Cursor { value: value.parse().ok()?, id: id.parse().ok()? })
    }
}

/// A checked list request.
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub flow: Option<String>,
    pub status: Option<Status>,
    pub node: Option<String>,
    pub key: Option<String>,
    pub sla: Option<SlaFilter>,
    /// Only instances that went through rework.
    pub rework: bool,
    /// Only instances that fit (`true`) or deviate from (`false`) their flow.
    pub fits: Option<bool>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub sort: Sort,
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { flow: None, status: None, node: None, key: None, sla: None, rework: false, fits: None, from: None, to: None, sort: Sort::Recent, after: None, limit: 100 }
    }
}

pub const MAX_PAGE: u32 = 500;

/// `15m`, `1h`, `24h`, `7d` as milliseconds.
pub fn parse_range(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok().filter(|&n| n > 0)?;
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

/// A time window: relative to now (`15m`, `1h`, `24h`, `7d`), or absolute, `FROM..TO`, each a
/// date (`2019-06-01`, midnight UTC; as `TO` the whole day is in) or an ISO 8601 time.
pub fn parse_window(s: &str, now: Millis) -> Result<(Millis, Millis), String> {
    let s = s.trim();
    let hint = "write e.g. 15m, 1h, 24h or 7d, or FROM..TO such as 2019-06-01..2019-06-30";
    if let Some((a, b)) = s.split_once("..") {
        let from = Millis::parse_log_time(a).map_err(|e| format!("the range's start: {e}"))?;
        let mut to = Millis::parse_log_time(b).map_err(|e| format!("the range's end: {e}"))?;
        if b.trim().len() == 10 {
            to = Millis(to.0 + 86_400_000);
        }
        if to <= from {
            return Err("the time range ends before it starts".into());
        }
        if to.0 - from.0 > MAX_WINDOW_MS {
            return Err("a time range may span at most ten years".into());
        }
        return Ok((from, to));
    }
    let span = parse_range(s).ok_or_else(|| format!("`{s}` is not a time range; {hint}"))?;
    Ok((Millis(now.0 - span), now))
}

const MAX_WINDOW_MS: i64 = 3_660 * 86_400_000;

fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ListQuery {
    /// Checks every parameter; `now` anchors a relative `range`.
    pub fn parse(p: &ListParams, now: Millis) -> Result<ListQuery, String> {
        let status = Status::parse_filter(text(&p.status))?;
        let sla = match text(&p.sla) {
            None => None,
            Some("overdue") | Some("stuck") => Some(SlaFilter::Overdue),
            Some("on_time") => Some(SlaFilter::OnTime),
            Some(other) => return Err(format!("unknown SLA filter `{other}`; expected overdue or on_time")),
        };
        let sort = match text(&p.sort) {
            None => Sort::Recent,
            Some(s) => Sort::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
                format!("unknown sort `{s}`; expected one of {}", Sort::ALL.map(Sort::as_str).join(", "))
            })?,
        };
        let mut from = p.from.map(Millis);
        let mut to = p.to.map(Millis);
        if let Some(range) = text(&p.range) {
            let (f, t) = parse_window(range, now)?;
            from = Some(f);
            // A relative range runs up to now, and past it: what changes meanwhile is in it.
            to = range.contains("..").then_some(t).or(to);
        }
        let rework = match text(&p.rework) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(format!("rework is `true` or `false`, not `{other}`")),
        };
        let fits = match text(&p.fits) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => return Err(format!("fits is `true` or `false`, not `{other}`")),
        };
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err("the time range ends before it starts".into());
            }
        }
        let after = match text(&p.after) {
            None => None,
            Some(c) => Some(Cursor::parse(c).ok_or_else(|| format!("`{c}` is not a cursor from a previous page"))?),
        };
        let limit = p.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_PAGE {
            return Err(format!("limit must be between 1 and {MAX_PAGE}"));
        }
        Ok(ListQuery {
            flow: text(&p.flow).map(str::to_string),
            status,
            node: text(&p.node).map(str::to_string),
            key: text(&p.key).map(str::to_string),
            sla,
            rework,
            fits,
            from,
            to,
            sort,
            after,
            limit,
        })
    }

    /// Whether a row (e.g. one pushed live) belongs in this list at `now`, cursor aside.
    pub fn matches(&self, row: &InstanceSummary, now: Millis) -> bool {
        // The same conditions as the store's query.
        let sla = match self.sla {
            None => true,
            Some(SlaFilter::Overdue) => row.status == Status::Running && row.due.is_some_and(|d| d < now),
            Some(SlaFilter::OnTime) => row.due.is_some_and(|d| d >= now),
        };
        (!self.rework || row.reworked)
            && self.fits.is_none_or(|f| row.fits == f)
            && self.flow.as_ref().is_none_or(|f| *f == row.flow_id)
            && self.status.is_none_or(|s| s == row.status)
            && self.node.as_ref().is_none_or(|n| row.waiting_at.contains(n))
            && self.key.as_ref().is_none_or(|k| *k == row.key)
            && sla
            && self.from.is_none_or(|f| row.updated_at >= f)
            && self.to.is_none_or(|t| row.updated_at < t)
            && (self.sort != Sort::Due || row.due.is_some())
    }
}

/// One page of the list, and where the next one starts (none when this was the last).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub rows: Vec<InstanceSummary>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(f: impl FnOnce(&mut ListParams)) -> ListParams {
        let mut p = ListParams::default();
        f(&mut p);
        p
    }

    #[test]
    fn defaults_and_every_filter() {
        let q = ListQuery::parse(&ListParams::default(), Millis(0)).unwrap();
        assert_eq!(q, ListQuery::default());
        let now = Millis(10_000_000);
        let q = ListQuery::parse(
            &params(|p| {
                p.status = Some("running".into());
                p.sla = Some("overdue".into());
                p.range = Some("1h".into());
                p.sort = Some("due".into());
                p.after = Some("123.45".into());
                p.limit = Some(50);
                p.node = Some(" Check ID ".into());
            }),
            now,
        )
        .unwrap();
        assert_eq!(q.status, Some(Status::Running));
        assert_eq!(q.sla, Some(SlaFilter::Overdue));
        assert_eq!(q.from, Some(Millis(now.0 - 3_600_000)));
        assert_eq!(q.sort, Sort::Due);
        assert_eq!(q.after, Some(Cursor { value: 123, id: 45 }));
        assert_eq!(q.node.as_deref(), Some("Check ID"));
    }

    #[test]
    fn mistakes_are_refused_with_words() {
        let bad = |f: fn(&mut ListParams), says: &str| {
            let e = ListQuery::parse(&params(f), Millis(0)).unwrap_err();
            assert!(e.contains(says), "{e}");
        };
        bad(|p| p.status = Some("sleeping".into()), "sleeping");
        bad(|p| p.sla = Some("late".into()), "unknown SLA filter");
        bad(|p| p.sort = Some("name".into()), "unknown sort");
        bad(|p| p.range = Some("1y".into()), "not a time range");
        bad(|p| p.range = Some("h".into()), "not a time range");
        bad(|p| p.range = Some("2019-06-30..2019-06-01".into()), "ends before it starts");
        bad(|p| p.range = Some("2019-06-01..last week".into()), "the range's end: `last week` is not a time");
        bad(|p| p.after = Some("x".into()), "not a cursor");
        bad(|p| p.limit = Some(0), "limit");
        bad(|p| p.limit = Some(501), "limit");
        bad(
            |p| {
                p.from = Some(5);
                p.to = Some(1);
            },
            "ends before",
        );
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor { value: -5, id: 9 };
        assert_eq!(Cursor::parse(&c.to_text()), Some(c));
        assert_eq!(Cursor::parse("1.2.3"), None);
    }

    #[test]
    fn windows_are_relative_or_absolute() {
        let now = Millis(1_800_000_000_000);
        assert_eq!(parse_window("1h", now), Ok((Millis(now.0 - 3_600_000), now)));
        let day = Millis::parse_log_time("2019-06-01").unwrap();
        assert_eq!(parse_window("2019-06-01..2019-06-01", now), Ok((day, Millis(day.0 + 86_400_000))), "a date as the end takes its whole day");
        assert_eq!(parse_window("2019-06-01T00:00:00Z..2019-06-01T06:00:00+02:00", now), Ok((day, Millis(day.0 + 4 * 3_600_000))));
        assert!(parse_window("1990-01-01..2019-06-01", now).unwrap_err().contains("at most ten years"));
        assert!(parse_window("soon", now).unwrap_err().contains("FROM..TO"));
    }
}
