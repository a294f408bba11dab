//! Operations as data: scenario files (`eipsim scenario`) and event
//! files (`eipsim replay --events`). An operation carries the provider's API name in `op` and
//! its parameters in snake_case; it is applied to a [`Cloud`](crate::model::Cloud) through the console's operations,
//! so every rule of the seeds is checked the same way as for a topology file.
//!
//! - `operation`: [`Operation`], one console operation as data, and how it applies to a cloud;
//! - `parse`: scenario, events and operations files read into steps, events and planned
//!   operations ([`load_scenario`], [`load_events`], [`load_operations`]);
//! - `run`: a scenario run step by step and its report ([`run_scenario`], [`scenario_report`]).

mod operation;
mod parse;
mod run;

pub use operation::{Operation, RuleParams};
pub use parse::{
    Event, Expect, PlannedOp, Scenario, ScenarioError, Step, load_events, load_operations,
    load_scenario,
};
pub use run::{StepResult, run_scenario, scenario_report};
