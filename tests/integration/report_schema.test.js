// Checks that `routeheap report --format json` on a real recorded session has the fields and
// types of the routeheap.report/1 schema (docs/report-format.md), and that no query string leaks.
'use strict';

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, before, test } = require('node:test');
const harness = require('./harness');

let server;
let report;

function get(port, path) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    }).on('error', reject);
  });
}

before(async () => {
  const data = harness.dataFiles();
  server = await harness.startRecordedServer('schema');
  await harness.drive(server.port, [data.oui], { routes: ['/buffered', '/stream?token=secret'] });
  assert.equal(await get(server.port, '/health?verbose=1'), 200);
  assert.equal(await get(server.port, '/no-such-route'), 404);
  const stopped = await server.stop();
  assert.equal(stopped.code, 0, `routeheap record did not exit 0 after SIGINT\n${server.output()}`);

  const result = await harness.report(server.sessionDir);
  assert.equal(result.code, 0, `routeheap report failed (exit ${result.code}): ${result.stderr}`);
  report = result.json;
}, { timeout: 300_000 });

after(async () => {
  if (server) {
    await server.forceStop();
    harness.removeTempDir(server.workDir);
  }
});

function assertInteger(value, what) {
  assert.ok(Number.isInteger(value), `${what} is not an integer: ${JSON.stringify(value)}`);
  assert.ok(value >= 0, `${what} is negative: ${value}`);
}

function assertSignedInteger(value, what) {
  assert.ok(Number.isInteger(value), `${what} is not an integer: ${JSON.stringify(value)}`);
}

function assertFindings(findings, what) {
  assert.ok(Array.isArray(findings), `${what}.findings is not an array`);
  for (const finding of findings) {
    assert.equal(typeof finding.kind, 'string', `${what}: finding.kind`);
    assert.ok(['high', 'medium', 'low'].includes(finding.confidence), `${what}: confidence ${finding.confidence}`);
    assert.equal(typeof finding.evidence, 'object', `${what}: finding.evidence`);
    assert.equal(typeof finding.fix, 'string', `${what}: finding.fix`);
    assert.ok(finding.fix.length > 0, `${what}: empty fix`);
  }
}

test('schema string is routeheap.report/1', () => {
  assert.equal(report.schema, 'routeheap.report/1');
});

test('session lists the server process', () => {
  assert.equal(typeof report.session, 'object');
  assert.ok(Array.isArray(report.session.processes), 'session.processes is not an array');
  const entry = report.session.processes.find((p) => p.pid === server.serverPid);
  assert.ok(entry, `pid ${server.serverPid} missing: ${JSON.stringify(report.session.processes)}`);
  assert.equal(typeof entry.exe, 'string');
  assert.equal(typeof entry.trace, 'string');
  assert.equal(entry.complete, true);
  assert.ok(Array.isArray(report.warnings), 'warnings is not an array');
});

test('routes have the documented fields', () => {
  assert.ok(Array.isArray(report.routes), 'routes is not an array');
  assert.ok(report.routes.length > 0, 'routes[] is empty');
  for (const route of report.routes) {
    const what = `route ${route.method} ${route.route}`;
    assert.equal(typeof route.method, 'string', what);
    assert.equal(typeof route.route, 'string', what);
    assertInteger(route.requests, `${what}.requests`);
    assertSignedInteger(route.peak_growth_bytes.p50, `${what}.peak_growth_bytes.p50`);
    assertSignedInteger(route.peak_growth_bytes.max, `${what}.peak_growth_bytes.max`);
    for (const field of ['request_bytes', 'response_bytes']) {
      assertInteger(route[field].total, `${what}.${field}.total`);
      assertInteger(route[field].max, `${what}.${field}.max`);
    }
    assertFindings(route.findings, what);
  }
});

test('requests have the documented fields', () => {
  const requests = report.requests.filter((request) => request.pid === server.serverPid);
  assert.equal(requests.length, 4, `expected 2 uploads and 2 GETs: ${JSON.stringify(requests)}`);
  const ids = new Set();
  for (const request of requests) {
    const what = `request ${request.method} ${request.path}`;
    assert.ok(typeof request.id === 'string' || Number.isInteger(request.id), `${what}.id`);
    ids.add(request.id);
    assertInteger(request.pid, `${what}.pid`);
    for (const field of ['method', 'path', 'route', 'outcome']) {
      assert.equal(typeof request[field], 'string', `${what}.${field}`);
    }
    for (const field of ['status', 'request_bytes', 'response_bytes', 'start_ns', 'first_response_byte_ns', 'end_ns']) {
      assertInteger(request[field], `${what}.${field}`);
    }
    assert.ok(request.start_ns <= request.first_response_byte_ns, `${what}: first response byte before start`);
    assert.ok(request.first_response_byte_ns <= request.end_ns, `${what}: end before first response byte`);
    for (const kind of ['native', 'v8', 'rss', 'heap']) {
      assertSignedInteger(request.peak_growth_bytes[kind], `${what}.peak_growth_bytes.${kind}`);
    }
    assert.equal(request.peak_growth_bytes.heap, request.peak_growth_bytes.native + request.peak_growth_bytes.v8,
      `${what}: heap growth is not native + v8`);
    assert.equal(typeof request.overlapping, 'boolean', `${what}.overlapping`);
    assertFindings(request.findings, what);
  }
  assert.equal(ids.size, requests.length, 'request ids are not unique');
});

test('statuses and routes match the requests sent', () => {
  const seen = report.requests
    .filter((request) => request.pid === server.serverPid)
    .sort((a, b) => a.start_ns - b.start_ns)
    .map((request) => `${request.method} ${request.path} ${request.status}`);
  assert.deepEqual(seen, ['POST /buffered 200', 'POST /stream 200', 'GET /health 200', 'GET /no-such-route 404']);
});

test('query strings never reach the report', () => {
  const text = JSON.stringify(report);
  assert.ok(!text.includes('token=secret'), 'the query string of /stream?token=secret is in the report');
  assert.ok(!text.includes('verbose=1'), 'the query string of /health?verbose=1 is in the report');
});
