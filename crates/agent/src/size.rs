//! Byte sizes as people write them in flags, environment values and config files: `5MiB`, `512KiB`,
//! `1048576`. Shared by the agent's settings and sealctl's `--max-file-size`.

/// Parses `5MiB`, `512KiB`, `1048576`, `5M`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size (examples: 5MiB, 512KiB, 1048576)"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return Err(format!("'{text}': unknown unit (use KiB, MiB or GiB)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too large"))
}
