//! A list page kept live by the server: of a burst of changed instances, which rows the page
//! shows now and which it no longer shows. The server keeps one of these per open list page, so a
//! page is sent only what it shows (at most a page of rows per burst), never every change of every
//! flow. Only the first page in "recently updated" order moves by itself: every change lands on
//! top, so the page is always the newest `limit` matching instances; other views are anchored.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::query::{ListParams, ListQuery, Sort};
use crate::time::Millis;
use crate::view::InstanceSummary;

/// What a list page is told after a burst of changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListFrame {
    /// The changed rows it shows now, newest first.
    pub rows: Vec<InstanceSummary>,
    /// Instances it showed that no longer match its filter.
    pub gone: Vec<i64>,
}

impl ListFrame {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.gone.is_empty()
    }

    /// Applies the frame to the rows a page holds (newest first, at most `limit`).
    pub fn apply_to(self, rows: &mut Vec<InstanceSummary>, limit: usize) {
        rows.retain(|r| !self.gone.contains(&r.id));
        for row in self.rows.into_iter().rev() {
            rows.retain(|r| r.id != row.id);
            rows.insert(0, row);
        }
        rows.truncate(limit);
    }
}

/// The server's picture of one open list page.
#[derive(Clone, Debug)]
pub struct LiveList {
    params: ListParams,
    limit: usize,
    /// The ids the page shows, newest first.
    shown: Vec<i64>,
}

impl LiveList {
    /// A page of this filter that shows `shown` (newest first); none when the view does not move by
    /// itself (a later page, another order), and an error for a filter that does not parse.
    pub fn new(params: &ListParams, now: Millis, shown: Vec<i64>) -> Result<Option<LiveList>, String> {
        let query = ListQuery::parse(params, now)?;
        if query.after.is_some() || query.sort != Sort::Recent {
            return Ok(None);
        }
        let limit = query.limit as usize;
        let mut shown = shown;
        shown.truncate(limit);
        Ok(Some(LiveList { params: params.clone(), limit, shown }))
    }

    /// Takes a burst of changes (oldest first) and says what the page must change. Read newest
    /// first, each instance's latest change decides, and reading stops once a page of rows is
    /// found: older changes cannot show on it, and what the page showed falls off its end. So a
    /// burst costs about a page, not its size.
    pub fn apply<'a>(&mut self, changes: impl DoubleEndedIterator<Item = &'a InstanceSummary>, now: Millis) -> ListFrame {
        // Parsed again at `now`: a relative range ("last hour") moves with the clock.
        let Ok(query) = ListQuery::parse(&self.params, now) else { return ListFrame::default() };
        let mut decided: HashSet<i64> = HashSet::new();
        let mut rows: Vec<InstanceSummary> = Vec::new();
        let mut gone: Vec<i64> = Vec::new();
        for row in changes.rev() {
            if rows.len() == self.limit {
                break;
            }
            if !decided.insert(row.id) {
                continue;
            }
            if query.matches(row, now) {
                rows.push(row.clone());
            } else if self.shown.contains(&row.id) {
                gone.push(row.id);
            }
        }
        let kept = self.shown.iter().filter(|id| !decided.contains(id));
        self.shown = rows.iter().map(|r| r.id).chain(kept.copied()).take(self.limit).collect();
        ListFrame { rows, gone }
    }

    /// Starts over from what the page shows after reading it again.
    pub fn reset(&mut self, shown: Vec<i64>) {
        self.shown = shown;
        self.shown.truncate(self.limit);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::instance::Status;

    fn row(id: i64, status: Status, at: i64) -> InstanceSummary {
        InstanceSummary {
            id,
            flow_id: "f".into(),
            flow_version: 1,
            key: format!("k{id}"),
            status,
            waiting_at: Vec::new(),
            started_at: Some(Millis(0)),
            updated_at: Millis(at),
            events: 1,
            due: None,
            reworked: false,
            fits: true,
        }
    }

    fn running(limit: u32) -> ListParams {
        ListParams { status: Some("running".into()), limit: Some(limit), ..ListParams::default() }
    }

    #[test]
    fn a_page_gets_the_newest_matching_rows_and_loses_those_that_stopped_matching() {
        let mut live = LiveList::new(&running(3), Millis(0), vec![1, 2, 3]).unwrap().unwrap();
        let burst = [row(4, Status::Running, 10), row(2, Status::Completed, 11), row(9, Status::Completed, 12)];
        let frame = live.apply(burst.iter(), Millis(20));
        assert_eq!(frame.rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![4]);
        // 9 never was on the page: the page is not told about it.
        assert_eq!(frame.gone, vec![2]);
        assert_eq!(live.shown, vec![4, 1, 3]);
    }

    #[test]
    fn a_row_that_changes_twice_in_a_burst_comes_once_as_it_ended() {
        let mut live = LiveList::new(&running(3), Millis(0), vec![1]).unwrap().unwrap();
        let burst = [row(5, Status::Running, 10), row(6, Status::Running, 11), row(5, Status::Running, 12)];
        let frame = live.apply(burst.iter(), Millis(20));
        assert_eq!(frame.rows.iter().map(|r| (r.id, r.updated_at.0)).collect::<Vec<_>>(), vec![(5, 12), (6, 11)]);
        let left_and_came_back = [row(1, Status::Completed, 13), row(1, Status::Running, 14)];
        let frame = live.apply(left_and_came_back.iter(), Millis(20));
        assert!(frame.gone.is_empty());
        assert_eq!(frame.rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn more_changes_than_a_page_send_one_page() {
        let mut live = LiveList::new(&running(2), Millis(0), vec![]).unwrap().unwrap();
        let burst: Vec<_> = (0..1000).map(|i| row(i, Status::Running, i)).collect();
        let frame = live.apply(burst.iter(), Millis(2000));
        assert_eq!(frame.rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![999, 998]);
    }

    #[test]
    fn a_page_applying_the_frames_holds_what_the_filter_shows() {
        // Against the plain definition: the newest `limit` rows that match, over all changes so far.
        let mut live = LiveList::new(&running(4), Millis(0), vec![]).unwrap().unwrap();
        let mut page: Vec<InstanceSummary> = Vec::new();
        let mut latest: HashMap<i64, InstanceSummary> = HashMap::new();
        let mut t = 0;
        for burst in 0..50 {
            let changes: Vec<_> = (0..7)
                .map(|i| {
                    t += 1;
                    let id = (burst * 7 + i * 3) % 11;
                    row(id, if (id + burst) % 3 == 0 { Status::Completed } else { Status::Running }, t)
                })
                .collect();
            for c in &changes {
                latest.insert(c.id, c.clone());
            }
            live.apply(changes.iter(), Millis(t)).apply_to(&mut page, 4);
            let mut want: Vec<_> = latest.values().filter(|r| r.status == Status::Running).cloned().collect();
            want.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
            want.truncate(4);
            assert_eq!(page, want, "after burst {burst}");
        }
    }

    #[test]
    fn anchored_views_do_not_move_and_bad_filters_are_refused() {
        let later = ListParams { after: Some(crate::query::Cursor { value: 5, id: 5 }.to_text()), ..ListParams::default() };
        assert!(LiveList::new(&later, Millis(0), vec![]).unwrap().is_none());
        let due = ListParams { sort: Some("due".into()), ..ListParams::default() };
        assert!(LiveList::new(&due, Millis(0), vec![]).unwrap().is_none());
        let bad = ListParams { status: Some("sleeping".into()), ..ListParams::default() };
        assert!(LiveList::new(&bad, Millis(0), vec![]).is_err());
    }
}
