// Uploads CSV files to the sample server's routes on 127.0.0.1, one request at a time, and prints
// one line per request. Files are streamed from disk and responses are counted, never stored, so
// the driver's own memory stays small. Usage: node drive.js --port P [options] FILE...
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { pipeline } = require('node:stream');

const HOST = '127.0.0.1';
const DEFAULT_ROUTES = ['/buffered', '/collect', '/stream', '/stream-native'];
// Bytes of a non-2xx response body kept for the error line.
const ERROR_BODY_PREVIEW_BYTES = 500;

const USAGE = `usage: node drive.js --port P [--routes /buffered,/collect,/stream] [--repeat N]
                     [--timeout-ms MS] [--json] FILE...

Uploads each FILE with POST to each route on ${HOST}:P, one request at a time, in the order
repeat > file > route, and prints one line per request: route, file, HTTP status, request body
bytes sent, response body bytes received and wall time in milliseconds.

  --port P          port of the server (required, 1-65535)
  --routes LIST     comma-separated routes (default ${DEFAULT_ROUTES.join(',')})
  --repeat N        upload every file to every route N times (default 1)
  --timeout-ms MS   fail a request that takes longer than MS milliseconds (default 600000)
  --json            print one JSON object per request instead of a text line
  --help            print this help

Exit status: 0 when every response is 2xx, 1 when a request fails or a response is not 2xx,
2 on invalid arguments.`;

function usageError(message) {
  console.error(`drive.js: ${message}`);
  console.error('run "node drive.js --help" for usage');
  process.exit(2);
}

function parseInteger(name, text, min, max) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    usageError(`invalid ${name} "${text}": use an integer from ${min} to ${max}`);
  }
  return value;
}

function parseRoutes(text) {
  const routes = text.split(',').map((route) => route.trim()).filter((route) => route !== '');
  for (const route of routes) {
    if (!route.startsWith('/')) {
      usageError(`invalid route "${route}" in --routes: each route starts with "/", e.g. /buffered`);
    }
  }
  if (routes.length === 0) {
    usageError('--routes is empty: give at least one route, e.g. --routes /stream');
  }
  return routes;
}

function checkFile(file) {
  let stats;
  try {
    stats = fs.statSync(file);
  } catch (err) {
    usageError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  if (!stats.isFile()) {
    usageError(`${file} is not a regular file: give the path of a CSV file`);
  }
  return { path: file, name: path.basename(file), size: stats.size };
}

function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        routes: { type: 'string', default: DEFAULT_ROUTES.join(',') },
        repeat: { type: 'string', default: '1' },
        'timeout-ms': { type: 'string', default: '600000' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    usageError(err.message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.port === undefined) {
    usageError('missing --port: give the port the server printed in "listening on http://127.0.0.1:PORT"');
  }
  if (positionals.length === 0) {
    usageError('no FILE given: name at least one CSV file to upload');
  }
  return {
    port: parseInteger('--port', values.port, 1, 65535),
    routes: parseRoutes(values.routes),
    repeat: parseInteger('--repeat', values.repeat, 1, 1000000),
    timeoutMs: parseInteger('--timeout-ms', values['timeout-ms'], 1, 24 * 3600 * 1000),
    json: values.json,
    files: positionals.map(checkFile),
  };
}

// Streams one file to one route and resolves with the counts; rejects on a network error or timeout.
function upload(port, route, file, timeoutMs) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request({
      host: HOST,
      port,
      method: 'POST',
      path: route,
      agent: false,
      timeout: timeoutMs,
      headers: { 'Content-Type': 'text/csv', 'Content-Length': file.size },
    });

    request.on('timeout', () => {
      request.destroy(new Error(`timed out after ${timeoutMs} ms`));
    });

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
          reject(new Error(`response ended after ${receivedBytes} body bytes, before its end`));
          return;
        }
        resolve({
          status: response.statusCode,
          sentBytes: file.size,
          receivedBytes,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          errorBody: ok ? '' : preview,
        });
      });
    });

    pipeline(fs.createReadStream(file.path), request, (err) => {
      if (err) {
        reject(err);
      }
    });
  });
}

function formatResult(route, file, result, asJson) {
  if (asJson) {
    return JSON.stringify({
      route,
      file: file.name,
      status: result.status,
      sent_bytes: result.sentBytes,
      received_bytes: result.receivedBytes,
      ms: Math.round(result.ms),
    });
  }
  let line = `POST ${route.padEnd(10)} ${file.name.padEnd(14)} ${result.status}  ` +
    `sent ${result.sentBytes} B  received ${result.receivedBytes} B  ${Math.round(result.ms)} ms`;
  if (result.errorBody) {
    line += `  ${result.errorBody.trim()}`;
  }
  return line;
}

async function main() {
  const options = parseCommandLine(process.argv.slice(2));
  let failures = 0;

  for (let round = 0; round < options.repeat; round += 1) {
    for (const file of options.files) {
      for (const route of options.routes) {
        try {
          const result = await upload(options.port, route, file, options.timeoutMs);
          console.log(formatResult(route, file, result, options.json));
          if (result.status < 200 || result.status >= 300) {
            failures += 1;
          }
        } catch (err) {
          console.error(`drive.js: POST ${route} with ${file.path} to ${HOST}:${options.port} failed: ${err.message}`);
          failures += 1;
        }
      }
    }
  }

  if (failures > 0) {
    console.error(`drive.js: ${failures} request(s) failed`);
    process.exitCode = 1;
  }
}

main();
