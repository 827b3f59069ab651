//! Enumerating the archive's objects, where an entry that cannot be read is a finding,
//! not the end of the listing.

use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::ObjectStore;

use super::VerifyError;

/// How a listed object is read.
#[derive(Debug, Clone)]
pub(super) enum At {
    /// An object of the store.
    Store(StorePath),
}

/// One entry of the listing.
#[derive(Debug)]
pub(super) enum Listed {
    Object {
        location: String,
        size: u64,
        at: At,
    },
    /// An entry that could not be listed or is not an object: reported, not read.
    Unreadable {
        location: String,
        detail: String,
    },
}

impl Listed {
    pub fn location(&self) -> &str {
        match self {
            Listed::Object { location, .. } | Listed::Unreadable { location, .. } => location,
        }
    }
}

/// Lists through the store. An error item is reported as unreadable and the stream is
/// polled on (a store may go on after one); an error with nothing listed at all means
/// the store cannot be listed, which fails verification.
pub(super) async fn list_store(
    store: &dyn ObjectStore,
    prefix: &StorePath,
) -> Result<Vec<Listed>, VerifyError> {
    let arg = if prefix.as_ref().is_empty() {
        None
    } else {
        Some(prefix)
    };
    let mut stream = store.list(arg);
    let mut out = Vec::new();
    let mut listed_any = false;
    let mut first_error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(meta) => {
                listed_any = true;
                out.push(Listed::Object {
                    location: meta.location.to_string(),
                    size: meta.size,
                    at: At::Store(meta.location),
                });
            }
            Err(e) => {
                out.push(Listed::Unreadable {
                    location: dir_object(prefix.as_ref()),
                    detail: format!("listing failed: {e}; entries after this point may be missing"),
                });
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if !listed_any => Err(VerifyError::Store(e)),
        _ => Ok(out),
    }
}

/// `<prefix>/` as the report names a prefix (empty for the archive's root).
fn dir_object(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}
