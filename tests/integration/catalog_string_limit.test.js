// Records the catalog's string-limit route, whose JSON.stringify exceeds V8's maximum string
// length (about 512 MiB) so the request fails with a 500, and checks that routeheap calls it a
// buffered response with the size evidence. Each request builds ~512 MiB of text and peaks near
// 1 GiB of RSS, so this test runs apart from the rest of the catalog: two sequential requests,
// then 4 concurrent ones.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { after, before, test } = require('node:test');
const harness = require('./harness');

const catalogDrive = require(path.join(harness.config().repo, 'samples/node-routes/catalog-drive.js'));

const ROUTE = '/rows-too-large';
// V8's maximum string length on 64-bit Node 20: 2^29 - 24 one-byte characters.
const V8_MAX_STRING_BYTES = 2 ** 29 - 24;
const CONCURRENT_CLIENTS = 4;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 120_000;

let child;
let workDir;
let serverPid;
let results = [];
let json;

function waitForExit(process, timeoutMs) {
  if (process.exitCode !== null || process.signalCode !== null) {
    return Promise.resolve(process.exitCode);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${process.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    process.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

before(async () => {
  const { routeheap, agent, repo } = harness.config();
  workDir = harness.makeTempDir('catalog-string-limit');
  const sessionDir = path.join(workDir, 'session');
  child = spawn(routeheap, ['record', '--output', sessionDir, '--', process.execPath,
    path.join(repo, 'samples/node-routes/server.js')], {
    cwd: workDir,
    env: { ...process.env, PORT: '0', ROUTEHEAP_AGENT: agent },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (text) => { stderr += text; });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port within ${START_TIMEOUT_MS} ms\n${stdout}\n${stderr}`)),
      START_TIMEOUT_MS);
    child.stdout.on('data', (text) => {
      stdout += text;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+) \(pid (\d+)\)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        serverPid = Number(match[2]);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`routeheap record exited ${code}\n${stdout}\n${stderr}`)));
  });

  const plan = catalogDrive.STRING_LIMIT_PLAN;
  results = await catalogDrive.runPlan(port, [{ ...plan[0], count: 2 }], { concurrency: 1 });
  results.push(...await catalogDrive.runPlan(port, plan, { concurrency: CONCURRENT_CLIENTS }));

  child.kill('SIGINT');
  assert.equal(await waitForExit(child, STOP_TIMEOUT_MS), 0, `routeheap record did not exit 0\n${stderr}`);
  const report = await harness.report(sessionDir);
  assert.equal(report.code, 0, `routeheap report failed: ${report.stderr}`);
  json = report.json;
});

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    if (serverPid) {
      try { process.kill(serverPid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  if (workDir) {
    harness.removeTempDir(workDir);
  }
});

test('every request fails with the size in its message', () => {
  assert.equal(results.length, 2 + CONCURRENT_CLIENTS);
  for (const result of results) {
    assert.equal(result.status, 500, JSON.stringify(result));
    assert.match(result.error_body, /Invalid string length: the JSON text of 600 rows is about \d+ characters/);
  }
});

test('each failed request is buffered-response with size evidence', () => {
  const requests = json.requests.filter((r) => r.pid === serverPid && r.route === ROUTE);
  assert.equal(requests.length, results.length);
  for (const request of requests) {
    const kinds = request.findings.map((finding) => finding.kind);
    assert.deepEqual(kinds, ['buffered-response'], JSON.stringify(request));
    const finding = request.findings[0];
    assert.equal(finding.evidence.v8_max_string_bytes, V8_MAX_STRING_BYTES);
    assert.equal(finding.evidence.status, 500);
    assert.ok(finding.evidence.growth_to_string_limit_fraction >= 0.5, JSON.stringify(finding.evidence));
    if (request.overlapping) {
      assert.match(finding.summary, /overlapping/);
    }
  }
});

test('route has only buffered-response', () => {
  const entry = json.routes.find((r) => r.route === ROUTE);
  assert.deepEqual(entry.findings.map((finding) => finding.kind), ['buffered-response']);
});
