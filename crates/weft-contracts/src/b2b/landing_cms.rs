//! `landing-cms.content-updated`, `landing-cms.content-published`.

use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::Example;

crate::avro_enum! {
    /// Section of the landing page.
    pub enum LandingSection {
        Hero = "hero", TrustLogos = "trustLogos", ProductShowcase = "productShowcase",
        ShowroomInfo = "showroomInfo", ContactSection = "contactSection", Footer = "footer";
        default Unknown = "unknown"
    }
}

/// A landing page section was edited (Avro `b2b.landing_cms.ContentUpdated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentUpdated {
    /// The content (UUID, the aggregateId); the Kafka key.
    pub content_id: String,
    /// Edited section.
    pub section: LandingSection,
    /// Version before.
    pub previous_version: i32,
    /// Version after.
    pub new_version: i32,
}

contract!(ContentUpdated, schema: "b2b.landing_cms.ContentUpdated", topic: "b2b.landing-cms.content-updated.v1",
    event_type: "landing-cms.content-updated", version: EVENT_VERSION, priority: Normal, key: content_id);

impl Example for ContentUpdated {
    fn example() -> Self {
        ContentUpdated {
            content_id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
            section: LandingSection::Hero,
            previous_version: 5,
            new_version: 6,
        }
    }
}

/// A landing page version was published (Avro `b2b.landing_cms.ContentPublished`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPublished {
    /// The content (UUID, the aggregateId); the Kafka key.
    pub content_id: String,
    /// Published version.
    pub version: i32,
    /// Publishing admin's e-mail.
    pub published_by: String,
}

contract!(ContentPublished, schema: "b2b.landing_cms.ContentPublished", topic: "b2b.landing-cms.content-published.v1",
    event_type: "landing-cms.content-published", version: EVENT_VERSION, priority: Normal, key: content_id);

impl Example for ContentPublished {
    fn example() -> Self {
        ContentPublished {
            content_id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
            version: 6,
            published_by: "admin@example.com".into(),
        }
    }
}
