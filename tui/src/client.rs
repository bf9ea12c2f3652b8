//! The console's side of the admin API: a channel to the control plane, the snapshot stream, and one call
//! per [`Action`], each carrying the admin token.

use crate::action::{Action, Mode};
use crate::format;
use pacer_proto::v1 as pb;
use pacer_proto::v1::admin_client::AdminClient;
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// Where the control plane is and how to talk to it.
#[derive(Clone)]
pub struct ControlTarget {
    /// `http://host:port`, or `https://` with `ca`.
    pub url: String,
    /// The admin token, for changes.
    pub token: Option<String>,
    /// A PEM CA certificate to trust for `https://`.
    pub ca: Option<PathBuf>,
}

impl ControlTarget {
    /// Whether the address can be connected to at all: an `http://` or `https://` URL with a host.
    pub fn check(&self) -> Result<(), ClientError> {
        let bad = |why: &str| ClientError::Config(format!("bad control URL `{}`: {why}", self.url));
        let endpoint = Endpoint::from_shared(self.url.clone()).map_err(|e| bad(&e.to_string()))?;
        let uri = endpoint.uri();
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(bad("write it as http://host:port or https://host:port")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("it names no host"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for ControlTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlTarget")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("ca", &self.ca)
            .finish()
    }
}

/// Why a call failed, in words for the status line.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address or the CA file is wrong.
    #[error("{0}")]
    Config(String),
    /// No connection.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The address.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The control plane answered with an error.
    #[error("{}: {}", code_words(.0.code()), .0.message())]
    Status(#[from] tonic::Status),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> ControlTarget {
        ControlTarget {
            url: url.into(),
            token: None,
            ca: None,
        }
    }

    #[test]
    fn control_urls_are_checked_before_connecting() {
        assert!(target("http://127.0.0.1:50051").check().is_ok());
        assert!(target("https://control.example:443").check().is_ok());
        for bad in ["127.0.0.1:50051", "ftp://host:21", "http://", "not a url"] {
            let err = target(bad).check().unwrap_err().to_string();
            assert!(err.contains("bad control URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let mut t = target("http://h:1");
        t.token = Some("s3cret".into());
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}

fn code_words(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Unauthenticated => "refused (no or wrong admin token)",
        tonic::Code::PermissionDenied => "refused (permission denied)",
        tonic::Code::InvalidArgument => "refused",
        tonic::Code::NotFound => "not found",
        tonic::Code::Unavailable => "control plane unavailable",
        tonic::Code::DeadlineExceeded => "timed out",
        _ => "failed",
    }
}

/// An admin client with the token at hand.
#[derive(Clone)]
pub struct Client {
    inner: AdminClient<Channel>,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects (within 3 s).
    pub async fn connect(target: &ControlTarget) -> Result<Self, ClientError> {
        let mut endpoint = Endpoint::from_shared(target.url.clone())
            .map_err(|e| ClientError::Config(format!("bad control URL `{}`: {e}", target.url)))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            // A control plane that vanishes without closing the connection is noticed.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        if let Some(ca) = &target.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| ClientError::Config(format!("cannot read {}: {e}", ca.display())))?;
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| ClientError::Config(format!("bad TLS settings: {e}")))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ClientError::Connect {
                url: target.url.clone(),
                source,
            })?;
        Ok(Self {
            inner: AdminClient::new(channel),
            token: target.token.clone(),
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = &self.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// The snapshot stream, one every `period`.
    pub async fn watch(
        &mut self,
        period: Duration,
    ) -> Result<tonic::Streaming<pb::PipelineSnapshot>, ClientError> {
        let request = pb::WatchPipelineRequest {
            period: prost_types::Duration::try_from(period).ok(),
        };
        Ok(self.inner.watch_pipeline(request).await?.into_inner())
    }

    /// One snapshot.
    pub async fn pipeline(&mut self) -> Result<pb::PipelineSnapshot, ClientError> {
        let response = self
            .inner
            .get_pipeline(pb::GetPipelineRequest {})
            .await?
            .into_inner();
        response
            .snapshot
            .ok_or_else(|| ClientError::Config("the control plane sent an empty snapshot".into()))
    }

    /// Makes the call; `Ok` is what to show in the status line.
    pub async fn execute(&mut self, action: &Action) -> Result<String, ClientError> {
        match action {
            Action::SetOverride {
                target,
                interval_ms,
                max_rows,
                ttl,
            } => {
                let request = pb::SetOverrideRequest {
                    worker_id: target.worker_id(),
                    interval_ms: interval_ms.unwrap_or(0),
                    max_rows: max_rows.unwrap_or(0),
                    ttl: ttl.and_then(|t| prost_types::Duration::try_from(t).ok()),
                };
                let set = self
                    .inner
                    .set_override(self.request(request))
                    .await?
                    .into_inner();
                let expiry = set
                    .r#override
                    .and_then(|o| o.expires_at)
                    .and_then(|t| format::timestamp(&t))
                    .map(|t| format!(" (until {} UTC)", format::clock(t)))
                    .unwrap_or_default();
                Ok(format!("done: {action}{expiry}"))
            }
            Action::ClearOverride { target } => {
                let request = pb::ClearOverrideRequest {
                    worker_id: target.worker_id(),
                };
                let cleared = self
                    .inner
                    .clear_override(self.request(request))
                    .await?
                    .into_inner()
                    .cleared;
                Ok(if cleared {
                    format!("done: {action}; the policy decides again")
                } else {
                    format!("{target} had no override")
                })
            }
            Action::SetPolicy { name, params } => {
                let request = pb::SetPolicyRequest {
                    name: name.clone(),
                    params: params.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    bounds: None,
                };
                let policy = self
                    .inner
                    .set_policy(self.request(request))
                    .await?
                    .into_inner()
                    .policy
                    .unwrap_or_default();
                let mut params: Vec<String> = policy
                    .params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                params.sort();
                Ok(format!(
                    "policy now {} ({})",
                    policy.name,
                    if params.is_empty() {
                        "no parameters".to_owned()
                    } else {
                        params.join(", ")
                    }
                ))
            }
            Action::SetMode(mode) => {
                let request = pb::SetModeRequest {
                    mode: match mode {
                        Mode::Enforce => pb::Mode::Enforce,
                        Mode::Advise => pb::Mode::Advise,
                    }
                    .into(),
                };
                self.inner.set_mode(self.request(request)).await?;
                Ok(format!("mode now {mode}"))
            }
            Action::Pause(target) => {
                let request = pb::PauseWorkerRequest {
                    worker_id: target.worker_id(),
                };
                let ids = self
                    .inner
                    .pause_worker(self.request(request))
                    .await?
                    .into_inner()
                    .worker_ids;
                Ok(format!("told to pause: {}", list(&ids)))
            }
            Action::Resume(target) => {
                let request = pb::ResumeWorkerRequest {
                    worker_id: target.worker_id(),
                };
                let ids = self
                    .inner
                    .resume_worker(self.request(request))
                    .await?
                    .into_inner()
                    .worker_ids;
                Ok(format!("told to resume: {}", list(&ids)))
            }
        }
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "no attached worker".into()
    } else {
        ids.join(", ")
    }
}
