//! `employee.hired`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EVENT_VERSION;
use crate::macros::contract;
use crate::time::ts;
use crate::Example;

/// A new employee was hired (Avro `collector.employee.EmployeeHired`, seed 001 schema 10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmployeeHired {
    /// The employee (UUID); the Kafka key.
    pub employee_id: String,
    /// Employee number.
    pub employee_number: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Work e-mail.
    pub email: String,
    /// Job title.
    pub position: String,
    /// Department.
    pub department: Option<String>,
    /// Start of employment (a timestamp in the seed).
    #[serde(with = "crate::time::millis")]
    pub hire_date: DateTime<Utc>,
}

contract!(EmployeeHired, schema: "collector.employee.EmployeeHired", topic: "collector.employee.hired.v1",
    event_type: "employee.hired", version: EVENT_VERSION, priority: Normal, key: employee_id);

impl Example for EmployeeHired {
    fn example() -> Self {
        EmployeeHired {
            employee_id: "dd44ee55-ff66-4a77-b188-229900112233".into(),
            employee_number: "EMP-001".into(),
            first_name: "John".into(),
            last_name: "Doe".into(),
            email: "john.doe@company.com".into(),
            position: "Software Engineer".into(),
            department: Some("Engineering".into()),
            hire_date: ts("2024-01-15T08:00:00.000Z"),
        }
    }
}
