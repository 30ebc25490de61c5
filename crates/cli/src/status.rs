//! What `sealctl status` does: fetch `/status` from a running agent and render it as tables for a
//! person answering "why was my Secret not updated".

use std::fmt::Write as _;
use std::time::Duration;

use sealsync_agent::ops::status::Status;
use sealsync_agent::ops::Timestamp;

/// Why the agent's `/status` could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    FetchStatus { url: String, status: u16 },
}

/// How long `fetch_status` waits for the whole exchange.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Git's default abbreviation.
const SHORT_COMMIT: usize = 7;

/// Fetches the `/status` JSON from an agent, e.g. `http://127.0.0.1:8080` (through `kubectl
/// port-forward`). `/status` is appended unless the URL already ends with it. Plain HTTP only: the
/// operations port is not exposed outside the cluster.
pub fn fetch_status(url: &str) -> Result<String, StatusError> {
    let url = if url.trim_end_matches('/').ends_with("/status") {
        url.to_string()
    } else {
        format!("{}/status", url.trim_end_matches('/'))
    };
    let fetch_error = |reason: String| StatusError::Fetch {
        url: url.clone(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| fetch_error(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(StatusError::FetchStatus { url, status });
    }
    response
        .body_mut()
        .read_to_string()
        .map_err(|e| fetch_error(e.to_string()))
}

/// Renders `/status` JSON for a terminal. Input that is not a status document is reported as such
/// rather than failing, so `sealctl status` always prints something useful.
pub fn render_status(json: &str) -> String {
    let status: Status = match serde_json::from_str(json) {
        Ok(status) => status,
        Err(error) => return format!("not a sealsync status document: {error}\n"),
    };
    let mut out = String::new();
    let commit = status.commit.as_deref().map_or("-".to_string(), clean);
    let when = |t: Option<Timestamp>| t.map_or("never".to_string(), |t| t.to_string());
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let _ = writeln!(out, "commit:          {commit}");
    let _ = writeln!(out, "last fetch:      {}", when(status.last_fetch));
    let _ = writeln!(out, "last reconcile:  {}", when(status.last_reconcile));
    let _ = writeln!(
        out,
        "ready: {}   leader: {}",
        yes_no(status.ready),
        if status.leader { "yes" } else { "no (standby)" }
    );
    if let Some(why) = &status.not_ready_reason {
        let _ = writeln!(out, "not ready:       {}", clean(why));
    }
    let _ = match (&status.webhook.enabled, &status.webhook.reason) {
        (true, _) => writeln!(out, "webhook:         on"),
        (false, Some(why)) => writeln!(out, "webhook:         off ({})", clean(why)),
        (false, None) => writeln!(out, "webhook:         off"),
    };

    out.push('\n');
    if status.secrets.is_empty() {
        out.push_str("No Secrets.\n");
    } else {
        let rows: Vec<Vec<String>> = status
            .secrets
            .iter()
            .map(|s| {
                let source = match &s.commit {
                    Some(commit) => format!("{}@{}", s.source, short(commit)),
                    None => s.source.clone(),
                };
                vec![
                    format!("{}/{}", s.namespace, s.name),
                    s.state.to_string(),
                    source,
                    s.last_error.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        table(&mut out, &["SECRET", "STATE", "SOURCE", "LAST ERROR"], rows);
    }

    if !status.refused.is_empty() {
        out.push_str("\nRefused documents:\n");
        let rows = status
            .refused
            .iter()
            .map(|r| {
                let source = match r.document {
                    Some(index) => format!("{} (document {index})", r.source),
                    None => r.source.clone(),
                };
                vec![source, r.reason_code.clone(), r.message.clone()]
            })
            .collect();
        table(&mut out, &["SOURCE", "REASON", "MESSAGE"], rows);
    }

    if status.ignored_total > 0 {
        // The kinds only: a repository of manifests may hold thousands of other objects.
        let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
        for i in &status.ignored {
            *kinds.entry(i.kind.as_str()).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        let _ = writeln!(
            out,
            "\nIgnored (not Secrets): {} documents: {}",
            status.ignored_total,
            clean(&kinds.join(", "))
        );
    }

    for error in &status.watch_errors {
        let _ = writeln!(out, "\nDrift watch: {}", clean(error));
    }
    if let Some(error) = &status.git_error {
        let serving = if status.commit.is_some() {
            "serving the last good commit"
        } else {
            "nothing fetched yet"
        };
        let reason = status
            .git_error_reason
            .as_deref()
            .map_or(String::new(), |r| format!(" [{}]", clean(r)));
        let _ = writeln!(out, "\nGit error ({serving}){reason}: {}", clean(error));
    }
    out
}

fn short(commit: &str) -> String {
    clean(&commit.chars().take(SHORT_COMMIT).collect::<String>())
}

/// Escapes control characters: the text came over the network and from git, and must not drive the
/// terminal (ANSI escapes, carriage returns rewriting earlier lines).
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
fn table(out: &mut String, headers: &[&str], rows: Vec<Vec<String>>) {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| row.iter().map(|cell| clean(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A status with every kind of entry, as an agent serves it on `/status`.
    const SAMPLE_STATUS: &str = r#"{
  "commit": "3f2a1b9c0d4e5f60718293a4b5c6d7e8f9a0b1c2",
  "last_fetch": "2024-05-01T12:00:00Z",
  "last_reconcile": "2024-05-01T12:00:02Z",
  "leader": true,
  "ready": true,
  "secrets": [
    {
      "namespace": "team-a",
      "name": "db-credentials",
      "source": "apps/team-a/db.sops.yaml",
      "commit": "3f2a1b9c0d4e5f60718293a4b5c6d7e8f9a0b1c2",
      "state": "applied",
      "last_error": null,
      "last_applied": "2024-05-01T12:00:02Z"
    },
    {
      "namespace": "team-a",
      "name": "api-token",
      "source": "apps/team-a/api.sops.yaml",
      "commit": "3f2a1b9c0d4e5f60718293a4b5c6d7e8f9a0b1c2",
      "state": "failed",
      "last_error": "apps/team-a/api.sops.yaml: MAC mismatch: the file was modified without sops",
      "last_applied": "2024-04-24T23:06:40Z"
    }
  ],
  "refused": [
    {
      "source": "apps/team-b/stray.yaml",
      "document": 1,
      "reason_code": "policy",
      "message": "path apps/team-b/ may not write to namespace team-a"
    }
  ],
  "git_error": null,
  "not_ready_reason": null,
  "webhook": { "enabled": true, "reason": null },
  "watch_errors": [],
  "ignored": [],
  "ignored_total": 0
}"#;

    fn sample_status() -> Status {
        serde_json::from_str(SAMPLE_STATUS).unwrap()
    }

    /// Serves one HTTP exchange on loopback with a canned reply; returns the base URL and the request
    /// line the client sent.
    fn serve_once(
        status_line: &'static str,
        body: &'static str,
    ) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let reply = format!(
                "HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        });
        (url, server)
    }

    #[test]
    fn fetch_status_appends_the_path_and_returns_the_body() {
        let (url, server) = serve_once("200 OK", SAMPLE_STATUS);
        assert_eq!(fetch_status(&format!("{url}/")).unwrap(), SAMPLE_STATUS);
        assert_eq!(server.join().unwrap(), "GET /status HTTP/1.1");
    }

    #[test]
    fn fetch_status_reports_http_errors() {
        let (url, server) = serve_once("404 Not Found", "");
        let error = fetch_status(&format!("{url}/nope/status")).unwrap_err();
        assert!(
            matches!(error, StatusError::FetchStatus { status: 404, .. }),
            "{error}"
        );
        assert_eq!(server.join().unwrap(), "GET /nope/status HTTP/1.1");
    }

    #[test]
    fn renders_failed_and_refused_entries_and_the_git_error() {
        let mut status = sample_status();
        status.git_error =
            Some("fetching https://***@git.example.com/org/repo.git: timed out".into());
        let rendered = render_status(&serde_json::to_string(&status).unwrap());
        let expected = "\
commit:          3f2a1b9c0d4e5f60718293a4b5c6d7e8f9a0b1c2
last fetch:      2024-05-01T12:00:00Z
last reconcile:  2024-05-01T12:00:02Z
ready: yes   leader: yes
webhook:         on

SECRET                 STATE    SOURCE                             LAST ERROR
team-a/db-credentials  applied  apps/team-a/db.sops.yaml@3f2a1b9   -
team-a/api-token       failed   apps/team-a/api.sops.yaml@3f2a1b9  apps/team-a/api.sops.yaml: MAC mismatch: the file was modified without sops

Refused documents:
SOURCE                               REASON  MESSAGE
apps/team-b/stray.yaml (document 1)  policy  path apps/team-b/ may not write to namespace team-a

Git error (serving the last good commit): fetching https://***@git.example.com/org/repo.git: timed out
";
        assert_eq!(rendered, expected, "\n{rendered}");
    }

    #[test]
    fn a_refused_commit_is_shown_with_its_reason_code() {
        let mut status = sample_status();
        status.git_error =
            Some("commit 1234 of git remote git://h/r is refused: it is not signed".into());
        status.git_error_reason = Some("unsigned_commit".into());
        let rendered = render_status(&serde_json::to_string(&status).unwrap());
        assert!(
            rendered.ends_with(
                "\nGit error (serving the last good commit) [unsigned_commit]: commit 1234 of git \
                 remote git://h/r is refused: it is not signed\n"
            ),
            "{rendered}"
        );
    }

    #[test]
    fn renders_an_empty_status_and_rejects_garbage() {
        let rendered = render_status(&serde_json::to_string(&Status::default()).unwrap());
        assert!(rendered.contains("commit:          -"));
        assert!(rendered.contains("last fetch:      never"));
        assert!(rendered.contains("ready: no   leader: no (standby)"));
        assert!(rendered.contains("webhook:         off\n"));
        assert!(rendered.contains("No Secrets."));
        assert!(!rendered.contains("Refused"));
        assert!(render_status("<html>").starts_with("not a sealsync status document"));
    }

    #[test]
    fn renders_why_not_ready_and_why_the_webhook_is_off() {
        let status = Status {
            not_ready_reason: Some("last sync refused all 2 documents: a.yaml: policy".into()),
            webhook: sealsync_agent::ops::WebhookStatus {
                enabled: false,
                reason: Some("no file at /w/secret".into()),
            },
            ..Status::default()
        };
        let rendered = render_status(&serde_json::to_string(&status).unwrap());
        assert!(rendered
            .contains("not ready:       last sync refused all 2 documents: a.yaml: policy\n"));
        assert!(rendered.contains("webhook:         off (no file at /w/secret)\n"));
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let status = Status {
            git_error: Some("bad\x1b[2Jthing\r\nnext".into()),
            refused: vec![sealsync_agent::ops::RefusedDocument::new(
                "evil\x1b]0;title\x07.yaml",
                None,
                sealsync_agent::reason::Reason::Parse,
                "line 1\rline 2",
            )],
            ..Status::default()
        };
        let rendered = render_status(&serde_json::to_string(&status).unwrap());
        assert!(!rendered.contains('\x1b'));
        assert!(!rendered.contains('\r'));
        assert!(!rendered.contains('\x07'));
        assert!(rendered.contains("bad\\u{1b}[2Jthing\\r\\nnext"));
        assert!(rendered.contains("evil\\u{1b}]0;title\\u{7}.yaml"));
        assert!(rendered.contains("line 1\\rline 2"));
    }

    #[test]
    fn ignored_documents_are_summed_up_by_kind() {
        let board = sealsync_agent::ops::StatusBoard::new();
        let doc = |source: &str, kind: &str| sealsync_agent::ops::status::IgnoredDocument {
            source: source.into(),
            document: 1,
            kind: kind.into(),
        };
        board.set_ignored(
            vec![
                doc(
                    "apps/kustomization.yaml",
                    "kustomize.config.k8s.io/v1beta1/Kustomization",
                ),
                doc("apps/web.yaml", "apps/v1/Deployment"),
                doc("apps/api.yaml", "apps/v1/Deployment"),
            ],
            3,
        );
        let json = serde_json::to_string(&board.snapshot()).unwrap();
        let rendered = render_status(&json);
        assert!(
            rendered.contains("Ignored (not Secrets): 3 documents: apps/v1/Deployment (2), kustomize.config.k8s.io/v1beta1/Kustomization (1)"),
            "{rendered}"
        );
    }
}
