//! AWS Secrets Manager: the store's configuration, as ESO's `aws` SecretStore provider has it.
