//! Flattening of nested metadata for dotenv and INI (being written).
