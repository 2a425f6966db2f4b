//! The kernel complaints that fail a lab run: the library's list
//! (`chapters-code/alarms.toml`), which the workshop's checks on a running
//! kernel read too.

pub use dm_workbook::alarms::*;
