// Sample node:http server for routeheap: four POST routes turn an uploaded CSV file into a JSON
// array of row objects (two buffer it, two stream it, one through the native csv2json command),
// and the routes of catalog.js show every memory pattern bad and fixed, each with a known
// verdict. Run it with `node server.js` (PORT picks the port, default any free one).
'use strict';

const { spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const { pipeline, Transform, Writable } = require('node:stream');
const csvParser = require('csv-parser');
const { CATALOG } = require('./catalog');

const HOST = '127.0.0.1';

// strict: a row whose cell count differs from the header is a 400, not a silently renamed column.
// maxRowBytes: an unclosed quote must not make one "row" swallow the whole upload.
const CSV_OPTIONS = { strict: true, maxRowBytes: 1024 * 1024 };

// The streamed response is pushed in chunks of about this size, close to the socket's
// high-water mark, so the response neither piles up in memory nor leaves in one write per row.
const STREAM_CHUNK_BYTES = 16 * 1024;

// The csv2json command behind /stream-native: CSV2JSON overrides the path of the default build.
const CSV2JSON = process.env.CSV2JSON || path.join(__dirname, '../../build/bin/csv2json');
// /stream-native keeps this much of csv2json's output before it commits to a 200 status, so an
// invalid CSV found early becomes a 400 response with csv2json's message instead of a cut
// connection. (csv2json exits 1 after writing the records before the error.)
const NATIVE_HOLD_BYTES = 64 * 1024;
// Bytes of csv2json's stderr kept for the error response.
const NATIVE_STDERR_BYTES = 4096;

// Milliseconds to wait for open connections after SIGINT/SIGTERM before they are cut.
const SHUTDOWN_GRACE_MS = 5000;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function sendJson(res, status, value, extraHeaders = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

// The request's path without its query string, which may carry tokens and must not reach logs.
function pathOf(req) {
  return req.url.split('?', 1)[0];
}

// Sends an error response, or cuts the connection when a response is already under way
// (its status line is gone, so the only honest signal left is an incomplete body).
function sendError(req, res, err) {
  const status = err.status || 500;
  const detail = status >= 500 ? err.stack || String(err) : err.message;
  console.error(`${req.method} ${pathOf(req)}: ${status} ${detail}`);
  if (res.headersSent || res.destroyed) {
    res.destroy(err);
    return;
  }
  // The client may still be sending the rest of a rejected upload: read and discard it so it
  // receives the error instead of a connection reset, and do not reuse the connection.
  const headers = req.complete ? {} : { Connection: 'close' };
  if (!req.complete) {
    req.resume();
  }
  sendJson(res, status, { error: err.message }, headers);
}

// csv-parser reports errors without a position: add the number of the record it was parsing,
// which csv-parser 3.2 keeps in state.lineNumber (the header is record 1).
function csvError(parser, err) {
  const record = parser.state && parser.state.lineNumber;
  const where = Number.isInteger(record) && record > 0 ? ` in record ${record} (the header is record 1)` : '';
  return new HttpError(400, `invalid CSV${where}: ${err.message}`);
}

function requirePost(req) {
  if (req.method !== 'POST') {
    throw new HttpError(405, `${req.method} is not allowed on ${pathOf(req)}: upload a CSV file with POST`);
  }
}

// POST /buffered reads the whole upload into one Buffer, parses all of it, then responds with one
// JSON.stringify of every row. Memory grows with the upload plus the rows plus the whole JSON
// text. Expected verdict: buffered-response.
function handleBuffered(req, res) {
  requirePost(req);
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('error', (err) => sendError(req, res, err));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const rows = [];
    const parser = csvParser(CSV_OPTIONS);
    let failed = false;
    parser.on('data', (row) => rows.push(row));
    parser.on('error', (err) => {
      if (!failed) {
        failed = true;
        sendError(req, res, csvError(parser, err));
      }
    });
    parser.on('end', () => {
      if (!failed) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(rows));
      }
    });
    parser.end(body);
  });
}

// POST /collect parses the upload as a stream, which is the fix most articles show. But it pushes
// every row into an array and responds with one JSON.stringify at the end, so the rows and the
// whole JSON text are still in memory at once. Expected verdict: buffered-response.
function handleCollect(req, res) {
  requirePost(req);
  const rows = [];
  const parser = csvParser(CSV_OPTIONS);
  let failed = false;
  const fail = (err) => {
    if (!failed) {
      failed = true;
      req.unpipe(parser);
      sendError(req, res, err);
    }
  };
  parser.on('data', (row) => rows.push(row));
  parser.on('error', (err) => fail(csvError(parser, err)));
  req.on('error', fail);
  parser.on('end', () => {
    if (!failed) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(rows));
    }
  });
  req.pipe(parser);
}

// Turns parsed row objects into the text of one JSON array: "[", the rows separated by ",",
// then "]". Rows are batched into chunks of about STREAM_CHUNK_BYTES.
class JsonArrayStringify extends Transform {
  constructor() {
    super({ writableObjectMode: true });
    this.pending = '[';
    this.rowCount = 0;
  }

  _transform(row, _encoding, callback) {
    this.pending += (this.rowCount === 0 ? '' : ',') + JSON.stringify(row);
    this.rowCount += 1;
    if (this.pending.length >= STREAM_CHUNK_BYTES) {
      this.push(this.pending);
      this.pending = '';
    }
    callback();
  }

  _flush(callback) {
    this.push(this.pending + ']');
    this.pending = '';
    callback();
  }
}

// Writes into the response and waits for 'drain' whenever res.write() returns false. Unlike
// passing res itself to pipeline(), a failed pipeline does not destroy the response, so a CSV
// error found before the first byte was sent still gets a 400 response.
function responseSink(res) {
  return new Writable({
    write(chunk, _encoding, callback) {
      if (res.write(chunk)) {
        callback();
      } else {
        res.once('drain', () => callback());
      }
    },
    final(callback) {
      res.end(callback);
    },
  });
}

// POST /stream is the fix: stream.pipeline() from the request through csv-parser and a JSON-array
// stringifier into the response. Each step waits while the next one is full, so memory stays
// bounded by a few chunks whatever the upload size. Expected verdict: no finding.
function handleStream(req, res) {
  requirePost(req);
  const parser = csvParser(CSV_OPTIONS);
  let parseError = null;
  parser.on('error', (err) => {
    parseError = parseError || csvError(parser, err);
  });

  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json');
  pipeline(
    // Iterating keeps the request open when the pipeline fails, so sendError can still drain it.
    req.iterator({ destroyOnReturn: false }),
    parser,
    new JsonArrayStringify(),
    responseSink(res),
    (err) => {
      if (err) {
        sendError(req, res, parseError || err);
      }
    },
  );
}

// Maps a failed csv2json run to an HttpError: exit 1 is invalid CSV (400), 2 an invalid option
// and 3 an I/O error, both server faults (500). csv2json's exit codes are in its --help.
function nativeError(code, signal, stderr) {
  const message = stderr.trim().replace(/^csv2json: error: /, '');
  if (code === 1) {
    return new HttpError(400, `invalid CSV: ${message}`);
  }
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  return new HttpError(500, `csv2json ${how}: ${message || 'no message'}`);
}

// POST /stream-native pipes the upload through the csv2json command (samples/stream-processor):
// request -> csv2json's stdin, csv2json's stdout -> response, each side paused while the other
// is full. The server holds only pipe-sized chunks whatever the upload size, and the conversion
// runs in native code in another process. Expected verdict: no finding.
function handleStreamNative(req, res) {
  requirePost(req);
  const child = spawn(CSV2JSON, ['-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let held = [];
  let heldBytes = 0;
  let committed = false;
  let failed = false;

  const fail = (err) => {
    if (failed) {
      return;
    }
    failed = true;
    req.unpipe(child.stdin);
    child.kill();
    sendError(req, res, err);
  };
  const commit = () => {
    committed = true;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    for (const chunk of held) {
      res.write(chunk);
    }
    held = [];
  };

  child.on('error', (err) => {
    fail(new HttpError(500, `cannot run csv2json at ${CSV2JSON}: ${err.message}. Build it with ` +
      '"cmake --build build --target csv2json", or set CSV2JSON to its path'));
  });
  // csv2json may exit (invalid CSV) while the upload is still arriving: its stdin then fails
  // with EPIPE, and the exit status reports the cause.
  child.stdin.on('error', () => {});
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    stderr = (stderr + text).slice(0, NATIVE_STDERR_BYTES);
  });

  child.stdout.on('data', (chunk) => {
    if (failed) {
      return;
    }
    if (!committed) {
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes >= NATIVE_HOLD_BYTES) {
        commit();
      }
      return;
    }
    if (!res.write(chunk)) {
      child.stdout.pause();
      res.once('drain', () => child.stdout.resume());
    }
  });

  child.on('close', (code, signal) => {
    if (failed) {
      return;
    }
    if (code !== 0) {
      fail(nativeError(code, signal, stderr));
      return;
    }
    if (!committed) {
      commit();
    }
    res.end();
  });

  req.on('error', fail);
  // A client that goes away ends the conversion: csv2json is stopped rather than left running.
  res.on('close', () => {
    if (!res.writableFinished) {
      req.unpipe(child.stdin);
      child.kill();
    }
  });
  req.pipe(child.stdin);
}

function handleHealth(req, res) {
  if (req.method !== 'GET') {
    throw new HttpError(405, `${req.method} is not allowed on /health: use GET`);
  }
  sendJson(res, 200, { status: 'ok', pid: process.pid, uptime_s: Math.round(process.uptime()) });
}

const ROUTES = new Map([
  ['/buffered', handleBuffered],
  ['/collect', handleCollect],
  ['/stream', handleStream],
  ['/stream-native', handleStreamNative],
  ['/health', handleHealth],
  ...CATALOG.map((entry) => [entry.path, entry.handler]),
]);

function handleRequest(req, res) {
  const path = new URL(req.url, `http://${HOST}`).pathname;
  const handler = ROUTES.get(path);
  try {
    if (!handler) {
      throw new HttpError(404, `no route for ${req.method} ${path}: use POST /buffered, /collect, /stream, ` +
        `/stream-native, GET /health or a catalog route (${CATALOG.map((entry) => entry.path).join(', ')})`);
    }
    handler(req, res);
  } catch (err) {
    sendError(req, res, err);
  }
}

function parsePort(text) {
  if (text === undefined || text === '') {
    return 0;
  }
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`server.js: invalid PORT "${text}": use an integer from 0 to 65535 (0 picks a free port)`);
    process.exit(2);
  }
  return port;
}

function main() {
  const port = parsePort(process.env.PORT);
  const server = http.createServer(handleRequest);

  server.on('error', (err) => {
    console.error(`server.js: cannot listen on ${HOST}:${port}: ${err.message}`);
    process.exit(1);
  });

  server.listen(port, HOST, () => {
    console.log(`listening on http://${HOST}:${server.address().port} (pid ${process.pid})`);
  });

  const shutdown = (signal) => {
    console.log(`${signal} received, closing the server`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
      process.exit(0);
    }, SHUTDOWN_GRACE_MS).unref();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main();
