//! Generates the typed contracts from the repository's `avro/` schemas and `topics/` specs (see
//! `build/rust.rs` for what is generated and how it is named). The output goes to `OUT_DIR` and
//! is never committed: the `.avsc` is the only place a field is written.
//!
//! A schema the generator cannot map, a topic spec naming a schema that is not there, or an
//! example that does not fit its schema stops the build with the file and field path.

mod rust;
mod schema;
mod topics;

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .expect("crates/weft-contracts sits two levels below the repository root")
        .to_path_buf();
    let avro = root.join("avro");
    let topics = root.join("topics");
    println!("cargo:rerun-if-changed={}", avro.display());
    println!("cargo:rerun-if-changed={}", topics.display());
    println!("cargo:rerun-if-changed=build");
    if let Err(e) = run(&root, &avro, &topics) {
        eprintln!("error: generating the contracts: {e}");
        std::process::exit(1);
    }
}

fn run(root: &Path, avro: &Path, topics: &Path) -> Result<(), String> {
    let schemas = schema::Schemas::load(avro)?;
    let specs = topics::load(topics, root)?;
    let generated = rust::generate(&schemas, &specs, root)?;
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    for system in ["b2b", "collector", "composerp", "cypher", "viscount"] {
        let body = generated.systems.get(system).cloned().unwrap_or_default();
        write(&out.join(format!("{system}.rs")), &body)?;
    }
    if let Some(other) = generated
        .systems
        .keys()
        .find(|s| !["b2b", "collector", "composerp", "cypher", "viscount"].contains(&s.as_str()))
    {
        return Err(format!(
            "namespace {other}.*: add `pub mod {other};` with its EVENT_VERSION to weft-contracts (src/{other}/mod.rs) and to the list in build/main.rs"
        ));
    }
    write(&out.join("registry.rs"), &generated.registry)
}

/// Writes only when the content changed, so dependants are not rebuilt for nothing.
fn write(path: &Path, content: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    std::fs::write(path, content).map_err(|e| format!("{}: {e}", path.display()))
}
