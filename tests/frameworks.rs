//! Whole-file saves into programs built on real frameworks (Flask served by Werkzeug, FastAPI
//! served by uvicorn, a Django model, a pydantic model), through `splice-lsp`. The frameworks
//! come from `tests/frameworks.txt`, installed by `make test-lsp`.

mod common;

use common::saves::{run_cases, Case};
use serde_json::json;

/// A Flask app served over HTTP from a thread of the program; `get(path)` requests it.
macro_rules! flask_app {
    ($imports:literal, $route:literal, $body:literal, $after_start:literal) => {
        concat!(
            $imports,
            "import threading, urllib.request, urllib.error\n",
            "from flask import Flask\n",
            "from werkzeug.serving import make_server\n\n",
            "app = Flask(__name__)\n\n",
            "@app.route(\"", $route, "\")\n",
            "def view():\n",
            "    return ", $body, "\n\n",
            "server = make_server('127.0.0.1', 0, app)\n",
            "threading.Thread(target=server.serve_forever, daemon=True).start()\n\n",
            "def get(path):\n",
            "    try:\n",
            "        return urllib.request.urlopen(f'http://127.0.0.1:{server.server_port}{path}').read().decode()\n",
            "    except urllib.error.HTTPError as err:\n",
            "        return err.code\n\n",
            $after_start,
        )
    };
}

/// A FastAPI app served by uvicorn from a thread of the program; `get(path)` requests it once
/// the server has started.
macro_rules! fastapi_app {
    ($imports:literal, $route:literal, $body:literal) => {
        concat!(
            $imports,
            "import socket, threading, time, urllib.request, urllib.error\n",
            "import uvicorn\n",
            "from fastapi import FastAPI\n\n",
            "app = FastAPI()\n\n",
            "@app.get(\"", $route, "\")\n",
            "def view():\n",
            "    return ", $body, "\n\n",
            "sock = socket.socket()\n",
            "sock.bind(('127.0.0.1', 0))\n",
            "server = uvicorn.Server(uvicorn.Config(app, log_level='error'))\n",
            "threading.Thread(target=server.run, kwargs={'sockets': [sock]}, daemon=True).start()\n\n",
            "def get(path):\n",
            "    deadline = time.monotonic() + 20\n",
            "    while not server.started and time.monotonic() < deadline:\n",
            "        time.sleep(0.01)\n",
            "    try:\n",
            "        return urllib.request.urlopen(f'http://127.0.0.1:{sock.getsockname()[1]}{path}').read().decode()\n",
            "    except urllib.error.HTTPError as err:\n",
            "        return err.code\n",
        )
    };
}

const DJANGO_MODEL: &str = "\
import django
from django.conf import settings

settings.configure(INSTALLED_APPS=[], DATABASES={})
django.setup()
from django.db import models

class Item(models.Model):
    name = models.CharField(max_length=10)

    class Meta:
        app_label = 'shop'

    def label(self):
        return 'a:' + self.name
";

const PYDANTIC_MODEL: &str = "\
from pydantic import BaseModel

class User(BaseModel):
    name: str = 'ann'

    def greeting(self):
        return 'hi ' + self.name
";

#[test]
fn saves_reach_programs_built_on_frameworks() {
    let django_after = DJANGO_MODEL
        .replace("max_length=10", "max_length=20")
        .replace("'a:'", "'b:'");
    let pydantic_after = PYDANTIC_MODEL
        .replace("'ann'", "'bob'")
        .replace("'hi '", "'hello '");
    let cases = [
        Case {
            name: "Flask: an import added at the top reaches the view that uses it",
            before: flask_app!("", "/a", "'x'", ""),
            after: flask_app!("import json\n", "/a", "json.dumps([1])", ""),
            probe: "get('/a')",
            expected: json!("[1]"),
            reasons: &["import-ran", "code-replaced"],
        },
        Case {
            name: "Flask: a changed route is registered again",
            before: flask_app!("", "/a", "'x'", ""),
            after: flask_app!("", "/b", "'x'", ""),
            probe: "get('/b')",
            expected: json!("x"),
            reasons: &["redecorated"],
        },
        Case {
            name: "Flask: a route changed after the first request is refused at the decorator",
            before: flask_app!("", "/a", "'x'", "FIRST = get('/a')\n"),
            after: flask_app!("", "/b", "'y'", "FIRST = get('/a')\n"),
            probe: "[FIRST, get('/a'), get('/b')]",
            expected: json!(["x", "x", 404]),
            reasons: &["decorator-raised"],
        },
        Case {
            name: "FastAPI: an import added at the top reaches the endpoint that uses it",
            before: fastapi_app!("", "/a", "{'n': 1}"),
            after: fastapi_app!("import math\n", "/a", "{'n': math.floor(2.5)}"),
            probe: "get('/a')",
            expected: json!("{\"n\":2}"),
            reasons: &["import-ran", "code-replaced"],
        },
        Case {
            name: "FastAPI: a changed route path is registered again",
            before: fastapi_app!("", "/a", "{'n': 1}"),
            after: fastapi_app!("", "/b", "{'n': 1}"),
            probe: "get('/b')",
            expected: json!("{\"n\":1}"),
            reasons: &["redecorated"],
        },
        Case {
            name: "Django: a model field is refused, naming the metaclass; its method is patched",
            before: DJANGO_MODEL,
            after: leak(django_after),
            probe: "[Item._meta.get_field('name').max_length, Item(name='x').label()]",
            expected: json!([10, "b:x"]),
            reasons: &["metaclass-owns-attributes", "code-replaced"],
        },
        Case {
            name:
                "pydantic: a field default is refused, naming the metaclass; its method is patched",
            before: PYDANTIC_MODEL,
            after: leak(pydantic_after),
            probe: "[User().name, User().greeting()]",
            expected: json!(["ann", "hello ann"]),
            reasons: &["metaclass-owns-attributes", "code-replaced"],
        },
    ];
    run_cases(&cases);
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}
