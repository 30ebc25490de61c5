//! Arbitrary bytes as a sops file, decrypted with a fixed identity (the fixtures' key `one`): never a
//! panic. The first byte picks the store. A file that does decrypt is written plain and encrypted again,
//! and the re-encrypted file must decrypt to the same documents.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealsync_sops::keys::{Identities, IdentitySource};
use sealsync_sops::sops::file;
use sealsync_sops::sops::stores::Format;

const FORMATS: [Format; 5] = [
    Format::Yaml,
    Format::Json,
    Format::Dotenv,
    Format::Ini,
    Format::Binary,
];

fn identities() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut ids = Identities::default();
        ids.add(IdentitySource::Inline {
            origin: "fuzz".into(),
            text: include_str!("../../tests/fixtures/sops/keys/one.agekey")
                .to_string()
                .into(),
        })
        .expect("the fixture key loads");
        ids
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    let _ = file::read_metadata(input, format);
    let Ok(mut decrypted) = file::decrypt(input, format, identities()) else {
        return;
    };
    let _ = decrypted.emit_plain(format);
    let Ok(again) = decrypted.encrypt(format) else {
        return;
    };
    let reread = file::decrypt(&again, format, identities()).unwrap_or_else(|e| {
        panic!(
            "a re-encrypted {} file does not decrypt: {e}",
            format.name()
        )
    });
    assert!(
        sealsync_fuzz::same_docs(decrypted.docs(), reread.docs()),
        "re-encrypting changed the documents"
    );
});
