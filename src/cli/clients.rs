//! `dc-gateway clients add|list|remove`: OAuth clients for the asynchronous flow.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Subcommand;

use crate::config::Config;
use crate::store::Store;
use crate::store::oauth::{Client, new_secret};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a Service Provider; prints its secret once (only a hash is stored).
    Add {
        /// The client id, usually the template providerId.
        #[arg(long)]
        client_id: String,
        /// An allowed redirect URI, matched exactly (repeatable).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Refuse authorization requests without a PKCE S256 challenge.
        #[arg(long)]
        require_pkce: bool,
        /// Access token lifetime, seconds.
        #[arg(long, default_value_t = 3600)]
        access_ttl: i64,
        /// Refresh token lifetime, seconds.
        #[arg(long, default_value_t = 30 * 86400)]
        refresh_ttl: i64,
    },
    /// List registered clients.
    List,
    /// Remove a client and revoke every grant it holds.
    Remove {
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ClientsArgs {
    /// A configuration file layered over the embedded default (for the database URL).
    #[arg(long, env = "DCGW_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ClientsCommand,
}

/// A redirect URI a client may register: absolute https (http only for loopback hosts),
/// no fragment, no user info.
pub fn check_redirect_uri(u: &str) -> Result<(), String> {
    let url = url::Url::parse(u).map_err(|e| format!("{u:?} is not an absolute URL ({e})"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err(format!("{u:?} must be https (http only for localhost)"));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{u:?} must not carry a fragment or user info"));
    }
    Ok(())
}

async fn execute(config: &Config, cmd: &ClientsCommand) -> anyhow::Result<String> {
    std::fs::create_dir_all(&config.server.data_dir)?;
    let store = Store::open(&config.database_url()).await?;
    let now = SystemTime::now();
    match cmd {
        ClientsCommand::Add {
            client_id,
            redirect_uris,
            require_pkce,
            access_ttl,
            refresh_ttl,
        } => {
            if !crate::engine::validate::is_dc_id(client_id) {
                anyhow::bail!("client id {client_id:?} may only hold A-Z a-z 0-9 - _ . (1 to 63)");
            }
            for u in redirect_uris {
                check_redirect_uri(u).map_err(anyhow::Error::msg)?;
            }
            if *access_ttl < 60 || *refresh_ttl < *access_ttl {
                anyhow::bail!("access-ttl must be at least 60 and refresh-ttl at least access-ttl");
            }
            if store.client(client_id).await?.is_some() {
                anyhow::bail!("client {client_id:?} exists; remove it first to issue a new secret");
            }
            let secret = new_secret();
            let client = Client {
                client_id: client_id.clone(),
                redirect_uris: redirect_uris.clone(),
                require_pkce: *require_pkce,
                access_ttl: *access_ttl,
                refresh_ttl: *refresh_ttl,
                created_at: 0,
            };
            store.add_client(&client, &secret, now).await?;
            store
                .audit(
                    &crate::store::Actor("operator".into()),
                    "client_add",
                    None,
                    None,
                    &serde_json::json!({"client_id": client_id}),
                    now,
                )
                .await?;
            Ok(format!(
                "client_id: {client_id}\nclient_secret: {secret}\n(the secret is shown only now; the gateway keeps a hash)\n"
            ))
        }
        ClientsCommand::List => {
            let mut out = String::new();
            for c in store.clients().await? {
                out.push_str(&format!(
                    "{}\tpkce={}\taccess_ttl={}\trefresh_ttl={}\t{}\n",
                    c.client_id,
                    if c.require_pkce { "required" } else { "optional" },
                    c.access_ttl,
                    c.refresh_ttl,
                    c.redirect_uris.join(" ")
                ));
            }
            Ok(out)
        }
        ClientsCommand::Remove { client_id } => {
            if !store.remove_client(client_id, now).await? {
                anyhow::bail!("no client {client_id:?}");
            }
            store
                .audit(
                    &crate::store::Actor("operator".into()),
                    "client_remove",
                    None,
                    None,
                    &serde_json::json!({"client_id": client_id}),
                    now,
                )
                .await?;
            Ok(format!("removed {client_id} and revoked its grants\n"))
        }
    }
}

pub fn run(args: &ClientsArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match actix_web::rt::System::new().block_on(execute(&config, &args.command)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_redirect_uri;

    #[test]
    fn redirect_uris() {
        assert!(check_redirect_uri("https://sp.example/cb?x=1").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(check_redirect_uri("http://sp.example/cb").is_err());
        assert!(check_redirect_uri("https://sp.example/cb#frag").is_err());
        assert!(check_redirect_uri("https://user@sp.example/cb").is_err());
        assert!(check_redirect_uri("/relative").is_err());
    }
}
