#!/usr/bin/env python3
"""The benchmark: the mock against a bare hyper baseline, side by side, in one run.

    python3 bench/bench.py                # full run (10 s per scenario)
    BENCH_SECONDS=3 python3 bench/bench.py  # quicker
    BENCH_ONLY=throughput python3 bench/bench.py  # only the 1,000-record tables and the feature table
    BENCH_ONLY=statefile python3 bench/bench.py   # only creates with and without --state-file

It builds the release binary and the examples, generates stores of 1,000 and
1,000,000 records, starts the mock on each and the baseline (examples/baseline.rs,
a bare hyper server answering a fixed body of the same size), runs wrk (2 threads,
32 connections, keep-alive, loopback) for each scenario against both, and prints a
Markdown table of requests/s, p50 and p99 latency and the ratio mock/baseline (each
the median of BENCH_ROUNDS=5 alternating rounds; the
substring rows include a selective needle, served by the trigram index); then the cost
of each per-request feature (log line, journal, CORS, request id) as ratios to the
baseline, creates with and without --state-file on the 1,000,000-record store (one
client's p99, both each create timed alone and as wrk reports it, 32 clients' throughput
ratio, and the disk's own fdatasync latency), RSS and bytes per record at each size,
start-up time to the first 200 (at 1,000,000 records the median of three start-ups),
and the time of `check` and the throughput of `fuzz`
against the local mock. Needs wrk (Debian: wrk).
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "nexudus-mock")
BASELINE = os.path.join(ROOT, "target", "release", "examples", "baseline")
GEN = os.path.join(ROOT, "target", "release", "examples", "gen_fixtures")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
AUTH = "Bearer admin-token"
BASE = "/api/spaces/coworkersettings"
MOCK_PORT, BASE_PORT = 4510, 4511
# "throughput": skip the million-record store, the state file and `check`;
# "statefile": only the state file's creates.
ONLY = os.environ.get("BENCH_ONLY", "")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def wait_ready(port, path, timeout=300.0):
    """Polls until GET path answers 200; returns seconds waited."""
    start = time.time()
    while time.time() - start < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n\r\n".encode())
                if s.recv(16).startswith(b"HTTP/1.1 200"):
                    return time.time() - start
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"port {port} not ready after {timeout}s")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fetch(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=body,
                                 headers={"Authorization": AUTH, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read()


LUA_CREATE = r"""
-- Every request a new (CoworkerId, Name): each wrk thread has its own number, and
-- the clock seeds the names, so runs against the same mock do not repeat them.
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"CoworkerId":%d,"Name":"bench-%d-%d-%d","Value":"v"}',
                             9000000 + (counter % 1000), os.time(), tid or 0, counter)
  return wrk.format("POST", "@PATH@", {["Authorization"]="@AUTH@", ["Content-Type"]="application/json"}, body)
end
"""


# Each scenario alternates mock and baseline in ROUNDS rounds of SECONDS / ROUNDS
# each, and takes medians: the machine is shared, and a neighbour's burst during one
# long run would otherwise decide a whole row.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def wrk(url, script=None, headers=None, seconds=None):
    cmd = ["wrk", "-t2", "-c32", "--latency"]
    for k, v in (headers or {"Authorization": AUTH}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [f"-d{seconds or SECONDS}s", url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    n = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "non2xx": int(errors.group(1)) if errors else 0, "n": n}


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def paired(mock_url, base_url, script=None, base_script=None, headers=None, mock_pid=None, base_pid=None):
    """Mock and baseline in alternating rounds, after one unmeasured second each (so
    that neither is timed cold). Returns each side's medians, the median of the
    rounds' ratios, and context switches per request when pids are given."""
    wrk(mock_url, script, headers, seconds=1)
    wrk(base_url, base_script, headers, seconds=1)
    seconds = max(1, round(SECONDS / ROUNDS))
    rounds = []
    totals = {"m": [0, 0, 0], "b": [0, 0, 0]}
    for _ in range(ROUNDS):
        pair = {}
        for side, url, scr, pid in (("m", mock_url, script, mock_pid), ("b", base_url, base_script, base_pid)):
            before = switches(pid) if pid else (0, 0)
            r = wrk(url, scr, headers, seconds)
            after = switches(pid) if pid else (0, 0)
            t = totals[side]
            t[0] += r["n"]
            t[1] += after[0] - before[0]
            t[2] += after[1] - before[1]
            pair[side] = r
        rounds.append(pair)

    def side(k):
        rs = [r[k] for r in rounds]
        n, vol, invol = totals[k]
        return {"rps": median([r["rps"] for r in rs]), "p50": median([r["p50"] for r in rs]),
                "p99": median([r["p99"] for r in rs]), "non2xx": sum(r["non2xx"] for r in rs),
                "vol": vol / n, "invol": invol / n}

    ratio = median([r["m"]["rps"] / r["b"]["rps"] for r in rounds])
    return side("m"), side("b"), ratio


def scenarios(store_kind):
    """(name, method, path, body) for each measured request; ids exist in both stores."""
    if store_kind == "builtin":
        customer, one, ids = 1001, 87654303, list(range(87654303, 87654400))
    else:
        customer, one, ids = 100_005, 500, list(range(1, 1001))
    batch = ",".join(str(i) for i in ids[:10])
    return [
        ("get one", "GET", f"{BASE}/{one}", None),
        ("list 25, one customer, by Name", "GET", f"{BASE}?page=1&size=25&CoworkerSetting_Coworker={customer}&orderBy=Name&dir=1", None),
        ("list 25, substring filter (10% match)", "GET", f"{BASE}?page=1&size=25&CoworkerSetting_Name=theme&orderBy=Id", None),
        ("list 25, selective substring filter", "GET", f"{BASE}?page=1&size=25&CoworkerSetting_Value=kunde%204567&orderBy=Id", None),
        ("batch get of 10", "GET", f"{BASE}/?id=%5B{batch}%5D", None),
        ("create", "POST", BASE, None),
    ]


def wait_for_log(path, text, timeout=300.0):
    """Polls the log file until it holds `text` (the background substring index)."""
    start = time.time()
    while time.time() - start < timeout:
        with open(path, errors="replace") as f:
            if text in f.read():
                return time.time() - start
        time.sleep(0.05)
    raise RuntimeError(f"{text!r} not logged after {timeout}s")


def read_every_record(port, total):
    """Pages through the whole store, so every record's JSON has been built once."""
    pages = (total + 999) // 1000
    for page in range(1, pages + 1):
        fetch(port, "GET", f"{BASE}?page={page}&size=1000&orderBy=Id")


def warm(fixtures_dir):
    """Start-up is measured with the file in the page cache (this machine reclaims
    idle cache, and a cold read of 390 MB from its disk alone takes seconds)."""
    with open(os.path.join(fixtures_dir, "coworkersettings.json"), "rb") as f:
        while f.read(1 << 24):
            pass


def startup_only(fixtures_dir):
    """Seconds from starting the mock on these fixtures to its first 200."""
    warm(fixtures_dir)
    start = time.time()
    p = subprocess.Popen([BIN, "serve", "--port", str(MOCK_PORT), "--quiet", "--fixtures", fixtures_dir],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(MOCK_PORT, f"{BASE}?size=1")
        return time.time() - start
    finally:
        p.kill()
        p.wait()


def run_store(label, fixtures_dir, tmp, extra_args=(), background_index=False):
    args = [BIN, "serve", "--port", str(MOCK_PORT), *extra_args]
    if fixtures_dir:
        args += ["--fixtures", fixtures_dir]
        warm(fixtures_dir)
    env = dict(os.environ, RUST_LOG="info")
    start = time.time()
    # The request log goes to a file, as the defaults are measured.
    log_path = os.path.join(tmp, f"mock-{len(label)}.log")
    log = open(log_path, "w")
    mock = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        startup = wait_ready(MOCK_PORT, f"{BASE}?size=1")
        rss_start = rss_kib(mock.pid)
        # A large store builds its substring index in the background after the first
        # 200; memory is measured once it is there.
        index_wait = 0.0
        if background_index:
            index_wait = wait_for_log(log_path, "substring index ready")
        rss = rss_kib(mock.pid)
        rows = []
        for name, method, path, _ in scenarios("builtin" if fixtures_dir is None else "gen"):
            if method == "POST":
                sample = b'{"CoworkerId":9000000,"Name":"bench-size-probe","Value":"v"}'
                size = len(fetch(MOCK_PORT, "POST", path, sample))
                script = os.path.join(tmp, "create.lua")
                with open(script, "w") as f:
                    f.write(LUA_CREATE.replace("@PATH@", path).replace("@AUTH@", AUTH))
                base_script = os.path.join(tmp, "create_base.lua")
                with open(base_script, "w") as f:
                    f.write(LUA_CREATE.replace("@PATH@", f"/bytes/{size}").replace("@AUTH@", AUTH))
                m, b, ratio = paired(f"http://127.0.0.1:{MOCK_PORT}{path}", f"http://127.0.0.1:{BASE_PORT}/bytes/{size}", script, base_script)
            else:
                size = len(fetch(MOCK_PORT, "GET", path))
                m, b, ratio = paired(f"http://127.0.0.1:{MOCK_PORT}{path}", f"http://127.0.0.1:{BASE_PORT}/bytes/{size}")
            rows.append((name, size, m, b, ratio))
        total = json.loads(fetch(MOCK_PORT, "GET", f"{BASE}?size=1"))["TotalItems"]
        read_every_record(MOCK_PORT, total)
        rss_read = rss_kib(mock.pid)
        return {"label": label, "startup": startup, "rss_start": rss_start, "rss": rss, "rss_read": rss_read,
                "index_wait": index_wait, "rows": rows, "wall": time.time() - start}
    finally:
        mock.kill()
        mock.wait()


def create_script(tmp, path):
    script = os.path.join(tmp, "create-%d.lua" % abs(hash(path)))
    with open(script, "w") as f:
        f.write(LUA_CREATE.replace("@PATH@", path).replace("@AUTH@", AUTH))
    return script


def wrk_clients(url, clients, script=None):
    cmd = ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{SECONDS}s", "--latency", "-H", f"Authorization: {AUTH}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    v = float(m.group(1))
    p99 = v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    return {"rps": rps, "p99": p99}


def tail(latencies):
    """The p99 and the slowest of a list of latencies (ms)."""
    lat = sorted(latencies)
    return {"p99": lat[int(len(lat) * 0.99)], "max": lat[-1]}


def one_client_creates(port, seconds):
    """One client's creates, one after another on a keep-alive connection, each timed
    alone: the p99 of the creates themselves. wrk's one-connection p99 is corrected
    for coordinated omission (it adds the requests an open-loop client would have
    sent during a stall), so one 250 ms disk stall in a run reads as a p99 of 50-70 ms
    there; both are printed. Python's own time is inside each figure."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    stamp, lat, i = int(time.time()), [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        i += 1
        body = json.dumps({"CoworkerId": 9_500_000 + i % 1000, "Name": f"one-{stamp}-{i}", "Value": "v"})
        t = time.perf_counter()
        conn.request("POST", BASE, body, {"Authorization": AUTH, "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        lat.append((time.perf_counter() - t) * 1000)
        if resp.status != 200:
            raise RuntimeError(f"create answered {resp.status}")
    conn.close()
    return tail(lat)


def fsync_probe(directory, seconds):
    """The disk alone: append 400 bytes and fdatasync, in a loop (p99 and max, ms)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    lat, end = [], time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            t = time.perf_counter()
            os.write(fd, b"x" * 400)
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return tail(lat)


def run_state_file(fixtures_dir, tmp):
    """Creates with --state-file on the 1M store: one client (p99) and 32 clients
    (throughput), against the same store without a state file, side by side."""
    state = os.path.join(tmp, "state.json")
    results = {}
    for label, extra in (("without", []), ("with", ["--state-file", state])):
        log_path = os.path.join(tmp, f"state-{label}.log")
        mock = subprocess.Popen([BIN, "serve", "--port", str(MOCK_PORT), "--fixtures", fixtures_dir, "--quiet", *extra],
                                stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
        try:
            wait_ready(MOCK_PORT, f"{BASE}?size=1", timeout=300)
            # The goal is the cost of each write in a running mock, so the start-up
            # work is let finish first: the substring index, built on both cores for
            # a few seconds after the first 200, and the 390 MB snapshot a state file
            # starts with, flushed to disk. Timed during them, one client's p99 was
            # 16-770 ms in this round's runs, against about 1 ms after them.
            wait_for_log(log_path, "substring index ready")
            os.sync()
            script = create_script(tmp, BASE)
            one = wrk_clients(f"http://127.0.0.1:{MOCK_PORT}{BASE}", 1, script)
            one["alone"] = one_client_creates(MOCK_PORT, SECONDS)
            many = wrk_clients(f"http://127.0.0.1:{MOCK_PORT}{BASE}", 32, script)
            results[label] = (one, many)
        finally:
            mock.kill()
            mock.wait()
    results["disk"] = fsync_probe(tmp, SECONDS)
    return results


# Per-request features, switched off one at a time (get one, built-in fixtures).
FEATURES = [
    ("defaults (log line to a file, journal, CORS, generated request id)", [], {}),
    ("--quiet (no log line)", ["--quiet"], {}),
    ("--quiet --journal-size 0", ["--quiet", "--journal-size", "0"], {}),
    ("--quiet --journal-size 0 --no-cors", ["--quiet", "--journal-size", "0", "--no-cors"], {}),
    ("--quiet --journal-size 0 --no-cors, X-Request-Id sent (echoed, not generated)",
     ["--quiet", "--journal-size", "0", "--no-cors"], {"X-Request-Id": "bench-1"}),
    # Auth cannot be switched off; Basic (decode, then a password check) against the
    # Bearer token of every other row shows what the scheme costs.
    ("--quiet --journal-size 0 --no-cors, X-Request-Id sent, Basic auth instead of Bearer",
     ["--quiet", "--journal-size", "0", "--no-cors"],
     {"X-Request-Id": "bench-1", "Authorization": "Basic YWRtaW5AZXhhbXBsZS5jb206YWRtaW4tcGFzc3dvcmQ="}),
]


def switches(pid):
    """(voluntary, involuntary) context switches of every thread of `pid` so far."""
    vol = invol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol += int(line.split()[1])
        except OSError:
            pass
    return vol, invol


def run_features(tmp, baseline_pid):
    rows = []
    path = f"{BASE}/87654303"
    size = None
    for label, args, headers in FEATURES:
        log = open(os.path.join(tmp, "mock.log"), "w")
        mock = subprocess.Popen([BIN, "serve", "--port", str(MOCK_PORT), *args], stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_ready(MOCK_PORT, f"{BASE}?size=1")
            size = size or len(fetch(MOCK_PORT, "GET", path))
            m, b, ratio = paired(f"http://127.0.0.1:{MOCK_PORT}{path}", f"http://127.0.0.1:{BASE_PORT}/bytes/{size}",
                                 headers={"Authorization": AUTH, **headers}, mock_pid=mock.pid, base_pid=baseline_pid)
            rows.append((label, m, b, ratio))
        finally:
            mock.kill()
            mock.wait()
            log.close()
    return rows


def timed_check():
    """Seconds for `check` against a fresh local mock (if the subcommand exists)."""
    mock = subprocess.Popen([BIN, "serve", "--port", str(MOCK_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(MOCK_PORT, f"{BASE}?size=1")
        results = {}
        start = time.time()
        r = subprocess.run([BIN, "check", f"http://127.0.0.1:{MOCK_PORT}", "--token", "admin-token"],
                           capture_output=True, text=True)
        results["check_seconds"] = time.time() - start if r.returncode == 0 else None
        start = time.time()
        r = subprocess.run([BIN, "fuzz", f"http://127.0.0.1:{MOCK_PORT}", "--token", "admin-token", "--cases", "200",
                            "--seed", "1", "--json", os.path.join(tempfile.gettempdir(), "bench-fuzz.json")],
                           capture_output=True, text=True)
        elapsed = time.time() - start
        try:
            report = json.load(open(os.path.join(tempfile.gettempdir(), "bench-fuzz.json")))
            facts = report.get("facts", {})
            requests = int(facts.get("requests", "0"))
            results["fuzz_rps"] = requests / elapsed if requests else None
        except (OSError, ValueError):
            results["fuzz_rps"] = None
        return results
    finally:
        mock.kill()
        mock.wait()


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    sh("cargo", "build", "--release", "--bin", "nexudus-mock", "--example", "baseline", "--example", "gen_fixtures", cwd=ROOT)
    tmp = tempfile.mkdtemp(prefix="nexudus-bench-")
    small, large = os.path.join(tmp, "1k"), os.path.join(tmp, "1m")
    sh(GEN, "1000", small, stderr=subprocess.DEVNULL)
    if ONLY != "throughput":
        sh(GEN, "1000000", large, stderr=subprocess.DEVNULL)
    base = subprocess.Popen([BASELINE, str(BASE_PORT)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        builtin_start = []
        for _ in range(5):
            p = subprocess.Popen([BIN, "serve", "--port", str(MOCK_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            builtin_start.append(wait_ready(MOCK_PORT, f"{BASE}?size=1"))
            p.kill()
            p.wait()
        if ONLY == "statefile":
            state = run_state_file(large, tmp)
            for label in ("without", "with"):
                one, many = state[label]
                alone = one["alone"]
                print(f"{label}: 1 client {one['rps']:.0f} req/s, p99 {alone['p99']:.2f} ms timed alone "
                      f"(slowest {alone['max']:.2f} ms), {one['p99']:.2f} ms by wrk; 32 clients {many['rps']:.0f} req/s")
            disk = state["disk"]
            print(f"disk alone: fdatasync p99 {disk['p99']:.2f} ms, slowest {disk['max']:.2f} ms")
            return
        runs = [run_store("1,000 records", small, tmp)]
        if ONLY != "throughput":
            runs.append(run_store("1,000,000 records", large, tmp, background_index=True))
            # Two more start-ups at a million records: the figure is their median
            # with the first, since backing half a gigabyte of fresh memory on this
            # shared virtual machine takes from about 1 to 3 s from one moment to the next.
            runs[-1]["startups"] = [runs[-1]["startup"], startup_only(large), startup_only(large)]
        quiet_run = run_store("1,000 records, --quiet --journal-size 0", small, tmp, ["--quiet", "--journal-size", "0"])
        features = run_features(tmp, base.pid)
        state = run_state_file(large, tmp) if ONLY != "throughput" else None
    finally:
        base.kill()
        base.wait()
    extra = timed_check() if ONLY != "throughput" else {}
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    print(f"\nMachine: {os.cpu_count()} cores, {cpu}; wrk -t2 -c32 -d{SECONDS}s, loopback; {time.strftime('%Y-%m-%d')}\n")
    for run in runs + [quiet_run]:
        print(f"### Store of {run['label']}\n")
        print("| scenario | body bytes | mock req/s | baseline req/s | ratio | mock p50 ms | mock p99 ms | baseline p99 ms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, size, m, b, ratio in run["rows"]:
            print(f"| {name} | {size} | {m['rps']:.0f} | {b['rps']:.0f} | {ratio:.2f} | {m['p50']:.2f} | {m['p99']:.2f} | {b['p99']:.2f} |")
        print()
    print("### What each per-request feature costs (get one, built-in fixtures)\n")
    print("| mock flags | mock req/s | baseline req/s | ratio | mock switches/request (voluntary + involuntary) | baseline switches/request |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, m, b, ratio in features:
        print(f"| {label} | {m['rps']:.0f} | {b['rps']:.0f} | {ratio:.2f} | {m['vol']:.3f} + {m['invol']:.3f} | {b['vol']:.3f} + {b['invol']:.3f} |")
    print()
    if state is None:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    print("### State file (1,000,000 records, create)\n")
    (one_without, many_without), (one_with, many_with) = state["without"], state["with"]
    print("| figure | without --state-file | with --state-file | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| 1 client: req/s | {one_without['rps']:.0f} | {one_with['rps']:.0f} | {one_with['rps'] / one_without['rps']:.2f} |")
    print(f"| 1 client: p99 ms, each create timed alone (goal 5) | {one_without['alone']['p99']:.2f} | {one_with['alone']['p99']:.2f} | |")
    print(f"| 1 client: slowest create, ms | {one_without['alone']['max']:.2f} | {one_with['alone']['max']:.2f} | |")
    print(f"| 1 client: p99 ms by wrk (corrected for coordinated omission) | {one_without['p99']:.2f} | {one_with['p99']:.2f} | |")
    print(f"| 32 clients: req/s | {many_without['rps']:.0f} | {many_with['rps']:.0f} | {many_with['rps'] / many_without['rps']:.2f} |")
    disk = state["disk"]
    print(f"\nThe disk alone (append 400 bytes and fdatasync, in a loop): p99 {disk['p99']:.2f} ms, slowest {disk['max']:.2f} ms.")
    print()
    small_run, large_run = runs
    list_small = small_run["rows"][1][2]["rps"]
    list_large = large_run["rows"][1][2]["rps"]
    per_record = (large_run["rss"] - small_run["rss"]) * 1024 / (1_000_000 - 1_000)
    per_record_read = (large_run["rss_read"] - small_run["rss_read"]) * 1024 / (1_000_000 - 1_000)
    print("| figure | value |")
    print("| --- | ---: |")
    print(f"| start-up to first 200, built-in fixtures (median of 5) | {sorted(builtin_start)[2] * 1000:.0f} ms |")
    print(f"| start-up to first 200, 1,000 records from a file | {small_run['startup'] * 1000:.0f} ms |")
    print(f"| start-up to first 200, 1,000,000 records from a file (goal 2 s; median of 3: "
          f"{', '.join('%.2f' % s for s in large_run['startups'])}) | {median(large_run['startups']):.2f} s |")
    print(f"| substring index ready, after the first 200 (1,000,000 records) | {large_run['index_wait']:.2f} s |")
    print(f"| RSS with 1,000 records | {small_run['rss'] / 1024:.1f} MiB |")
    print(f"| RSS with 1,000,000 records at the first 200 | {large_run['rss_start'] / 1024:.1f} MiB |")
    print(f"| RSS with 1,000,000 records, substring index built | {large_run['rss'] / 1024:.1f} MiB |")
    print(f"| RSS with 1,000,000 records, every record also read once | {large_run['rss_read'] / 1024:.1f} MiB |")
    print(f"| bytes of RSS per stored record, index built (goal 1,536) | {per_record:.0f} |")
    print(f"| bytes of RSS per stored record, every record read once | {per_record_read:.0f} |")
    print(f"| list-by-customer cost at 1M vs 1k records (req/s ratio 1k/1M) | {list_small / list_large:.2f}x |")
    if extra.get("check_seconds") is not None:
        print(f"| `check` against the local mock | {extra['check_seconds']:.2f} s |")
    if extra.get("fuzz_rps") is not None:
        print(f"| `fuzz` throughput against the local mock | {extra['fuzz_rps']:.0f} req/s |")
    print()
    print_goals(runs, quiet_run, features, state, large_run)
    shutil.rmtree(tmp, ignore_errors=True)


def print_goals(runs, quiet_run, features, state, large_run):
    """Each goal of the performance issue beside this run's figure: met or short."""
    def row(run, name):
        return next(r for r in run["rows"] if r[0] == name)
    small = runs[0]
    (_, many_without), (one_with, many_with) = state["without"], state["with"]
    goals = [
        ("get one, defaults, ratio", row(small, "get one")[4], ">=", 0.7),
        ("get one, defaults (feature table), ratio", features[0][3], ">=", 0.7),
        ("get one, --quiet --journal-size 0, ratio", row(quiet_run, "get one")[4], ">=", 0.85),
        ("get one, --quiet --journal-size 0 (feature table), ratio", features[2][3], ">=", 0.85),
    ]
    for label, run in (("defaults", small), ("--quiet --journal-size 0", quiet_run)):
        goals += [
            (f"list 25, {label}, ratio", row(run, "list 25, one customer, by Name")[4], ">=", 0.6),
            (f"batch of 10, {label}, ratio", row(run, "batch get of 10")[4], ">=", 0.6),
            (f"create, {label}, ratio", row(run, "create")[4], ">=", 0.5),
        ]
    per_record = (large_run["rss"] - small["rss"]) * 1024 / (1_000_000 - 1_000)
    goals += [
        ("selective substring filter at 1M, req/s", row(large_run, "list 25, selective substring filter")[2]["rps"], ">=", 1000),
        ("bytes of RSS per record at 1M, index built", per_record, "<=", 1536),
        ("state file, 1 client, p99 ms per create", one_with["alone"]["p99"], "<=", 5),
        ("state file, 32 clients, ratio to no state file", many_with["rps"] / many_without["rps"], ">=", 0.3),
        ("start-up to first 200 at 1M (median of 3), s", median(large_run["startups"]), "<=", 2),
    ]
    print("### Goals in this run\n")
    print("| goal | this run | target | |")
    print("| --- | ---: | ---: | --- |")
    for name, value, op, target in goals:
        met = value >= target if op == ">=" else value <= target
        # Three decimals: a ratio of 0.849 is short of 0.85 and must not read as 0.85.
        shown = f"{value:.3f}" if value < 100 else f"{value:.0f}"
        print(f"| {name} | {shown} | {op} {target} | {'met' if met else 'short'} |")


if __name__ == "__main__":
    main()
