// Uploads CSV files to the sample's routes on 127.0.0.1, one request at a time, and reports what
// each request sent and received. Usage: node drive.js --port N [--multipart] ROUTE FILE...
// Prints one JSON object per request; `upload()` is also exported for the integration tests.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { Readable } = require('node:stream');

const HOST = '127.0.0.1';
const DEFAULT_TIMEOUT_MS = 120_000;
// Bytes of an error response kept for the message.
const ERROR_BODY_PREVIEW_BYTES = 2048;
// The multipart boundary, which must not occur in an uploaded file.
const BOUNDARY = '----routeheap-nextjs-sample-boundary-7c1f3e';

// Returns the request body parts and headers: the file alone as text/csv, or the file as the
// part "file" of a multipart/form-data body.
function requestBody(file, multipart) {
  const size = fs.statSync(file).size;
  if (!multipart) {
    return { head: Buffer.alloc(0), tail: Buffer.alloc(0), size, contentType: 'text/csv' };
  }
  const head = Buffer.from(`--${BOUNDARY}\r\n` +
    `Content-Disposition: form-data; name="file"; filename="${path.basename(file)}"\r\n` +
    'Content-Type: text/csv\r\n\r\n');
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  return {
    head,
    tail,
    size: head.length + size + tail.length,
    contentType: `multipart/form-data; boundary=${BOUNDARY}`,
  };
}

async function* bodyChunks(file, body) {
  yield body.head;
  yield* fs.createReadStream(file);
  yield body.tail;
}

// POSTs `file` to `route` and resolves with { route, file, status, sent_bytes, received_bytes,
// ms, error_body }. Rejects on a network error, a cut response or a timeout.
function upload({ port, route, file, multipart = false, timeoutMs = DEFAULT_TIMEOUT_MS }) {
  const body = requestBody(file, multipart);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request({
      host: HOST,
      port,
      method: 'POST',
      path: route,
      agent: false,
      timeout: timeoutMs,
      headers: { 'Content-Type': body.contentType, 'Content-Length': body.size },
    });
    request.on('timeout', () => request.destroy(new Error(`POST ${route} timed out after ${timeoutMs} ms`)));
    request.on('error', reject);

    request.on('response', (response) => {
      let receivedBytes = 0;
      let preview = '';
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      response.on('data', (chunk) => {
        receivedBytes += chunk.length;
        if (!ok && preview.length < ERROR_BODY_PREVIEW_BYTES) {
          preview += chunk.toString('utf8', 0, ERROR_BODY_PREVIEW_BYTES - preview.length);
        }
      });
      response.on('error', reject);
      response.on('end', () => {
        if (!response.complete) {
          reject(new Error(`POST ${route}: response ended after ${receivedBytes} body bytes, before its end`));
          return;
        }
        resolve({
          route,
          file: path.basename(file),
          status: response.statusCode,
          sent_bytes: body.size,
          received_bytes: receivedBytes,
          ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
          error_body: preview,
        });
      });
    });

    Readable.from(bodyChunks(file, body)).pipe(request);
  });
}

function parseCommandLine(argv) {
  const usage = 'usage: node drive.js --port N [--multipart] ROUTE FILE...';
  const options = { port: null, multipart: false, route: null, files: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--port') {
      options.port = Number(argv[i + 1]);
      i += 1;
    } else if (arg === '--multipart') {
      options.multipart = true;
    } else if (options.route === null) {
      options.route = arg;
    } else {
      options.files.push(arg);
    }
  }
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new Error(`invalid or missing --port: give the server's port (1-65535). ${usage}`);
  }
  if (!options.route || !options.route.startsWith('/')) {
    throw new Error(`invalid or missing route '${options.route}': give a path such as /api/processCSV. ${usage}`);
  }
  if (options.files.length === 0) {
    throw new Error(`missing FILE: give one or more CSV files to upload. ${usage}`);
  }
  for (const file of options.files) {
    if (!fs.existsSync(file)) {
      throw new Error(`file not found: ${file}`);
    }
  }
  return options;
}

async function main() {
  let options;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    console.error(`drive.js: ${err.message}`);
    process.exit(2);
  }

  let failures = 0;
  for (const file of options.files) {
    try {
      const result = await upload({ port: options.port, route: options.route, file, multipart: options.multipart });
      console.log(JSON.stringify(result));
      if (result.status < 200 || result.status >= 300) {
        failures += 1;
      }
    } catch (err) {
      console.error(`drive.js: POST ${options.route} with ${file} to ${HOST}:${options.port} failed: ${err.message}`);
      failures += 1;
    }
  }
  process.exit(failures === 0 ? 0 : 1);
}

if (require.main === module) {
  main();
}

module.exports = { upload };
