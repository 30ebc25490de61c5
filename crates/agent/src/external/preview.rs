//! What each ExternalSecret and AVP Secret would fetch and from which store, decided as the resolver
//! decides it but without contacting anything: `sealctl render --no-resolve`, and where `sealctl render`
//! says which store a resolved Secret came from.

use std::sync::Arc;

use super::plan;
use super::stores::Secrets;
use super::Resolver;
use crate::desired::SecretKey;
use crate::documents::ExternalObject;

/// One target Secret of a reference document, as the resolver would plan it.
#[derive(Debug)]
pub struct Preview {
    /// The Secret it writes.
    pub key: SecretKey,
    pub object: Arc<ExternalObject>,
    /// The store that serves it (`SecretStore app/bao`, `ClusterSecretStore vault`), once found.
    pub store: Option<String>,
    /// Why it cannot be resolved whatever the store answers (unknown store, missing credentials, a
    /// file declaring the same Secret), in the resolver's words. Never holds a value.
    pub problem: Option<String>,
}

/// The plan of every target among `objects`, in path order. `secrets` are the Secrets the files of the
/// same folder declare, where store credentials are looked up (and which win over a reference).
pub fn preview(
    objects: &[Arc<ExternalObject>],
    secrets: &Secrets,
    resolver: &Resolver,
) -> Vec<Preview> {
    let plans = plan::plans(
        objects,
        secrets,
        resolver.default_store.as_deref(),
        &resolver.env_credentials,
    );
    plans
        .into_iter()
        .map(|(key, planned)| {
            let (object, store, problem) = match planned {
                Ok(p) => {
                    let problem = p
                        .store
                        .credentials
                        .as_ref()
                        .err()
                        .map(|why| format!("store {}: {why}", p.store.display));
                    (p.object, Some(p.store.display), problem)
                }
                Err((object, why)) => (object, None, Some(why)),
            };
            let problem = problem.or_else(|| {
                secrets
                    .contains_key(&key)
                    .then(|| super::declared_by_file(&key))
            });
            Preview {
                key,
                object,
                store,
                problem,
            }
        })
        .collect()
}
