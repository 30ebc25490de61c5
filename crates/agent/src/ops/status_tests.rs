use super::*;

/// A status with every kind of entry, for the HTTP and rendering tests.
pub(crate) fn sample_status() -> Status {
    Status {
        commit: Some("3f2a1b9c0d4e5f60718293a4b5c6d7e8f9a0b1c2".into()),
        last_fetch: Some(Timestamp::from_unix_seconds(1_714_564_800)),
        last_reconcile: Some(Timestamp::from_unix_seconds(1_714_564_802)),
        leader: true,
        ready: true,
        secrets: vec![
            SecretStatus::new(
                &SecretKey::new("team-a", "db-credentials"),
                "apps/team-a/db.sops.yaml",
                SecretState::Applied,
            )
            .with_commit("3f2a1b9c0d4e5f60718293a4b5c6d7e8f9a0b1c2")
            .with_last_applied(Timestamp::from_unix_seconds(1_714_564_802)),
            SecretStatus::new(
                &SecretKey::new("team-a", "api-token"),
                "apps/team-a/api.sops.yaml",
                SecretState::Failed,
            )
            .with_commit("3f2a1b9c0d4e5f60718293a4b5c6d7e8f9a0b1c2")
            .with_error(
                "apps/team-a/api.sops.yaml: MAC mismatch: the file was modified without sops",
            )
            .with_last_applied(Timestamp::from_unix_seconds(1_714_000_000)),
        ],
        refused: vec![RefusedDocument::new(
            "apps/team-b/stray.yaml",
            Some(1),
            Reason::Policy,
            "path apps/team-b/ may not write to namespace team-a",
        )],
        git_error: None,
        git_error_reason: None,
        not_ready_reason: None,
        webhook: WebhookStatus {
            enabled: true,
            reason: None,
        },
        watch_errors: Vec::new(),
        ignored: Vec::new(),
        ignored_total: 0,
    }
}

#[test]
fn status_json_round_trips_with_the_documented_shape() {
    let status = sample_status();
    let json = serde_json::to_string(&status).unwrap();
    assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["last_fetch"], "2024-05-01T12:00:00Z");
    assert_eq!(value["secrets"][1]["state"], "failed");
    assert_eq!(value["refused"][0]["reason_code"], "policy");
    assert_eq!(value["refused"][0]["document"], 1);
    assert!(value["git_error"].is_null());
}

#[test]
fn reconcile_keeps_last_applied_of_secrets_it_did_not_write() {
    let board = StatusBoard::new();
    let key = SecretKey::new("ns", "a");
    let first = Timestamp::from_unix_seconds(100);
    board.record_reconcile(
        first,
        vec![SecretStatus::new(&key, "a.yaml", SecretState::Applied).with_last_applied(first)],
        vec![],
    );
    board.record_reconcile(
        Timestamp::from_unix_seconds(200),
        vec![SecretStatus::new(&key, "a.yaml", SecretState::Failed).with_error("a.yaml: mac")],
        vec![],
    );
    let status = board.snapshot();
    assert_eq!(status.secrets[0].state, SecretState::Failed);
    assert_eq!(status.secrets[0].last_applied, Some(first));
    assert_eq!(
        status.last_reconcile,
        Some(Timestamp::from_unix_seconds(200))
    );

    // A Secret gone from the report is gone from the board.
    board.record_reconcile(Timestamp::from_unix_seconds(300), vec![], vec![]);
    assert!(board.snapshot().secrets.is_empty());
}

#[test]
fn fetch_clears_the_git_error_and_credentials_never_reach_the_board() {
    let board = StatusBoard::new();
    board.record_git_error(
        "fetching https://bot:ghp_s3cret@git.example.com/org/repo.git: timed out",
    );
    let error = board.snapshot().git_error.unwrap();
    assert_eq!(
        error,
        "fetching https://***@git.example.com/org/repo.git: timed out"
    );
    board.record_fetch("abc", Timestamp::from_unix_seconds(1));
    let status = board.snapshot();
    assert_eq!(status.git_error, None);
    assert_eq!(status.commit.as_deref(), Some("abc"));
}

/// A refused commit is told with its reason code; the next good fetch clears both.
#[test]
fn a_git_failure_carries_its_reason_code_until_a_fetch_succeeds() {
    let board = StatusBoard::new();
    board.record_git_error("unreachable");
    assert_eq!(board.snapshot().git_error_reason.as_deref(), Some("git"));
    board.record_git_failure(
        Reason::UnsignedCommit,
        "commit 1234 is refused: it is not signed",
    );
    let status = board.snapshot();
    assert_eq!(status.git_error_reason.as_deref(), Some("unsigned_commit"));
    assert_eq!(
        status.git_error.as_deref(),
        Some("commit 1234 is refused: it is not signed")
    );
    board.record_fetch("abc", Timestamp::from_unix_seconds(1));
    let status = board.snapshot();
    assert_eq!((status.git_error, status.git_error_reason), (None, None));
}

/// The board redacts with git's redactor: user information, query strings and ssh passwords, wherever a
/// message comes from.
#[test]
fn messages_are_redacted_as_git_redacts_urls() {
    let board = StatusBoard::new();
    let message = "a http://u:p4ss@h/x?private_token=t0ken and ssh://git:s3cret@h2/r.git end";
    board.record_git_error(message);
    board.record_reconcile(
        Timestamp::from_unix_seconds(1),
        vec![
            SecretStatus::new(&SecretKey::new("a", "b"), "b.yaml", SecretState::Failed)
                .with_error(message),
        ],
        vec![RefusedDocument::new("b.yaml", None, Reason::Git, message)],
    );
    let status = serde_json::to_value(board.snapshot()).unwrap();
    let expected = redact_url(message);
    assert_eq!(
        expected,
        "a http://***@h/x?*** and ssh://git:***@h2/r.git end"
    );
    assert_eq!(status["git_error"], expected);
    assert_eq!(status["secrets"][0]["last_error"], expected);
    assert_eq!(status["refused"][0]["message"], expected);
    for text in ["no url here", "ssh://git@github.com/org/repo.git", ""] {
        assert_eq!(redact_url(text), text);
    }
}

#[test]
fn upsert_replaces_one_entry_and_keeps_order() {
    let board = StatusBoard::new();
    board.upsert_secret(SecretStatus::new(
        &SecretKey::new("b", "x"),
        "x.yaml",
        SecretState::Pending,
    ));
    board.upsert_secret(
        SecretStatus::new(&SecretKey::new("a", "y"), "y.yaml", SecretState::Applied)
            .with_last_applied(Timestamp::from_unix_seconds(5)),
    );
    board.upsert_secret(SecretStatus::new(
        &SecretKey::new("a", "y"),
        "y.yaml",
        SecretState::Unchanged,
    ));
    let status = board.snapshot();
    assert_eq!(status.secrets.len(), 2);
    assert_eq!(status.secrets[0].name, "y");
    assert_eq!(status.secrets[0].state, SecretState::Unchanged);
    assert_eq!(
        status.secrets[0].last_applied,
        Some(Timestamp::from_unix_seconds(5))
    );
}

#[test]
fn a_partial_reconcile_patches_what_it_names_and_keeps_the_rest() {
    let board = StatusBoard::new();
    let key = |n: &str| SecretKey::new("ns", n);
    let at = Timestamp::from_unix_seconds;
    board.record_reconcile(
        at(1),
        ["a", "b", "c"]
            .iter()
            .map(|n| {
                SecretStatus::new(&key(n), format!("{n}.yaml"), SecretState::Applied)
                    .with_last_applied(at(1))
            })
            .collect(),
        vec![],
    );
    let refused = RefusedDocument::new(
        "d.yaml",
        None,
        Reason::Parse,
        "d.yaml: bad, see https://u:p@h/x",
    );
    board.record_partial(
        at(2),
        vec![
            SecretStatus::new(&key("b"), "b.yaml", SecretState::Failed).with_error("b: mac"),
            SecretStatus::new(&key("aa"), "aa.yaml", SecretState::Applied),
            SecretStatus::new(&key("c"), "", SecretState::Pruned),
        ],
        &[key("a")],
        vec![refused],
    );
    let status = board.snapshot();
    let names: Vec<(&str, SecretState)> = status
        .secrets
        .iter()
        .map(|s| (s.name.as_str(), s.state))
        .collect();
    assert_eq!(
        names,
        [
            ("aa", SecretState::Applied),
            ("b", SecretState::Failed),
            ("c", SecretState::Pruned)
        ]
    );
    assert_eq!(
        status.secrets[1].last_applied,
        Some(at(1)),
        "kept from before"
    );
    assert_eq!(
        status.refused[0].message,
        "d.yaml: bad, see https://***@h/x"
    );
    assert_eq!(status.last_reconcile, Some(at(2)));

    // The next partial pass drops the pruned entry, whatever it names.
    board.record_partial(at(3), vec![], &[], vec![]);
    let names: Vec<String> = board
        .snapshot()
        .secrets
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, ["aa", "b"]);
}
