//! Settings of `flowlens serve`: command-line flags, each also read from an environment variable.

use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "FLOWLENS_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (the chosen address is printed).
    #[arg(long, env = "FLOWLENS_PORT", default_value_t = 3000)]
    pub port: u16,
    /// Where instances and events are stored.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://flowlens.db")]
    pub database_url: String,
    /// Directory of flow definitions (`*.toml`).
    #[arg(long, env = "FLOWLENS_FLOWS", default_value = "flows")]
    pub flows: PathBuf,
    /// Directory holding the built browser app (`pkg/`) and static files.
    #[arg(long, env = "FLOWLENS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Run the built-in demo services, which generate customer-onboarding traffic.
    #[arg(long, env = "FLOWLENS_DEMO")]
    pub demo: bool,
    /// Seconds between two new demo registrations.
    #[arg(long, env = "FLOWLENS_DEMO_INTERVAL", default_value_t = 1.5)]
    pub demo_interval: f64,
}
