//! Reading instances: the list (keyset pages over any filter) and one instance in full.

use flowlens_core::{Cursor, Data, DataForm, EventRecord, InstanceChanged, InstanceDetail, InstanceSummary, ListQuery, Millis, Page, SlaFilter, Sort, Status};

use crate::row::{word, Columns};
use crate::{Loaded, Store, StoreError};

/// A bind parameter of a query built at run time.
enum Arg {
    Text(String),
    Int(i64),
}

fn summary_of(row: sqlx::any::AnyRow) -> Result<InstanceSummary, StoreError> {
    let id: i64 = row.col("instances", "id")?;
    let status: String = row.col("instances", "status")?;
    let waiting: String = row.col("instances", "waiting_at")?;
    Ok(InstanceSummary {
        id,
        flow_id: row.col("instances", "flow_id")?,
        flow_version: row.col::<i64>("instances", "flow_version")? as u32,
        key: row.col("instances", "key")?,
        status: word("instances", "status", &status, Status::parse)?,
        waiting_at: waiting.split('\n').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        started_at: row.col::<Option<i64>>("instances", "started_at")?.map(Millis),
        updated_at: Millis(row.col("instances", "updated_at")?),
        events: row.col::<i64>("instances", "events")? as u32,
        due: row.col::<Option<i64>>("instances", "due_at")?.map(Millis),
        reworked: row.col::<i64>("instances", "reworked")? != 0,
        fits: row.col::<i64>("instances", "fits")? != 0,
    })
}

/// The steps an instance deviates at, as stored: node ids, each once, one per line.
pub(crate) fn deviating_at(deviations: &[flowlens_core::instance::Deviation]) -> String {
    let mut nodes: Vec<&str> = deviations.iter().filter_map(|d| d.node.as_deref()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes.join("\n")
}

/// An event's stored data (`data`, `data_form`), and the form it is written in.
pub(crate) fn stored_data(r: &sqlx::any::AnyRow) -> Result<(DataForm, String), StoreError> {
    Ok((DataForm::from_stored(r.col::<Option<String>>("events", "data_form")?.as_deref()), r.col("events", "data")?))
}

pub(crate) fn event_record(r: &sqlx::any::AnyRow) -> Result<EventRecord, StoreError> {
    let (form, data) = stored_data(r)?;
    Ok(EventRecord {
        id: r.col("events", "id")?,
        event_type: r.col("events", "type")?,
        time: Millis(r.col("events", "time")?),
        received_at: Millis(r.col("events", "received_at")?),
        // Bytes are shown as their size and first bytes, never as base64 nobody can read.
        data: match form {
            DataForm::Base64 => Data::from_stored(form, &data).map(|d| d.preview()).unwrap_or(data),
            _ => data,
        },
        form,
    })
}

impl Store {
    /// One page of instances matching `q`, in its order, and the cursor of the next page.
    ///
    /// Keyset paging: the next page starts after the last row's (sort value, id), so page 1 000
    /// costs what page 1 does, and rows that move meanwhile are neither skipped nor repeated.
    pub async fn list(&self, q: &ListQuery, now: Millis) -> Result<Page, StoreError> {
        let (col, desc) = match q.sort {
            Sort::Recent | Sort::Oldest => ("updated_at", q.sort.descending()),
            Sort::Newest | Sort::First => ("id", q.sort.descending()),
            Sort::Due => ("due_at", false),
        };
        let mut sql = String::from(
            "SELECT id, flow_id, flow_version, key, status, waiting_at, started_at, updated_at, events, due_at, reworked, fits FROM instances WHERE 1 = 1",
        );
        let mut args: Vec<Arg> = Vec::new();
        let mut bind = |sql: &mut String, clause: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(flow) = &q.flow {
            bind(&mut sql, " AND flow_id = ?", Arg::Text(flow.clone()));
        }
        if let Some(status) = q.status {
            bind(&mut sql, " AND status = ?", Arg::Text(status.as_str().into()));
        }
        if let Some(key) = &q.key {
            bind(&mut sql, " AND key = ?", Arg::Text(key.clone()));
        }
        if let Some(node) = &q.node {
            // waiting_at holds node names, one per line.
            let escaped = node.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            // `waiting_at <> ''` is implied by the LIKE, and lets the partial index of waiting instances serve.
            bind(&mut sql, " AND waiting_at <> '' AND '\n' || waiting_at || '\n' LIKE ? ESCAPE '\\'", Arg::Text(format!("%\n{escaped}\n%")));
        }
        match q.sla {
            Some(SlaFilter::Overdue) => bind(&mut sql, " AND status = 'running' AND due_at < ?", Arg::Int(now.0)),
            Some(SlaFilter::OnTime) => bind(&mut sql, " AND due_at >= ?", Arg::Int(now.0)),
            None => {}
        }
        match q.fits {
            Some(true) => sql.push_str(" AND fits = 1"),
            Some(false) => sql.push_str(" AND fits = 0"),
            None => {}
        }
        if q.rework {
            sql.push_str(" AND reworked = 1");
        }
        if let Some(from) = q.from {
            bind(&mut sql, " AND updated_at >= ?", Arg::Int(from.0));
        }
        if let Some(to) = q.to {
            bind(&mut sql, " AND updated_at < ?", Arg::Int(to.0));
        }
        if q.sort == Sort::Due {
            sql.push_str(" AND due_at IS NOT NULL");
        }
        if let Some(c) = q.after {
            let cmp = if desc { "<" } else { ">" };
            args.push(Arg::Int(c.value));
            args.push(Arg::Int(c.id));
            if col == "id" {
                sql.push_str(&format!(" AND id {cmp} ${}", args.len()));
            } else {
                let (v, i) = (args.len() - 1, args.len());
                sql.push_str(&format!(" AND ({col} {cmp} ${v} OR ({col} = ${v} AND id {cmp} ${i}))"));
            }
        }
        let dir = if desc { "DESC" } else { "ASC" };
        args.push(Arg::Int(i64::from(q.limit.clamp(1, flowlens_core::query::MAX_PAGE)) + 1));
        if col == "id" {
            sql.push_str(&format!(" ORDER BY id {dir} LIMIT ${}", args.len()));
        } else {
            sql.push_str(&format!(" ORDER BY {col} {dir}, id {dir} LIMIT ${}", args.len()));
        }
        let mut query = sqlx::query(&sql);
        for a in args {
            query = match a {
                Arg::Text(t) => query.bind(t),
                Arg::Int(i) => query.bind(i),
            };
        }
        let mut rows = query.fetch_all(&self.pool).await?.into_iter().map(summary_of).collect::<Result<Vec<_>, _>>()?;
        // One row more than asked tells whether there is a next page.
        let next = if rows.len() > q.limit as usize {
            rows.truncate(q.limit as usize);
            rows.last().map(|r| Cursor::of(q.sort, r).to_text())
        } else {
            None
        };
        Ok(Page { rows, next })
    }

    pub async fn instance(&self, id: i64) -> Result<Option<InstanceDetail>, StoreError> {
        let Some(Loaded { flow, key, instance, events, updated_at, .. }) = self.load(id).await? else {
            return Ok(None);
        };
        let flow = &flow;
        let InstanceChanged { summary, nodes, deviations, .. } = InstanceChanged::of(flow, &instance, id, &key, events, updated_at, None);
        let events = sqlx::query(
            "SELECT id, type, time, received_at, data, data_form FROM events WHERE instance_id = $1 ORDER BY time, received_at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(event_record)
        .collect::<Result<_, _>>()?;
        let diagram = self.diagram(flow);
        let actions = self.actions(id).await?;
        let retryable = flow
            .nodes
            .iter()
            .filter(|n| n.retry_command().is_some())
            .map(|n| n.id.clone())
            .collect();
        Ok(Some(InstanceDetail {
            summary,
            flow_name: flow.name.clone(),
            nodes,
            deviations,
            events,
            actions,
            retryable,
            cancellable: flow.cancel.is_some(),
            diagram,
        }))
    }

}
