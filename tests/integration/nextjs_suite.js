// Records the Next.js sample (samples/nextjs-app) under `routeheap record` as `next dev` or as
// `next start` after `next build`, uploads slices of the real CSV files to every API route and
// checks the verdicts in `routeheap report --format json`. nextjs_dev.test.js and
// nextjs_start.test.js each run one mode.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, test } = require('node:test');
const harness = require('./harness');

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;
const BUILD_TIMEOUT_MS = 300_000;
// `next dev` stores webpack's cache in <distDir>/cache/webpack, gzip-compressed with two
// 100 MiB zlib buffers. webpack 5 stores about 5 s after the first compile goes idle, and 60 s
// after each later one. The warm-up waits for the store that follows the last compile and for
// the folder to stay unchanged CACHE_QUIET_MS, so that no store lands on a measured request.
const CACHE_STORE_TIMEOUT_MS = 90_000;
const CACHE_QUIET_MS = 3_000;
const CACHE_POLL_MS = 250;

// The detectors judge bodies of 1 MiB and more (docs/detectors.md), so an upload of this size
// cannot get a finding, whatever compiling the route on its first request allocates.
const WARM_UP_MAX_BYTES = 64 * 1024;
const WARM_UP_LINES = 20;

// Slices of the real files, cut at a line end: the ASN slice becomes about 11 MB of JSON and the
// OUI slice about 3.6 MB, one above and one below Next's 4 MB API response warning.
const SLICES = [
  { name: 'asn-ipv4-4MiB.csv', source: 'asn', bytes: 4 * 1024 * 1024 },
  { name: 'oui-2MiB.csv', source: 'oui', bytes: 2 * 1024 * 1024 },
];

// Each route with the finding kinds it must get, exactly (the order does not matter).
const ROUTES = [
  { route: '/api/processCSV', router: 'pages', expected: ['buffered-response', 'buffered-upload'] },
  { route: '/api/processCSV-collect', router: 'pages', expected: ['buffered-response'] },
  { route: '/api/processCSV-stream', router: 'pages', expected: [] },
  { route: '/api/upload-text', router: 'app', expected: ['buffered-upload'] },
  { route: '/api/upload-formdata', router: 'app', multipart: true, expected: ['buffered-upload'] },
  { route: '/api/upload-stream', router: 'app', expected: [] },
  { route: '/api/convert-buffer', router: 'app', expected: ['buffered-response'] },
  { route: '/api/convert-stream', router: 'app', expected: [] },
];

// Next's warning for a pages router API response at or above `api.responseLimit` (4 MB).
const NEXT_SIZE_WARNING = /API response for (\S+) exceeds 4MB/g;
const NEXT_WARNING_BYTES = 4 * 1024 * 1024;

function appPaths() {
  const appDir = path.join(harness.config().repo, 'samples/nextjs-app');
  const paths = {
    appDir,
    next: path.join(appDir, 'node_modules/next/dist/bin/next'),
    offline: path.join(appDir, 'offline.cjs'),
    driver: path.join(appDir, 'drive.js'),
  };
  if (!fs.existsSync(paths.next)) {
    throw new Error(`missing ${paths.next}: run scripts/setup.sh first (it runs npm ci in samples/nextjs-app)`);
  }
  return paths;
}

// The environment of every Next.js process: no telemetry, no fetch beyond 127.0.0.1, and the
// output folder of this mode. `record` appends its V8 flags to NODE_OPTIONS.
function nextEnv(distDir) {
  const { offline } = appPaths();
  const nodeOptions = [`--require ${offline}`, process.env.NODE_OPTIONS || ''].join(' ').trim();
  return {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: '1',
    NODE_OPTIONS: nodeOptions,
    NEXT_DIST_DIR: distDir,
    ROUTEHEAP_AGENT: harness.config().agent,
  };
}

// Writes the first `bytes` of `source`, cut after its last whole line, to `target`.
function writeSlice(source, target, bytes) {
  const fd = fs.openSync(source, 'r');
  const buffer = Buffer.alloc(bytes);
  const read = fs.readSync(fd, buffer, 0, bytes, 0);
  fs.closeSync(fd);
  const end = buffer.lastIndexOf(0x0a, read - 1);
  assert.ok(end > 0, `no line end in the first ${bytes} bytes of ${source}`);
  fs.writeFileSync(target, buffer.subarray(0, end + 1));
}

// Writes the header and the first lines of `source`, small enough to stay below every detector.
function writeWarmUpFile(source, target) {
  const head = fs.readFileSync(source, 'utf8').split('\n', WARM_UP_LINES + 1).slice(0, WARM_UP_LINES);
  const text = `${head.join('\n')}\n`;
  assert.ok(text.length < WARM_UP_MAX_BYTES, `warm-up file ${target} is ${text.length} bytes`);
  fs.writeFileSync(target, text);
}

// Returns "count:bytes:newest mtime" of the files under `dir`, or '' when it does not exist.
function folderState(dir) {
  if (!fs.existsSync(dir)) {
    return '';
  }
  let count = 0;
  let bytes = 0;
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) {
      continue;
    }
    try {
      const stat = fs.statSync(path.join(entry.parentPath ?? entry.path, entry.name));
      count += 1;
      bytes += stat.size;
      newest = Math.max(newest, stat.mtimeMs);
    } catch {
      // renamed or removed by webpack meanwhile: the next poll finds the change
    }
  }
  return `${count}:${bytes}:${newest}`;
}

// Waits until webpack's cache folder changes (the store after the last compile) and then stays
// unchanged for CACHE_QUIET_MS. Returns { waitedMs, stored }: stored is false when no store
// came within CACHE_STORE_TIMEOUT_MS, because none was pending.
async function waitForWebpackCacheStore(cacheDir) {
  const started = Date.now();
  const before = folderState(cacheDir);
  let state = before;
  let changedAt = null;
  for (;;) {
    await harness.sleep(CACHE_POLL_MS);
    const now = Date.now();
    const next = folderState(cacheDir);
    if (next !== state) {
      state = next;
      changedAt = now;
    }
    if (changedAt !== null && now - changedAt >= CACHE_QUIET_MS) {
      return { waitedMs: now - started, stored: true };
    }
    if (changedAt === null && now - started >= CACHE_STORE_TIMEOUT_MS) {
      return { waitedMs: now - started, stored: false };
    }
  }
}

function waitForExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

// Returns the pids of every descendant of `pid`, read from /proc.
function descendants(pid) {
  const children = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;  // the process exited meanwhile
    }
    // The command name in brackets may contain spaces: the parent pid is the 2nd field after it.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(parent)) {
      children.set(parent, []);
    }
    children.get(parent).push(Number(entry));
  }
  const found = [];
  const pending = [pid];
  while (pending.length > 0) {
    for (const child of children.get(pending.pop()) || []) {
      found.push(child);
      pending.push(child);
    }
  }
  return found;
}

// `routeheap record` running a Next.js server, with everything it printed so far.
class RecordedNext {
  constructor(child, workDir, sessionDir) {
    this.child = child;
    this.workDir = workDir;
    this.sessionDir = sessionDir;
    this.stdout = '';
    this.stderr = '';
    this.port = null;
    this.serverPids = [];
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text) => { this.stdout += text; });
    child.stderr.on('data', (text) => { this.stderr += text; });
  }

  output() {
    return `--- routeheap record stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  // Resolves once Next printed "- Local: http://127.0.0.1:PORT" and remembers the process tree.
  waitForPort() {
    const pattern = /Local:\s+http:\/\/127\.0\.0\.1:(\d+)/;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`Next.js printed no port within ${START_TIMEOUT_MS} ms\n${this.output()}`)),
        START_TIMEOUT_MS);
      const check = () => {
        const match = pattern.exec(this.stdout);
        if (match) {
          this.port = Number(match[1]);
          finish(null);
        }
      };
      const onExit = (code, signal) => {
        finish(new Error(`routeheap record exited (code ${code}, signal ${signal}) before Next.js printed its port\n${this.output()}`));
      };
      const finish = (err) => {
        clearTimeout(timer);
        this.child.stdout.off('data', check);
        this.child.off('exit', onExit);
        if (err) {
          reject(err);
        } else {
          this.serverPids = descendants(this.child.pid);
          resolve();
        }
      };
      this.child.stdout.on('data', check);
      this.child.once('exit', onExit);
      check();
    });
  }

  // Sends SIGINT to `record`, which forwards it to Next, and resolves with record's exit.
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.serverPids = [...new Set([...this.serverPids, ...descendants(this.child.pid)])];
      this.child.kill('SIGINT');
    }
    return waitForExit(this.child, STOP_TIMEOUT_MS);
  }

  // Last resort for after(): ends record and the Next processes it started, by their pids.
  async forceStop() {
    try {
      await this.stop();
    } catch {
      this.child.kill('SIGKILL');
      await waitForExit(this.child, STOP_TIMEOUT_MS).catch(() => {});
    }
    for (const pid of this.serverPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

// Runs `next build` (not recorded: the build is not the server) into the sample's .next folder.
async function buildApp() {
  const { appDir, next } = appPaths();
  const started = Date.now();
  const result = await new Promise((resolve) => {
    const child = spawn(process.execPath, [next, 'build', appDir], {
      cwd: appDir,
      env: nextEnv('.next'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (text) => { output += text; });
    child.stderr.on('data', (text) => { output += text; });
    const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
  assert.equal(result.code, 0, `next build failed (exit ${result.code}, signal ${result.signal}):\n${result.output}`);
  return Date.now() - started;
}

async function startRecordedNext(mode, workDir, distDir) {
  const { appDir, next } = appPaths();
  const sessionDir = path.join(workDir, 'session');
  const command = [process.execPath, next, mode, appDir, '--hostname', '127.0.0.1', '--port', '0'];
  const child = spawn(harness.config().routeheap, ['record', '--output', sessionDir, '--', ...command], {
    cwd: workDir,
    env: nextEnv(distDir),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const recorded = new RecordedNext(child, workDir, sessionDir);
  await recorded.waitForPort();
  return recorded;
}

async function upload(port, entry, file) {
  const { driver } = appPaths();
  const { upload: post } = require(driver);
  const result = await post({ port, route: entry.route, file, multipart: Boolean(entry.multipart) });
  assert.equal(result.status, 200, `POST ${entry.route} with ${file}: status ${result.status} ${result.error_body}`);
  return { ...result, entry };
}

function findingKinds(request) {
  return request.findings.map((finding) => finding.kind).sort();
}

function describe(request) {
  const { method, path: route, pid, request_bytes, response_bytes, peak_growth_bytes, findings } = request;
  return JSON.stringify({ method, route, pid, request_bytes, response_bytes, peak_growth_bytes, findings }, null, 1);
}

// Registers the tests of one mode: 'dev' (next dev, routes compiled on their first request) or
// 'start' (next build, then next start).
function defineSuite(mode) {
  const state = { server: null, warmUps: [], uploads: [], report: null, buildMs: null, cacheStore: null };

  before(async () => {
    const data = harness.dataFiles();
    const { appDir } = appPaths();
    const workDir = harness.makeTempDir(`nextjs-${mode}`);
    state.workDir = workDir;

    const files = SLICES.map((slice) => {
      const target = path.join(workDir, slice.name);
      writeSlice(data[slice.source], target, slice.bytes);
      return target;
    });
    const warmUpFile = path.join(workDir, 'warm-up.csv');
    writeWarmUpFile(data.oui, warmUpFile);

    // The dev server compiles into its own folder, removed first so that every route really
    // compiles on its warm-up request.
    const distDir = mode === 'dev' ? '.next-dev' : '.next';
    if (mode === 'dev') {
      fs.rmSync(path.join(appDir, distDir), { recursive: true, force: true });
    } else {
      state.buildMs = await buildApp();
    }

    state.server = await startRecordedNext(mode, workDir, distDir);

    // Warm-up: one small upload per route, all finished before the first measured upload
    // starts. In dev mode this request compiles the route, so the compiler's memory lands on a
    // request far below every detector's size threshold, never on the measured requests.
    for (const entry of ROUTES) {
      state.warmUps.push(await upload(state.server.port, entry, warmUpFile));
    }
    if (mode === 'dev') {
      state.cacheStore = await waitForWebpackCacheStore(path.join(appDir, distDir, 'cache', 'webpack'));
    }
    for (const file of files) {
      for (const entry of ROUTES) {
        state.uploads.push(await upload(state.server.port, entry, file));
      }
    }

    const stopped = await state.server.stop();
    assert.equal(stopped.code, 0, `routeheap record did not exit 0 after SIGINT\n${state.server.output()}`);
    state.report = await harness.report(state.server.sessionDir);
    assert.equal(state.report.code, 0, `routeheap report failed (exit ${state.report.code}): ${state.report.stderr}`);
  }, { timeout: 540_000 });

  after(async () => {
    if (state.server) {
      await state.server.forceStop();
    }
    if (mode === 'dev') {
      fs.rmSync(path.join(appPaths().appDir, '.next-dev'), { recursive: true, force: true });
    }
    if (state.workDir) {
      harness.removeTempDir(state.workDir);
    }
  });

  // The report's API requests in the order they started, paired with the uploads: the warm-ups
  // first, then the measured uploads, one at a time.
  function pairs() {
    const requests = state.report.json.requests
      .filter((request) => request.path.startsWith('/api/'))
      .sort((a, b) => a.start_ns - b.start_ns);
    const sent = [...state.warmUps, ...state.uploads];
    assert.equal(requests.length, sent.length,
      `expected ${sent.length} API requests, the report has ${requests.length}: ` +
      JSON.stringify(requests.map((r) => `${r.pid} ${r.method} ${r.path} ${r.status}`)));
    return sent.map((upload, index) => ({ upload, request: requests[index], warmUp: index < state.warmUps.length }));
  }

  test(`${mode}: every upload is in the report`, (t) => {
    if (state.buildMs !== null) {
      t.diagnostic(`next build took ${state.buildMs} ms`);
    }
    if (state.cacheStore !== null) {
      const { waitedMs, stored } = state.cacheStore;
      t.diagnostic(stored ? `webpack's cache store after the warm-up ended ${waitedMs} ms after the last warm-up`
        : `no webpack cache store within ${waitedMs} ms after the warm-up`);
    }
    for (const { upload, request } of pairs()) {
      assert.equal(request.method, 'POST', describe(request));
      assert.equal(request.path, upload.route, describe(request));
      assert.equal(request.status, 200, describe(request));
      assert.equal(request.overlapping, false, describe(request));
    }
  });

  test(`${mode}: one server process serves every route`, (t) => {
    const pids = new Set(pairs().map(({ request }) => request.pid));
    assert.equal(pids.size, 1, `API requests came from pids ${[...pids].join(', ')}`);
    const [pid] = pids;
    const processes = state.report.json.session.processes;
    t.diagnostic(`processes: ${JSON.stringify(processes.map((p) => ({ pid: p.pid, exe: p.exe, requests: p.requests })))}`);
    assert.ok(state.server.serverPids.includes(pid),
      `pid ${pid} is not a process that record started: ${state.server.serverPids.join(', ')}`);
    const server = processes.find((p) => p.pid === pid);
    assert.ok(server, `pid ${pid} missing from session.processes`);
    assert.equal(server.complete, true, `trace of pid ${pid} not complete: ${JSON.stringify(server)}`);
  });

  test(`${mode}: byte counts match the client`, () => {
    for (const { upload, request } of pairs()) {
      assert.equal(request.request_bytes, upload.sent_bytes, `request_bytes of ${describe(request)}`);
      assert.equal(request.response_bytes, upload.received_bytes, `response_bytes of ${describe(request)}`);
    }
  });

  test(`${mode}: warm-up kept apart`, (t) => {
    const all = pairs();
    const warmUps = all.filter((pair) => pair.warmUp);
    const measured = all.filter((pair) => !pair.warmUp);
    const lastWarmUpEnd = Math.max(...warmUps.map(({ request }) => request.end_ns));
    const firstMeasuredStart = Math.min(...measured.map(({ request }) => request.start_ns));
    assert.ok(lastWarmUpEnd < firstMeasuredStart,
      `a warm-up request ended at ${lastWarmUpEnd} ns, after the first measured request started at ${firstMeasuredStart} ns`);
    for (const { request } of warmUps) {
      t.diagnostic(`warm-up ${request.path}: ${request.duration_ms} ms, peak heap growth ${request.peak_growth_bytes?.heap} B, ` +
        `findings ${findingKinds(request).join(',') || 'none'}`);
      assert.ok(request.request_bytes < WARM_UP_MAX_BYTES, describe(request));
      // Compiling or loading the route must never read as the route's buffering.
      for (const kind of ['buffered-response', 'buffered-upload']) {
        assert.ok(!findingKinds(request).includes(kind), `${kind} on a warm-up request: ${describe(request)}`);
      }
    }
  });

  // The first request to a route loads its modules (and compiles it under `next dev`). On
  // `next start` that allocated 109 MB for a 1.9 KB request to /api/processCSV, all under
  // Module._compile, Module._load and readFileSync of Next's runtime and the route's bundle.
  // That is not churn: no growing copies of a body. No warm-up request may get any finding.
  test(`${mode}: warm-up has no finding`, () => {
      for (const { request } of pairs().filter((pair) => pair.warmUp)) {
        assert.deepEqual(findingKinds(request), [], `finding on a warm-up request: ${describe(request)}`);
      }
    });

  function measured(entry) {
    return pairs().filter((pair) => !pair.warmUp && pair.upload.route === entry.route);
  }

  for (const entry of ROUTES) {
    const expected = [...entry.expected].sort();

    test(`${mode}: ${entry.route} verdict`, (t) => {
      for (const { upload, request } of measured(entry)) {
        const kinds = findingKinds(request);
        t.diagnostic(`${upload.file}: ${request.duration_ms} ms, response ${request.response_bytes} B, ` +
          `peak growth ${JSON.stringify(request.peak_growth_bytes)}, findings ${kinds.join(',') || 'none'}`);
        for (const kind of expected) {
          assert.ok(kinds.includes(kind), `${upload.file}: no ${kind} finding: ${describe(request)}`);
        }
        for (const kind of kinds) {
          assert.ok(expected.includes(kind), `${upload.file}: unexpected ${kind} finding: ${describe(request)}`);
        }
      }
    });
  }

  test(`${mode}: Next 4 MB warning`, () => {
    const output = state.server.output();
    const warned = new Set([...output.matchAll(NEXT_SIZE_WARNING)].map((match) => match[1]));
    for (const { upload } of pairs().filter((pair) => !pair.warmUp)) {
      // Next counts the bytes passed to res.write() and res.end() of pages router API routes.
      // App Router route handlers are not counted.
      const expected = upload.entry.router === 'pages' && upload.received_bytes >= NEXT_WARNING_BYTES;
      if (expected) {
        assert.ok(warned.has(upload.route), `no Next.js warning for ${upload.route} (${upload.received_bytes} B)\n${output}`);
      }
    }
    for (const route of warned) {
      const entry = ROUTES.find((candidate) => candidate.route === route);
      assert.ok(entry && entry.router === 'pages', `Next.js warned about ${route}`);
    }
    assert.ok(warned.has('/api/processCSV-stream'), 'the streamed route above 4 MB got no Next.js warning');
  });
}

module.exports = { defineSuite };
