// Checks that requests served by node:cluster workers are recorded. With the default round-robin
// policy the primary accepts each connection and passes the socket to a worker over IPC, so no
// worker ever calls accept.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const { after, test } = require('node:test');
const harness = require('./harness');

const REQUESTS = 4;
const SERVER = path.join(__dirname, 'servers/cluster.js');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;

let workDir;
let recorder;

after(async () => {
  if (recorder && recorder.exitCode === null && recorder.signalCode === null) {
    recorder.kill('SIGKILL');
  }
  if (workDir) harness.removeTempDir(workDir);
});

function waitForPort(child, output) {
  const pattern = /listening on http:\/\/127\.0\.0\.1:(\d+) \(pid (\d+)\)/;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port within ${START_TIMEOUT_MS} ms:\n${output.text}`)),
      START_TIMEOUT_MS);
    const check = () => {
      const match = pattern.exec(output.stdout);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`routeheap record exited ${code} before the port was printed:\n${output.text}`));
    });
  });
}

function get(port, route) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: route, agent: false }, (response) => {
      let bytes = 0;
      response.on('data', (chunk) => { bytes += chunk.length; });
      response.on('end', () => resolve({ status: response.statusCode, bytes }));
    });
    request.setTimeout(30_000, () => request.destroy(new Error(`GET ${route} timed out`)));
    request.on('error', reject);
  });
}

function waitForExit(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`record did not exit within ${STOP_TIMEOUT_MS} ms`)),
      STOP_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

test('cluster worker requests are recorded', async () => {
  workDir = harness.makeTempDir('cluster');
  const sessionDir = path.join(workDir, 'session');
  const { routeheap, agent } = harness.config();
  recorder = spawn(routeheap, ['record', '--output', sessionDir, '--', process.execPath, SERVER], {
    cwd: workDir,
    env: { ...process.env, ROUTEHEAP_AGENT: agent, NODE_CLUSTER_SCHED_POLICY: 'rr' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '', get text() { return `${this.stdout}\n${this.stderr}`; } };
  recorder.stdout.setEncoding('utf8');
  recorder.stderr.setEncoding('utf8');
  recorder.stdout.on('data', (text) => { output.stdout += text; });
  recorder.stderr.on('data', (text) => { output.stderr += text; });

  const port = await waitForPort(recorder, output);
  for (let i = 0; i < REQUESTS; i += 1) {
    const result = await get(port, `/item/${i}`);
    assert.equal(result.status, 200, `GET /item/${i} returned ${result.status}`);
  }
  recorder.kill('SIGINT');
  await waitForExit(recorder);

  const report = await harness.report(sessionDir);
  assert.equal(report.code, 0, `routeheap report failed:\n${report.stderr}`);
  const requests = report.json.requests.filter((request) => request.method === 'GET');
  assert.equal(requests.length, REQUESTS, `expected ${REQUESTS} GET requests in the report:\n${output.text}`);
  for (const request of requests) {
    assert.equal(request.status, 200, `request ${request.id} has status ${request.status}`);
    assert.equal(request.response_bytes, 64 * 1024, `request ${request.id} sent ${request.response_bytes} bytes`);
  }
  const pids = new Set(requests.map((request) => request.pid));
  assert.equal(pids.size, 2, `expected the requests to be served by both workers, got pids ${[...pids]}`);
});
