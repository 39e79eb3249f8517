//! Framework reloaders under Splice, through `splice-lsp`: Werkzeug's (Flask debug mode) and
//! Django's runserver autoreloader. A save patched in place in every process that has the file
//! does not restart the server (its pid stays); a save with a part refused restarts it, as the
//! framework would without Splice. `uvicorn --reload`, which cannot be held back, is named in
//! the editor with how to turn it off.

mod common;

use std::time::Instant;

use common::{free_port, get, Lsp, Server, Workspace, DEADLINE};
use serde_json::json;

/// The pid and answer of `GET /` once the server answers.
fn answer(port: u16) -> (u32, String) {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(body) = get(port) {
            let (pid, rest) = body.split_once(' ').unwrap();
            return (pid.parse().unwrap(), rest.to_owned());
        }
        assert!(Instant::now() < end, "nothing answers on port {port}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Saves `text` as the new content of `name`, opened before with `before`.
struct Editor {
    lsp: Lsp,
    version: i32,
}

impl Editor {
    fn open(ws: &Workspace, name: &str, text: &str) -> Editor {
        let (mut lsp, _) = Lsp::initialized(ws, &["utf-16"], json!({}));
        lsp.open(&ws.uri(name), text);
        Editor { lsp, version: 1 }
    }

    fn save(&mut self, ws: &Workspace, name: &str, text: &str) -> serde_json::Value {
        self.version += 1;
        ws.write(name, text);
        let uri = ws.uri(name);
        self.lsp
            .change(&uri, self.version, json!([{ "text": text }]));
        self.lsp.save(&uri);
        self.lsp.patch_result(&uri)
    }
}

/// The statuses given by the processes that have the file.
fn statuses(result: &serde_json::Value) -> Vec<String> {
    result["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| !a["modules"].as_array().unwrap().is_empty())
        .flat_map(|a| a["definitions"].as_array().unwrap().iter())
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Serves with a reloader; an in-place save keeps the serving pid, a refused one replaces it.
/// `watching`: a line of stderr saying the reloader watches the file; a save before that is
/// not a change to it.
fn reloader_restarts_only_for_what_splice_refused(
    ws: &Workspace,
    server: &Server,
    port: u16,
    (name, code): (&str, &str),
    watching: Option<&str>,
) {
    let (pid, said) = answer(port);
    assert_eq!(said, "v1");
    if let Some(line) = watching {
        server.expect_stderr(line);
    }
    let mut editor = Editor::open(ws, name, code);

    let patched = code.replace("return 'v1'", "return 'v2'");
    let result = editor.save(ws, name, &patched);
    assert!(statuses(&result).iter().all(|s| s == "patched"), "{result}");
    // The reloader saw the change and let the program run on.
    server.expect_stderr("changed and was patched in place");
    assert_eq!(answer(port), (pid, "v2".to_owned()));

    // A comment added: no part differs, and the program still runs what the file says.
    let patched = format!("{patched}\n# a note\n");
    let result = editor.save(ws, name, &patched);
    assert!(statuses(&result).is_empty(), "{result}");
    server.expect_stderr("changed and was patched in place");
    assert_eq!(answer(port), (pid, "v2".to_owned()));

    // A function that becomes a generator cannot change in place: the framework restarts.
    let refused = patched.replace("return 'v2'", "yield 'v3'");
    let result = editor.save(ws, name, &refused);
    assert!(statuses(&result).iter().any(|s| s == "refused"), "{result}");
    let end = Instant::now() + DEADLINE;
    while answer(port).0 == pid {
        assert!(
            Instant::now() < end,
            "pid {pid} still serves after a refused save"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    editor.lsp.shutdown();
}

const FLASK_APP: &str = "\
import os
from flask import Flask

app = Flask(__name__)

def version():
    return 'v1'

@app.route('/')
def view():
    return f'{os.getpid()} {version()}'

if __name__ == '__main__':
    app.run(port=int(os.environ['PORT']), debug=True, use_reloader=True, reloader_type=os.environ['RELOADER'])
";

/// Werkzeug's watchdog loop is held back the same way (`trigger_reload`); it is not tested
/// here because on this machine it loses itself in inotify queue overflows with or without
/// Splice.
fn flask_debug(reloader: &str) {
    let ws = Workspace::new();
    ws.write("app.py", FLASK_APP);
    let port = free_port();
    let env = [
        ("PORT", port.to_string()),
        ("RELOADER", reloader.to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&ws, &["app.py"], &env);
    // Werkzeug looks at every module's file before it serves.
    reloader_restarts_only_for_what_splice_refused(&ws, &server, port, ("app.py", FLASK_APP), None);
}

#[test]
fn flask_debug_stat_reloader_restarts_only_for_refused_saves() {
    flask_debug("stat");
}

const DJANGO_MANAGE: &str = "\
import sys
from django.conf import settings

settings.configure(
    DEBUG=True, ROOT_URLCONF='urls', ALLOWED_HOSTS=['*'], SECRET_KEY='not secret',
    INSTALLED_APPS=[], MIDDLEWARE=[], DATABASES={},
    # The autoreloader says when it first sees a file: the test saves after that.
    LOGGING={
        'version': 1,
        'handlers': {'stderr': {'class': 'logging.StreamHandler'}},
        'loggers': {'django.utils.autoreload': {'handlers': ['stderr'], 'level': 'DEBUG'}},
    },
)
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
";

const DJANGO_VIEWS: &str = "\
import os
from django.http import HttpResponse

def version():
    return 'v1'

def index(request):
    return HttpResponse(f'{os.getpid()} {version()}')
";

#[test]
fn django_runserver_autoreloader_restarts_only_for_refused_saves() {
    let ws = Workspace::new();
    ws.write("manage.py", DJANGO_MANAGE);
    ws.write(
        "urls.py",
        "from django.urls import path\nimport views\n\nurlpatterns = [path('', views.index)]\n",
    );
    ws.write("views.py", DJANGO_VIEWS);
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let server = Server::start(&ws, &["manage.py", "runserver", &address], &[]);
    reloader_restarts_only_for_what_splice_refused(
        &ws,
        &server,
        port,
        ("views.py", DJANGO_VIEWS),
        Some("views.py first seen"),
    );
}

const ASGI_APP: &str = "\
def version():
    return 'v1'

async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    body = version().encode()
    await send({'type': 'http.response.start', 'status': 200, 'headers': []})
    await send({'type': 'http.response.body', 'body': body})
";

#[test]
fn uvicorn_reload_is_named_with_how_to_turn_it_off() {
    let ws = Workspace::new();
    ws.write("app.py", ASGI_APP);
    let port = free_port().to_string();
    let server = Server::start(
        &ws,
        &[
            "-m",
            "uvicorn",
            "--reload",
            "--port",
            &port,
            "--log-level",
            "warning",
            "app:app",
        ],
        &[],
    );
    let port: u16 = port.parse().unwrap();
    let end = Instant::now() + DEADLINE;
    while get(port).is_none() {
        assert!(Instant::now() < end, "uvicorn does not answer");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut editor = Editor::open(&ws, "app.py", ASGI_APP);
    editor.save(&ws, "app.py", &ASGI_APP.replace("'v1'", "'v2'"));
    let uri = ws.uri("app.py");
    editor.lsp.diagnostics(&uri, |d| {
        d.iter().any(|d| {
            d["message"]
                .as_str()
                .is_some_and(|m| m.contains("run uvicorn without --reload"))
        })
    });
    drop(server);
    editor.lsp.shutdown();
}
