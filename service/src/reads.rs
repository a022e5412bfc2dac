//! What the screens and the API read: instances, a flow's overview, dead letters, and what an
//! embed link shows (its own flow or instance, without the audit trail).

use flowlens_core::discovery::{Discovery, DiscoveryView};
use flowlens_core::query::{parse_window, MAX_PAGE};
use flowlens_core::{ActionView, Caller, Cursor, DeadLetterView, EmbedScope, Flow, InstanceDetail, InstanceSummary, ListParams, ListQuery, Millis, Need, Overview, Page};
use futures_util::Stream;

use crate::{Error, Service};

/// Dead letters in one answer when the caller does not say; at most `MAX_DEAD_LETTERS`.
const DEAD_LETTERS: u32 = 200;
const MAX_DEAD_LETTERS: u32 = 1000;
/// Most ids "select all that match" collects.
const MAX_MATCHING: u32 = 10_000;
/// The overview's range when none is given.
const DEFAULT_RANGE: &str = "24h";

/// What "save as flow" writes: a flow file to track by, or BPMN for a modeler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinedForm {
    Toml,
    Bpmn,
}

impl Service {
    /// One page of instances, and the server's clock (for SLA countdowns in the browser).
    #[tracing::instrument(skip(self, caller))]
    pub async fn list(&self, caller: &Caller, params: &ListParams) -> Result<(Millis, Page), Error> {
        caller.allow(&Need::Read)?;
        let now = self.now();
        let query = ListQuery::parse(params, now).map_err(Error::Invalid)?;
        Ok((now, self.store().list(&query, now).await?))
    }

    /// The ids of every instance matching the filter, for "select all that match" (at most `cap`).
    #[tracing::instrument(skip(self, caller))]
    pub async fn matching_ids(&self, caller: &Caller, params: &ListParams, cap: u32) -> Result<Vec<i64>, Error> {
        let cap = cap.min(MAX_MATCHING) as usize;
        let mut pages = std::pin::pin!(self.all_pages(caller, params)?);
        let mut ids = Vec::new();
        while ids.len() < cap {
            let Some(rows) = futures_util::StreamExt::next(&mut pages).await else { break };
            ids.extend(rows?.iter().map(|r| r.id));
        }
        ids.truncate(cap);
        Ok(ids)
    }

    /// Every instance matching the filter, a keyset page (the largest) at a time, so memory stays
    /// flat however many match. The filter is checked before the first page is read.
    pub(crate) fn all_pages(&self, caller: &Caller, params: &ListParams) -> Result<impl Stream<Item = Result<Vec<InstanceSummary>, Error>> + Send + 'static, Error> {
        caller.allow(&Need::Read)?;
        let now = self.now();
        let mut query = ListQuery::parse(params, now).map_err(Error::Invalid)?;
        query.limit = MAX_PAGE;
        let service = self.clone();
        Ok(futures_util::stream::unfold(Some(query), move |state| {
            let service = service.clone();
            async move {
                let mut query = state?;
                match service.store().list(&query, now).await {
                    Err(e) => Some((Err(Error::from(e)), None)),
                    Ok(page) => {
                        let next = page.next.as_deref().and_then(Cursor::parse).map(|c| {
                            query.after = Some(c);
                            query
                        });
                        Some((Ok(page.rows), next))
                    }
                }
            }
        }))
    }

    /// One instance with its diagram, events and audit trail, and the server's clock.
    #[tracing::instrument(skip(self, caller))]
    pub async fn instance(&self, caller: &Caller, id: i64) -> Result<(Millis, Option<InstanceDetail>), Error> {
        caller.allow(&Need::Read)?;
        Ok((self.now(), self.store().instance(id).await?))
    }

    /// The audit trail of one instance.
    #[tracing::instrument(skip(self, caller))]
    pub async fn actions_of(&self, caller: &Caller, id: i64) -> Result<Vec<ActionView>, Error> {
        caller.allow(&Need::Read)?;
        Ok(self.store().actions(id).await?)
    }

    /// A flow's overview over the last `range` (`15m`, `1h`, `24h`, `7d`; 24 hours when none is
    /// given); the newest flow when none is named. None when there is no such flow.
    #[tracing::instrument(skip(self, caller))]
    pub async fn overview(&self, caller: &Caller, flow: Option<&str>, range: Option<&str>) -> Result<Option<Overview>, Error> {
        caller.allow(&Need::Read)?;
        self.read_overview(flow, range).await
    }

    async fn read_overview(&self, flow: Option<&str>, range: Option<&str>) -> Result<Option<Overview>, Error> {
        let range = range.filter(|r| !r.is_empty()).unwrap_or(DEFAULT_RANGE);
        let now = self.now();
        let (from, to) = parse_window(range, now).map_err(Error::Invalid)?;
        let flow = match flow.filter(|f| !f.is_empty()) {
            Some(f) => f.to_string(),
            None => match self.store().flows().newest().next() {
                Some(f) => f.id.clone(),
                None => return Ok(None),
            },
        };
        Ok(self.store().overview(&flow, from, to, now).await?)
    }

    /// A flow (its newest version) as BPMN 2.0 XML with diagram interchange, laid out as the
    /// screens draw it; none when there is no such flow.
    #[tracing::instrument(skip(self, caller))]
    pub fn export_bpmn(&self, caller: &Caller, flow: &str) -> Result<Option<String>, Error> {
        caller.allow(&Need::Read)?;
        let Some(flow) = self.store().newest_flow(flow) else { return Ok(None) };
        if flow.is_discovered() {
            return Err(Error::Conflict(format!(
                "`{}` is mined, not modelled: it has no model to export; save its process map as a flow (the discovery page, or /api/v1/flows/{}/mined.bpmn)",
                flow.id, flow.id
            )));
        }
        Ok(Some(flowlens_core::bpmn::export(&flow, &self.store().diagram(&flow))))
    }

    /// "Save as flow": the process discovered from `flow`'s cases as a flow file to track it by
    /// (TOML), or as BPMN 2.0 to open in a modeler, with what is rarer than `hide_below` percent
    /// of the most frequent left out, as the discovery map shows it; none when there is no such flow.
    #[tracing::instrument(skip(self, caller))]
    pub async fn mined_flow(&self, caller: &Caller, flow: &str, hide_below: u32, range: Option<&str>, form: MinedForm) -> Result<Option<String>, Error> {
        caller.allow(&Need::Read)?;
        let Some(model) = self.store().newest_flow(flow) else { return Ok(None) };
        let window = self.discovery_window(range)?;
        let Some(discovery) = self.store().discovery(flow, 1, window).await? else { return Ok(None) };
        if discovery.cases == 0 {
            return Err(Error::Conflict(format!("`{flow}` has no cases yet: there is nothing to mine a flow from")));
        }
        let text = flowlens_core::draft::flow_file(&model, &discovery, hide_below);
        match form {
            MinedForm::Toml => Ok(Some(text)),
            MinedForm::Bpmn => {
                // The draft is written to load; were it not, saying so beats a broken file.
                let mined = Flow::parse_toml(&format!("{flow}.toml"), &text)
                    .map_err(|problems| Error::Problems { message: "the mined flow does not load".into(), problems })?;
                Ok(Some(flowlens_core::bpmn::export(&mined, &flowlens_core::layout::layout(&mined))))
            }
        }
    }

    /// The process discovered from a flow's cases: activities, directly-follows edges with their
    /// times, case durations, and the `variants` most frequent variants (20 unless said, at most
    /// 1 000); of the cases started in `range` (whole days), or of all; none when there is no such flow.
    #[tracing::instrument(skip(self, caller))]
    pub async fn discovery(&self, caller: &Caller, flow: &str, variants: Option<u32>, range: Option<&str>) -> Result<Option<Discovery>, Error> {
        caller.allow(&Need::Read)?;
        let window = self.discovery_window(range)?;
        Ok(self.store().discovery(flow, variants.unwrap_or(20).clamp(1, 1000) as usize, window).await?)
    }

    /// What every read of discovery needs first: discovery on (409 otherwise), and the window
    /// asked for, written as the overview's ranges are (`7d`, `2019-06-01..2019-06-30`); none
    /// (every case) when not given or `all`.
    fn discovery_window(&self, range: Option<&str>) -> Result<Option<(Millis, Millis)>, Error> {
        if !self.store().keeps_discovery() {
            return Err(Error::Conflict("discovery is turned off on this server (`--discovery false`)".into()));
        }
        match range.map(str::trim).filter(|r| !r.is_empty() && *r != "all") {
            None => Ok(None),
            Some(r) => parse_window(r, self.now()).map(Some).map_err(Error::Invalid),
        }
    }

    /// The discovery page: the figures and the map with what is rarer than `hide_below` percent
    /// of the most frequent left out; the first flow when none is named.
    #[tracing::instrument(skip(self, caller))]
    pub async fn discovery_view(&self, caller: &Caller, flow: Option<&str>, hide_below: u32, range: Option<&str>) -> Result<Option<DiscoveryView>, Error> {
        caller.allow(&Need::Read)?;
        let window = self.discovery_window(range)?;
        let flows: Vec<(String, String)> = self.store().flows().newest().map(|f| (f.id.clone(), f.name.clone())).collect();
        let Some(flow) = flow.filter(|f| !f.is_empty()).map(str::to_string).or_else(|| flows.first().map(|f| f.0.clone())) else { return Ok(None) };
        let Some(discovery) = self.store().discovery(&flow, 20, window).await? else { return Ok(None) };
        let map = flowlens_core::discovery::map(&discovery, hide_below);
        Ok(Some(DiscoveryView { discovery, map, flows }))
    }

    /// Events that could not be tracked, newest first (200 unless `limit` says otherwise, at most 1 000).
    #[tracing::instrument(skip(self, caller))]
    pub async fn dead_letters(&self, caller: &Caller, limit: Option<u32>) -> Result<Vec<DeadLetterView>, Error> {
        caller.allow(&Need::Read)?;
        Ok(self.store().dead_letters(limit.unwrap_or(DEAD_LETTERS).clamp(1, MAX_DEAD_LETTERS)).await?)
    }

    /// A flow's overview, for the embed link `token` of that flow.
    #[tracing::instrument(skip(self, token))]
    pub async fn embed_overview(&self, token: &str, flow: &str, range: Option<&str>) -> Result<Option<Overview>, Error> {
        self.embed_caller(token).await?.allow(&Need::ReadEmbed(EmbedScope::Flow(flow.to_string())))?;
        self.read_overview(Some(flow), range).await
    }

    /// One instance, for the embed link `token` of it: read-only, so without the audit trail of
    /// who did what.
    #[tracing::instrument(skip(self, token))]
    pub async fn embed_instance(&self, token: &str, id: i64) -> Result<(Millis, Option<InstanceDetail>), Error> {
        self.embed_caller(token).await?.allow(&Need::ReadEmbed(EmbedScope::Instance(id)))?;
        let mut detail = self.store().instance(id).await?;
        if let Some(d) = detail.as_mut() {
            d.actions.clear();
        }
        Ok((self.now(), detail))
    }
}
