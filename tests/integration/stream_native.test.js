// Records the sample server while the real CSV files are uploaded to /buffered, /collect, /stream
// and /stream-native (the upload piped through the csv2json command), then checks that the
// native route has no finding and a peak growth of a few MiB, and that it answers like csv-parser.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { after, before, test } = require('node:test');
const harness = require('./harness');

const ROUTES = ['/buffered', '/collect', '/stream', '/stream-native'];
// The server only passes pipe-sized chunks between the socket and csv2json, so its peak resident
// growth stays within a few MiB whatever the upload size. Its heap growth is larger (about 32 MB
// on asn-ipv4.csv with Node 20): each 64 KiB pipe read is a new Buffer, malloc'd and freed only
// when V8 collects it, and this route allocates too few JS objects to start a collection sooner.
const NATIVE_RSS_GROWTH_MAX_BYTES = 8 * 1024 * 1024;

// csv2json is built next to the routeheap binary (the same CMake output folder).
const csv2json = path.join(path.dirname(harness.config().routeheap), 'csv2json');
process.env.CSV2JSON = csv2json;

let server;
let files;
let uploads;
let result;

before(async () => {
  assert.ok(fs.existsSync(csv2json), `missing ${csv2json}: build the csv2json target`);
  const data = harness.dataFiles();
  files = [data.asn, data.oui];
  server = await harness.startRecordedServer('stream-native');
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

function uploadsWithRequests() {
  const requests = result.json.requests
    .filter((request) => request.pid === server.serverPid)
    .sort((a, b) => a.start_ns - b.start_ns);
  assert.equal(requests.length, uploads.length,
    `expected ${uploads.length} requests from pid ${server.serverPid}, the report has ${requests.length}`);
  return uploads.map((upload, index) => ({ upload, request: requests[index] }));
}

function describe(upload, request) {
  return `${upload.route} with ${upload.file}: ${JSON.stringify(request)}`;
}

test('every upload succeeds', () => {
  for (const { upload, request } of uploadsWithRequests()) {
    assert.equal(request.path, upload.route, describe(upload, request));
    assert.equal(request.status, 200, describe(upload, request));
    assert.equal(request.response_bytes, upload.received_bytes, describe(upload, request));
  }
});

test('native route has no finding', () => {
  for (const { upload, request } of uploadsWithRequests()) {
    if (upload.route === '/stream-native') {
      assert.deepEqual(request.findings.map((finding) => finding.kind), [],
        `unexpected finding for ${describe(upload, request)}`);
    }
  }
  const entry = result.json.routes.find((r) => r.method === 'POST' && r.route === '/stream-native');
  assert.ok(entry, `no POST /stream-native in routes[]: ${JSON.stringify(result.json.routes)}`);
  assert.deepEqual(entry.findings.map((finding) => finding.kind), []);
});

test('native route RSS growth stays small', (t) => {
  const pairs = uploadsWithRequests();
  for (const { upload, request } of pairs) {
    t.diagnostic(`${upload.file} ${upload.route}: peak growth heap ${request.peak_growth_bytes.heap} B, ` +
      `RSS ${request.peak_growth_bytes.rss} B, response ${request.response_bytes} B`);
  }
  for (const { upload, request } of pairs) {
    if (upload.route !== '/stream-native') {
      continue;
    }
    assert.ok(request.peak_growth_bytes.rss < NATIVE_RSS_GROWTH_MAX_BYTES,
      `peak RSS growth ${request.peak_growth_bytes.rss} B is over ${NATIVE_RSS_GROWTH_MAX_BYTES} B for ` +
      describe(upload, request));
  }
  // On the 24 MB file the heap growth, Buffers awaiting collection included, is still far below
  // the buffered route's (on the 3 MB file the two are of the same order).
  const native = pairs.find((pair) => pair.upload.file === 'asn-ipv4.csv' && pair.upload.route === '/stream-native');
  const buffered = pairs.find((pair) => pair.upload.file === 'asn-ipv4.csv' && pair.upload.route === '/buffered');
  assert.ok(native.request.peak_growth_bytes.heap < buffered.request.peak_growth_bytes.heap / 4,
    `asn-ipv4.csv: /stream-native heap growth ${native.request.peak_growth_bytes.heap} B is not under a ` +
    `quarter of /buffered's ${buffered.request.peak_growth_bytes.heap} B`);
});

// A plain server (not recorded) for the response bodies: the rows must equal /stream's, and
// invalid CSV must come back as a 400 with csv2json's message.
async function startPlainServer() {
  const child = spawn(process.execPath, [harness.config().server], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.setEncoding('utf8');
  const port = await new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (text) => {
      output += text;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`server.js exited with code ${code}: ${output}`)));
  });
  return { child, port };
}

function post(port, route, body) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: route, agent: false },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      });
    request.on('error', reject);
    request.end(body);
  });
}

test('native route answers like the stream route', async () => {
  const plain = await startPlainServer();
  try {
    const oui = fs.readFileSync(files[1]);
    const native = await post(plain.port, '/stream-native', oui);
    const streamed = await post(plain.port, '/stream', oui);
    assert.equal(native.status, 200);
    assert.equal(JSON.stringify(JSON.parse(native.body)), streamed.body);

    const invalid = await post(plain.port, '/stream-native', 'a,b\n1,2\n3,4"\n');
    assert.equal(invalid.status, 400);
    assert.match(JSON.parse(invalid.body).error, /^invalid CSV: line 3, record 3: stray quote in unquoted field 2/);

    const short = await post(plain.port, '/stream-native', 'a,b\n1\n');
    assert.equal(short.status, 400);
    assert.match(JSON.parse(short.body).error, /the record has 1 field but the header has 2/);
  } finally {
    plain.child.kill();
  }
});
