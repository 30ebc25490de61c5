//! ExternalSecret documents as users write them: every field, every default, and the bad ones.

mod common;

use std::time::Duration;

use common::{doc, docs, yaml};
use sealsync_external::*;

fn parse(name: &str) -> Result<ExternalSecret, Error> {
    ExternalSecret::parse(&docs(name)[0], &format!("apps/{name}"))
}

#[test]
fn every_field_is_read() {
    let es = parse("es-full.yaml").unwrap();
    assert_eq!(
        es.unsupported,
        vec![],
        "nothing unsupported in the full example"
    );
    assert_eq!(es.api_version, ApiVersion::V1);
    assert_eq!(
        es.origin.to_string(),
        "apps/es-full.yaml: ExternalSecret billing/billing-db"
    );
    assert_eq!(es.refresh_interval, Duration::from_secs(5400));
    assert_eq!(es.refresh_policy, RefreshPolicy::Periodic);
    assert_eq!(
        es.store_ref,
        Some(StoreRef {
            name: "team-vault".into(),
            kind: StoreKind::SecretStore
        })
    );
    let t = &es.target;
    assert_eq!(t.name, "billing-db-credentials");
    assert_eq!(
        (t.creation_policy, t.deletion_policy, t.immutable),
        (CreationPolicy::Orphan, DeletionPolicy::Delete, true)
    );
    let tpl = t.template.as_ref().unwrap();
    assert_eq!(tpl.secret_type.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(tpl.merge_policy, MergePolicy::Merge);
    assert_eq!(tpl.labels["app"], "billing");
    assert_eq!(tpl.annotations["rotated-by"], "sealsync");
    assert_eq!(tpl.data["username"], "{{ .user }}");
    assert_eq!(tpl.template_from.len(), 2);
    match &tpl.template_from[0].source {
        TemplateFromSource::Secret { name, items } => {
            assert_eq!(name, "dsn-templates");
            assert_eq!(
                items[0],
                TemplateItem {
                    key: "pgpass".into(),
                    template_as: TemplateScope::Values
                }
            );
            assert_eq!(items[1].template_as, TemplateScope::KeysAndValues);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tpl.template_from[0].target, TemplateTarget::Data);
    assert_eq!(tpl.template_from[1].target, TemplateTarget::Annotations);
    assert!(
        matches!(&tpl.template_from[1].source, TemplateFromSource::Literal(l) if l.contains("region"))
    );

    assert_eq!(es.data.len(), 3);
    let pw = &es.data[0];
    assert_eq!(pw.secret_key, "password");
    assert_eq!(pw.remote_ref.key, "billing/postgres");
    assert_eq!(pw.remote_ref.property.as_deref(), Some("password"));
    assert_eq!(pw.remote_ref.version.as_deref(), Some("3"));
    assert_eq!(es.data[1].remote_ref.property.as_deref(), Some("auth.user"));
    assert_eq!(es.data[2].remote_ref.decoding, DecodingStrategy::Base64);
    let own = es.data[2].store_ref.as_ref().unwrap();
    assert_eq!(
        (own.name.as_str(), own.kind),
        ("platform-vault", StoreKind::ClusterSecretStore)
    );
    assert_eq!(
        es.store_for(es.data[2].store_ref.as_ref()).unwrap().name,
        "platform-vault"
    );
    assert_eq!(
        es.store_for(es.data[0].store_ref.as_ref()).unwrap().name,
        "team-vault"
    );

    match &es.data_from[0].source {
        DataFromSource::Extract(r) => {
            assert_eq!(r.key, "billing/settings");
            assert_eq!(r.property.as_deref(), Some("limits"));
            assert_eq!(
                (r.decoding, r.conversion),
                (DecodingStrategy::Auto, ConversionStrategy::Unicode)
            );
        }
        other => panic!("{other:?}"),
    }
    match &es.data_from[1].source {
        DataFromSource::Find(f) => {
            assert_eq!(f.path.as_deref(), Some("billing/flags"));
            assert_eq!(f.name_regexp.as_deref(), Some("^feature-.*"));
            assert_eq!(f.tags["env"], "prod");
            assert_eq!(f.decoding, DecodingStrategy::Base64Url);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        es.data_from[1].rewrite,
        vec![
            Rewrite::Regexp {
                source: "billing/flags/(.*)".into(),
                target: "flag_$1".into()
            },
            Rewrite::Transform {
                template: "{{ .value | upper }}".into()
            },
        ]
    );
    assert_eq!(
        es.data_from[1].store_ref.as_ref().unwrap().name,
        "platform-aws"
    );
}

#[test]
fn defaults_apply() {
    let es = parse("es-minimal.yaml").unwrap();
    assert_eq!(es.refresh_interval, Duration::from_secs(3600));
    assert_eq!(es.refresh_policy, RefreshPolicy::Periodic);
    assert_eq!(es.store_ref.as_ref().unwrap().kind, StoreKind::SecretStore);
    assert_eq!(
        es.target.name, "api-token",
        "target.name defaults to the ExternalSecret's name"
    );
    assert_eq!(es.target.creation_policy, CreationPolicy::Owner);
    assert_eq!(es.target.deletion_policy, DeletionPolicy::Retain);
    assert!(!es.target.immutable && es.target.template.is_none());
    let r = &es.data[0].remote_ref;
    assert_eq!((r.property.as_ref(), r.version.as_ref()), (None, None));
    assert_eq!(r.decoding, DecodingStrategy::None);
    assert_eq!(r.conversion, ConversionStrategy::Default);
    assert_eq!(r.metadata_policy, MetadataPolicy::None);
    assert_eq!(r.null_bytes, NullBytePolicy::Ignore);
    assert!(es.unsupported.is_empty());
}

#[test]
fn v1beta1_fetch_once_and_merge() {
    let es = parse("es-v1beta1-once.yaml").unwrap();
    assert_eq!(es.api_version, ApiVersion::V1Beta1);
    assert_eq!(es.refresh_interval, Duration::ZERO);
    assert_eq!(es.refresh_policy, RefreshPolicy::CreatedOnce);
    assert_eq!(
        es.store_ref.as_ref().unwrap().kind,
        StoreKind::ClusterSecretStore
    );
    assert_eq!(es.target.creation_policy, CreationPolicy::Merge);
    assert_eq!(es.target.deletion_policy, DeletionPolicy::Merge);
    assert_eq!(es.metadata.namespace, None);
    assert_eq!(
        es.origin.to_string(),
        "apps/es-v1beta1-once.yaml: ExternalSecret legacy"
    );
}

#[test]
fn unsupported_fields_are_each_reported() {
    let es = parse("es-unsupported.yaml").unwrap();
    let got: Vec<String> = es.unsupported.iter().map(|u| u.to_string()).collect();
    for path in [
        "spec.refreshPolicy",
        "spec.syncWindows",
        "spec.target.creationPolicy",
        "spec.target.manifest",
        "spec.target.template.engineVersion",
        "spec.target.template.templateFrom[0].configMap",
        "spec.data[0].remoteRef.colour",
        "spec.dataFrom[0].sourceRef.generatorRef",
        "spec.dataFrom[1].rewrite[0].merge",
        "spec.somethingNew",
    ] {
        assert!(
            got.iter()
                .any(|g| g.starts_with(&format!("unsupported: {path}"))),
            "{path} not reported in {got:#?}"
        );
    }
    assert!(
        got.iter().any(|g| g.contains("Sometimes")),
        "the unknown value is named: {got:#?}"
    );
    assert_eq!(es.data_from.len(), 1, "the generator entry is not modelled");
}

#[test]
fn unknown_store_kind_is_an_error_naming_file_object_and_field() {
    let e = parse("es-bad-store-kind.yaml").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Invalid { .. }));
    for part in [
        "apps/es-bad-store-kind.yaml",
        "web/typo",
        "spec.secretStoreRef.kind",
        "SecretStores",
    ] {
        assert!(msg.contains(part), "{part} missing from {msg}");
    }
}

fn es_with(spec: &str) -> Result<ExternalSecret, Error> {
    let text = format!("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: t\n  namespace: ns\nspec:\n{spec}");
    ExternalSecret::parse(&yaml(&text), "t.yaml")
}

fn err_field(spec: &str) -> String {
    match es_with(spec).unwrap_err() {
        Error::Invalid { field, .. } => field,
        other => panic!("{other}"),
    }
}

#[test]
fn validation_errors_name_the_field() {
    let store = "  secretStoreRef: {name: v}\n";
    assert_eq!(
        err_field(&format!("{store}  data:\n    - remoteRef: {{key: a}}\n")),
        "spec.data[0].secretKey"
    );
    assert_eq!(
        err_field(&format!("{store}  data:\n    - secretKey: a\n")),
        "spec.data[0].remoteRef"
    );
    assert_eq!(
        err_field(&format!(
            "{store}  data:\n    - secretKey: a\n      remoteRef: {{property: x}}\n"
        )),
        "spec.data[0].remoteRef.key"
    );
    assert_eq!(
        err_field(&format!(
            "{store}  data:\n    - secretKey: a/b\n      remoteRef: {{key: k}}\n"
        )),
        "spec.data[0].secretKey"
    );
    assert_eq!(err_field(&format!("{store}  refreshInterval: 1d\n  data:\n    - secretKey: a\n      remoteRef: {{key: k}}\n")), "spec.refreshInterval");
    assert_eq!(
        err_field(&format!(
            "{store}  dataFrom:\n    - find:\n        name: {{regexp: '(['}}\n"
        )),
        "spec.dataFrom[0].find.name.regexp"
    );
    assert_eq!(
        err_field(&format!("{store}  dataFrom:\n    - find: {{path: x}}\n")),
        "spec.dataFrom[0].find.name"
    );
    assert_eq!(
        err_field(&format!("{store}  dataFrom:\n    - rewrite: []\n")),
        "spec.dataFrom[0].extract"
    );
    assert_eq!(err_field(&format!("{store}  dataFrom:\n    - extract: {{key: a}}\n      rewrite:\n        - regexp: {{source: '(', target: x}}\n")), "spec.dataFrom[0].rewrite[0].regexp.source");
    assert_eq!(err_field(store), "spec");
    assert_eq!(
        err_field(&format!("{store}  data: []\n  dataFrom: []\n")),
        "spec",
        "empty lists count as none"
    );
    assert_eq!(
        err_field("  data:\n    - secretKey: a\n      remoteRef: {key: k}\n"),
        "spec.data[0].sourceRef"
    );
    assert_eq!(err_field(&format!("{store}  target: {{name: Bad_Name}}\n  data:\n    - secretKey: a\n      remoteRef: {{key: k}}\n")), "spec.target.name");
    assert_eq!(
        err_field(&format!("{store}  data:\n    - secretKey: a\n      remoteRef: {{key: k}}\n    - secretKey: a\n      remoteRef: {{key: j}}\n")),
        "spec.data[1].secretKey",
        "duplicate keys with deletionPolicy Retain"
    );
}

/// A template is parsed when the ExternalSecret is read: a function outside the supported set or bad
/// syntax refuses the document, naming the field and the function, before any store is asked (found by
/// the hostile corpus: they surfaced only after a successful fetch, and never under `render --no-resolve`).
#[test]
fn templates_are_parsed_when_the_external_secret_is_read() {
    let item =
        "  secretStoreRef: {name: v}\n  data:\n    - secretKey: a\n      remoteRef: {key: k}\n";
    let with = |template: &str| format!("{item}  target:\n    template:\n{template}");
    for (template, field, says) in [
        (
            "      data:\n        out: '{{ env \"HOME\" }}'\n",
            "spec.target.template.data",
            "function \"env\" not defined",
        ),
        (
            "      data:\n        out: '{{ .a | getHostByName }}'\n",
            "spec.target.template.data",
            "function \"getHostByName\" not defined",
        ),
        (
            "      data:\n        out: '{{ .a '\n",
            "spec.target.template.data",
            "template: out:1:",
        ),
        (
            "      templateFrom:\n        - literal: '{{ define \"x\" }}{{ end }}'\n",
            "spec.target.template.templateFrom",
            "\"define\" is not supported",
        ),
    ] {
        match es_with(&with(template)).unwrap_err() {
            Error::Invalid {
                field: f, reason, ..
            } => {
                assert_eq!(f, field, "{template}");
                assert!(reason.contains(says), "{says:?} not in {reason:?}");
            }
            other => panic!("{other}"),
        }
    }
    let good = with("      data:\n        out: '{{ .a | upper }}'\n");
    assert!(es_with(&good).is_ok());
}

#[test]
fn eso_admission_rules() {
    let item =
        "  secretStoreRef: {name: v}\n  data:\n    - secretKey: a\n      remoteRef: {key: k}\n";
    for target in [
        "{creationPolicy: Merge, deletionPolicy: Delete}",
        "{creationPolicy: None, deletionPolicy: Delete}",
        "{creationPolicy: None, deletionPolicy: Merge}",
    ] {
        assert_eq!(
            err_field(&format!("{item}  target: {target}\n")),
            "spec.target.deletionPolicy",
            "{target}"
        );
    }
    let bootstrap =
        format!("{item}  target:\n    template:\n      type: bootstrap.kubernetes.io/token\n");
    assert_eq!(err_field(&bootstrap), "spec.target.template.type");
    let sa = format!("{item}  target:\n    template:\n      type: kubernetes.io/service-account-token\n      metadata:\n        annotations:\n          kubernetes.io/service-account.name: admin\n");
    assert_eq!(err_field(&sa), "spec.target.template.metadata.annotations");
    let tf = format!("{item}  target:\n    template:\n      templateFrom:\n        - literal: x\n          target: spec.type\n");
    assert_eq!(
        err_field(&tf),
        "spec.target.template.templateFrom[0].target"
    );
    let ok = format!("{item}  target:\n    template:\n      templateFrom:\n        - literal: 'a: b'\n          target: labels\n");
    assert_eq!(
        es_with(&ok).unwrap().target.template.unwrap().template_from[0].target,
        TemplateTarget::Labels
    );
}

#[test]
fn documents_that_are_not_external_secrets() {
    let not = yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n");
    assert!(matches!(
        ExternalSecret::parse(&not, "x.yaml"),
        Err(Error::Document { .. })
    ));
    let other_group =
        yaml("apiVersion: example.com/v1\nkind: ExternalSecret\nmetadata: {name: x}\nspec: {}\n");
    let e = ExternalSecret::parse(&other_group, "x.yaml").unwrap_err();
    assert!(e.to_string().contains("example.com/v1"), "{e}");
    let nameless =
        yaml("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {}\nspec: {}\n");
    assert!(ExternalSecret::parse(&nameless, "x.yaml")
        .unwrap_err()
        .to_string()
        .contains("metadata.name"));
    let no_spec =
        yaml("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: x}\n");
    assert!(matches!(
        ExternalSecret::parse(&no_spec, "x.yaml"),
        Err(Error::Invalid { .. })
    ));
    let _ = doc("es-full.yaml", "billing-db");
}

#[test]
fn refresh_interval_as_yaml_zero_number() {
    let es = es_with("  refreshInterval: 0\n  secretStoreRef: {name: v}\n  data:\n    - secretKey: a\n      remoteRef: {key: k}\n").unwrap();
    assert_eq!(es.refresh_interval, Duration::ZERO);
    assert!(es_with("  refreshInterval: 5\n  secretStoreRef: {name: v}\n  data:\n    - secretKey: a\n      remoteRef: {key: k}\n").is_err());
    assert!(es_with("  refreshInterval: -1h\n  secretStoreRef: {name: v}\n  data:\n    - secretKey: a\n      remoteRef: {key: k}\n").is_err());
}
