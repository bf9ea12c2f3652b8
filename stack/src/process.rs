//! Processes by pid, from `/proc`: whether one is alive, whether it is a PostgreSQL server, and the numbers
//! `proc(5)` gives of it.

/// What `/proc/<pid>/stat` says of a process.
#[derive(Debug, Clone)]
pub struct Stat {
    /// The state letter (`R`, `S`, `Z` for a zombie, …).
    pub state: char,
    /// The command name.
    pub comm: String,
    /// The fields after the command, from field 3 of `proc(5)` (the state, read as 0) on.
    fields: Vec<u64>,
}

impl Stat {
    /// The process's stat, if it exists.
    pub fn read(pid: u32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state …`; comm may itself hold parentheses and spaces, so split at the last one.
        let (head, tail) = text.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let state = tail.trim_start().chars().next()?;
        let fields = tail
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .collect();
        Some(Stat {
            state,
            comm,
            fields,
        })
    }

    /// Field `n` of `proc(5)` (1-based, as the manual numbers them; 0 if absent).
    pub fn field(&self, n: usize) -> u64 {
        n.checked_sub(3)
            .and_then(|i| self.fields.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// False for a zombie, which no parent has reaped yet, or a dead process.
    pub fn running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

fn stat(pid: i32) -> Option<Stat> {
    Stat::read(u32::try_from(pid).ok()?)
}

/// True if `pid` is a running process: a zombie is not.
pub(crate) fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| s.running())
}

/// True if `pid` is a running PostgreSQL server process.
pub(crate) fn is_postgres(pid: i32) -> bool {
    stat(pid).is_some_and(|s| s.running() && s.comm == "postgres")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_is_not_postgres() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(!is_postgres(me));
        let stat = Stat::read(std::process::id()).unwrap();
        // Field 4 is the parent's pid.
        assert_eq!(
            stat.field(4),
            u64::from(std::os::unix::process::parent_id())
        );
        assert_eq!(stat.field(2), 0);
    }

    #[test]
    fn a_reaped_child_is_gone_and_an_unreaped_one_is_a_zombie() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Until it is reaped, the exited child is a zombie: not alive.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!alive(pid));
        child.wait().unwrap();
        assert!(!alive(pid));
    }
}
