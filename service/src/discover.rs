//! Turning on discovery for events nobody modelled, while the server runs: a discovered flow (a
//! channel, optionally its types, and where the business key is) is checked against the loaded
//! flows, saved as a flow file in the flows directory (so a restart keeps it), and routed to from
//! the next event on.

use flowlens_core::{Caller, Flow, Need};
use serde::{Deserialize, Serialize};

use crate::{Error, Service};

/// What the Discovery page (or `POST /api/v1/flows`) asks for.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NewDiscovered {
    /// The flow's id: letters, digits, `-` and `_` (it names the file too).
    pub id: String,
    pub name: String,
    /// The Kafka topic (or replayed file's name, or `http`) whose unmapped events it takes; any
    /// channel when empty.
    #[serde(default)]
    pub channel: String,
    /// Only these event types; every type no model maps when empty.
    #[serde(default)]
    pub types: Vec<String>,
    /// Where the business key is: `key` (the message key), an attribute name (`subject`), or a
    /// JSON pointer into the data (`/orderId`).
    pub key: String,
}

impl NewDiscovered {
    /// The flow file it becomes.
    fn flow_file(&self, who: &str) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
        let key = self.key.trim();
        let correlation = match key {
            "key" | "" => "{ source = \"key\" }".to_string(),
            k if k.starts_with('/') => format!("{{ source = \"pointer\", pointer = {} }}", q(k)),
            k => format!("{{ source = \"attribute\", attribute = {} }}", q(k)),
        };
        let mut text = format!(
            "# A discovered flow, turned on from the Discovery page by {who}: events no flow maps, grouped by their key.\nid = {}\nname = {}\nversion = 1\ncorrelation = {correlation}\n\n[discover]\n",
            q(self.id.trim()),
            q(self.name.trim())
        );
        if !self.channel.trim().is_empty() {
            text.push_str(&format!("channel = {}\n", q(self.channel.trim())));
        }
        let types: Vec<String> = self.types.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).map(q).collect();
        if !types.is_empty() {
            text.push_str(&format!("types = [{}]\n", types.join(", ")));
        }
        text
    }
}

impl Service {
    /// Adds a discovered flow while running (admin): refused with the reason when the id is taken
    /// or it could take events another flow takes; saved in the flows directory when there is one.
    #[tracing::instrument(skip(self, caller))]
    pub fn discover(&self, caller: &Caller, new: &NewDiscovered) -> Result<Flow, Error> {
        let who = caller.allow_presented_change(&Need::Administer)?;
        let id = new.id.trim();
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Error::Invalid("the id is 1 to 64 letters, digits, `-` or `_` (it names the flow's file)".into()));
        }
        if new.name.trim().is_empty() {
            return Err(Error::Invalid("give the flow a name".into()));
        }
        if self.store().newest_flow(id).is_some() {
            return Err(Error::Conflict(format!("there is a flow `{id}` already")));
        }
        let file = format!("{id}.toml");
        let text = new.flow_file(&who.name);
        let flow = Flow::parse_toml(&file, &text).map_err(|problems| Error::Problems { message: "that flow would not load".into(), problems })?;
        // Saved once it is known to fit beside the loaded flows, and in use once saved.
        let save = || match self.flows_dir() {
            None => Ok(()),
            Some(dir) => {
                let path = dir.join(&file);
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                    .map_err(|e| format!("cannot save {}: {e}", path.display()))
            }
        };
        let flows = self.store().add_flow(flow.clone(), save).map_err(Error::Conflict)?;
        self.intake().replace(flows);
        tracing::info!(flow = id, channel = %new.channel, by = %who.name, "discovery turned on");
        Ok(flow)
    }
}
