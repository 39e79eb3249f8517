//! Programs as process trees: what to call a process, and which processes belong together
//! (a gunicorn master and its workers, a reloader and the server it runs). Agent records name
//! their parent process; a tree is a root agent and every agent below it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use splice_protocol::discovery::AgentRecord;

/// What the user ran, from a process's command line: `gunicorn`, `manage.py runserver`,
/// `uvicorn` (not its `__main__.py`), `multiprocessing worker`.
pub fn program_name(argv: &[String]) -> String {
    let Some(first) = argv.first() else {
        return "python".into();
    };
    if first == "-c" {
        // multiprocessing's own children run a line of code that names them.
        let code = argv.get(1).map(String::as_str).unwrap_or("");
        return if code.contains("multiprocessing.forkserver") {
            "multiprocessing forkserver".into()
        } else if code.contains("multiprocessing.spawn") {
            "multiprocessing worker".into()
        } else {
            "python -c".into()
        };
    }
    if first == "-m" {
        return "python -m".into();
    }
    let path = Path::new(first);
    let mut name = match path.file_name().map(|n| n.to_string_lossy()) {
        // `python -m pkg` runs `pkg/__main__.py`: the package is what the user named.
        Some(n) if n == "__main__.py" => path
            .parent()
            .and_then(|p| p.file_name())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| n.into_owned()),
        Some(n) => n.into_owned(),
        None => first.clone(),
    };
    if let Some(command) = argv.get(1).filter(|a| is_subcommand(a)) {
        name.push(' ');
        name.push_str(command);
    }
    name
}

/// `runserver` in `manage.py runserver`, `run` in `flask run`: a bare word, not an option, a
/// path, a module:attribute or a number.
fn is_subcommand(arg: &str) -> bool {
    !arg.is_empty()
        && !arg.starts_with('-')
        && !arg.chars().all(|c| c.is_ascii_digit())
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `pid 4242 (app.py)`.
pub fn label(record: &AgentRecord) -> String {
    format!(
        "pid {} ({})",
        record.info.pid,
        program_name(&record.info.argv)
    )
}

/// The root of each agent's tree: the highest ancestor that also runs an agent.
pub fn roots(records: &[AgentRecord]) -> HashMap<u32, u32> {
    let parents: HashMap<u32, Option<u32>> = records
        .iter()
        .map(|r| (r.info.pid, r.info.parent_pid))
        .collect();
    let root_of = |pid: u32| {
        let mut at = pid;
        // A cycle cannot happen between live processes; the bound guards against odd records.
        for _ in 0..parents.len() {
            match parents.get(&at).copied().flatten() {
                Some(parent) if parents.contains_key(&parent) && parent != pid => at = parent,
                _ => break,
            }
        }
        at
    };
    parents.keys().map(|pid| (*pid, root_of(*pid))).collect()
}

/// One line per tree: `gunicorn (pid 10): 2 workers`, `app.py (pid 7)`. Processes forked from
/// the root (with its command line) are its workers; others are named by what they run.
pub fn describe_trees(records: &[AgentRecord]) -> BTreeMap<u32, String> {
    let roots = roots(records);
    let by_pid: HashMap<u32, &AgentRecord> = records.iter().map(|r| (r.info.pid, r)).collect();
    let mut trees: BTreeMap<u32, String> = BTreeMap::new();
    for (root, root_record) in records
        .iter()
        .filter(|r| roots.get(&r.info.pid) == Some(&r.info.pid))
        .map(|r| (r.info.pid, r))
    {
        let root_name = program_name(&root_record.info.argv);
        // Workers first, then the others by name.
        let mut below: BTreeMap<(bool, String), usize> = BTreeMap::new();
        for (pid, _) in roots.iter().filter(|(pid, r)| **r == root && **pid != root) {
            let name = program_name(&by_pid[pid].info.argv);
            *below.entry((name != root_name, name)).or_default() += 1;
        }
        let parts: Vec<String> = below
            .into_iter()
            .map(|((other, name), n)| match (other, n) {
                (false, 1) => "1 worker".into(),
                (false, n) => format!("{n} workers"),
                (true, 1) => name,
                (true, n) => format!("{n} × {name}"),
            })
            .collect();
        let mut line = format!("{root_name} (pid {root})");
        if !parts.is_empty() {
            line.push_str(": ");
            line.push_str(&parts.join(", "));
        }
        trees.insert(root, line);
    }
    trees
}

#[cfg(test)]
mod tests {
    use super::*;
    use splice_protocol::AgentInfo;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    fn record(pid: u32, parent: u32, args: &[&str]) -> AgentRecord {
        AgentRecord {
            info: AgentInfo {
                pid,
                argv: argv(args),
                cwd: "/".into(),
                python_version: "3.11.7".into(),
                python_executable: "python".into(),
                protocol_version: splice_protocol::PROTOCOL_VERSION,
                agent_version: "0".into(),
                address: format!("unix:/run/{pid}.sock"),
                started_at: 0.0,
                parent_pid: Some(parent),
            },
            token: None,
        }
    }

    #[test]
    fn names_say_what_the_user_ran() {
        let cases: [(&[&str], &str); 9] = [
            (&["/venv/bin/gunicorn", "-w", "2", "app:app"], "gunicorn"),
            (&["manage.py", "runserver"], "manage.py runserver"),
            (&["/venv/lib/uvicorn/__main__.py", "app:app"], "uvicorn"),
            (&["flask", "run"], "flask run"),
            (&["app.py", "8000"], "app.py"),
            (
                &[
                    "-c",
                    "from multiprocessing.spawn import spawn_main; spawn_main()",
                    "--multiprocessing-fork",
                ],
                "multiprocessing worker",
            ),
            (&["-c", "import time"], "python -c"),
            (&["-m", "--help"], "python -m"),
            (&[], "python"),
        ];
        for (args, name) in cases {
            assert_eq!(program_name(&argv(args)), name, "{args:?}");
        }
    }

    #[test]
    fn trees_group_workers_and_children_under_their_root() {
        let records = [
            record(10, 1, &["gunicorn", "-w", "2", "app:app"]),
            record(11, 10, &["gunicorn", "-w", "2", "app:app"]),
            record(12, 10, &["gunicorn", "-w", "2", "app:app"]),
            record(20, 1, &["manage.py", "runserver"]),
            record(21, 20, &["manage.py", "runserver"]),
            record(22, 21, &["-c", "import x"]),
            record(30, 999, &["app.py"]),
        ];
        let roots = roots(&records);
        assert_eq!(roots[&12], 10);
        assert_eq!(roots[&22], 20);
        assert_eq!(roots[&30], 30);
        let trees = describe_trees(&records);
        assert_eq!(trees[&10], "gunicorn (pid 10): 2 workers");
        assert_eq!(
            trees[&20],
            "manage.py runserver (pid 20): 1 worker, python -c"
        );
        assert_eq!(trees[&30], "app.py (pid 30)");
        assert_eq!(trees.len(), 3);
    }
}
