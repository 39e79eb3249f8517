//! Programs made of several processes, through `splice-lsp`: forked workers (gunicorn,
//! multiprocessing fork), spawned ones (uvicorn --workers, multiprocessing spawn and
//! forkserver), and a `subprocess` Python child. One save reaches every process that runs the
//! file: each answers with the new code afterwards, and the editor says in how many.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use common::{
    free_port, get, records, wait_until, Lsp, Program, Server, Workspace, DEADLINE, PROBE_TAIL,
};
use serde_json::{json, Value};

/// Requests `port` two at a time (each request keeps a worker busy, so the other one takes the
/// second) until every pid in `workers` has answered; returns the `(pid, answer)` pairs seen.
fn answers_from_every_worker(port: u16, workers: &BTreeSet<u32>) -> Vec<(u32, String)> {
    let end = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    loop {
        let pair: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(move || get(port)))
            .collect();
        for body in pair.into_iter().filter_map(|t| t.join().unwrap()) {
            let (pid, answer) = body.split_once(' ').unwrap();
            seen.push((pid.parse().unwrap(), answer.to_owned()));
        }
        let answered: BTreeSet<u32> = seen.iter().map(|(pid, _)| *pid).collect();
        if workers.is_subset(&answered) {
            return seen;
        }
        assert!(
            Instant::now() < end,
            "workers {workers:?} did not all answer; seen {seen:?}"
        );
    }
}

/// The pids of the agents below `root` once there are `count` of them.
fn agents_below(ws: &Workspace, root: u32, count: usize) -> BTreeSet<u32> {
    let below = || -> BTreeSet<u32> {
        records(&ws.runtime_dir())
            .iter()
            .filter(|r| r["pid"] != json!(root))
            .map(|r| r["pid"].as_u64().unwrap() as u32)
            .collect()
    };
    wait_until(&format!("{count} agents below pid {root}"), || {
        below().len() >= count
    });
    below()
}

/// Saves `after` over `before` in the editor; returns the patch result.
fn save(ws: &Workspace, lsp: &mut Lsp, name: &str, before: &str, after: &str) -> Value {
    let uri = ws.uri(name);
    lsp.open(&uri, before);
    ws.write(name, after);
    lsp.change(&uri, 2, json!([{ "text": after }]));
    lsp.save(&uri);
    lsp.patch_result(&uri)
}

/// The pids the result says took the definition `qualname`, and those that have the file.
fn took(result: &Value, qualname: &str) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let mut took = BTreeSet::new();
    let mut with_file = BTreeSet::new();
    for agent in result["agents"].as_array().unwrap() {
        let pid = agent["pid"].as_u64().unwrap() as u32;
        if !agent["modules"].as_array().unwrap().is_empty() {
            with_file.insert(pid);
        }
        let patched = agent["definitions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["qualname"] == json!(qualname) && d["status"] == json!("patched"));
        if patched {
            took.insert(pid);
        }
    }
    (took, with_file)
}

/// The hint on the saved definition names how many processes took it.
fn assert_hint(lsp: &mut Lsp, uri: &str, expected: &str) {
    let diagnostics = lsp.diagnostics(uri, |d| {
        d.iter()
            .any(|d| d["message"].as_str().is_some_and(|m| m.contains(expected)))
    });
    assert_eq!(
        diagnostics.len(),
        1,
        "one hint for every process: {diagnostics:?}"
    );
}

const WSGI_APP: &str = "\
import os, time

def version():
    return 'v1'

def app(environ, start_response):
    time.sleep(0.05)
    body = f'{os.getpid()} {version()}'.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
";

const ASGI_APP: &str = "\
import asyncio, os

def version():
    return 'v1'

async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    await asyncio.sleep(0.05)
    body = f'{os.getpid()} {version()}'.encode()
    headers = [(b'content-type', b'text/plain'), (b'content-length', str(len(body)).encode())]
    await send({'type': 'http.response.start', 'status': 200, 'headers': headers})
    await send({'type': 'http.response.body', 'body': body})
";

/// Serves `app` with `args` (`{port}` replaced), waits until `workers` processes below the
/// server answer, saves a new `version()`, and checks that every worker answers with it.
fn every_worker_takes_the_save(app: &str, args: &[&str], workers: usize, with_file: usize) {
    let ws = Workspace::new();
    ws.write("app.py", app);
    let port = free_port().to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("{port}", &port)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&ws, &args, &[]);
    let port: u16 = port.parse().unwrap();
    let pids = agents_below(&ws, server.pid(), workers);
    let before = answers_from_every_worker(port, &pids);
    assert!(before.iter().all(|(_, v)| v == "v1"), "{before:?}");

    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let result = save(&ws, &mut lsp, "app.py", app, &app.replace("'v1'", "'v2'"));
    let (took, have_file) = took(&result, "version");
    assert_eq!(have_file.len(), with_file, "{result}");
    assert_eq!(took, have_file, "{result}");
    assert!(pids.is_subset(&took), "workers {pids:?}: {result}");
    assert_hint(
        &mut lsp,
        &ws.uri("app.py"),
        &format!("patched in {with_file} of {with_file} processes"),
    );
    // Every answer after the result is new code, from every worker.
    let after = answers_from_every_worker(port, &pids);
    assert!(after.iter().all(|(_, v)| v == "v2"), "{after:?}");
    lsp.shutdown();
}

/// `python -m splice -m gunicorn` with 2 sync workers, and `more` options.
fn gunicorn(more: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "-m",
        "gunicorn",
        "--no-control-socket",
        "--log-level",
        "warning",
    ];
    args.extend_from_slice(more);
    args.extend_from_slice(&["-w", "2", "-b", "127.0.0.1:{port}", "app:app"]);
    args
}

#[test]
fn gunicorn_workers_each_take_a_save() {
    every_worker_takes_the_save(WSGI_APP, &gunicorn(&[]), 2, 2);
}

#[test]
fn gunicorn_preloaded_master_and_workers_take_a_save() {
    every_worker_takes_the_save(WSGI_APP, &gunicorn(&["--preload"]), 2, 3);
}

#[test]
fn uvicorn_spawned_workers_each_take_a_save() {
    every_worker_takes_the_save(
        ASGI_APP,
        &[
            "-m",
            "uvicorn",
            "--workers",
            "2",
            "--port",
            "{port}",
            "--log-level",
            "warning",
            "app:app",
        ],
        2,
        2,
    );
}

const POOL: &str = "\
import multiprocessing, os, sys, time

def version():
    return 'v1'

def work(_):
    time.sleep(0.02)
    return f'{os.getpid()} {version()}'

def answers():
    return sorted(set(pool.map(work, range(8), chunksize=1)))

if __name__ == '__main__':
    pool = multiprocessing.get_context(os.environ['START_METHOD']).Pool(2)
    workers = sorted(p.pid for p in pool._pool)
";

/// A `multiprocessing.Pool` of 2 started with `method`: after one save every worker runs the
/// new `version()`, and the program's main process too.
fn pool_takes_a_save(method: &str) {
    let ws = Workspace::new();
    let before = format!("{POOL}{}", PROBE_TAIL.replace('\n', "\n    "));
    let before = before.trim_end().to_owned() + "\n";
    ws.write("app.py", &before);
    let mut program = Program::start_with(&ws, "app.py", &[("START_METHOD", method)]);
    let workers: BTreeSet<u32> = serde_json::from_value(program.eval("workers")).unwrap();
    agents_below(&ws, program.pid(), workers.len());
    // Until every worker has run `work`, and so has `app.py` loaded.
    let end = Instant::now() + DEADLINE;
    while !workers.iter().all(|w| {
        program
            .eval("answers()")
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with(&w.to_string()))
    }) {
        assert!(
            Instant::now() < end,
            "pool workers {workers:?} did not all run"
        );
    }

    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let after = before.replace("'v1'", "'v2'");
    let result = save(&ws, &mut lsp, "app.py", &before, &after);
    let (took, have_file) = took(&result, "version");
    assert_eq!(took, have_file, "{result}");
    assert!(took.contains(&program.pid()), "{result}");
    assert!(workers.is_subset(&took), "workers {workers:?}: {result}");
    assert_eq!(program.eval("version()"), json!("v2"));
    let end = Instant::now() + DEADLINE;
    let mut answered = BTreeSet::new();
    while !workers.is_subset(&answered) {
        for answer in program.eval("answers()").as_array().unwrap() {
            let (pid, version) = answer.as_str().unwrap().split_once(' ').unwrap();
            assert_eq!(version, "v2", "pid {pid} runs old code");
            answered.insert(pid.parse::<u32>().unwrap());
        }
        assert!(
            Instant::now() < end,
            "workers {workers:?}, answered {answered:?}"
        );
    }
    lsp.shutdown();
}

#[test]
fn multiprocessing_fork_pool_takes_a_save() {
    pool_takes_a_save("fork");
}

#[test]
fn multiprocessing_spawn_pool_takes_a_save() {
    pool_takes_a_save("spawn");
}

#[test]
fn multiprocessing_forkserver_pool_takes_a_save() {
    pool_takes_a_save("forkserver");
}

#[test]
fn a_subprocess_python_child_takes_a_save() {
    let ws = Workspace::new();
    let lib = "def version():\n    return 'v1'\n";
    ws.write("lib.py", lib);
    ws.write(
        "child.py",
        "import sys, lib\nfor line in sys.stdin:\n    print(lib.version(), flush=True)\n",
    );
    let parent = format!(
        "{}{PROBE_TAIL}",
        "import subprocess, sys, lib\n\
         child = subprocess.Popen([sys.executable, 'child.py'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)\n\
         def ask():\n    child.stdin.write('?\\n'); child.stdin.flush()\n    return child.stdout.readline().strip()\n"
    );
    ws.write("app.py", &parent);
    let mut program = Program::start(&ws, "app.py");
    assert_eq!(program.eval("[lib.version(), ask()]"), json!(["v1", "v1"]));
    let child = agents_below(&ws, program.pid(), 1);

    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let result = save(&ws, &mut lsp, "lib.py", lib, &lib.replace("'v1'", "'v2'"));
    let (took, _) = took(&result, "version");
    assert!(
        took.contains(&program.pid()) && child.is_subset(&took),
        "{result}"
    );
    assert_hint(&mut lsp, &ws.uri("lib.py"), "patched in 2 of 2 processes");
    assert_eq!(program.eval("[lib.version(), ask()]"), json!(["v2", "v2"]));
    lsp.shutdown();
}

#[test]
fn workers_that_exit_without_cleaning_up_leave_no_record() {
    // Pool workers end with os._exit, and terminate() kills them: neither runs atexit.
    let ws = Workspace::new();
    let before = format!("{POOL}{}", PROBE_TAIL.replace('\n', "\n    "));
    ws.write("app.py", &(before.trim_end().to_owned() + "\n"));
    let mut program = Program::start_with(&ws, "app.py", &[("START_METHOD", "fork")]);
    let workers: BTreeSet<u32> = serde_json::from_value(program.eval("workers")).unwrap();
    agents_below(&ws, program.pid(), workers.len());
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let listed = |lsp: &mut Lsp| -> BTreeSet<u32> {
        let agents = lsp.request(
            "workspace/executeCommand",
            json!({"command": "splice.listAgents", "arguments": []}),
        );
        agents
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["pid"].as_u64().unwrap() as u32)
            .collect()
    };
    wait_until("the server to list the workers", || {
        workers.is_subset(&listed(&mut lsp))
    });
    program.eval("[pool.terminate(), pool.join()]");
    wait_until("the workers' records to go", || {
        let left: BTreeSet<u32> = records(&ws.runtime_dir())
            .iter()
            .map(|r| r["pid"].as_u64().unwrap() as u32)
            .collect();
        left.is_disjoint(&workers)
    });
    wait_until("the server to forget the workers", || {
        listed(&mut lsp).is_disjoint(&workers)
    });
    lsp.shutdown();
}
