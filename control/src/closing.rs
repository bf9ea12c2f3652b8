//! The control plane's stop, as the long-lived response streams see it: a worker's attach stream and an
//! admin's snapshot stream would otherwise keep a graceful shutdown waiting for as long as their clients
//! stay, which for workers and consoles is forever.

use std::pin::Pin;
use tokio::sync::watch;
use tokio_stream::Stream;

/// A stream that may outlive the server, boxed as tonic wants it.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// Tells streams that the control plane is stopping.
#[derive(Debug, Clone)]
pub struct Closing(watch::Receiver<bool>);

impl Closing {
    /// Closing when `stop` turns true.
    pub fn new(stop: watch::Receiver<bool>) -> Self {
        Self(stop)
    }

    /// `stream`, ended as soon as the control plane stops (the client sees the stream end and reconnects).
    pub fn bound<T: Send + 'static>(
        &self,
        stream: impl Stream<Item = T> + Send + 'static,
    ) -> BoxStream<T> {
        let mut stop = self.0.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        Box::pin(futures::StreamExt::take_until(stream, stopped))
    }
}
