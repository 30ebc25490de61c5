//! The ESO template engine (`sealsync_template`): arbitrary text parsed as a template and, when it
//! parses, executed against fixed data within the shipped limits — an error or output, never a panic,
//! and never output past `Limits::max_output`.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealsync_template::{Data, Limits, Template};
use zeroize::Zeroizing;

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut values = BTreeMap::new();
        for (key, value) in [
            ("user", &b"admin"[..]),
            ("password", b"s3cr3t\n"),
            ("json", br#"{"a":[1,2,{"b":null}],"c":"d"}"#),
            ("yaml", b"a: 1\nb: [x, y]\nc: {d: e}\n"),
            ("b64", b"aGVsbG8="),
            ("binary", b"\xff\x00\xfe"),
        ] {
            values.insert(key.to_string(), Zeroizing::new(value.to_vec()));
        }
        Data::new(&values)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse("fuzz", source) else {
        return;
    };
    if let Ok(out) = template.execute(self::data()) {
        assert!(out.len() <= Limits::DEFAULT.max_output);
    }
});
