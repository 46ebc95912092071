//! Container logs: the engine's stream cut into bounded lines.

use std::collections::VecDeque;

use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt as _;

use crate::runtime::{BoxStream, LogOptions, RuntimeError};

use super::errors::*;
use super::{DockerRuntime, MAX_LOG_LINE_BYTES};

impl DockerRuntime {
    /// The raw log stream of a managed container; a missing one is `NotFound`.
    pub(super) async fn log_stream(
        &self,
        name: &str,
        options: LogOptions,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<String, RuntimeError>>, RuntimeError> {
        if self.managed_container(name).await?.is_none() {
            return Err(RuntimeError::NotFound(format!(
                "there is no container named {name}, so it has no logs"
            )));
        }
        let mut builder = LogsOptionsBuilder::new()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .timestamps(options.timestamps)
            .tail(&options.tail.to_string());
        if let Some(since) = options.since {
            // The engine's API takes 32-bit seconds here: before 1970 means from the start,
            // past 2038 means nothing yet.
            builder = builder.since(i32::try_from(since.max(0)).unwrap_or(i32::MAX));
        }
        let options = builder.build();
        let chunks = self.docker.logs(name, Some(options)).boxed();
        let endpoint = self.endpoint.clone();
        let operation = format!("read the logs of {name}");
        Ok(lines(chunks, move |e| {
            map_error(&endpoint, operation.clone(), e)
        }))
    }

    pub(super) async fn last_log_lines(
        &self,
        name: &str,
        options: LogOptions,
    ) -> Result<Vec<String>, RuntimeError> {
        let tail = options.tail;
        last_lines(self.log_stream(name, options, false).await?, tail).await
    }
}

/// The last `tail` lines of a finite log stream. The engine honours `tail`; this bounds memory
/// even if it did not.
pub(in crate::runtime) async fn last_lines(
    mut stream: BoxStream<'static, Result<String, RuntimeError>>,
    tail: usize,
) -> Result<Vec<String>, RuntimeError> {
    let mut out = VecDeque::new();
    while let Some(line) = stream.next().await {
        out.push_back(line?);
        if out.len() > tail {
            out.pop_front();
        }
    }
    Ok(out.into())
}

/// Cuts a byte stream into lines: `\n`-terminated, `\r` dropped, invalid UTF-8 replaced, and
/// at most [`MAX_LOG_LINE_BYTES`] each.
#[derive(Default)]
pub(super) struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub(super) fn push(&mut self, mut chunk: &[u8], out: &mut VecDeque<String>) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            let (line, rest) = chunk.split_at(end);
            self.partial.extend_from_slice(line);
            out.push_back(self.take());
            chunk = rest.get(1..).unwrap_or_default();
        }
        self.partial.extend_from_slice(chunk);
        while self.partial.len() >= MAX_LOG_LINE_BYTES {
            let rest = self.partial.split_off(MAX_LOG_LINE_BYTES);
            out.push_back(self.take());
            self.partial = rest;
        }
    }

    pub(super) fn finish(&mut self, out: &mut VecDeque<String>) {
        if !self.partial.is_empty() {
            out.push_back(self.take());
        }
    }

    fn take(&mut self) -> String {
        if self.partial.last() == Some(&b'\r') {
            self.partial.pop();
        }
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        line
    }
}

pub(in crate::runtime) fn lines<C, E>(
    chunks: BoxStream<'static, Result<C, E>>,
    map_err: impl Fn(E) -> RuntimeError + Send + 'static,
) -> BoxStream<'static, Result<String, RuntimeError>>
where
    C: AsRef<[u8]> + Send + 'static,
    E: Send + 'static,
{
    struct State<C, E, F> {
        chunks: BoxStream<'static, Result<C, E>>,
        splitter: LineSplitter,
        ready: VecDeque<String>,
        done: bool,
        map_err: F,
    }
    let state = State {
        chunks,
        splitter: LineSplitter::default(),
        ready: VecDeque::new(),
        done: false,
        map_err,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.ready.pop_front() {
                return Some((Ok(line), st));
            }
            if st.done {
                return None;
            }
            match st.chunks.next().await {
                Some(Ok(chunk)) => st.splitter.push(chunk.as_ref(), &mut st.ready),
                Some(Err(e)) => {
                    st.done = true;
                    let err = (st.map_err)(e);
                    return Some((Err(err), st));
                }
                None => {
                    st.done = true;
                    st.splitter.finish(&mut st.ready);
                }
            }
        }
    })
    .boxed()
}
