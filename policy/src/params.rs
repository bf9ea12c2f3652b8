//! Policy parameters: how each policy declares its typed parameters once, and how an operator's
//! `name → value` map becomes them, checked against their ranges, when a configuration is built.
//!
//! A policy declares its parameters with [`declare_params!`]: one list gives the struct the policy reads
//! (a field per parameter, named as the operator types it) and the table of [`ParamDoc`]s that help text,
//! the admin API and the checks use, so the two cannot drift apart. [`ParamSet::parse`] is the one place
//! values are checked; after it nothing looks a parameter up by name.

use crate::kind::PolicyKind;
use std::collections::BTreeMap;

/// One tunable parameter of a policy: for help text and the admin API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamDoc {
    /// Lowercase snake_case, with its unit in the name (`interval_ms`, `lag_high_rows`).
    pub name: &'static str,
    /// The value used when the operator gives none.
    pub default: f64,
    /// The smallest accepted value.
    pub min: f64,
    /// The largest accepted value.
    pub max: f64,
    /// What it does, in one sentence.
    pub help: &'static str,
}

/// Why a policy configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A parameter the policy does not have.
    #[error("policy `{kind}` has no parameter `{name}`; its parameters are: {valid}")]
    Unknown {
        kind: PolicyKind,
        name: String,
        valid: String,
    },
    /// A value outside the parameter's range (or not a number).
    #[error("parameter `{name}` of policy `{kind}` must be between {min} and {max}, not {value}")]
    OutOfRange {
        kind: PolicyKind,
        name: &'static str,
        value: f64,
        min: f64,
        max: f64,
    },
    /// Parameters that are each in range but contradict each other.
    #[error("policy `{kind}`: {problem}")]
    Inconsistent { kind: PolicyKind, problem: String },
    /// Bounds that no setting can satisfy.
    #[error("invalid bounds: {0}")]
    Bounds(String),
}

/// A policy's typed parameters, as [`declare_params!`] makes them.
pub(crate) trait ParamSet: Sized {
    /// One entry per parameter, in declaration order.
    const DOCS: &'static [ParamDoc];

    /// The parameters with each field's value from `value`, asked once per parameter in `DOCS` order.
    fn from_fn(value: impl FnMut(ParamDoc) -> Result<f64, ParamError>) -> Result<Self, ParamError>;

    /// Every parameter's name and value, in `DOCS` order.
    fn values(&self) -> Vec<(&'static str, f64)>;

    /// Why these values, each in range, contradict each other, if they do.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// `given` for a policy of `kind`: an unknown name is refused, a missing one takes its default, each
    /// value must lie in its range (NaN never does) and the whole must pass [`check`](Self::check).
    fn parse(kind: PolicyKind, given: &BTreeMap<String, f64>) -> Result<Self, ParamError> {
        if let Some(name) = given
            .keys()
            .find(|name| !Self::DOCS.iter().any(|doc| doc.name == name.as_str()))
        {
            let valid = if Self::DOCS.is_empty() {
                "(none)".to_owned()
            } else {
                let names: Vec<&str> = Self::DOCS.iter().map(|doc| doc.name).collect();
                names.join(", ")
            };
            return Err(ParamError::Unknown {
                kind,
                name: name.clone(),
                valid,
            });
        }
        let params = Self::from_fn(|doc| {
            let value = given.get(doc.name).copied().unwrap_or(doc.default);
            // `!(a <= b)` also refuses NaN.
            if !(doc.min <= value && value <= doc.max) {
                return Err(ParamError::OutOfRange {
                    kind,
                    name: doc.name,
                    value,
                    min: doc.min,
                    max: doc.max,
                });
            }
            Ok(value)
        })?;
        params
            .check()
            .map_err(|problem| ParamError::Inconsistent { kind, problem })?;
        Ok(params)
    }
}

/// Declares a policy's parameters: a struct with one `f64` field per parameter (the value in the unit its
/// name says) and its [`ParamSet`] implementation, whose table is made from the same list. Each field is
/// written `/// help` (one or more doc lines, which become [`ParamDoc::help`]), then
/// `name: default in min..=max,`. An optional `check = path;` after the struct names a
/// `fn(&Self) -> Result<(), String>` for values that contradict each other.
macro_rules! declare_params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $help:literal])+
                $field:ident: $default:literal in $min:literal ..= $max:literal,
            )*
        }
        $(check = $check:path;)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        $vis struct $name {
            $(
                $(#[doc = $help])+
                pub(crate) $field: f64,
            )*
        }

        impl $crate::params::ParamSet for $name {
            const DOCS: &'static [$crate::params::ParamDoc] = &[
                $($crate::params::declare_params!(@doc $field, $default, $min, $max, $($help)+),)*
            ];

            fn from_fn(
                #[allow(unused_mut, unused_variables)] mut value: impl FnMut(
                    $crate::params::ParamDoc,
                ) -> Result<f64, $crate::params::ParamError>,
            ) -> Result<Self, $crate::params::ParamError> {
                Ok($name {
                    $($field: value($crate::params::declare_params!(
                        @doc $field, $default, $min, $max, $($help)+
                    ))?,)*
                })
            }

            fn values(&self) -> Vec<(&'static str, f64)> {
                vec![$((stringify!($field), self.$field)),*]
            }

            $(
                fn check(&self) -> Result<(), String> {
                    $check(self)
                }
            )?
        }
    };
    (@doc $field:ident, $default:literal, $min:literal, $max:literal, $($help:literal)+) => {
        $crate::params::ParamDoc {
            name: stringify!($field),
            default: $default,
            min: $min,
            max: $max,
            // Doc lines start with the space after `///`; joined, they keep one space between lines.
            help: concat!($($help),+).trim_ascii_start(),
        }
    };
}

pub(crate) use declare_params;

#[cfg(test)]
mod tests {
    use super::*;

    declare_params! {
        /// Two parameters, the second at most the first.
        struct Pair {
            /// The larger one,
            /// in two lines.
            big: 2.0 in 0.0..=10.0,
            /// The smaller one.
            small: 1.0 in 0.0..=10.0,
        }
        check = Pair::ordered;
    }

    impl Pair {
        fn ordered(&self) -> Result<(), String> {
            if self.small <= self.big {
                Ok(())
            } else {
                Err("`small` must be at most `big`".into())
            }
        }
    }

    declare_params! {
        /// No parameters at all.
        struct Empty {}
    }

    fn given(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn the_table_comes_from_the_declaration() {
        let names: Vec<&str> = Pair::DOCS.iter().map(|d| d.name).collect();
        assert_eq!(names, ["big", "small"]);
        assert_eq!(Pair::DOCS[0].help, "The larger one, in two lines.");
        assert_eq!((Pair::DOCS[1].min, Pair::DOCS[1].max), (0.0, 10.0));
        let p = Pair::parse(PolicyKind::Rules, &given(&[("small", 0.5)])).expect("valid");
        assert_eq!(
            p,
            Pair {
                big: 2.0,
                small: 0.5
            }
        );
        assert_eq!(p.values(), [("big", 2.0), ("small", 0.5)]);
    }

    #[test]
    fn errors_name_the_parameter() {
        let kind = PolicyKind::Rules;
        let err = Pair::parse(kind, &given(&[("huge", 1.0)])).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "policy `rules` has no parameter `huge`; its parameters are: big, small"
        );
        let err = Pair::parse(kind, &given(&[("big", f64::INFINITY)])).expect_err("range");
        assert_eq!(
            err.to_string(),
            "parameter `big` of policy `rules` must be between 0 and 10, not inf"
        );
        let err = Pair::parse(kind, &given(&[("small", 3.0)])).expect_err("contradiction");
        assert_eq!(
            err.to_string(),
            "policy `rules`: `small` must be at most `big`"
        );
        let err = Empty::parse(kind, &given(&[("any", 1.0)])).expect_err("none");
        assert!(
            err.to_string().ends_with("its parameters are: (none)"),
            "{err}"
        );
        assert_eq!(
            Empty::parse(kind, &given(&[])).map(|e| e.values()),
            Ok(vec![])
        );
    }
}
