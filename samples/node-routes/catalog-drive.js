// Drives the catalog routes of the sample server on 127.0.0.1: each route a fixed number of
// times, one request at a time or from N concurrent clients, with a slow-reading client for the
// backpressure routes. Used by the catalog tests and by hand:
// node catalog-drive.js --port P [--concurrency N] [--only /route,...] [--csv FILE] [--express]
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const HOST = '127.0.0.1';
// The slow client waits this long before it reads anything, then reads at most
// SLOW_READ_BYTES_PER_PAUSE bytes between pauses of SLOW_READ_PAUSE_MS: about 4 MiB/s, slower
// than the server makes data even with 4 clients sharing its CPU.
const SLOW_READ_START_MS = 300;
const SLOW_READ_BYTES_PER_PAUSE = 256 * 1024;
const SLOW_READ_PAUSE_MS = 60;
const ERROR_PREVIEW_BYTES = 500;
const DEFAULT_TIMEOUT_MS = 120_000;

// Upload sizes, cut from asn-ipv4.csv at a line end. The churn route copies the body once per
// 64 KiB read, so its cost grows with the square of its size: 6 MiB allocates about 300 MiB.
const UPLOAD_BYTES = 6 * 1024 * 1024;
const CHURN_UPLOAD_BYTES = 6 * 1024 * 1024;
const RELEASED_UPLOAD_BYTES = 4 * 1024 * 1024;

// Every step of the catalog, in order: the leak routes run early so that the allocation-heavy
// routes after them give the garbage collector reasons to run. `count` is per route;
// `upload` names the body (see uploadFiles), `slow` reads the response slowly.
// The verdicts are those of catalog.js, except /collect and /stream from server.js.
const CATALOG_PLAN = [
  { path: '/leak-cache', count: 16, verdict: 'per-request-leak' },
  { path: '/cache-bounded', count: 16, verdict: null },
  { path: '/leak-listener', count: 16, verdict: 'per-request-leak' },
  { path: '/listener-once', count: 16, verdict: null },
  { path: '/upload-released-at-gc', count: 12, upload: 'released', verdict: 'buffered-upload' },
  { path: '/rows-buffered?rows=40000', count: 3, verdict: 'buffered-response' },
  { path: '/rows-stream?rows=40000', count: 2, verdict: null },
  { path: '/collect', count: 3, upload: 'csv', verdict: 'buffered-response' },
  { path: '/stream', count: 2, upload: 'csv', verdict: null },
  { path: '/upload-buffered', count: 2, upload: 'csv', verdict: 'buffered-upload' },
  { path: '/upload-stream', count: 2, upload: 'csv', verdict: null },
  { path: '/write-loop?mib=16', count: 1, slow: true, verdict: 'ignored-backpressure' },
  { path: '/write-drain?mib=16', count: 1, slow: true, verdict: null },
  { path: '/concat-churn', count: 2, upload: 'churn', verdict: 'allocation-churn' },
  { path: '/concat-stream', count: 2, upload: 'churn', verdict: null },
  { path: '/stream-large?mib=24', count: 2, verdict: null },
  { path: '/stream-hwm?mib=24', count: 4, verdict: null },
];

// express-server.js takes its upload routes as multipart/form-data (multer); the rest is the same.
const MULTIPART_PATHS = new Set(['/upload-buffered', '/upload-stream']);
const EXPRESS_PLAN = CATALOG_PLAN.map((step) => (MULTIPART_PATHS.has(step.path) ? { ...step, multipart: true } : step));
const MULTIPART_BOUNDARY = 'routeheap-catalog-boundary';

// The string-limit route: one request builds ~512 MiB of JSON text before it fails, so it has its
// own step list that a test can run separately.
const STRING_LIMIT_PLAN = [
  { path: '/rows-too-large?rows=600', count: 1, verdict: 'buffered-response', status: 500 },
];

// Writes the first `bytes` of `source` (cut after a line end) to `output`.
function writeCsvSlice(source, output, bytes) {
  const fd = fs.openSync(source, 'r');
  const buffer = Buffer.alloc(bytes);
  const read = fs.readSync(fd, buffer, 0, bytes, 0);
  fs.closeSync(fd);
  const end = buffer.lastIndexOf(10, read - 1) + 1;
  if (end <= 0) {
    throw new Error(`${source} has no line end in its first ${bytes} bytes: give a CSV file`);
  }
  fs.writeFileSync(output, buffer.subarray(0, end));
  return output;
}

// The upload bodies the plan names, written into `folder` from the CSV file `source`.
function uploadFiles(source, folder) {
  return {
    csv: writeCsvSlice(source, path.join(folder, 'catalog-upload.csv'), UPLOAD_BYTES),
    churn: writeCsvSlice(source, path.join(folder, 'catalog-churn.csv'), CHURN_UPLOAD_BYTES),
    released: writeCsvSlice(source, path.join(folder, 'catalog-released.csv'), RELEASED_UPLOAD_BYTES),
  };
}

// Reads a response at most about (SLOW_READ_BYTES_PER_PAUSE / SLOW_READ_PAUSE_MS) after an initial
// pause, like a client on a slow link.
function readSlowly(response, onData) {
  let sincePause = 0;
  response.pause();
  setTimeout(() => response.resume(), SLOW_READ_START_MS);
  response.on('data', (chunk) => {
    onData(chunk);
    sincePause += chunk.length;
    if (sincePause >= SLOW_READ_BYTES_PER_PAUSE) {
      sincePause = 0;
      response.pause();
      setTimeout(() => response.resume(), SLOW_READ_PAUSE_MS);
    }
  });
}

// The multipart/form-data framing around a file sent as form field "file".
function multipartParts(file) {
  const head = Buffer.from(`--${MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; ` +
    `filename="${path.basename(file)}"\r\nContent-Type: text/csv\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${MULTIPART_BOUNDARY}--\r\n`);
  return { head, tail };
}

// Streams `file` into `request`, framed as multipart/form-data when `parts` is given.
function sendBody(request, file, parts, reject) {
  if (parts) {
    request.write(parts.head);
  }
  const source = fs.createReadStream(file);
  source.on('error', (err) => request.destroy(err));
  source.pipe(request, { end: false });
  source.on('end', () => request.end(parts ? parts.tail : undefined));
  request.on('error', reject);
}

// Sends one request and resolves with { path, status, sent_bytes, received_bytes, ms, error_body }.
// `file` is streamed as the body with POST (as multipart/form-data when step.multipart is set);
// without it the request is a GET.
function send(port, step, file, timeoutMs = DEFAULT_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const parts = file && step.multipart ? multipartParts(file) : null;
    const fileSize = file ? fs.statSync(file).size : 0;
    const size = parts ? parts.head.length + fileSize + parts.tail.length : fileSize;
    const contentType = parts ? `multipart/form-data; boundary=${MULTIPART_BOUNDARY}` : 'text/csv';
    const request = http.request({
      host: HOST,
      port,
      method: file ? 'POST' : 'GET',
      path: step.path,
      agent: false,
      timeout: timeoutMs,
      headers: file ? { 'Content-Type': contentType, 'Content-Length': size } : {},
    });
    request.on('timeout', () => request.destroy(new Error(`${step.path} timed out after ${timeoutMs} ms`)));
    request.on('error', reject);
    request.on('response', (response) => {
      let received = 0;
      let preview = '';
      const onData = (chunk) => {
        received += chunk.length;
        if (response.statusCode >= 300 && preview.length < ERROR_PREVIEW_BYTES) {
          preview += chunk.toString('utf8', 0, ERROR_PREVIEW_BYTES - preview.length);
        }
      };
      if (step.slow) {
        readSlowly(response, onData);
      } else {
        response.on('data', onData);
      }
      response.on('error', reject);
      response.on('end', () => resolve({
        path: step.path,
        status: response.statusCode,
        sent_bytes: size,
        received_bytes: received,
        ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
        error_body: preview,
      }));
    });
    if (file) {
      sendBody(request, file, parts, reject);
    } else {
      request.end();
    }
  });
}

// Runs every step: `count` requests per step (at least `concurrency`), from `concurrency` clients
// that each send their next request when the previous one finished. Steps run one after another.
async function runPlan(port, plan, { concurrency = 1, files = {}, onResult = () => {} } = {}) {
  const results = [];
  for (const step of plan) {
    const file = step.upload ? files[step.upload] : undefined;
    if (step.upload && !file) {
      throw new Error(`step ${step.path} needs the upload "${step.upload}": pass it in files`);
    }
    let remaining = Math.max(step.count, concurrency);
    const client = async () => {
      while (remaining > 0) {
        remaining -= 1;
        const result = await send(port, step, file);
        results.push(result);
        onResult(result);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, client));
  }
  return results;
}

function usageError(message) {
  console.error(`catalog-drive.js: ${message}`);
  console.error('usage: node catalog-drive.js --port P [--concurrency N] [--only /route,...] [--csv FILE] ' +
    '[--express] [--string-limit]');
  process.exit(2);
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        concurrency: { type: 'string', default: '1' },
        only: { type: 'string' },
        csv: { type: 'string', default: path.join(__dirname, 'data/asn-ipv4.csv') },
        'string-limit': { type: 'boolean', default: false },
        express: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    usageError(err.message);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    usageError(`invalid --port "${values.port}": use the port the server printed, 1 to 65535`);
  }
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    usageError(`invalid --concurrency "${values.concurrency}": use an integer from 1 to 64`);
  }
  let plan = values.express ? EXPRESS_PLAN : CATALOG_PLAN;
  if (values['string-limit']) {
    plan = STRING_LIMIT_PLAN;
  }
  if (values.only) {
    const wanted = values.only.split(',');
    plan = plan.filter((step) => wanted.includes(step.path.split('?', 1)[0]));
    if (plan.length === 0) {
      usageError(`--only ${values.only} names no catalog route`);
    }
  }
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'catalog-drive-'));
  try {
    const files = uploadFiles(values.csv, folder);
    await runPlan(port, plan, {
      concurrency,
      files,
      onResult: (result) => console.log(JSON.stringify(result)),
    });
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

module.exports = { CATALOG_PLAN, EXPRESS_PLAN, STRING_LIMIT_PLAN, runPlan, send, uploadFiles };

if (require.main === module) {
  main().catch((err) => {
    console.error(`catalog-drive.js: ${err.message}`);
    process.exit(1);
  });
}
