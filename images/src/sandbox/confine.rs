//! What the decoder process does to itself before it reads a byte of the original: limits
//! (memory, CPU time, files, no core dump), no new privileges, Landlock where the kernel has
//! it (no file system, no network, no signals outside the process), and last a seccomp filter
//! that leaves the system calls of decoding and nothing else.
//!
//! The memory limit is `RLIMIT_DATA`, the process's private writable memory (heap, `mmap`s,
//! thread stacks), rather than `RLIMIT_AS`: address space that is only reserved (glibc's
//! per-thread arenas reserve 64 MiB each) costs nothing and would fail decodes that fit.
//! Shared mappings, which that limit does not count, are refused by the filter.
//!
//! The filter lists what a decode needs once its input is open: `read` of the original;
//! `write` of the answer and to stderr; memory (`mmap`, private and never executable,
//! `mprotect` never executable, `munmap`, `mremap`, `brk`, `madvise`); threads, because
//! libheif's HEVC decoder (libde265) always starts a worker and no safe binding turns it off
//! (`clone` with `CLONE_THREAD` only, which cannot make a process, `set_robust_list`, `rseq`,
//! `futex`, `sched_yield`); `getrandom`, `clock_gettime`, `close`; and the way out: `exit`,
//! `exit_group`, `rt_sigreturn`, `rt_sigaction`, `sigaltstack`, `rt_sigprocmask`, and
//! `kill`/`tgkill` of this process only (an abort, a crash). Any other call fails with
//! `ENOSYS`, as if the kernel had none: no `open`, no `socket`, no `connect`, no `execve`, no
//! `fork`, no `ptrace`. A failed call rather than a killed process, because the allocators and
//! decoders probe optional calls and carry on without them; `ENOSYS` rather than `EPERM`
//! because that is what makes glibc fall back from `clone3`, whose flags a filter cannot read,
//! to `clone`.
//!
//! Landlock and the filter apply to the calling thread and the threads it starts; the decoder
//! process confines itself from its only thread, and the tests confine a thread of theirs.

use std::collections::BTreeMap;

use landlock::{ABI, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetStatus, Scope};
use rustix::process::{Resource, Rlimit, setrlimit};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::wire::{Confinement, Enforced};

/// File descriptors the process may hold: stdin, stdout, stderr, the copy of stdout it writes
/// pixels to, and Landlock's ruleset while it is made.
const MAX_FILES: u64 = 8;

/// Why the process could not confine itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("setrlimit: {0}")]
    Limit(#[from] rustix::io::Errno),
    #[error("landlock: {0}")]
    Landlock(#[from] landlock::RulesetError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] seccompiler::Error),
    #[error("seccomp: {0}")]
    Filter(#[from] seccompiler::BackendError),
}

/// Confines this process, whose only thread calls it: at most `memory` bytes mapped beyond
/// what it has mapped now, `cpu_seconds` of CPU, then [`confine_thread`].
pub fn confine(
    memory: u64,
    cpu_seconds: u64,
    input: i32,
    output: i32,
) -> Result<Confinement, Error> {
    let mapped = mapped_bytes().unwrap_or(0);
    let limit = |resource, value: u64| {
        setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
    };
    limit(Resource::Data, mapped.saturating_add(memory))?;
    limit(Resource::Cpu, cpu_seconds.max(1))?;
    limit(Resource::Nofile, MAX_FILES)?;
    limit(Resource::Core, 0)?;
    // It writes no file: pipes are not files to this limit.
    limit(Resource::Fsize, 0)?;
    let mut confinement = confine_thread(input, output)?;
    confinement.rlimits = true;
    Ok(confinement)
}

/// Confines the calling thread (and any it starts): no new privileges, Landlock as far as the
/// kernel has it, then the seccomp filter. It may read `input` and write `output` and stderr.
pub fn confine_thread(input: i32, output: i32) -> Result<Confinement, Error> {
    rustix::thread::set_no_new_privs(true)?;
    let landlock = restrict_access()?;
    seccompiler::apply_filter(&filter(input, output)?)?;
    Ok(Confinement {
        rlimits: false,
        seccomp: true,
        landlock,
    })
}

/// The private writable memory this process has mapped (`VmData`), which the memory limit
/// comes on top of: the binary's data, the allocator's first pages, the request.
fn mapped_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmData:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

/// Landlock with no rule: every file system access, TCP bind and connect, and signals or
/// abstract sockets outside this process handled, so all refused. Best effort: a kernel
/// without Landlock (before 5.13) enforces none of it, and one before 6.12 part.
fn restrict_access() -> Result<Option<Enforced>, landlock::RulesetError> {
    let abi = ABI::V6;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))?
        .handle_access(AccessNet::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?
        .restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Some(Enforced::Fully),
        RulesetStatus::PartiallyEnforced => Some(Enforced::Partially),
        RulesetStatus::NotEnforced => None,
    })
}

/// The seccomp filter: the calls listed in the module's doc, the rest `ENOSYS`.
fn filter(input: i32, output: i32) -> Result<BpfProgram, Error> {
    // Descriptors and process ids are 32-bit arguments.
    let arg = |index, value: u64| {
        SeccompCondition::new(index, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
    };
    let only = |index, values: &[u64]| -> Result<Vec<SeccompRule>, Error> {
        let mut rules = Vec::new();
        for value in values {
            rules.push(SeccompRule::new(vec![arg(index, *value)?])?);
        }
        Ok(rules)
    };
    let fd = |fd: i32| u64::from(fd.unsigned_abs());
    // Whether the bits of `mask` in argument `index` are `value`.
    let bits = |index, mask: i32, value: i32| {
        let (mask, value) = (
            u64::from(mask.unsigned_abs()),
            u64::from(value.unsigned_abs()),
        );
        SeccompCondition::new(
            index,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(mask),
            value,
        )
    };
    let not_executable = bits(2, libc::PROT_EXEC, 0)?;
    let private = bits(3, libc::MAP_SHARED, 0)?;
    let thread = bits(0, libc::CLONE_THREAD, libc::CLONE_THREAD)?;
    let this_process = u64::from(std::process::id());
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = [
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_brk,
        libc::SYS_madvise,
        libc::SYS_futex,
        libc::SYS_sched_yield,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_getrandom,
        libc::SYS_clock_gettime,
        libc::SYS_close,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigaction,
        libc::SYS_restart_syscall,
        libc::SYS_getpid,
        libc::SYS_gettid,
    ]
    .into_iter()
    .map(|call| (call, Vec::new()))
    .collect();
    rules.insert(libc::SYS_read, only(0, &[fd(input)])?);
    rules.insert(libc::SYS_write, only(0, &[fd(output), 2])?);
    let rule = |conditions| SeccompRule::new(conditions).map(|rule| vec![rule]);
    rules.insert(libc::SYS_mmap, rule(vec![not_executable.clone(), private])?);
    rules.insert(libc::SYS_mprotect, rule(vec![not_executable])?);
    rules.insert(libc::SYS_clone, rule(vec![thread])?);
    rules.insert(libc::SYS_kill, only(0, &[this_process])?);
    rules.insert(libc::SYS_tgkill, only(0, &[this_process])?);
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::ENOSYS.unsigned_abs()),
        SeccompAction::Allow,
        arch,
    )?;
    Ok(filter.try_into()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread confined as the decoder process is (bar its rlimits, which are the whole
    /// process's) opens no file, no socket, and starts no program; it still starts a thread.
    #[test]
    fn a_confined_thread_opens_no_file_and_no_socket() {
        let confined = std::thread::spawn(|| {
            let confinement = confine_thread(0, 1).map_err(|error| error.to_string())?;
            let file = std::fs::File::open("/etc/hostname").err();
            let socket = std::net::TcpStream::connect("127.0.0.1:9").err();
            let program = std::process::Command::new("/bin/true").status().err();
            let thread = std::thread::spawn(|| 2 + 2).join().ok();
            Ok::<_, String>((confinement, [file, socket, program], thread))
        })
        .join()
        .unwrap();
        let (confinement, refused, thread) = confined.unwrap();
        assert!(confinement.seccomp);
        for error in refused {
            let error = error.expect("refused");
            assert_eq!(error.raw_os_error(), Some(libc::ENOSYS), "{error:?}");
        }
        assert_eq!(thread, Some(4));
    }

    /// Landlock alone, where the kernel has it, closes the file system too.
    #[test]
    fn landlock_alone_closes_the_file_system() {
        let opened = std::thread::spawn(|| {
            rustix::thread::set_no_new_privs(true).unwrap();
            let enforced = restrict_access().unwrap();
            (enforced, std::fs::File::open("/etc/hostname").err())
        })
        .join()
        .unwrap();
        match opened {
            (None, _) => println!("this kernel has no Landlock"),
            (Some(_), error) => {
                let error = error.expect("refused");
                assert_eq!(error.raw_os_error(), Some(libc::EACCES), "{error:?}");
            }
        }
    }
}
