//! Secrets carrying argocd-vault-plugin placeholders: which Secrets count, their plan, and its filling.

pub mod fill;
pub mod parse;
