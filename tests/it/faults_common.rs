//! What the end-to-end fault tests share: reading one Secret's or document's line of `/status`, and printing the
//! recovery time of a fault ("fault cleared → converged"), which docs/reliability.md collects.

use std::time::Duration;

/// The `state` and `last_error` of `namespace/name` in a `/status` document.
pub fn secret_status(status: &str, namespace: &str, name: &str) -> Option<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(status).ok()?;
    let entry = doc["secrets"]
        .as_array()?
        .iter()
        .find(|s| s["namespace"] == namespace && s["name"] == name)?;
    Some((
        entry["state"].as_str().unwrap_or_default().to_string(),
        entry["last_error"].as_str().unwrap_or_default().to_string(),
    ))
}

/// Why `/status` says the document at `source` produced no Secret: its `reason_code` and message.
pub fn refusal(status: &str, source: &str) -> Option<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(status).ok()?;
    let entry = doc["refused"]
        .as_array()?
        .iter()
        .find(|r| r["source"] == source)?;
    Some((
        entry["reason_code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        entry["message"].as_str().unwrap_or_default().to_string(),
    ))
}

/// Prints how long the agent took to converge once `fault` cleared, and what it told meanwhile (run
/// with `--nocapture`). Printed, never asserted: the suite runs on two loaded cores.
pub fn recovered(fault: &str, took: Duration, told: &str) {
    println!(
        "FAULT {fault}: converged {:.2} s after the fault cleared; meanwhile: {told}",
        took.as_secs_f64()
    );
}
