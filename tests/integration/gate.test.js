// Runs `routeheap gate` on the sample server with the committed budget and request list (bodies
// swapped for a 3 MB slice of asn-ipv4.csv): the streaming routes pass, the buffered routes fail
// by name. Also the setup errors (a server that exits early, never opens its port, or crashes
// mid-run), a malformed budget, a baseline regression, and `routeheap diff` on the results.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { after, before, test } = require('node:test');
const harness = require('./harness');

// Bytes of asn-ipv4.csv uploaded per request: enough for the buffered routes to show their
// multiple of the body, small enough that a run takes seconds.
const SLICE_BYTES = 3 * 1000 * 1000;
// Bounds one gate run; a run on the slice takes a few seconds.
const GATE_TIMEOUT_MS = 180_000;

const { routeheap, repo, server } = harness.config();
const gateDir = path.join(repo, 'samples/node-routes/gate');
const budget = path.join(gateDir, 'memory-budget.json');
const fixture = path.join(gateDir, 'fixture-server.js');
process.env.CSV2JSON = path.join(path.dirname(routeheap), 'csv2json');

let workDir;
let slice;

// The committed request list, restricted to `routes` and with every body replaced by the slice.
function writeRequests(name, routes) {
  const committed = JSON.parse(fs.readFileSync(path.join(gateDir, 'requests.json'), 'utf8'));
  const requests = committed.requests
    .filter((request) => routes.includes(request.path))
    .map((request) => (request.body_file ? { ...request, body_file: slice } : request));
  assert.equal(requests.length, routes.length, `requests.json lacks one of ${routes.join(', ')}`);
  const file = path.join(workDir, name);
  fs.writeFileSync(file, JSON.stringify({ requests }, null, 2));
  return file;
}

function gate(args, command) {
  return harness.run(routeheap, ['gate', ...args, '--', ...command], { timeout: GATE_TIMEOUT_MS, cwd: workDir });
}

function describe(result) {
  return `exit ${result.code}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}

// A port on 127.0.0.1 that nothing listens on right now.
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

before(() => {
  const { asn } = harness.dataFiles();
  workDir = harness.makeTempDir('gate');
  // Whole lines only, so csv-parser's strict mode accepts the slice.
  const head = fs.readFileSync(asn).subarray(0, SLICE_BYTES);
  slice = path.join(workDir, 'asn-slice.csv');
  fs.writeFileSync(slice, head.subarray(0, head.lastIndexOf(0x0a) + 1));
});

after(() => {
  if (workDir) harness.removeTempDir(workDir);
});

test('gate passes the streaming routes and writes every output', async () => {
  const requests = writeRequests('stream.json', ['/stream', '/stream-native', '/health']);
  const junit = path.join(workDir, 'stream.xml');
  const markdown = path.join(workDir, 'stream.md');
  const baseline = path.join(workDir, 'stream-baseline.json');
  const result = await gate(['--requests', requests, '--budget', budget, '--repeat', '3', '--json',
    '--junit', junit, '--markdown', markdown, '--write-baseline', baseline], ['node', server]);
  assert.equal(result.code, 0, describe(result));

  const verdict = JSON.parse(result.stdout);
  assert.equal(verdict.schema, 'routeheap.gate/1');
  assert.equal(verdict.passed, true);
  assert.deepEqual(verdict.routes.map((route) => `${route.method} ${route.route}`),
    ['GET /health', 'POST /stream', 'POST /stream-native']);
  for (const route of verdict.routes) {
    assert.equal(route.requests, 3, `${route.route}: warm-up requests must not be judged\n${describe(result)}`);
    assert.equal(route.passed, true, `${route.route} failed\n${describe(result)}`);
  }
  fs.writeFileSync(path.join(workDir, 'stream-verdict.json'), result.stdout);

  const xml = fs.readFileSync(junit, 'utf8');
  assert.match(xml, /<testsuites name="routeheap gate" tests="3" failures="0" errors="0">/);
  assert.match(xml, /<testcase classname="routeheap.gate" name="POST \/stream-native"\/>/);
  assert.match(fs.readFileSync(markdown, 'utf8'), /^## routeheap gate: PASS: 3 routes within budget/);
  assert.equal(JSON.parse(fs.readFileSync(baseline, 'utf8')).routes.length, 3);
});

test('gate fails the buffered routes and names them', async () => {
  const requests = writeRequests('buffered.json', ['/buffered', '/collect']);
  const junit = path.join(workDir, 'buffered.xml');
  const result = await gate(['--requests', requests, '--budget', budget, '--repeat', '3', '--junit', junit],
    ['node', server]);
  assert.equal(result.code, 1, describe(result));
  assert.match(result.stdout, /FAIL: 2 of 2 routes broke the budget/, describe(result));
  for (const route of ['/buffered', '/collect']) {
    assert.match(result.stdout, new RegExp(`POST ${route} failed \\(budget "default"`), describe(result));
  }
  assert.match(result.stdout, /buffered-response in 3 of 3 requests/, describe(result));
  assert.match(fs.readFileSync(junit, 'utf8'), /tests="2" failures="2"/);

  const json = await gate(['--requests', requests, '--budget', budget, '--repeat', '1', '--warmup', '0', '--json'],
    ['node', server]);
  assert.equal(json.code, 1, describe(json));
  fs.writeFileSync(path.join(workDir, 'buffered-verdict.json'), json.stdout);
});

test('diff compares two gate verdicts', async () => {
  const result = await harness.run(routeheap, ['diff', path.join(workDir, 'stream-verdict.json'),
    path.join(workDir, 'buffered-verdict.json'), '--format', 'json']);
  assert.equal(result.code, 0, describe(result));
  const diff = JSON.parse(result.stdout);
  const byRoute = Object.fromEntries(diff.routes.map((route) => [route.route, route]));
  assert.equal(byRoute['/buffered'].a, null);
  assert.ok(byRoute['/buffered'].findings_appeared.includes('buffered-response'), result.stdout);
  assert.equal(byRoute['/stream'].b, null);
});

test('gate fails a route that regressed against the baseline', async () => {
  const requests = writeRequests('baseline-run.json', ['/stream']);
  const baseline = path.join(workDir, 'tiny-baseline.json');
  fs.writeFileSync(baseline, JSON.stringify({
    schema: 'routeheap.gate-baseline/1',
    routes: [{ method: 'POST', route: '/stream', requests: 3, peak_growth_p50: 1000, peak_growth_p95: 1000, peak_growth_max: 1000 }],
  }));
  const result = await gate(['--requests', requests, '--budget', budget, '--repeat', '2', '--baseline', baseline,
    '--tolerance', '10%', '--tolerance-floor', '0'], ['node', server]);
  assert.equal(result.code, 1, describe(result));
  assert.match(result.stdout, /POST \/stream failed/, describe(result));
  assert.match(result.stdout, /peak growth p95 regressed from 1000 B to/, describe(result));
});

test('gate reports a server that exits before it listens', async () => {
  const requests = writeRequests('early.json', ['/health']);
  const result = await gate(['--requests', requests, '--budget', budget], ['node', fixture, 'exit-early', '3']);
  assert.equal(result.code, 2, describe(result));
  assert.match(result.stderr, /exited with status 3 before it accepted connections/, describe(result));
  assert.match(result.stderr, /fixture-server: configuration missing, giving up/, describe(result));
});

test('gate times out on a server that never opens its port', async () => {
  const requests = writeRequests('never.json', ['/health']);
  const port = await freePort();
  const withPort = await gate(['--requests', requests, '--budget', budget, '--port', String(port),
    '--start-timeout', '2'], ['node', fixture, 'no-listen']);
  assert.equal(withPort.code, 2, describe(withPort));
  assert.match(withPort.stderr, new RegExp(`timed out after 2 s waiting for 'node .*fixture-server.js no-listen' to accept connections on 127.0.0.1:${port}`),
    describe(withPort));
  assert.match(withPort.stderr, /fixture-server: starting, but never listening/, describe(withPort));

  const printed = await gate(['--requests', requests, '--budget', budget, '--start-timeout', '1'],
    ['node', fixture, 'no-listen']);
  assert.equal(printed.code, 2, describe(printed));
  assert.match(printed.stderr, /to print its port .*give it with --port P/, describe(printed));
});

test('gate fails when the server crashes mid-run', async () => {
  const body = path.join(workDir, 'small.txt');
  fs.writeFileSync(body, 'x'.repeat(100_000));
  const requests = path.join(workDir, 'crash.json');
  fs.writeFileSync(requests, JSON.stringify({
    requests: [
      { path: '/ok' },
      { method: 'POST', path: '/crash', body_file: body },
      { path: '/after' },
    ],
  }));
  // Only a byte limit, so every failure below comes from the crash.
  const bytesOnly = path.join(workDir, 'bytes-budget.json');
  fs.writeFileSync(bytesOnly, JSON.stringify({ default: { max_peak_growth: '256 MiB' } }));
  const result = await gate(['--requests', requests, '--budget', bytesOnly, '--warmup', '0', '--repeat', '2'],
    ['node', fixture, 'crash-on', '/crash']);
  assert.equal(result.code, 1, describe(result));
  // The client may send /after before it notices the exit, so the count is 2 or 3.
  assert.match(result.stdout, /exited with status 7 during the replay, after [23] of 6 requests/, describe(result));
  assert.doesNotMatch(result.stdout, /GET \/ok failed/, describe(result));
  assert.match(result.stdout, /exiting with status 7 while serving POST \/crash/, describe(result));
  assert.match(result.stdout, /POST \/crash failed/, describe(result));
});

test('gate rejects a malformed budget before starting the server', async () => {
  const requests = writeRequests('malformed.json', ['/health']);
  const broken = path.join(workDir, 'memory-budget.json');
  fs.writeFileSync(broken, '{\n  "default": {\n    "max_peak_growth": "64 MiB",\n  }\n}\n');
  const result = await gate(['--requests', requests, '--budget', broken], ['node', fixture, 'exit-early', '9']);
  assert.equal(result.code, 2, describe(result));
  assert.match(result.stderr, /memory-budget.json:4:3: invalid JSON/, describe(result));
  assert.doesNotMatch(result.stderr, /configuration missing/, 'the server must not start');

  const typo = path.join(workDir, 'typo-budget.json');
  fs.writeFileSync(typo, '{\n  "routes": [\n    {"route": "POST /stream", "max_peak_growth": "12 XB"}\n  ]\n}\n');
  const invalid = await gate(['--requests', requests, '--budget', typo], ['node', fixture, 'exit-early', '9']);
  assert.equal(invalid.code, 2, describe(invalid));
  assert.match(invalid.stderr, /typo-budget.json:3: routes\[0\].max_peak_growth: invalid size "12 XB"/, describe(invalid));
});
