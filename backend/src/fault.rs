//! The kinds of storage fault: the vocabulary shared by the store that recognises them
//! (`store::fault::classify`), the figures that count them (`metrics`) and the edge that
//! explains them to whoever got a 503.

/// What failed underneath, as `/metrics` and `/readyz` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// No room left (SQLite `SQLITE_FULL`, PostgreSQL `disk_full` and its class 53).
    Full,
    /// The files or the server take no writes (`SQLITE_READONLY*`, a hot standby).
    ReadOnly,
    /// The file system or device failed a read or write (`SQLITE_IOERR*`, `io_error`).
    Io,
    /// The database file or a page of it is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
    Corrupt,
    /// The database file cannot be opened (`SQLITE_CANTOPEN`).
    CannotOpen,
    /// Another process held the write lock past the busy timeout (`SQLITE_BUSY`).
    Busy,
    /// The connection to the server broke or none could be had (PostgreSQL).
    Connection,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Full,
        FaultKind::ReadOnly,
        FaultKind::Io,
        FaultKind::Corrupt,
        FaultKind::CannotOpen,
        FaultKind::Busy,
        FaultKind::Connection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Full => "disk_full",
            FaultKind::ReadOnly => "read_only",
            FaultKind::Io => "io",
            FaultKind::Corrupt => "corrupt",
            FaultKind::CannotOpen => "cannot_open",
            FaultKind::Busy => "busy",
            FaultKind::Connection => "connection",
        }
    }

    /// Whether the database can still take reads while this lasts: `/readyz` says
    /// `read-only` for these and `unavailable` for the rest.
    pub fn reads_still_work(self) -> bool {
        matches!(
            self,
            FaultKind::Full | FaultKind::ReadOnly | FaultKind::Busy
        )
    }

    /// A sentence for the person who sees the 503.
    pub fn explain(self) -> &'static str {
        match self {
            FaultKind::Full => "the database's disk is full",
            FaultKind::ReadOnly => "the database's files cannot be written to",
            FaultKind::Io => "the database's disk reported an error",
            FaultKind::Corrupt => "the database file is damaged",
            FaultKind::CannotOpen => "the database file cannot be opened",
            FaultKind::Busy => "another process holds the database's write lock",
            FaultKind::Connection => "the connection to the database failed",
        }
    }
}
