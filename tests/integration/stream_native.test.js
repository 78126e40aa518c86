// Records the sample server while the real CSV files are uploaded to /buffered, /collect, /stream
// and /stream-native (the upload piped through the csv2json command), then checks that the
// native route has no finding and a peak growth that does not follow the upload size, and that it
// returns /stream's rows.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { after, before, test } = require('node:test');
const harness = require('./harness');

const ROUTES = ['/buffered', '/collect', '/stream', '/stream-native'];
// The server passes only pipe-sized chunks between the socket and csv2json, but each 64 KiB read
// is a new Buffer that is malloc'd and freed only when V8 collects it. This route allocates few
// JS objects, so collections are rare and the heap growth settles at a plateau that does not grow
// with the upload. Measured with Node 20: about 30 MB on uploads of 24 MB and 95 MB, close to
// /stream's 31 MB on the 95 MB upload.
const NATIVE_GROWTH_MAX_BYTES = 48 * 1024 * 1024;
// asn-ipv4.csv's rows written this many times make the large upload (about 95 MB).
const LARGE_REPEAT = 4;

// csv2json is built next to the routeheap binary (the same CMake output folder).
const csv2json = path.join(path.dirname(harness.config().routeheap), 'csv2json');
process.env.CSV2JSON = csv2json;

let server;
let files;
let largeFile;
let uploads;
let result;

// Writes asn-ipv4.csv's header and LARGE_REPEAT copies of its rows to `output`.
function writeLargeCsv(source, output) {
  const text = fs.readFileSync(source, 'latin1');
  const headerEnd = text.indexOf('\n') + 1;
  const fd = fs.openSync(output, 'w');
  try {
    fs.writeSync(fd, text.slice(0, headerEnd), null, 'latin1');
    for (let i = 0; i < LARGE_REPEAT; i += 1) {
      fs.writeSync(fd, text.slice(headerEnd), null, 'latin1');
    }
  } finally {
    fs.closeSync(fd);
  }
}

before(async () => {
  assert.ok(fs.existsSync(csv2json), `missing ${csv2json}: build the csv2json target`);
  const data = harness.dataFiles();
  files = [data.asn, data.oui];
  server = await harness.startRecordedServer('stream-native');
  largeFile = path.join(server.workDir, 'asn-large.csv');
  writeLargeCsv(data.asn, largeFile);
  uploads = await harness.drive(server.port, files, { routes: ROUTES });
  uploads.push(...await harness.drive(server.port, [largeFile], { routes: ['/stream-native'] }));
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

test('native route growth does not follow the upload', (t) => {
  const pairs = uploadsWithRequests();
  for (const { upload, request } of pairs) {
    t.diagnostic(`${upload.file} ${upload.route}: peak heap growth ${request.peak_growth_bytes.heap} B, ` +
      `request ${request.request_bytes} B, response ${request.response_bytes} B`);
  }
  for (const { upload, request } of pairs) {
    if (upload.route === '/stream-native') {
      assert.ok(request.peak_growth_bytes.heap < NATIVE_GROWTH_MAX_BYTES,
        `peak heap growth ${request.peak_growth_bytes.heap} B is over ${NATIVE_GROWTH_MAX_BYTES} B for ` +
        describe(upload, request));
    }
  }

  const large = pairs.find((pair) => pair.upload.file === path.basename(largeFile));
  assert.ok(large.request.peak_growth_bytes.heap < large.request.request_bytes / 2,
    `the ${large.request.request_bytes}-byte upload grew the heap by ${large.request.peak_growth_bytes.heap} B`);

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
