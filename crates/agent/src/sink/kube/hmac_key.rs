//! The fingerprint HMAC key, kept in the cluster in Secret `sealsync-fingerprint-key` of the agent's
//! own namespace: created with 32 random bytes on first start, read by every later start and replica.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::{Api, Client};
use zeroize::Zeroize;

use super::apply::LiveSecret;
use super::{api_error, status_code};
use crate::desired::{FingerprintKey, SecretKey};
use crate::sink::SinkError;

/// Name of the Secret holding the key.
pub const KEY_SECRET: &str = "sealsync-fingerprint-key";
/// The `data` entry holding the key bytes.
pub const KEY_FIELD: &str = "key";
/// Shorter keys are refused: HMAC-SHA256 wants at least its output size.
pub const MIN_KEY_LEN: usize = 32;

/// Reads the key, creating it first when it does not exist yet. When two replicas start together both
/// may try to create it: the loser gets 409 AlreadyExists and reads the winner's.
pub async fn load_or_create(
    client: Client,
    own_namespace: &str,
) -> Result<FingerprintKey, SinkError> {
    let api: Api<Secret> = Api::namespaced(client, own_namespace);
    let key = SecretKey::new(own_namespace, KEY_SECRET);
    if let Some(found) = read(&api, &key).await? {
        return Ok(found);
    }
    let fresh = FingerprintKey::generate();
    let secret = LiveSecret(Secret {
        metadata: ObjectMeta {
            name: Some(KEY_SECRET.into()),
            namespace: Some(own_namespace.into()),
            // Deliberately not `app.kubernetes.io/managed-by: sealsync`: that would make it a managed
            // Secret the reconcile loop could prune.
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/part-of".into(), "sealsync".into()),
                (
                    "app.kubernetes.io/component".into(),
                    "fingerprint-key".into(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            KEY_FIELD.into(),
            ByteString(fresh.expose().to_vec()),
        )])),
        immutable: Some(true),
        ..Secret::default()
    });
    let created = api.create(&PostParams::default(), &secret).await;
    drop(secret);
    match created.map(LiveSecret) {
        Ok(_) => {
            tracing::info!(
                namespace = own_namespace,
                secret = KEY_SECRET,
                "created the fingerprint key"
            );
            Ok(fresh)
        }
        Err(e) if status_code(&e) == Some(409) => read(&api, &key).await?.ok_or_else(|| {
            SinkError::Other(format!(
                "{key}: creating it answered AlreadyExists, yet it cannot be read"
            ))
        }),
        Err(e) => Err(api_error(&key, "create the fingerprint key", e)),
    }
}

async fn read(api: &Api<Secret>, key: &SecretKey) -> Result<Option<FingerprintKey>, SinkError> {
    let Some(mut secret) = api
        .get_opt(&key.name)
        .await
        .map_err(|e| api_error(key, "read the fingerprint key", e))?
        .map(LiveSecret)
    else {
        return Ok(None);
    };
    let bytes = secret
        .0
        .data
        .as_mut()
        .and_then(|d| d.get_mut(KEY_FIELD))
        .map(|v| std::mem::take(&mut v.0));
    drop(secret);
    match bytes {
        Some(b) if b.len() >= MIN_KEY_LEN => Ok(Some(FingerprintKey::new(b))),
        Some(mut b) => {
            let len = b.len();
            b.zeroize();
            Err(SinkError::Other(format!(
                "{key}: data.{KEY_FIELD} holds {len} bytes, fewer than the {MIN_KEY_LEN} required; delete the Secret to have a new key made"
            )))
        }
        None => Err(SinkError::Other(format!(
            "{key}: has no data.{KEY_FIELD}; delete the Secret to have a new key made"
        ))),
    }
}
