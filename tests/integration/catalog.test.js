// Records the catalog of bad and fixed routes under `routeheap record`, on the node:http server
// and on its Express variant, one request at a time and from 4 concurrent clients. Checks that
// every route gets exactly its expected verdict: the expected finding kind and no other, or no
// finding at all for the fixed routes and the routes that must not be flagged.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');
const harness = require('./harness');

const catalogDrive = require(path.join(harness.config().repo, 'samples/node-routes/catalog-drive.js'));

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
const CONCURRENT_CLIENTS = 4;

// Starts `routeheap record -- node SERVER` in a temporary folder and resolves once the server
// printed its port: { child, workDir, sessionDir, port, pid, output() }.
function startRecorded(serverFile, name) {
  const { routeheap, agent } = harness.config();
  const workDir = harness.makeTempDir(name);
  const sessionDir = path.join(workDir, 'session');
  const child = spawn(routeheap, ['record', '--output', sessionDir, '--', process.execPath, serverFile], {
    cwd: workDir,
    env: { ...process.env, PORT: '0', ROUTEHEAP_AGENT: agent },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const recorded = { child, workDir, sessionDir, stdout: '', stderr: '' };
  recorded.output = () => `--- stdout ---\n${recorded.stdout}\n--- stderr ---\n${recorded.stderr}`;
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => { recorded.stderr += text; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${serverFile} printed no port within ${START_TIMEOUT_MS} ms\n${recorded.output()}`));
    }, START_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`routeheap record exited (code ${code}, signal ${signal}) before the port\n${recorded.output()}`));
    });
    child.stdout.on('data', (text) => {
      recorded.stdout += text;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+) \(pid (\d+)\)/.exec(recorded.stdout);
      if (match && recorded.port === undefined) {
        clearTimeout(timer);
        recorded.port = Number(match[1]);
        recorded.pid = Number(match[2]);
        resolve(recorded);
      }
    });
  });
}

function waitForExit(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${STOP_TIMEOUT_MS} ms`)),
      STOP_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

// Ends record and the server it started, by their pids, whatever state they are in.
async function forceStop(recorded) {
  if (!recorded || recorded.child.exitCode !== null || recorded.child.signalCode !== null) {
    return;
  }
  recorded.child.kill('SIGINT');
  try {
    await waitForExit(recorded.child);
  } catch {
    if (recorded.pid) {
      try { process.kill(recorded.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    recorded.child.kill('SIGKILL');
  }
}

// Records one run of `plan` against `serverFile` and returns the JSON report and the driver's results.
async function recordCatalog(serverFile, name, plan, concurrency) {
  const recorded = await startRecorded(serverFile, name);
  try {
    const files = catalogDrive.uploadFiles(harness.dataFiles().asn, recorded.workDir);
    const results = await catalogDrive.runPlan(recorded.port, plan, { concurrency, files });
    recorded.child.kill('SIGINT');
    const code = await waitForExit(recorded.child);
    assert.equal(code, 0, `routeheap record did not exit 0 after SIGINT\n${recorded.output()}`);
    const report = await harness.report(recorded.sessionDir);
    assert.equal(report.code, 0, `routeheap report failed: ${report.stderr}`);
    return { recorded, results, json: report.json };
  } catch (err) {
    await forceStop(recorded);
    throw err;
  }
}

const routeOf = (step) => step.path.split('?', 1)[0];

function summarize(request) {
  return `${request.method} ${request.path} ${request.status} in ${request.request_bytes} out ${request.response_bytes} ` +
    `growth ${JSON.stringify(request.peak_growth_bytes)} attributed ${JSON.stringify(request.attributed_growth_bytes)} ` +
    `allocated ${request.allocated_bytes} retained ${JSON.stringify(request.retained_bytes)} ` +
    `refused ${request.would_block_writes}/${request.partial_writes} after ${request.largest_write_after_refusal_bytes} ` +
    `overlapping ${request.overlapping} findings ${JSON.stringify(request.findings.map((f) => f.kind))}`;
}

// The checks every run gets: each plan step's route has exactly its expected finding kind.
function verdictTests(run, plan, { concurrent }) {
  test('every request answered', () => {
    for (const result of run().results) {
      const step = plan.find((candidate) => candidate.path === result.path);
      assert.equal(result.status, step.status || 200, `${result.path}: ${result.error_body}`);
    }
  });

  for (const step of plan) {
    const route = routeOf(step);
    test(`${route} is ${step.verdict || 'not flagged'}`, (t) => {
      const { json, recorded } = run();
      const requests = json.requests.filter((r) => r.pid === recorded.pid && r.route === route);
      const details = requests.map(summarize).join('\n');
      const growth = requests.map((r) => (r.attributed_growth_bytes ? r.attributed_growth_bytes.heap : 0));
      t.diagnostic(`measured ${route}: ${requests.map((r) => r.findings.map((f) => `${f.kind}:${f.confidence}`).join('+') || 'none').join(' ')}` +
        ` attributed growth ${Math.min(...growth)}-${Math.max(...growth)} B`);
      assert.equal(requests.length, Math.max(step.count, concurrent ? CONCURRENT_CLIENTS : 1),
        `requests of ${route}:\n${details}`);

      const entry = json.routes.find((r) => r.route === route);
      assert.ok(entry, `no ${route} in routes[]`);
      const kinds = entry.findings.map((finding) => finding.kind);
      assert.deepEqual(kinds, step.verdict ? [step.verdict] : [], `route findings of ${route}:\n${details}`);
      for (const request of requests) {
        for (const finding of request.findings) {
          assert.equal(finding.kind, step.verdict, `unexpected finding on ${summarize(request)}`);
        }
      }
    });
  }

  if (concurrent) {
    test('overlapping requests are marked and their findings say so', () => {
      const { json, recorded } = run();
      const requests = json.requests.filter((r) => r.pid === recorded.pid && r.route !== '/health');
      // A handler that runs in one turn of the event loop (most GET routes here) serves 4 clients
      // one after another, so only uploads, read over many turns, must overlap.
      for (const step of plan.filter((candidate) => candidate.upload)) {
        const route = routeOf(step);
        const overlapping = requests.filter((r) => r.route === route && r.overlapping);
        assert.ok(overlapping.length >= 2, `${route}: ${overlapping.length} overlapping requests:\n` +
          requests.filter((r) => r.route === route).map(summarize).join('\n'));
      }
      for (const request of requests.filter((r) => r.overlapping)) {
        assert.ok(request.max_concurrent >= 2, `max_concurrent of ${summarize(request)}`);
        assert.ok(request.attributed_growth_bytes.heap <= request.peak_growth_bytes.heap,
          `attributed growth above the window's growth: ${summarize(request)}`);
        for (const finding of request.findings) {
          assert.match(finding.summary, /overlapping/, `finding on an overlapping request: ${finding.summary}`);
        }
      }
    });
  }
}

function catalogSuite(label, serverName, plan, framework) {
  const serverFile = path.join(harness.config().repo, 'samples/node-routes', serverName);
  for (const concurrency of [1, CONCURRENT_CLIENTS]) {
    describe(`${label} at ${concurrency} client${concurrency > 1 ? 's' : ''}`, () => {
      let run = null;
      before(async () => {
        run = await recordCatalog(serverFile, `catalog-${label}-${concurrency}`, plan, concurrency);
      });
      after(() => {
        if (run) {
          harness.removeTempDir(run.recorded.workDir);
        }
      });
      verdictTests(() => run, plan, { concurrent: concurrency > 1 });

      test(`requests name the ${framework} framework where stacks show it`, () => {
        const { json, recorded } = run;
        const requests = json.requests.filter((r) => r.pid === recorded.pid);
        // A request whose recorded stacks show only Node's HTTP server, not the framework's
        // frames, is named node:http.
        const allowed = new Set(['unknown', 'node:http', framework]);
        for (const request of requests) {
          assert.ok(allowed.has(request.framework), `framework ${request.framework} of ${summarize(request)}`);
          const buffered = request.findings.find((finding) => finding.kind === 'buffered-response');
          if (buffered && request.framework === 'express') {
            assert.match(buffered.fix, /res\.json/, `Express fix of ${summarize(request)}`);
          }
        }
        assert.ok(requests.some((r) => r.framework === framework), `no request is named ${framework}`);
      });
    });
  }
}

catalogSuite('node-http', 'server.js', catalogDrive.CATALOG_PLAN, 'node:http');
catalogSuite('express', 'express-server.js', catalogDrive.EXPRESS_PLAN, 'express');

