//! What `/proc/<pid>/stat` says of a process: its CPU time, the CPU of its children that it has reaped,
//! its resident memory and its parent. The benchmarks read them to charge CPU to the part that used it.

use anyhow::Context;
use std::time::Duration;

/// Clock ticks per second in `/proc` (USER_HZ, 100 on Linux unless `sysconf` says otherwise).
fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)
        .map_or(100.0, |t| t as f64)
}

/// Field `n` of `proc(5)` of `pid`, if the process exists.
fn field(pid: u32, n: usize) -> Option<u64> {
    pacer_stack::process::Stat::read(pid).map(|s| s.field(n))
}

fn ticks(n: u64) -> Duration {
    Duration::from_secs_f64(n as f64 / ticks_per_second())
}

/// User and system CPU of the process so far; zero once it is gone.
pub fn cpu(pid: u32) -> Duration {
    pacer_stack::process::Stat::read(pid)
        .map_or(Duration::ZERO, |s| ticks(s.field(14) + s.field(15)))
}

/// User and system CPU of the process's children that have exited and been reaped by it.
pub fn reaped(pid: u32) -> Duration {
    pacer_stack::process::Stat::read(pid)
        .map_or(Duration::ZERO, |s| ticks(s.field(16) + s.field(17)))
}

/// Resident memory in bytes.
pub fn resident_bytes(pid: u32) -> u64 {
    field(pid, 24).map_or(0, |rss| rss * 4096)
}

/// The processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| field(pid, 4) == Some(u64::from(parent)))
        .collect()
}

/// The postmaster's process id, from its `postmaster.pid`.
pub fn postmaster(pg: &pacer_stack::PrivatePostgres) -> anyhow::Result<u32> {
    let pid = pg
        .postmaster_pid()
        .with_context(|| format!("no postmaster.pid in {}", pg.data_dir().display()))?;
    Ok(u32::try_from(pid)?)
}

/// The CPU of a PostgreSQL cluster so far, from its `postmaster`'s process id: the postmaster, its live children (backends, WAL writer,
/// checkpointer) and the children it has reaped (backends of closed sessions).
pub fn cluster_cpu(postmaster: u32) -> Duration {
    let live: Duration = children_of(postmaster).into_iter().map(cpu).sum();
    cpu(postmaster) + reaped(postmaster) + live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_cpu_and_memory_and_a_parent() {
        let me = std::process::id();
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(spin.elapsed());
        }
        assert!(cpu(me) > Duration::ZERO);
        assert!(resident_bytes(me) > 1 << 20);
        let parent = std::os::unix::process::parent_id();
        assert!(children_of(parent).contains(&me));
        assert_eq!(cpu(u32::MAX), Duration::ZERO, "a process that is not there");
    }
}
