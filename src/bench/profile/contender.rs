//! What a profile runs under: a contender, named as on the command line (a policy, or `static:DURATION`).

use pacer_policy::{Bounds, PolicyConfig, PolicyKind};
use std::collections::BTreeMap;

/// A policy to run the profile under.
#[derive(Debug, Clone)]
pub struct Contender {
    pub(super) name: String,
    pub(super) policy: PolicyConfig,
}

impl std::str::FromStr for Contender {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, params) = match text.strip_prefix("static:") {
            Some(interval) => {
                let interval = crate::duration::parse_duration(interval)?;
                let ms = interval.as_secs_f64() * 1e3;
                (
                    PolicyKind::Static,
                    BTreeMap::from([("interval_ms".to_owned(), ms)]),
                )
            }
            None => (
                text.parse::<PolicyKind>().map_err(|e| e.to_string())?,
                BTreeMap::new(),
            ),
        };
        let policy =
            PolicyConfig::new(kind, &params, Bounds::default()).map_err(|e| e.to_string())?;
        Ok(Self {
            name: text.to_owned(),
            policy,
        })
    }
}
