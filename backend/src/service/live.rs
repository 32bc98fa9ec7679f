//! The change log behind the live event stream: where it stands, whether a client's
//! position is still held, and the changes after a position, a page at a time.

pub use crate::store::port::{Change, ChangeKind, Cursor};

use std::sync::Arc;

use super::{Services, StorageError};
use crate::store::Reads;
use crate::store::port::Pages;

/// The changes after a position, read a page at a time.
pub struct ChangePages {
    pages: Pages,
    reads: Arc<dyn Reads>,
}

impl ChangePages {
    /// The next page, or `None` when the log holds nothing more.
    pub async fn next(&mut self) -> Result<Option<Vec<Change>>, StorageError> {
        self.pages.next(self.reads.as_ref()).await
    }
}

impl Services {
    /// The latest position in the change log.
    pub async fn latest_change(&self) -> Result<Cursor, StorageError> {
        self.reads.latest_change().await
    }

    /// Whether the log still holds everything after `cursor`.
    pub async fn can_resume_from(&self, cursor: Cursor) -> Result<bool, StorageError> {
        self.reads.can_resume_from(cursor).await
    }

    /// The changes after `cursor`.
    pub fn changes_after(&self, cursor: Cursor) -> ChangePages {
        ChangePages {
            pages: Pages::after(cursor),
            reads: self.reads.clone(),
        }
    }
}
