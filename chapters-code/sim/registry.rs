//! Target types: registered, and loaded on demand.

use std::sync::Arc;

use super::Simulator;
use crate::dm::TargetVersion;
use crate::dm::target::TargetType;
use crate::errno::Errno;

impl Simulator {
    /// `dm_register_target`: make a target type usable in tables, as loading
    /// its module does. Fails with `EEXIST` if the name is taken.
    pub fn register_target(&mut self, target_type: Arc<dyn TargetType>) -> Result<(), Errno> {
        let name = target_type.name();
        if self.registered_type(name).is_some() {
            self.log(format!("device-mapper: ioctl: {name}: register failed -17"));
            return Err(Errno::EEXIST);
        }
        self.registered.insert(0, target_type);
        Ok(())
    }

    /// `dm_unregister_target`, as unloading the module does. A module whose
    /// target is still in a table is busy and cannot be unloaded.
    pub fn unregister_target(&mut self, name: &str) -> Result<(), Errno> {
        if self.type_users.get(name).copied().unwrap_or(0) > 0 {
            return Err(Errno::EBUSY);
        }
        let index = self
            .registered
            .iter()
            .position(|t| t.name() == name)
            .ok_or(Errno::ENOENT)?;
        self.registered.remove(index);
        Ok(())
    }

    /// `DM_LIST_VERSIONS`: the registered target types, newest first.
    pub fn targets(&self) -> Vec<TargetVersion> {
        self.registered
            .iter()
            .map(|t| TargetVersion {
                name: t.name().to_string(),
                version: t.version(),
            })
            .collect()
    }

    /// `dm_get_target_type`: a registered type, or one loaded on demand.
    pub(super) fn get_target_type(&mut self, name: &str) -> Option<Arc<dyn TargetType>> {
        if let Some(found) = self.registered_type(name) {
            return Some(found);
        }
        let module = self.modules.get(name)?.clone();
        self.registered.insert(0, module.clone());
        Some(module)
    }

    pub(super) fn registered_type(&self, name: &str) -> Option<Arc<dyn TargetType>> {
        self.registered.iter().find(|t| t.name() == name).cloned()
    }
}
