//! `sealctl refresh [NAMESPACE/NAME]`: asks a running agent (`POST /refresh`) to fetch external
//! references again now, signed with its webhook secret.

use std::time::Duration;

use sealsync_agent::ops::WebhookConfig;

use crate::args::RefreshArgs;
use crate::context::write_stdout;
use crate::exit::{CliError, Exit};

/// How long the exchange may take: the agent answers once the refresh is scheduled, not done.
const TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: &RefreshArgs) -> Result<(), CliError> {
    let secret = WebhookConfig::from_file(&args.secret_file).map_err(|e| {
        CliError::new(
            Exit::Input,
            format!("{e} (the file the agent's --webhook-secret-file names)"),
        )
    })?;
    let query = match &args.secret {
        Some(key) => {
            if key.split('/').count() != 2 {
                return Err(CliError::new(
                    Exit::Usage,
                    format!("{key}: expected NAMESPACE/NAME"),
                ));
            }
            format!("secret={key}")
        }
        None => String::new(),
    };
    let base = args.url.trim_end_matches('/');
    let url = if query.is_empty() {
        format!("{base}/refresh")
    } else {
        format!("{base}/refresh?{query}")
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    // The signature covers the body, so the body repeats the query: the scope is signed too.
    let mut response = agent
        .post(&url)
        .header("X-Hub-Signature-256", secret.sign(query.as_bytes()))
        .send(query.as_bytes())
        .map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!("{url}: {e} (is the agent running and its --listen port reachable?)"),
            )
        })?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let text = text.trim();
    match status {
        202 => write_stdout(format!("{text}\n").as_bytes()),
        401 => Err(CliError::new(
            Exit::Failure,
            format!("{url}: the agent refused the signature: the secret file differs from its --webhook-secret-file"),
        )),
        404 => Err(CliError::new(
            Exit::Failure,
            format!("{url}: {text} (the agent accepts refreshes only with a webhook secret; or this is not a sealsync agent)"),
        )),
        _ => Err(CliError::new(
            Exit::Failure,
            format!("{url} answered HTTP {status}: {text}"),
        )),
    }
}
