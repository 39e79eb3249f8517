"""Measures the agent on real processes over the real socket, and prints a markdown table.

Run with `make bench-agent` (`.venv/bin/python bench/agent_bench.py`). Every target program is
a generated ~3,000-line module started with `python -m splice target.py MODE` (or
`python -m jurigged target.py MODE` for the comparison) in a temporary folder with its own
`SPLICE_RUNTIME_DIR`. Timestamps that cross processes use CLOCK_MONOTONIC
(`time.monotonic_ns()`), which is one system-wide clock on Linux.

Measurements:
1. apply latency of one changed function: idle program (request sent -> response, the patch
   being applied before the response) and busy program (request sent -> the program's own
   busy loop sees the new return value); the first patch of the file separately;
2. the same edit with jurigged: file written -> the busy loop sees the new return value
   (default settings, and with a 1 ms debounce), and file written -> an idle program,
   polled every millisecond, returns the new value;
3. cost of `import splice; splice.start()` in a fresh process: wall time and RSS;
4. CPU ticks of an idle program with a started agent over 10 seconds;
5. call cost of a patched function against an identical never-patched one;
6. RSS growth over 1,000 patches of one function.
"""

from __future__ import annotations

import json
import math
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import splice
from splice.source import definitions

PY = sys.executable
DEADLINE = 20.0  # seconds, for anything we wait on
LATENCY_PATCHES = 200
LATENCY_PROGRAMS = 4
JURIGGED_EDITS = 30
START_PROCESSES = 20
IDLE_SECONDS = 10.0
CALLS_PER_REPEAT = 200_000
CALL_REPEATS = 75
FLOOD_RAISES = 1_000_000
FLOOD_REPEATS = 3
RSS_PATCHES = 1000
HOT = "hot_path"
TAGS = ("v1", "v2")  # the two bodies the benchmark alternates between


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- the generated target program -----------------------------------------------------------

HEADER = '''\
"""A generated module for the splice benchmark: records, stores, parsers and scorers."""

import dataclasses
import functools
import json
import sys
import time


def memoize(function):
    """Caches results by positional arguments."""
    cache = {}

    @functools.wraps(function)
    def wrapper(*args):
        try:
            return cache[args]
        except KeyError:
            result = cache[args] = function(*args)
            return result

    return wrapper

'''

BLOCK = '''
@dataclasses.dataclass
class Record@I@:
    """A record of kind @I@, as read from the input."""

    key: str
    weight: float = 1.0
    tags: tuple = ()

    def normalized(self) -> "Record@I@":
        scaled = self.weight / (1 + len(self.tags))
        return Record@I@(self.key.strip().lower(), scaled, self.tags)


class Store@I@:
    """Keeps records of kind @I@ by key and answers queries about them."""

    limit = @I@ + 16

    def __init__(self, records=()):
        self._items = {}
        for record in records:
            self.add(record)

    def add(self, record):
        if len(self._items) >= self.limit:
            raise OverflowError(f"store @I@ is full ({self.limit} records)")
        self._items[record.key] = record

    @property
    def total(self):
        return sum(r.weight for r in self._items.values())

    @classmethod
    def from_pairs(cls, pairs):
        return cls(Record@I@(k, float(w)) for k, w in pairs)

    @staticmethod
    def describe(record):
        return f"{record.key}={record.weight:.2f}"

    def query(self, prefix, minimum=0.0):
        matches = [r for r in self._items.values() if r.key.startswith(prefix)]
        kept = (r for r in matches if r.weight >= minimum)
        return sorted(kept, key=lambda r: -r.weight)


def parse_@I@(text):
    """Parses 'key:weight' lines, skipping blanks and comments."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            key, weight = line.split(":")
            pairs.append((key, float(weight)))
        except ValueError as err:
            raise ValueError(f"line {number}: {err}") from None
    return pairs


def make_scorer_@I@(scale):
    offset = @I@ % 7

    def score(record):
        return (record.weight + offset) * scale

    return score


@memoize
def weight_table_@I@(size):
    return tuple(round((k * @I@) % 97 / 9.7, 3) for k in range(size))


STORE_@I@ = Store@I@.from_pairs([("a@I@", 1), ("b@I@", 2)])
SCORERS_@I@ = [make_scorer_@I@(scale) for scale in (1, 2)]
'''

HOT_FUNCTION = '''

def hot_path(x):
    """Scores one value; the function the benchmark edits (its tag alternates)."""
    total = 0
    for k in range(4):
        total += (x * k) % 7
    return ("@TAG@", total)

'''

CALL_PAIR = """

def f_orig(x):
    return x + 2


def f_patched(x):
    return x + 1


def raise_orig(x):
    raise ValueError(x + 2)


def raise_patched(x):
    raise ValueError(x + 1)

"""

DRIVER = '''

# -- benchmark driver: the program's main loop, never edited ------------------------------


def _serve():
    """Idle: the main thread blocks reading stdin; each line is an expression to evaluate."""
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            answer = {"value": eval(json.loads(line), globals())}
        except Exception as err:
            answer = {"error": repr(err)}
        print("@@" + json.dumps(answer), flush=True)


def _spin():
    """Busy: the main thread calls hot_path in a loop and reports when its result changes."""
    now = time.monotonic_ns
    last = hot_path(7)
    print("ready", flush=True)
    while True:
        value = hot_path(7)
        if value != last:
            seen = now()
            print(f"@@changed {seen} {value[0]}", flush=True)
            last = value


def _sleep():
    """Idle: the main thread sleeps."""
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def _time_calls(number, repeat):
    """Seconds per `number` calls of f_orig and f_patched, interleaved, `repeat` times."""
    import timeit

    times = {"orig": [], "patched": []}
    for r in range(repeat):
        order = ("orig", "patched") if r % 2 == 0 else ("patched", "orig")
        for name in order:
            fn = f_orig if name == "orig" else f_patched
            times[name].append(timeit.timeit("fn(1)", globals={"fn": fn}, number=number))
    return times


def _time_raises(number, repeat):
    """Seconds for `number` raised-and-caught calls of raise_orig and raise_patched."""
    import time

    def loop(fn):
        start = time.perf_counter()
        for i in range(number):
            try:
                fn(i)
            except ValueError:
                pass
        return time.perf_counter() - start

    times = {"orig": [], "patched": []}
    for r in range(repeat):
        order = ("orig", "patched") if r % 2 == 0 else ("patched", "orig")
        for name in order:
            times[name].append(loop(raise_orig if name == "orig" else raise_patched))
    return times


if __name__ == "__main__":
    {"idle": _serve, "busy": _spin, "sleep": _sleep}[sys.argv[-1]]()
'''


def generate_target(lines: int = 3000) -> str:
    """The target module, about `lines` long, with hot_path in the middle (tag v1)."""
    block_lines = BLOCK.count("\n")
    fixed = sum(part.count("\n") for part in (HEADER, HOT_FUNCTION, CALL_PAIR, DRIVER))
    blocks = max(2, round((lines - fixed) / block_lines))
    parts = [HEADER]
    for i in range(blocks):
        if i == blocks // 2:
            parts.append(HOT_FUNCTION.replace("@TAG@", TAGS[0]))
        parts.append(BLOCK.replace("@I@", str(i)))
    parts.append(CALL_PAIR)
    parts.append(DRIVER)
    return "".join(parts)


def with_tag(text: str, tag: str) -> str:
    old = f'return ("{TAGS[0]}", total)'
    assert text.count(old) == 1
    return text.replace(old, f'return ("{tag}", total)')


@dataclass
class Edit:
    """One version of the target file and its patch request for hot_path."""

    tag: str
    text: str
    definitions: List[Dict[str, str]] = field(default_factory=list)


def edits(text: str, qualname: str = HOT) -> Tuple[Edit, Edit]:
    versions = []
    for tag in TAGS:
        tagged = with_tag(text, tag)
        versions.append(Edit(tag, tagged, definitions(tagged, [qualname])))
    return versions[0], versions[1]


# -- helpers: processes, waiting, statistics ------------------------------------------------


def wait_for(
    condition: Callable,
    timeout: float = DEADLINE,
    what: str = "a condition",
    interval: float = 0.005,
):
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


RUNNING: List[Target] = []  # every target started; main() ends any still running


class Output:
    """A started program's stdout, line by line: `self.process`, `self.lines` (a queue filled
    by `_pump`), `self.folder` and `self.stderr_path` are set by the subclass."""

    def _pump(self) -> None:
        try:
            for line in self.process.stdout:
                self.lines.put(line.rstrip("\n"))
        except (OSError, ValueError):  # closed by close()
            pass
        self.lines.put(None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def fail(self, message: str) -> RuntimeError:
        tail = self.stderr_path.read_text()[-2000:]
        return RuntimeError(f"{message} (target {self.folder.name}); its stderr:\n{tail}")

    def line(self, prefix: str, timeout: float = DEADLINE) -> str:
        """The next stdout line starting with `prefix` (other lines are skipped)."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise self.fail(f"no line {prefix!r} within {timeout}s") from None
            if line is None:
                raise self.fail("the program exited")
            if line.startswith(prefix):
                return line


class Target(Output):
    """One target program in its own folder, driven through stdin/stdout and the socket."""

    def __init__(
        self,
        root: Path,
        name: str,
        text: str,
        mode: str,
        runner: str = "splice",
        extra_args: Optional[List[str]] = None,
    ):
        self.folder = root / name
        self.folder.mkdir(parents=True)
        self.runtime_dir = self.folder / "run"
        self.path = self.folder / "target.py"
        self.path.write_text(text)
        env = dict(os.environ, SPLICE_RUNTIME_DIR=str(self.runtime_dir), PYTHONUNBUFFERED="1")
        self.stderr_path = self.folder / "stderr.txt"
        command = [PY, "-m", runner, *(extra_args or []), str(self.path), mode]
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                command,
                cwd=self.folder,
                env=env,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.lines: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self._client: Optional[splice.Client] = None
        RUNNING.append(self)
        try:
            self.line("ready")
        except BaseException:
            self.close()
            raise

    def eval(self, expression: str):
        self.process.stdin.write(json.dumps(expression) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.line("@@")[2:])
        if "error" in answer:
            raise self.fail(f"{expression!r} raised {answer['error']}")
        return answer["value"]

    def connect(self) -> splice.Client:
        """The (one) client of this program's agent, connected on first use."""
        if self._client is None:

            def record():
                found = [a for a in splice.list_agents(str(self.runtime_dir)) if a["pid"] == self.pid]
                return found[0] if found else None

            agent = wait_for(record, what=f"the agent of {self.pid}")
            self._client = splice.Client(agent["address"], agent.get("token"), timeout=DEADLINE)
        return self._client

    def encoded(self, edit: Edit) -> str:
        """The params of a patch request for `edit`, as the client sends them."""
        return json.dumps({"path": str(self.path), "source": edit.text, "definitions": edit.definitions})

    def patch(self, edit: Edit, encoded: Optional[str] = None) -> Dict:
        """Patches `edit`; with `encoded` (from `encoded()`), sends those params as they are."""
        client = self.connect()
        if encoded is None:
            result = client.patch(str(self.path), edit.definitions, edit.text)
        else:
            result = json.loads(client._native.call("patch", encoded))
        statuses = {d["qualname"]: d["status"] for d in result["definitions"]}
        if set(statuses.values()) != {"patched"}:
            raise self.fail(f"patch to {edit.tag} answered {result}")
        return result

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=DEADLINE)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


def proc_status_kb(pid: object, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def cpu_ticks(pid: int) -> int:
    """utime + stime of `pid`, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"


def percentile(values: List[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def spread(values: List[float]) -> str:
    """median / p90 / max of nanosecond values."""
    median = statistics.median(values)
    return f"median {ms(median)}, p90 {ms(percentile(values, 0.9))}, max {ms(max(values))}"


# -- 1. apply latency with splice ------------------------------------------------------------


@dataclass
class Latency:
    """Nanoseconds: the first patch of each program, then every later one."""

    firsts: List[float]
    rest: List[float]
    responses: List[float] = field(default_factory=list)  # request sent -> response received

    @property
    def first(self) -> float:
        """The first patch of the first program."""
        return self.firsts[0]


def wait_changed(target: Target, tag: str, t0: int, timeout: float = DEADLINE) -> int:
    """The program's own CLOCK_MONOTONIC time at which its busy loop saw `tag`."""
    _, seen, value = target.line("@@changed", timeout).split()
    if value != tag:
        raise target.fail(f"the busy loop saw {value}, expected {tag}")
    if int(seen) < t0:
        raise target.fail("the change was seen before the request was sent")
    return int(seen)


def latency_splice(root: Path, text: str, pair: Tuple[Edit, Edit], mode: str) -> Latency:
    """LATENCY_PATCHES patches spread over LATENCY_PROGRAMS fresh programs (a busy program's
    latency can stay fast or slow for its whole life, so one program is not a fair sample).

    The request is encoded before t0: its cost is the client's and is reported apart.
    idle: the main thread blocks reading stdin; request sent -> response received (the patch
    is applied before the response); the new behaviour is checked after each patch, untimed.
    busy: the main thread spins in a pure-Python loop calling hot_path; request sent -> the
    loop sees the new return value (its own CLOCK_MONOTONIC timestamp)."""
    result = Latency([], [])
    for n in range(LATENCY_PROGRAMS):
        target = Target(root, f"{mode}-{n}", text, mode)
        try:
            target.connect()  # before timing
            for i in range(LATENCY_PATCHES // LATENCY_PROGRAMS + 1):
                edit = pair[(i + 1) % 2]
                encoded = target.encoded(edit)  # the client's encoding: measured apart (encode_ns)
                t0 = time.monotonic_ns()
                target.patch(edit, encoded)
                answered = time.monotonic_ns()
                if mode == "busy":
                    seen = wait_changed(target, edit.tag, t0)
                else:
                    seen = answered
                    now = target.eval(f"{HOT}(7)")[0]
                    if now != edit.tag:
                        raise target.fail(f"after patch {i} {HOT} returns {now}, not {edit.tag}")
                if i == 0:
                    result.firsts.append(seen - t0)
                else:
                    result.rest.append(seen - t0)
                    result.responses.append(answered - t0)
        finally:
            target.close()
    return result


def encode_cost(edit: Edit, repeats: int = 50) -> float:
    """Median time to encode one patch request as `splice.Client.patch` does."""
    params = {"path": "/tmp/target.py", "definitions": edit.definitions, "source": edit.text}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        json.dumps(params)
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times)


# -- 2. the same edit with jurigged ------------------------------------------------------------


def latency_jurigged(
    root: Path,
    name: str,
    text: str,
    pair: Tuple[Edit, Edit],
    mode: str,
    extra_args: Optional[List[str]] = None,
) -> Latency:
    """`python -m jurigged target.py MODE`, measured as `latency_watching` does."""
    return latency_watching(root, name, text, pair, mode, "jurigged", extra_args)


def latency_watching(
    root: Path,
    name: str,
    text: str,
    pair: Tuple[Edit, Edit],
    mode: str,
    runner: str,
    extra_args: Optional[List[str]] = None,
) -> Latency:
    """`python -m RUNNER [EXTRA_ARGS] target.py MODE` (jurigged, or splice --watch): file
    written in place (as an editor saves) -> the program runs the new body. Busy: its loop
    reports the time it saw the new result. Idle (main thread blocked reading stdin): polled
    every millisecond through stdin, so the time is when the poll's answer arrives (late by up
    to ~1.3 ms)."""
    target = Target(root, name, text, mode, runner=runner, extra_args=extra_args)
    try:
        time.sleep(0.5)  # the watcher thread starts with the program: let it settle
        samples = []
        for i in range(JURIGGED_EDITS + 1):
            edit = pair[(i + 1) % 2]
            t0 = time.monotonic_ns()
            target.path.write_text(edit.text)
            if mode == "busy":
                samples.append(wait_changed(target, edit.tag, t0, timeout=10.0) - t0)
            else:
                wait_for(
                    lambda tag=edit.tag: target.eval(f"{HOT}(7)")[0] == tag,
                    timeout=10.0,
                    what=f"{runner} to reload",
                    interval=0.001,
                )
                samples.append(time.monotonic_ns() - t0)
            time.sleep(0.1)  # past the debounce window and the mtime granularity
        return Latency(samples[:1], samples[1:])
    finally:
        target.close()


# -- 3. the cost of starting the agent -------------------------------------------------------

START_PROBE = textwrap.dedent("""
    import json, time

    def rss():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    r0 = rss()
    t0 = time.perf_counter_ns()
    import {module}
    t1 = time.perf_counter_ns()
    r1 = rss()
    t2 = time.perf_counter_ns()
    {start}
    t3 = time.perf_counter_ns()
    r2 = rss()
    print(json.dumps({{"import_ns": t1 - t0, "start_ns": t3 - t2,
                      "import_kb": r1 - r0, "start_kb": r2 - r1}}))
""")


def start_cost(root: Path, module: str, start: str) -> Dict[str, float]:
    """Medians over fresh `python -c` processes (after one warm-up for the page cache)."""
    folder = root / f"start-{module}"
    folder.mkdir()
    env = dict(os.environ, SPLICE_RUNTIME_DIR=str(folder / "run"))
    code = START_PROBE.format(module=module, start=start)
    runs = []
    for _ in range(START_PROCESSES + 1):
        done = subprocess.run(
            [PY, "-c", code],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the start probe failed:\n{done.stderr}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    runs = runs[1:]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


# -- 4. CPU of an idle program with an agent -------------------------------------------------


def idle_cpu(root: Path, text: str, pair: Tuple[Edit, Edit]) -> Dict[str, int]:
    """Clock ticks over IDLE_SECONDS of sleeping programs: a fresh agent, an agent that has
    applied a patch (client still connected), and jurigged's watcher for comparison."""
    targets = {
        "fresh": Target(root, "cpu-fresh", text, "sleep"),
        "patched": Target(root, "cpu-patched", text, "sleep"),
        "jurigged": Target(root, "cpu-jurigged", text, "sleep", runner="jurigged"),
    }
    try:
        targets["patched"].patch(pair[1])
        time.sleep(0.5)
        before = {name: cpu_ticks(t.pid) for name, t in targets.items()}
        time.sleep(IDLE_SECONDS)
        return {name: cpu_ticks(t.pid) - before[name] for name, t in targets.items()}
    finally:
        for target in targets.values():
            target.close()


# -- 5. call cost of a patched function ------------------------------------------------------


def call_cost(root: Path, text: str) -> Dict[str, float]:
    """f_orig and f_patched are identical except for a constant; f_patched is patched to the
    same constant, then both are timed in the program, interleaved, min of repeats."""
    target = Target(root, "calls", text, "idle")
    try:
        patched_text = text.replace("def f_patched(x):\n    return x + 1", "def f_patched(x):\n    return x + 2")
        assert patched_text != text
        target.patch(Edit("f_patched", patched_text, definitions(patched_text, ["f_patched"])))
        if target.eval("(f_orig(1), f_patched(1))") != [3, 3]:
            raise target.fail("f_patched does not behave as f_orig after the patch")
        times = target.eval(f"_time_calls({CALLS_PER_REPEAT}, {CALL_REPEATS})")
        orig, patched = min(times["orig"]), min(times["patched"])
        # A flood: the patched function raises a million times, every raise reported or counted.
        raising = patched_text.replace("raise ValueError(x + 1)", "raise ValueError(x + 2)")
        target.patch(Edit("raise_patched", raising, definitions(raising, ["raise_patched"])))
        floods = target.eval(f"_time_raises({FLOOD_RAISES}, {FLOOD_REPEATS})")
        flood_orig, flood_patched = min(floods["orig"]), min(floods["patched"])
        return {
            "orig_ns": orig / CALLS_PER_REPEAT * 1e9,
            "patched_ns": patched / CALLS_PER_REPEAT * 1e9,
            "ratio": patched / orig,
            "flood_orig_s": flood_orig,
            "flood_patched_s": flood_patched,
            "flood_ratio": flood_patched / flood_orig,
        }
    finally:
        target.close()


# -- 6. memory over many patches ---------------------------------------------------------------


def rss_growth(root: Path, text: str, pair: Tuple[Edit, Edit]) -> Dict[str, object]:
    """VmRSS of the program before any patch, after two warm-up patches, and every
    RSS_PATCHES / 4 patches of hot_path (alternating bodies) after that."""
    target = Target(root, "rss", text, "idle")
    try:
        fresh = proc_status_kb(target.pid)
        target.patch(pair[1])
        target.patch(pair[0])
        series = [proc_status_kb(target.pid)]
        t0 = time.monotonic()
        for i in range(RSS_PATCHES):
            target.patch(pair[(i + 1) % 2])
            if (i + 1) % (RSS_PATCHES // 4) == 0:
                series.append(proc_status_kb(target.pid))
        seconds = time.monotonic() - t0
        if target.eval(f"{HOT}(7)")[0] != pair[RSS_PATCHES % 2].tag:
            raise target.fail("hot_path does not run the last patch")
        return {
            "fresh_kb": fresh,
            "series_kb": series,
            "per_patch_ms": seconds / RSS_PATCHES * 1e3,
        }
    finally:
        target.close()


SPREAD_FUNCTIONS = 50
SPREAD_PATCHES = 10_000


def rss_growth_spread(root: Path, text: str) -> Dict[str, object]:
    """VmRSS growth over SPREAD_PATCHES patches spread over SPREAD_FUNCTIONS functions added to
    the module, each patch a new version of the file (what undo history keeps grows with it)."""
    anchor = "\n\ndef f_orig(x):"
    functions = "".join(f"\n\ndef spread_{i}(x):\n    return (x, {i}, 0)\n" for i in range(SPREAD_FUNCTIONS))
    text = text.replace(anchor, functions + anchor, 1)
    first_lines = {i: text[: text.index(f"def spread_{i}(")].count("\n") for i in range(SPREAD_FUNCTIONS)}
    versions = dict.fromkeys(range(SPREAD_FUNCTIONS), 0)

    def edit(n: int) -> Edit:
        nonlocal text
        i = n % SPREAD_FUNCTIONS
        text = text.replace(f"(x, {i}, {versions[i]})", f"(x, {i}, {n + 1})", 1)
        versions[i] = n + 1
        body = f"def spread_{i}(x):\n    return (x, {i}, {n + 1})\n"
        return Edit(str(n), text, [{"qualname": f"spread_{i}", "source": "\n" * first_lines[i] + body}])

    target = Target(root, "rss-spread", text, "idle")
    try:
        for n in range(2):
            target.patch(edit(n))
        before = proc_status_kb(target.pid)
        t0 = time.monotonic()
        for n in range(2, SPREAD_PATCHES + 2):
            target.patch(edit(n))
        seconds = time.monotonic() - t0
        last = (SPREAD_PATCHES + 1) % SPREAD_FUNCTIONS
        if target.eval(f"spread_{last}(7)")[2] != SPREAD_PATCHES + 2:
            raise target.fail("the last patch does not run")
        return {
            "growth_kb": proc_status_kb(target.pid) - before,
            "per_patch_ms": seconds / SPREAD_PATCHES * 1e3,
        }
    finally:
        target.close()


# -- report -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def environment() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    from importlib.metadata import version

    return (
        f"splice {splice.__version__}, jurigged {version('jurigged')}, "
        f"CPython {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} cores ({cpu})"
    )


def measure(root: Path) -> Dict[str, object]:
    """Runs every measurement, in order, each on its own fresh programs."""
    text = generate_target()
    pair = edits(text)
    r: Dict[str, object] = {"lines": text.count("\n"), "kb": len(text) // 1024}
    r["encode_ns"] = encode_cost(pair[1])
    log(f"1. splice apply latency, idle ({LATENCY_PATCHES} patches, {LATENCY_PROGRAMS} programs)")
    r["idle"] = latency_splice(root, text, pair, "idle")
    log(f"1. splice apply latency, busy ({LATENCY_PATCHES} patches, {LATENCY_PROGRAMS} programs)")
    r["busy"] = latency_splice(root, text, pair, "busy")
    log(f"2. jurigged, busy program ({JURIGGED_EDITS} edits, default settings)")
    r["jur_busy"] = latency_jurigged(root, "jur-busy", text, pair, "busy")
    log(f"2. jurigged, busy program ({JURIGGED_EDITS} edits, --debounce 0.001)")
    r["jur_fast"] = latency_jurigged(root, "jur-fast", text, pair, "busy", ["--debounce", "0.001"])
    log(f"2. jurigged, idle program ({JURIGGED_EDITS} edits, default settings)")
    r["jur_idle"] = latency_jurigged(root, "jur-idle", text, pair, "idle")
    log(f"2. splice --watch, busy program ({JURIGGED_EDITS} edits)")
    r["watch_busy"] = latency_watching(root, "watch-busy", text, pair, "busy", "splice", ["--watch"])
    log(f"2. splice --watch, idle program ({JURIGGED_EDITS} edits)")
    r["watch_idle"] = latency_watching(root, "watch-idle", text, pair, "idle", "splice", ["--watch"])
    log(f"3. start cost ({START_PROCESSES} processes each)")
    r["start"] = start_cost(root, "splice", "splice.start()")
    r["peer_start"] = start_cost(root, "jurigged", "jurigged.watch()")
    log(f"4. idle CPU over {IDLE_SECONDS:.0f} s")
    r["cpu"] = idle_cpu(root, text, pair)
    log("5. call cost of a patched function")
    r["calls"] = call_cost(root, text)
    log(f"6. RSS over {RSS_PATCHES} patches")
    r["rss"] = rss_growth(root, text, pair)
    log(f"6b. RSS over {SPREAD_PATCHES} patches spread over {SPREAD_FUNCTIONS} functions")
    r["rss_spread"] = rss_growth_spread(root, text)
    return r


def mb(kb: float) -> str:
    return f"{kb / 1024:.2f} MB"


def firsts(latency: Latency) -> str:
    values = latency.firsts
    if len(values) == 1:
        return ms(values[0])
    return f"median {ms(statistics.median(values))} ({ms(min(values))} to {ms(max(values))})"


def table(r: Dict) -> Tuple[List[Tuple[str, str, str, str]], List[str]]:
    idle, busy = r["idle"], r["busy"]
    jur_busy, jur_fast, jur_idle = r["jur_busy"], r["jur_fast"], r["jur_idle"]
    watch_busy, watch_idle = r["watch_busy"], r["watch_idle"]
    watch_busy_median = statistics.median(watch_busy.rest)
    start, peer_start = r["start"], r["peer_start"]
    cpu, calls, rss = r["cpu"], r["calls"], r["rss"]
    idle_median = statistics.median(idle.rest)
    busy_median = statistics.median(busy.rest)

    def ratio(peer: Latency, own: float) -> str:
        return f"{statistics.median(peer.rest) / own:.0f}x splice"

    switch_ns = sys.getswitchinterval() * 1e9
    slow = sum(value > switch_ns for value in busy.rest)
    start_ns = start["import_ns"] + start["start_ns"]
    start_kb = start["import_kb"] + start["start_kb"]
    peer_start_ns = peer_start["import_ns"] + peer_start["start_ns"]
    peer_start_kb = peer_start["import_kb"] + peer_start["start_kb"]
    series = rss["series_kb"]
    growth = series[-1] - series[0]
    rows = [
        (
            "1a. apply latency, idle program: request sent -> response (applied before it)",
            spread(idle.rest),
            f"median < 1 ms: {verdict(idle_median < 1e6)}",
            f"jurigged (2c): median {ms(statistics.median(jur_idle.rest))}, {ratio(jur_idle, idle_median)}",
        ),
        (
            "1b. apply latency, busy program: request sent -> the program sees the new result",
            f"{spread(busy.rest)}; {slow} of {len(busy.rest)} took more than the "
            f"{switch_ns / 1e6:.0f} ms switch interval",
            f"median < 2 ms: {verdict(busy_median < 2e6)}",
            f"jurigged (2a): median {ms(statistics.median(jur_busy.rest))}, {ratio(jur_busy, busy_median)}",
        ),
        (
            f"1c. first patch of the file (engine import + index by one heap scan), over {LATENCY_PROGRAMS} programs",
            f"idle: {firsts(idle)}; busy: {firsts(busy)}",
            "—",
            "—",
        ),
        (
            "2a. jurigged, busy program: file saved -> the program sees the new result",
            f"{spread(jur_busy.rest)}; first {firsts(jur_busy)}",
            "—",
            f"jurigged / splice (1b) = {ratio(jur_busy, busy_median)}",
        ),
        (
            "2b. jurigged `--debounce 0.001` (default 0.05), same as 2a",
            f"{spread(jur_fast.rest)}; first {firsts(jur_fast)}",
            "—",
            f"jurigged / splice (1b) = {ratio(jur_fast, busy_median)}",
        ),
        (
            "2c. jurigged, idle program: file saved -> a 1 ms poll sees the new result",
            f"{spread(jur_idle.rest)}; first {firsts(jur_idle)}",
            "—",
            f"jurigged / splice (1a) = {ratio(jur_idle, idle_median)}",
        ),
        (
            "2d. `python -m splice --watch`, busy program: file saved -> the program sees the new result",
            f"{spread(watch_busy.rest)}; first {firsts(watch_busy)}",
            f"median < 10 ms: {verdict(watch_busy_median < 10e6)}",
            f"jurigged (2a): median {ms(statistics.median(jur_busy.rest))}, {ratio(jur_busy, watch_busy_median)}",
        ),
        (
            "2e. `python -m splice --watch`, idle program: file saved -> a 1 ms poll sees the new result",
            f"{spread(watch_idle.rest)}; first {firsts(watch_idle)}",
            f"(median < 10 ms): {verdict(statistics.median(watch_idle.rest) < 10e6)}",
            f"jurigged (2c): median {ms(statistics.median(jur_idle.rest))}, "
            f"{ratio(jur_idle, statistics.median(watch_idle.rest))}",
        ),
        (
            f"3a. `import splice; splice.start()` wall time, fresh process (median of {START_PROCESSES})",
            f"{ms(start_ns)} (import {ms(start['import_ns'])}, start {ms(start['start_ns'])})",
            f"< 20 ms: {verdict(start_ns < 20e6)}",
            f"`import jurigged; jurigged.watch()`: {ms(peer_start_ns)}",
        ),
        (
            "3b. `import splice; splice.start()` VmRSS increase",
            f"{mb(start_kb)} (import {mb(start['import_kb'])}, start {mb(start['start_kb'])})",
            f"< 3 MB: {verdict(start_kb < 3 * 1024)}",
            f"jurigged: {mb(peer_start_kb)}",
        ),
        (
            f"4. CPU of a sleeping program over {IDLE_SECONDS:.0f} s (utime+stime ticks)",
            f"fresh agent: {cpu['fresh']}; after a patch, client connected: {cpu['patched']}",
            f"0 ticks: {verdict(cpu['fresh'] == 0 and cpu['patched'] == 0)}",
            f"jurigged watcher: {cpu['jurigged']}",
        ),
        (
            f"5. call cost, patched / never-patched identical function (min of "
            f"{CALL_REPEATS} x {CALLS_PER_REPEAT:,} calls)",
            f"{calls['ratio']:.3f} ({calls['patched_ns']:.1f} ns vs {calls['orig_ns']:.1f} ns)",
            f"<= 1.02: {verdict(calls['ratio'] <= 1.02)}",
            "—",
        ),
        (
            f"5b. {FLOOD_RAISES:,} raises caught by the program: a patched function (raises "
            "counted natively; past 10,000 at one place it runs unwrapped) / the same never patched "
            f"(min of {FLOOD_REPEATS})",
            f"{calls['flood_ratio']:.2f} ({calls['flood_patched_s']:.2f} s vs {calls['flood_orig_s']:.2f} s)",
            "—",
            "—",
        ),
        (
            f"6. VmRSS growth over {RSS_PATCHES} patches of one function (after 2 warm-up)",
            mb(growth),
            f"< 5 MB: {verdict(growth < 5 * 1024)}",
            "—",
        ),
        (
            (
                f"6b. VmRSS growth over {SPREAD_PATCHES:,} patches spread over {SPREAD_FUNCTIONS} functions "
                "added to the module, each a new version of the file"
            ),
            f"{mb(r['rss_spread']['growth_kb'])}; {r['rss_spread']['per_patch_ms']:.2f} ms per patch request",
            f"< 20 MB: {verdict(r['rss_spread']['growth_kb'] < 20 * 1024)}",
            "—",
        ),
    ]
    notes = [
        f"Target program: a generated {r['lines']}-line module ({r['kb']} KB) of dataclasses, "
        "classes, properties, class/static methods, closures and memoized functions. Every "
        "patch request carries the whole file as its source (as an editor save does) and "
        f"alternates `{HOT}` between two bodies, so every request changes code. 1a-1b: "
        f"{LATENCY_PATCHES} patches over {LATENCY_PROGRAMS} fresh programs, each program's "
        f"first left out (1c); 2a-2c: {JURIGGED_EDITS} edits after the first.",
        "1a-1b start once the request is encoded; encoding it (the client's work, `json.dumps` "
        f"of the params) takes {ms(r['encode_ns'])} (median) more.",
        f"1b, request sent -> response received: {spread(busy.responses)}.",
        "6, VmRSS after 2 warm-up patches and then every "
        f"{RSS_PATCHES // 4} patches: {', '.join(f'{kb / 1024:.1f}' for kb in series)} MB "
        f"(fresh program {rss['fresh_kb'] / 1024:.1f} MB); {rss['per_patch_ms']:.2f} ms per "
        "patch request back to back.",
        f"One clock tick = {1000 // os.sysconf('SC_CLK_TCK')} ms.",
    ]
    return rows, notes


def main() -> None:
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="splice-bench-"))  # short: socket paths are limited
    load_before = os.getloadavg()[0]
    try:
        results = measure(root)
    finally:
        for target in RUNNING:
            target.close()
        shutil.rmtree(root, ignore_errors=True)
    load = f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    rows, notes = table(results)
    print(render(rows, notes, time.monotonic() - started, load))


def render(rows: List[Tuple[str, str, str, str]], notes: List[str], seconds: float, load: str) -> str:
    out = [
        "## Splice agent benchmark",
        "",
        f"Command: `make bench-agent` (`.venv/bin/python bench/agent_bench.py`), {seconds:.0f} s.  ",
        f"Environment: {environment()}; {load}.",
        "",
        "| metric | measured | target | peer |",
        "|---|---|---|---|",
    ]
    out += [f"| {' | '.join(row)} |" for row in rows]
    out += [""] + [f"- {note}" for note in notes]
    return "\n".join(out)


if __name__ == "__main__":
    main()
