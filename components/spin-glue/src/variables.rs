//! Configuration through Spin variables.

use spin_sdk::variables::{Error as SpinError, get};

/// Why a variable could not be read (an undefined one is not an error: see [`variable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariableError {
    /// The name breaks Spin's rules (lowercase ASCII, digits, `_`; `spin.md` §5).
    #[error("invalid variable name {name:?}: {reason}")]
    InvalidName {
        /// The name asked for.
        name: String,
        /// Spin's reason.
        reason: String,
    },
    /// The provider (environment, Vault, Azure Key Vault) failed.
    #[error("variable {name:?}: provider error: {reason}")]
    Provider {
        /// The name asked for.
        name: String,
        /// The provider's reason.
        reason: String,
    },
    /// Any other host error.
    #[error("variable {name:?}: {reason}")]
    Other {
        /// The name asked for.
        name: String,
        /// The host's reason.
        reason: String,
    },
}

/// Reads the component variable `name` (`fermyon:spin/variables@2.0.0` `get`, resolved on every
/// call, `spin.md` §5). A name not declared under `[component.<id>.variables]`, or declared
/// without a value, is `Ok(None)`.
///
/// The error never contains the value: credentials are read through here too.
pub fn variable(name: &str) -> Result<Option<String>, VariableError> {
    match get(name) {
        Ok(value) => Ok(Some(value)),
        Err(SpinError::Undefined(_)) => Ok(None),
        Err(SpinError::InvalidName(reason)) => Err(VariableError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        Err(SpinError::Provider(reason)) => Err(VariableError::Provider {
            name: name.to_owned(),
            reason,
        }),
        Err(SpinError::Other(reason)) => Err(VariableError::Other {
            name: name.to_owned(),
            reason,
        }),
    }
}
