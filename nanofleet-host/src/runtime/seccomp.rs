//! The seccomp profile of plugins that may not start processes (`permissions.process.spawn`
//! false, the default).
//!
//! A custom profile replaces the engine's default one rather than adding to it, so this one
//! starts from "allow" and refuses, first, what the engine's default profile refuses to an
//! unprivileged container (kernel modules, mounts, namespaces, tracing, keyrings, BPF, clock
//! and reboot calls; most also need capabilities the container does not have, refusing them
//! twice costs nothing), and then **process creation**:
//!
//! - `fork` and `vfork`: `EPERM`;
//! - `clone` without `CLONE_THREAD`: `EPERM`; with it (a new thread) allowed, so async runtimes
//!   and thread pools work as before;
//! - `clone3`: `ENOSYS`, because its flags live in memory a filter cannot read; C libraries
//!   take `ENOSYS` as "old kernel" and fall back to `clone`, which is judged above;
//! - `execveat`: `EPERM`.
//!
//! `execve` itself stays allowed, and has to: the engine applies the profile *before* it
//! executes the container's entrypoint, so refusing `execve` would refuse the plugin's own
//! start. What remains possible is for the plugin to replace its own program with another
//! file it can read (never to run a second process beside it): that program runs in the same
//! container, under the same profile, user, limits and network.

use serde_json::{Value, json};

/// `EPERM`: what a refused call returns, the errno programs already handle ("operation not
/// permitted").
const EPERM: u32 = 1;

/// `ENOSYS`: "no such call", which C libraries answer by falling back to `clone`.
const ENOSYS: u32 = 38;

/// `CLONE_THREAD`: the flag that makes a `clone` a new thread rather than a new process.
const CLONE_THREAD: u64 = 0x0001_0000;

/// What the engine's default profile refuses to a container without capabilities.
const ENGINE_DEFAULT_REFUSALS: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// The profile as the engine takes it (Docker's `seccomp=<json>` security option). Names the
/// engine's libseccomp does not know are skipped by the engine, so the list can name calls
/// newer than the kernel.
pub fn no_spawn_profile() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ENGINE_DEFAULT_REFUSALS,
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM
            },
            {
                "names": ["fork", "vfork", "execveat"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM
            },
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM,
                "args": [{
                    "index": 0,
                    "value": CLONE_THREAD,
                    "valueTwo": 0,
                    "op": "SCMP_CMP_MASKED_EQ"
                }]
            },
            {
                "names": ["clone3"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": ENOSYS
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_for(profile: &Value, call: &str) -> Option<Value> {
        profile["syscalls"].as_array()?.iter().find_map(|rule| {
            rule["names"]
                .as_array()?
                .iter()
                .any(|n| n == call)
                .then(|| rule.clone())
        })
    }

    #[test]
    fn process_creation_is_refused_and_threads_and_exec_are_not() {
        let profile = no_spawn_profile();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ALLOW");
        for call in ["fork", "vfork", "execveat"] {
            let rule = rule_for(&profile, call).unwrap_or_default();
            assert_eq!(rule["errnoRet"], EPERM, "{call}");
        }
        let clone = rule_for(&profile, "clone").unwrap_or_default();
        // Refused only when (flags & CLONE_THREAD) == 0: a process, not a thread.
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], CLONE_THREAD);
        assert_eq!(clone["args"][0]["valueTwo"], 0);
        assert_eq!(
            rule_for(&profile, "clone3").unwrap_or_default()["errnoRet"],
            ENOSYS
        );
        assert!(
            rule_for(&profile, "execve").is_none(),
            "the entrypoint needs execve"
        );
    }
}
