//! Processes by pid, from `/proc`: whether one is alive, and whether it is a PostgreSQL server.

/// The state letter and the command name of `pid` (`/proc/<pid>/stat`), if it exists.
fn stat(pid: i32) -> Option<(char, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state …`; comm may itself hold parentheses, so split at the last one.
    let (head, tail) = text.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let state = tail.trim_start().chars().next()?;
    Some((state, comm))
}

/// True if `pid` is a running process: a zombie, which no parent has reaped yet, is not.
pub(crate) fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|(state, _)| !matches!(state, 'Z' | 'X' | 'x'))
}

/// True if `pid` is a running PostgreSQL server process.
pub(crate) fn is_postgres(pid: i32) -> bool {
    stat(pid).is_some_and(|(state, comm)| !matches!(state, 'Z' | 'X' | 'x') && comm == "postgres")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_is_not_postgres() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(!is_postgres(me));
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
