//! Engine errors as [`RuntimeError`]s: what was being done, and why it failed, in words.

use std::io;

use bollard::errors::Error as BollardError;

use crate::runtime::RuntimeError;

use super::{ENGINE, NOT_RUNNING_HINT, REQUEST_TIMEOUT_SECS};

pub(in crate::runtime) fn status(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

pub(in crate::runtime) fn server_message(err: &BollardError) -> &str {
    match err {
        BollardError::DockerResponseServerError { message, .. } => message,
        _ => "",
    }
}

pub(in crate::runtime) fn map_error(
    endpoint: &str,
    operation: String,
    err: BollardError,
) -> RuntimeError {
    if let Some(hint) = connection_failure(&err) {
        return RuntimeError::Unreachable {
            engine: ENGINE,
            endpoint: endpoint.to_owned(),
            hint,
        };
    }
    match err {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RuntimeError::NotFound(message),
        BollardError::DockerResponseServerError {
            status_code: 409,
            message,
        } => RuntimeError::Conflict(message),
        BollardError::DockerResponseServerError { message, .. }
        | BollardError::DockerStreamError { error: message } => {
            RuntimeError::Engine { operation, message }
        }
        BollardError::RequestTimeoutError => RuntimeError::Engine {
            operation,
            message: format!(
                "{ENGINE} at {endpoint} did not answer within {REQUEST_TIMEOUT_SECS} s"
            ),
        },
        other => RuntimeError::Engine {
            operation,
            message: other.to_string(),
        },
    }
}

/// When `err` means the engine could not be reached at all, what to check.
pub(in crate::runtime) fn connection_failure(err: &BollardError) -> Option<String> {
    if let BollardError::SocketNotFoundError(_) = err {
        return Some(NOT_RUNNING_HINT.to_owned());
    }
    let is_connect = matches!(err, BollardError::HyperLegacyError { err } if err.is_connect());
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    Some(NOT_RUNNING_HINT.to_owned())
                }
                io::ErrorKind::PermissionDenied => Some(
                    "permission denied: run as root or as a member of the docker group, or set \
                     DOCKER_HOST"
                        .to_owned(),
                ),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::TimedOut
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
                | io::ErrorKind::AddrNotAvailable => Some(format!(
                    "the connection failed ({kind}): {NOT_RUNNING_HINT}",
                    kind = io.kind()
                )),
                _ if is_connect => Some(format!("{io}: {NOT_RUNNING_HINT}")),
                _ => None,
            };
        }
        source = current.source();
    }
    is_connect.then(|| NOT_RUNNING_HINT.to_owned())
}
