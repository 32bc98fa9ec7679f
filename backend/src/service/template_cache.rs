//! The templates the writes render, kept for a moment: every status change reads one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::{OrderStatus, StatusTemplate};
use crate::store::{Reads, StorageError};

/// How long a template read from the database is used without reading it again. A
/// template saved through this process is used at once (`TemplateCache::forget`); one
/// saved through another instance on the same database, within this long.
const FRESH: Duration = Duration::from_secs(2);

/// The templates the writes render (every status change reads one), kept for a moment
/// so a burst of changes does not read the same row again and again.
#[derive(Default)]
pub struct TemplateCache {
    entries: Mutex<HashMap<OrderStatus, (StatusTemplate, Instant)>>,
}

impl TemplateCache {
    /// The template for `status`, from memory when read less than [`FRESH`] ago.
    pub async fn find(
        &self,
        reads: &dyn Reads,
        status: OrderStatus,
    ) -> Result<StatusTemplate, StorageError> {
        if let Some((template, read_at)) = self.lock().get(&status)
            && read_at.elapsed() < FRESH
        {
            return Ok(template.clone());
        }
        let template = reads.template(status).await?;
        self.lock()
            .insert(status, (template.clone(), Instant::now()));
        Ok(template)
    }

    /// Forgets everything (a template was saved).
    pub fn forget(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrderStatus, (StatusTemplate, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
