//! Who is calling: tenant, user and permissions. The HTTP layer builds it from the token;
//! services take it and never look at HTTP.

use std::collections::BTreeSet;

use crate::domain::ids::{TenantId, UserId};
use crate::error::OmsError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub user: UserId,
    pub permissions: BTreeSet<String>,
}

impl Caller {
    /// The caller a job acts as: the tenant and the user who started it. Permissions were
    /// checked when the job was started; services do not check them.
    pub fn for_job(tenant: TenantId, user: UserId) -> Self {
        Caller { tenant, user, permissions: BTreeSet::new() }
    }

    pub fn require(&self, permission: &str) -> Result<(), OmsError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(OmsError::Forbidden(format!("this route needs the permission {permission}")))
        }
    }
}
