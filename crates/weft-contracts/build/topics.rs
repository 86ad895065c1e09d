//! The fields of a topic spec (`topics/<system>/<topic>.yaml`) a contract takes: the rest of the
//! spec (partitions, retention, ...) is `weft_core::spec`'s, which validates the whole file.

use std::path::Path;

use serde::Deserialize;

/// What the generator reads of one topic spec.
#[derive(Debug, Deserialize)]
pub struct TopicSpec {
    #[serde(skip)]
    pub file: String,
    pub name: String,
    pub event_type: String,
    #[serde(default)]
    pub event_version: Option<String>,
    pub key: String,
    #[serde(default)]
    pub value_schema: Option<String>,
    #[serde(default = "normal")]
    pub priority: String,
}

fn normal() -> String {
    "normal".into()
}

/// Every topic spec under `dir` (its `groups/` and `migrations/` folders and other listings
/// aside), sorted by file.
pub fn load(dir: &Path, root: &Path) -> Result<Vec<TopicSpec>, String> {
    let mut files = Vec::new();
    crate::schema::collect_files(dir, "yaml", &mut files)?;
    files.sort();
    let mut specs = Vec::new();
    for file in files {
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        if file.parent() == Some(dir)
            || file
                .components()
                .any(|c| c.as_os_str() == "groups" || c.as_os_str() == "migrations")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{shown}: {e}"))?;
        let mut spec: TopicSpec =
            serde_yaml_ng::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
        spec.file = shown;
        specs.push(spec);
    }
    Ok(specs)
}
