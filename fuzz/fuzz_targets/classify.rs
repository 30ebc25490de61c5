//! The agent's manifest classifier (`sealsync_agent::documents::Classifier::classify`) on arbitrary
//! bytes: every input becomes Secrets, refusals, ignored objects or references — never a panic. The
//! first byte picks the file's path (YAML or JSON; a team folder under a namespace policy, the
//! platform folder where ClusterSecretStores are allowed, a kustomization).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealsync_agent::documents::{Classifier, ClusterStorePaths};
use sealsync_agent::keys::{Identities, IdentitySource};
use sealsync_agent::policy::{DecryptionPolicy, Fallback, NamespacePolicy, PolicyRule};

const PATHS: [&str; 6] = [
    "team-a/secret.yaml",
    "team-a/secret.json",
    "team-b/app/secret.yaml",
    "platform/stores.yaml",
    "team-a/kustomization.yaml",
    "elsewhere.yml",
];

struct Setup {
    identities: Identities,
    decryption: DecryptionPolicy,
    policy: NamespacePolicy,
    cluster_store_paths: ClusterStorePaths,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut identities = Identities::default();
        identities
            .add(IdentitySource::Inline {
                origin: "fuzz".into(),
                text: include_str!("../../tests/fixtures/sops/keys/all-three.agekeys")
                    .to_string()
                    .into(),
            })
            .expect("the fixture keys load");
        let rules = [
            "team-a/**=team-a",
            "team-b/**=team-b,shared",
            "platform/**=*",
        ]
        .into_iter()
        .map(|r| PolicyRule::parse(r).expect("a valid rule"))
        .collect();
        Setup {
            identities,
            decryption: DecryptionPolicy::default(),
            policy: NamespacePolicy::new(rules, Fallback::AllowAll),
            cluster_store_paths: ClusterStorePaths::new(&["platform/**".to_string()])
                .expect("a valid glob"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let s = setup();
    let classifier = Classifier {
        identities: &s.identities,
        decryption: &s.decryption,
        policy: &s.policy,
        default_namespace: "team-a",
        max_file_size: 1024 * 1024,
        cluster_store_paths: &s.cluster_store_paths,
    };
    let path = PATHS[usize::from(selector) % PATHS.len()];
    let out = classifier.classify(path, input, "c0ffee");
    for refusal in &out.refused {
        // Every refusal names its file (the message a user reads starts with the path).
        assert!(refusal.to_string().starts_with(path));
    }
});
