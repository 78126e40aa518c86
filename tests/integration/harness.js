// Shared helpers for the integration tests: start the sample server under `routeheap record` in a
// temporary folder, upload files with the sample's driver, stop the server and read the JSON report.
// CTest passes the binaries through ROUTEHEAP_BIN, ROUTEHEAP_AGENT and ROUTEHEAP_REPO.
'use strict';

const assert = require('node:assert/strict');
const { execFile, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

// Time for the server to print its port, and for `record` to exit after SIGINT.
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
// Reports of large sessions are a few MB of JSON at most; this only bounds a runaway output.
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through ctest (scripts/test.sh), which sets it`);
  }
  return value;
}

function config() {
  const repo = requireEnv('ROUTEHEAP_REPO');
  return {
    routeheap: requireEnv('ROUTEHEAP_BIN'),
    agent: requireEnv('ROUTEHEAP_AGENT'),
    repo,
    server: path.join(repo, 'samples/node-routes/server.js'),
    driver: path.join(repo, 'samples/node-routes/drive.js'),
  };
}

// The real CSV files: the ASN list from npm and Debian's IEEE OUI registry, both prepared or
// checked by scripts/setup.sh.
function dataFiles() {
  const files = {
    asn: path.join(config().repo, 'samples/node-routes/data/asn-ipv4.csv'),
    oui: '/usr/share/ieee-data/oui.csv',
  };
  for (const file of Object.values(files)) {
    if (!fs.existsSync(file)) {
      throw new Error(`missing data file ${file}: run scripts/setup.sh first`);
    }
  }
  const modules = path.join(config().repo, 'samples/node-routes/node_modules/csv-parser');
  if (!fs.existsSync(modules)) {
    throw new Error(`missing ${modules}: run scripts/setup.sh first (it runs npm ci)`);
  }
  return files;
}

function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `routeheap-${prefix}-`));
}

function removeTempDir(dir) {
  if (process.env.ROUTEHEAP_TEST_KEEP) {
    console.log(`kept ${dir} (ROUTEHEAP_TEST_KEEP is set)`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

function waitForExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

// A sample server running under `routeheap record`. `output()` returns everything record and the
// server printed so far, for assertion messages.
class RecordedServer {
  constructor(child, workDir, sessionDir) {
    this.child = child;
    this.workDir = workDir;
    this.sessionDir = sessionDir;
    this.stdout = '';
    this.stderr = '';
    this.port = null;
    this.serverPid = null;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text) => { this.stdout += text; });
    child.stderr.on('data', (text) => { this.stderr += text; });
  }

  output() {
    return `--- routeheap record stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  waitForPort() {
    const pattern = /listening on http:\/\/127\.0\.0\.1:(\d+) \(pid (\d+)\)/;
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.stdout);
        if (match) {
          cleanup();
          this.port = Number(match[1]);
          this.serverPid = Number(match[2]);
          resolve();
        }
      };
      const onExit = (code, signal) => {
        cleanup();
        reject(new Error(`routeheap record exited (code ${code}, signal ${signal}) before the server printed its port\n${this.output()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`the server printed no port within ${START_TIMEOUT_MS} ms\n${this.output()}`));
      }, START_TIMEOUT_MS);
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout.off('data', check);
        this.child.off('exit', onExit);
      };
      this.child.stdout.on('data', check);
      this.child.once('exit', onExit);
      check();
    });
  }

  // Sends SIGINT to `record`, which forwards it to the server, and resolves with record's exit.
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGINT');
    }
    return waitForExit(this.child, STOP_TIMEOUT_MS);
  }

  // Last resort for after() hooks: ends the processes this test started, by their pids.
  async forceStop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return;
    }
    try {
      await this.stop();
    } catch {
      if (this.serverPid) {
        try { process.kill(this.serverPid, 'SIGKILL'); } catch { /* already gone */ }
      }
      this.child.kill('SIGKILL');
      await waitForExit(this.child, STOP_TIMEOUT_MS).catch(() => {});
    }
  }
}

// Starts `routeheap record --output <tmp>/session -- node server.js` with PORT=0 and waits for the
// port. The working directory is the temporary folder, so anything V8 drops there is not left in
// the repository.
async function startRecordedServer(name) {
  const { routeheap, agent, server } = config();
  const workDir = makeTempDir(name);
  const sessionDir = path.join(workDir, 'session');
  const child = spawn(routeheap, ['record', '--output', sessionDir, '--', process.execPath, server], {
    cwd: workDir,
    env: { ...process.env, PORT: '0', ROUTEHEAP_AGENT: agent },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const recorded = new RecordedServer(child, workDir, sessionDir);
  await recorded.waitForPort();
  return recorded;
}

function run(file, args, options = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: MAX_OUTPUT_BYTES, ...options }, (error, stdout, stderr) => {
      if (!error) {
        resolve({ code: 0, signal: null, stdout, stderr });
        return;
      }
      // error.code is the exit status, or a string such as 'ENOENT' when the program did not start.
      const code = typeof error.code === 'number' ? error.code : null;
      resolve({ code, signal: error.signal, stdout, stderr: stderr || error.message });
    });
  });
}

// Runs the sample's driver with --json and returns one object per request:
// { route, file, status, sent_bytes, received_bytes, ms }.
async function drive(port, files, { routes = ['/buffered', '/collect', '/stream'], repeat = 1 } = {}) {
  const { driver } = config();
  const args = [driver, '--json', '--port', String(port), '--routes', routes.join(','),
    '--repeat', String(repeat), ...files];
  const result = await run(process.execPath, args);
  assert.equal(result.code, 0, `drive.js failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));
}

// Runs `routeheap report DIR --format json` and returns the exit code, stderr and parsed report.
async function report(sessionDir) {
  const result = await run(config().routeheap, ['report', sessionDir, '--format', 'json']);
  let json = null;
  if (result.code === 0) {
    try {
      json = JSON.parse(result.stdout);
    } catch (err) {
      throw new Error(`routeheap report printed invalid JSON (${err.message}):\n${result.stdout.slice(0, 2000)}`);
    }
  }
  return { ...result, json };
}

// Starts a POST of `file` that announces the whole file in Content-Length but sends only its first
// `bytes` bytes, then stalls. Resolves once those bytes are handed to the socket; the returned
// request ends in an error when the server dies, which `settled` absorbs.
function startStalledUpload(port, route, file, bytes) {
  const size = fs.statSync(file).size;
  assert.ok(bytes < size, `stalled upload of ${bytes} bytes needs a larger file than ${file}`);
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: route,
    agent: false,
    headers: { 'Content-Type': 'text/csv', 'Content-Length': size },
  });
  const settled = new Promise((resolve) => {
    request.on('error', (err) => resolve({ error: err }));
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode }));
      response.on('error', (err) => resolve({ error: err }));
    });
  });
  const written = new Promise((resolve, reject) => {
    const fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(bytes);
    fs.readSync(fd, head, 0, bytes, 0);
    fs.closeSync(fd);
    request.write(head, (err) => (err ? reject(err) : resolve()));
  });
  return { request, written, settled };
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = {
  config,
  dataFiles,
  drive,
  makeTempDir,
  removeTempDir,
  report,
  run,
  sleep,
  startRecordedServer,
  startStalledUpload,
};
