// Kills the recorded server with SIGKILL in the middle of an upload, after three completed
// requests, and checks that the report still lists those requests and flags the trace as cut.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const harness = require('./harness');

const COMPLETED_REQUESTS = 3;
// Bytes of asn-ipv4.csv sent before the upload stalls: several 64 KiB reads for the server.
const STALLED_UPLOAD_BYTES = 4 * 1024 * 1024;
// Time for the server to read the partial upload and for the agent to write its records out
// before SIGKILL. The agent writes buffered records every 50 ms by default (ROUTEHEAP_FLUSH_MS).
const SETTLE_MS = 2000;

let server;
let completed;
let stalledOutcome;
let recordExit;
let result;

before(async () => {
  const data = harness.dataFiles();
  server = await harness.startRecordedServer('kill9');
  completed = await harness.drive(server.port, [data.oui], { routes: ['/buffered'], repeat: COMPLETED_REQUESTS });

  const stalled = harness.startStalledUpload(server.port, '/buffered', data.asn, STALLED_UPLOAD_BYTES);
  await stalled.written;
  await harness.sleep(SETTLE_MS);
  process.kill(server.serverPid, 'SIGKILL');

  stalledOutcome = await stalled.settled;
  recordExit = await server.stop();
  result = await harness.report(server.sessionDir);
}, { timeout: 300_000 });

after(async () => {
  if (server) {
    await server.forceStop();
    harness.removeTempDir(server.workDir);
  }
});

test('driver completed three requests', () => {
  assert.equal(completed.length, COMPLETED_REQUESTS);
  for (const upload of completed) {
    assert.equal(upload.status, 200, JSON.stringify(upload));
  }
});

test('stalled upload got no response', () => {
  assert.ok(stalledOutcome.error, `the stalled upload ended with ${JSON.stringify(stalledOutcome)}`);
});

test('record exits with the killed status', () => {
  // 128 + SIGKILL (9), the shell convention for a child killed by a signal.
  assert.equal(recordExit.code, 137, `routeheap record exited with ${JSON.stringify(recordExit)}\n${server.output()}`);
});

test('report exits 0 after kill -9', () => {
  assert.equal(result.code, 0, `routeheap report failed (exit ${result.code}): ${result.stderr}`);
  assert.ok(result.json, 'routeheap report printed no JSON');
});

test('report keeps the completed requests', () => {
  const requests = result.json.requests
    .filter((request) => request.pid === server.serverPid && request.status === 200)
    .sort((a, b) => a.start_ns - b.start_ns);
  assert.equal(requests.length, COMPLETED_REQUESTS,
    `expected ${COMPLETED_REQUESTS} requests with status 200: ${JSON.stringify(result.json.requests)}`);
  requests.forEach((request, index) => {
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/buffered');
    assert.equal(request.request_bytes, completed[index].sent_bytes, JSON.stringify(request));
    assert.equal(request.response_bytes, completed[index].received_bytes, JSON.stringify(request));
  });
});

test('cut request is reported open', () => {
  const cut = result.json.requests.filter((request) => request.pid === server.serverPid && request.status !== 200);
  assert.equal(cut.length, 1, `expected one unanswered request: ${JSON.stringify(cut)}`);
  assert.equal(cut[0].path, '/buffered', JSON.stringify(cut[0]));
  assert.equal(cut[0].outcome, 'open', `the killed upload is not reported open: ${JSON.stringify(cut[0])}`);
  assert.equal(cut[0].request_bytes, STALLED_UPLOAD_BYTES, `body bytes of the killed upload: ${JSON.stringify(cut[0])}`);
  assert.equal(cut[0].response_bytes, 0, JSON.stringify(cut[0]));
});

test('session flags the trace incomplete', () => {
  const process = result.json.session.processes.find((p) => p.pid === server.serverPid);
  assert.ok(process, `pid ${server.serverPid} missing from session.processes: ${JSON.stringify(result.json.session)}`);
  assert.equal(process.complete, false, `trace of the killed pid is marked complete: ${JSON.stringify(process)}`);
  const warnings = [...(process.warnings || []), ...(result.json.warnings || [])];
  assert.ok(warnings.length > 0, 'no warning tells that the trace was cut');
});
