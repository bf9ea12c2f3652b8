//! The two forms: an override (interval, max rows, expiry) and a policy switch (name and parameters). Each
//! checks what was typed and names the field that is wrong before anything is sent.

use crate::action::{Action, Target};
use pacer_policy::{PolicyConfig, PolicyKind};
use pacer_proto::v1 as pb;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a key means to a text field, whatever the terminal sends for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// Type this character.
    Type(char),
    /// Delete the last character (Backspace, Ctrl-H).
    Erase,
    /// Empty the field (Ctrl-U).
    Clear,
    /// Anything else.
    Other,
}

fn edit(key: KeyEvent) -> Edit {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Backspace => Edit::Erase,
        KeyCode::Char('h') if ctrl => Edit::Erase,
        KeyCode::Char('u') if ctrl => Edit::Clear,
        KeyCode::Char(c)
            if !c.is_control()
                && !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Edit::Type(c)
        }
        _ => Edit::Other,
    }
}

/// Applies an edit to a field of at most `limit` characters.
fn apply(field: &mut String, key: KeyEvent, limit: usize) {
    match edit(key) {
        Edit::Type(c) if field.chars().count() < limit => field.push(c),
        Edit::Erase => {
            field.pop();
        }
        Edit::Clear => field.clear(),
        _ => {}
    }
}

/// What a key did to a form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormOutcome {
    /// Still being filled in.
    Editing,
    /// Closed without sending.
    Cancelled,
    /// Filled in: this is the call to make.
    Done(Action),
}

/// The override form.
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideForm {
    /// Whom it fixes.
    pub target: Target,
    /// Interval, max rows, expiry: as typed.
    pub fields: [String; 3],
    /// The field being typed into.
    pub focus: usize,
    /// Why the last Enter was refused.
    pub error: Option<String>,
}

/// The override form's field labels.
pub const OVERRIDE_FIELDS: [&str; 3] = [
    "interval (250ms, 2s; blank: policy)",
    "max rows (blank: policy)",
    "expires after (90s, 10m; blank: never)",
];

impl OverrideForm {
    /// A form for `target`, filled in from the override it has, if any.
    pub fn new(target: Target, current: Option<pb::Override>) -> Self {
        let mut fields: [String; 3] = Default::default();
        if let Some(o) = current {
            if o.interval_ms > 0 {
                fields[0] = format!("{}ms", o.interval_ms);
            }
            if o.max_rows > 0 {
                fields[1] = o.max_rows.to_string();
            }
        }
        Self {
            target,
            fields,
            focus: 0,
            error: None,
        }
    }

    /// Takes a key.
    pub fn handle_key(&mut self, key: KeyEvent) -> FormOutcome {
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancelled,
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % self.fields.len(),
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = (self.focus + self.fields.len() - 1) % self.fields.len()
            }
            KeyCode::Enter => match self.action() {
                Ok(action) => return FormOutcome::Done(action),
                Err(e) => self.error = Some(e),
            },
            _ => apply(&mut self.fields[self.focus], key, 32),
        }
        FormOutcome::Editing
    }

    /// The call the form describes, or what is wrong with it.
    pub fn action(&self) -> Result<Action, String> {
        let interval = optional(&self.fields[0], |t| {
            let d = parse_interval(t)?;
            u64::try_from(d.as_millis())
                .ok()
                .filter(|ms| *ms >= 1)
                .ok_or_else(|| format!("interval: `{t}` is shorter than 1ms"))
        })?;
        let max_rows = optional(&self.fields[1], |t| {
            t.parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("max rows: `{t}` is not a whole number of at least 1"))
        })?;
        let ttl = optional(&self.fields[2], |t| {
            humantime::parse_duration(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("expires after: `{t}` is not a duration like 90s or 10m"))
        })?;
        if interval.is_none() && max_rows.is_none() {
            return Err("give an interval, max rows, or both".into());
        }
        Ok(Action::SetOverride {
            target: self.target.clone(),
            interval_ms: interval,
            max_rows,
            ttl,
        })
    }
}

/// A bare number is milliseconds; otherwise a duration like 250ms or 2s.
fn parse_interval(text: &str) -> Result<Duration, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("interval: `{text}` is not a duration like 250ms or 2s"))
}

/// `None` for a blank field, else what `parse` makes of it.
fn optional<T>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        Ok(None)
    } else {
        parse(text).map(Some)
    }
}

/// The policy form.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyForm {
    /// The policy chosen, an index into [`PolicyKind::ALL`].
    pub choice: usize,
    /// The parameters, as typed: `name=value, name=value`.
    pub params: String,
    /// Why the last Enter was refused.
    pub error: Option<String>,
    /// The running policy's name and parameters, to refill the field when it is chosen again.
    running: Option<(String, String)>,
}

impl PolicyForm {
    /// A form that starts from the running policy.
    pub fn new(running: Option<&pb::PolicyState>) -> Self {
        let running = running.map(|p| {
            let mut params: Vec<(&String, &f64)> = p.params.iter().collect();
            params.sort_by(|a, b| a.0.cmp(b.0));
            let text = params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            (p.name.clone(), text)
        });
        let choice = running
            .as_ref()
            .and_then(|(name, _)| PolicyKind::ALL.iter().position(|k| k.as_str() == name))
            .unwrap_or(0);
        let mut form = Self {
            choice,
            params: String::new(),
            error: None,
            running,
        };
        form.refill();
        form
    }

    /// The policy chosen.
    pub fn kind(&self) -> PolicyKind {
        PolicyKind::ALL[self.choice % PolicyKind::ALL.len()]
    }

    /// The chosen policy's parameters: name, default and what it does.
    pub fn docs(&self) -> &'static [pacer_policy::ParamDoc] {
        PolicyConfig::param_docs(self.kind())
    }

    fn refill(&mut self) {
        self.params = match &self.running {
            Some((name, text)) if name == self.kind().as_str() => text.clone(),
            _ => String::new(),
        };
        self.error = None;
    }

    /// Takes a key: ←/→ choose the policy, the rest edits the parameters.
    pub fn handle_key(&mut self, key: KeyEvent) -> FormOutcome {
        let n = PolicyKind::ALL.len();
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancelled,
            KeyCode::Left => {
                self.choice = (self.choice + n - 1) % n;
                self.refill();
            }
            KeyCode::Right | KeyCode::Tab => {
                self.choice = (self.choice + 1) % n;
                self.refill();
            }
            KeyCode::Enter => match self.action() {
                Ok(action) => return FormOutcome::Done(action),
                Err(e) => self.error = Some(e),
            },
            _ => apply(&mut self.params, key, 200),
        }
        FormOutcome::Editing
    }

    /// The call the form describes, or what is wrong with it. Names and ranges are the control plane's to
    /// check; here only the shape `name=number` is.
    pub fn action(&self) -> Result<Action, String> {
        let mut params = BTreeMap::new();
        for part in self
            .params
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("parameter `{part}` is not name=value"))?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("parameter `{part}` is not name=value"));
            }
            let value: f64 = value
                .trim()
                .parse()
                .map_err(|_| format!("parameter `{name}`: `{value}` is not a number"))?;
            params.insert(name.to_owned(), value);
        }
        Ok(Action::SetPolicy {
            name: self.kind().as_str().to_owned(),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyModifiers;

    fn type_in(form: &mut OverrideForm, text: &str) {
        for c in text.chars() {
            form.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }

    #[test]
    fn an_override_form_reads_durations_and_plain_milliseconds() {
        let mut form = OverrideForm::new(Target::Worker("w1".into()), None);
        type_in(&mut form, "250");
        form.focus = 2;
        type_in(&mut form, "10m");
        assert_eq!(
            form.action(),
            Ok(Action::SetOverride {
                target: Target::Worker("w1".into()),
                interval_ms: Some(250),
                max_rows: None,
                ttl: Some(Duration::from_secs(600)),
            })
        );
        form.fields[0] = "1.5s".into();
        assert!(matches!(
            form.action(),
            Ok(Action::SetOverride {
                interval_ms: Some(1500),
                ..
            })
        ));
    }

    #[test]
    fn an_override_form_names_the_bad_field() {
        let mut form = OverrideForm::new(Target::All, None);
        assert_eq!(
            form.action(),
            Err("give an interval, max rows, or both".into())
        );
        form.fields[0] = "soon".into();
        assert!(form.action().unwrap_err().starts_with("interval:"));
        form.fields[0] = "100us".into();
        assert!(form.action().unwrap_err().contains("shorter than 1ms"));
        form.fields[0] = "100".into();
        form.fields[1] = "-4".into();
        assert!(form.action().unwrap_err().starts_with("max rows:"));
        form.fields[1] = String::new();
        form.fields[2] = "0s".into();
        assert!(form.action().unwrap_err().starts_with("expires after:"));
    }

    #[test]
    fn control_keys_edit_fields_and_never_type_letters() {
        let mut form = OverrideForm::new(Target::All, None);
        type_in(&mut form, "250");
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        form.handle_key(ctrl('h'));
        assert_eq!(form.fields[0], "25");
        form.handle_key(ctrl('w'));
        form.handle_key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::ALT));
        assert_eq!(form.fields[0], "25");
        form.handle_key(ctrl('u'));
        assert_eq!(form.fields[0], "");
        // Shifted letters are letters.
        form.handle_key(KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT));
        assert_eq!(form.fields[0], "S");
    }

    #[test]
    fn a_policy_form_starts_from_the_running_policy_and_parses_parameters() {
        let running = pb::PolicyState {
            name: "aimd".into(),
            params: [("rho".to_owned(), 0.7)].into_iter().collect(),
            ..Default::default()
        };
        let mut form = PolicyForm::new(Some(&running));
        assert_eq!(form.kind(), PolicyKind::Aimd);
        assert_eq!(form.params, "rho=0.7");
        form.params.push_str(", backoff = 0.5");
        assert_eq!(
            form.action(),
            Ok(Action::SetPolicy {
                name: "aimd".into(),
                params: BTreeMap::from([("rho".into(), 0.7), ("backoff".into(), 0.5)]),
            })
        );
        form.handle_key(KeyEvent::new(KeyCode::Right, KeyModifiers::NONE));
        assert_ne!(form.kind(), PolicyKind::Aimd);
        assert_eq!(form.params, "");
        form.params = "headroom".into();
        assert_eq!(
            form.action(),
            Err("parameter `headroom` is not name=value".into())
        );
        form.params = "headroom=lots".into();
        assert!(form.action().unwrap_err().contains("is not a number"));
    }
}
