//! weft's seed processors. Each flow is a pure function from one input event to its outputs
//! (see `weft_runtime::typed`); each service is a [`Processor`] registered in [`all`], the
//! explicit list `weft run` starts.
//!
//! Adding a processor: write its function(s) in the module of its system, its output schema in
//! `avro/` and topic spec in `topics/` (with the processor's group in the input spec's
//! `consumers`), and add one line to [`all`]. The compliance test (`tests` below) then checks it.

pub mod b2b;

use weft_runtime::Processor;

/// Settings processors read (from the environment in `weft run`).
#[derive(Debug, Clone, Default)]
pub struct ProcessorConfig {}

/// Every registered processor.
pub fn all(_config: &ProcessorConfig) -> Vec<Processor> {
    vec![b2b::notifications::processor(), b2b::inventory::processor()]
}

/// The registered processor named `name`.
pub fn by_name(config: &ProcessorConfig, name: &str) -> Option<Processor> {
    all(config).into_iter().find(|p| p.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_processor_is_compliant() {
        let specs = weft_core::spec::SpecSet::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../topics"),
        )
        .unwrap();
        let processors = all(&ProcessorConfig::default());
        assert!(!processors.is_empty());
        let mut names: Vec<&str> = processors.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            processors.len(),
            "processor names must be unique"
        );
        let problems: Vec<String> = processors
            .into_iter()
            .flat_map(|p| weft_runtime::compliance(p, &specs))
            .collect();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
