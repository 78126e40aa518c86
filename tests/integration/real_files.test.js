// Records the sample server while the real CSV files (asn-ipv4.csv, 24 MB, and oui.csv, 3 MB) are
// uploaded to /buffered, /collect and /stream, then checks the verdicts, the peak growth and the
// byte counts in `routeheap report --format json`.
'use strict';

const assert = require('node:assert/strict');
const path = require('node:path');
const { after, before, test } = require('node:test');
const harness = require('./harness');

const ROUTES = ['/buffered', '/collect', '/stream'];

// A buffered route keeps at least the whole JSON text in memory while res.end() sends it, so its
// peak heap growth must reach the response size. The 10% margin covers memory that was already
// committed and free when the request started (V8 reuses pages it has not returned yet).
const BUFFERED_GROWTH_MIN_RATIO = 0.9;
// A streamed route keeps only a few 16 KiB chunks, so its peak heap growth stays under this
// fraction of the buffered route's growth on the same file.
const STREAM_GROWTH_MAX_FRACTION = 0.25;

let server;
let files;
let uploads;
let result;

before(async () => {
  const data = harness.dataFiles();
  files = [data.asn, data.oui];
  server = await harness.startRecordedServer('real-files');
  uploads = await harness.drive(server.port, files, { routes: ROUTES });
  const stopped = await server.stop();
  assert.equal(stopped.code, 0, `routeheap record did not exit 0 after SIGINT\n${server.output()}`);
  result = await harness.report(server.sessionDir);
  assert.equal(result.code, 0, `routeheap report failed (exit ${result.code}): ${result.stderr}`);
}, { timeout: 600_000 });

after(async () => {
  if (server) {
    await server.forceStop();
    harness.removeTempDir(server.workDir);
  }
});

// The server's requests in the order they started, which is the driver's order because the
// driver sends one request at a time.
function serverRequests() {
  return result.json.requests
    .filter((request) => request.pid === server.serverPid)
    .sort((a, b) => a.start_ns - b.start_ns);
}

// Pairs each driver upload with the report's request for it.
function uploadsWithRequests() {
  const requests = serverRequests();
  assert.equal(requests.length, uploads.length,
    `expected ${uploads.length} requests from pid ${server.serverPid}, the report has ${requests.length}: ` +
    JSON.stringify(requests.map((r) => `${r.method} ${r.path} ${r.status}`)));
  return uploads.map((upload, index) => ({ upload, request: requests[index] }));
}

function findingKinds(request) {
  return request.findings.map((finding) => finding.kind);
}

function describe(upload, request) {
  return `${upload.route} with ${upload.file}: ${JSON.stringify(request)}`;
}

test('every upload appears in the report in order', () => {
  for (const { upload, request } of uploadsWithRequests()) {
    assert.equal(request.method, 'POST', describe(upload, request));
    assert.equal(request.path, upload.route, describe(upload, request));
    assert.equal(request.route, upload.route, describe(upload, request));
    assert.equal(request.status, 200, describe(upload, request));
  }
});

test('byte counts equal what the driver sent and received', () => {
  for (const { upload, request } of uploadsWithRequests()) {
    assert.equal(request.request_bytes, upload.sent_bytes, `request_bytes of ${describe(upload, request)}`);
    assert.equal(request.response_bytes, upload.received_bytes, `response_bytes of ${describe(upload, request)}`);
  }
});

test('buffered and collect routes are buffered-response', () => {
  for (const { upload, request } of uploadsWithRequests()) {
    if (upload.route === '/stream') {
      continue;
    }
    assert.ok(findingKinds(request).includes('buffered-response'),
      `no buffered-response finding for ${describe(upload, request)}`);
  }
});

test('buffered growth reaches response size', () => {
  for (const { upload, request } of uploadsWithRequests()) {
    if (upload.route === '/stream') {
      continue;
    }
    const minimum = BUFFERED_GROWTH_MIN_RATIO * request.response_bytes;
    assert.ok(request.peak_growth_bytes.heap >= minimum,
      `peak heap growth ${request.peak_growth_bytes.heap} B is under ${BUFFERED_GROWTH_MIN_RATIO} x the ` +
      `response (${request.response_bytes} B) for ${describe(upload, request)}`);
  }
});

test('stream route has no finding', () => {
  for (const { upload, request } of uploadsWithRequests()) {
    if (upload.route === '/stream') {
      assert.deepEqual(findingKinds(request), [], `unexpected finding for ${describe(upload, request)}`);
    }
  }
});

test('stream growth under a quarter of buffered', (t) => {
  const pairs = uploadsWithRequests();
  for (const { upload, request } of pairs) {
    t.diagnostic(`${upload.file} ${upload.route}: peak heap growth ${request.peak_growth_bytes.heap} B, ` +
      `response ${request.response_bytes} B`);
  }
  for (const file of files.map((file) => path.basename(file))) {
    const buffered = pairs.find((pair) => pair.upload.file === file && pair.upload.route === '/buffered');
    const streamed = pairs.find((pair) => pair.upload.file === file && pair.upload.route === '/stream');
    const limit = STREAM_GROWTH_MAX_FRACTION * buffered.request.peak_growth_bytes.heap;
    assert.ok(streamed.request.peak_growth_bytes.heap < limit,
      `${file}: /stream peak heap growth ${streamed.request.peak_growth_bytes.heap} B is not under ` +
      `${STREAM_GROWTH_MAX_FRACTION} x /buffered's ${buffered.request.peak_growth_bytes.heap} B`);
  }
});

test('routes aggregate the three routes', () => {
  for (const route of ROUTES) {
    const entry = result.json.routes.find((r) => r.method === 'POST' && r.route === route);
    assert.ok(entry, `no POST ${route} in routes[]: ${JSON.stringify(result.json.routes)}`);
    assert.equal(entry.requests, files.length, `requests of POST ${route}`);

    const kinds = entry.findings.map((finding) => finding.kind);
    if (route === '/stream') {
      assert.deepEqual(kinds, [], `route-level findings for POST ${route}`);
    } else {
      assert.ok(kinds.includes('buffered-response'), `no route-level buffered-response for POST ${route}`);
    }
  }
});

test('session marks the server trace complete', () => {
  const process = result.json.session.processes.find((p) => p.pid === server.serverPid);
  assert.ok(process, `pid ${server.serverPid} missing from session.processes: ${JSON.stringify(result.json.session)}`);
  assert.equal(process.complete, true, `trace of pid ${server.serverPid} not complete: ${JSON.stringify(process)}`);
});
