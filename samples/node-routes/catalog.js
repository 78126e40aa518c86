// The catalog of memory patterns for node:http routes: each anti-pattern as a bad route and its
// fixed twin, plus routes that must not be flagged. Each handler's comment states what it does and
// the verdict routeheap must give it. server.js mounts these handlers; express-server.js mounts
// Express versions of the first four patterns and these handlers for the rest.
'use strict';

const { EventEmitter } = require('node:events');
const { pipeline, Readable, Transform, Writable } = require('node:stream');
const csvParser = require('csv-parser');

// Upper bounds of the query parameters, so a typo cannot exhaust the server's memory.
const MAX_ROWS = 2_000_000;
const MAX_MIB = 1024;
const MAX_DELAY_MS = 60_000;

// Chunks the generated responses are written in: about the socket's high-water mark.
const CHUNK_BYTES = 64 * 1024;
// Contents of each leaked or cached entry: a Buffer (native memory) plus some rows (V8 heap).
const ENTRY_BUFFER_BYTES = 1024 * 1024;
const ENTRY_ROWS = 2000;
// Entries the bounded cache keeps before it evicts the least recently used one.
const BOUNDED_CACHE_ENTRIES = 8;
// The large-stream route's read-ahead: far above the 16 KiB default, but bounded.
const LARGE_HIGH_WATER_MARK = 4 * 1024 * 1024;
// V8's longest string on 64-bit builds (Node 20, V8 11.3): 2^29 - 24 characters.
const V8_MAX_STRING_LENGTH = 2 ** 29 - 24;
// The field of the one row the string-limit route repeats.
const LARGE_FIELD_CHARS = 1024 * 1024;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// An integer query parameter within [min, max], or the default when it is absent.
function queryInteger(req, name, fallback, min, max) {
  const text = new URL(req.url, 'http://127.0.0.1').searchParams.get(name);
  if (text === null || text === '') {
    return fallback;
  }
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, `invalid ${name}=${text}: use an integer from ${min} to ${max}`);
  }
  return value;
}

function requireMethod(req, method) {
  if (req.method !== method) {
    throw new HttpError(405, `${req.method} is not allowed on ${req.url.split('?', 1)[0]}: use ${method}`);
  }
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// One generated row: about 150 bytes of JSON, different for every index.
function makeRow(index) {
  return {
    id: index,
    name: `customer-${index}`,
    email: `customer-${index}@example.com`,
    city: ['Lisbon', 'Osaka', 'Quito', 'Tromso', 'Lagos'][index % 5],
    balance: (index * 7919) % 100000 / 100,
    created: new Date(1_700_000_000_000 + index * 1000).toISOString(),
  };
}

function* generateRows(count) {
  for (let index = 0; index < count; index += 1) {
    yield makeRow(index);
  }
}

// Text chunks of about CHUNK_BYTES, each different, totalling about `bytes`.
// Buffers of CHUNK_BYTES, each filled with its own line, totalling `bytes`: cheap to make, so a
// producer of them outruns any slow client.
function* generateBufferChunks(bytes) {
  for (let produced = 0, index = 0; produced < bytes; produced += CHUNK_BYTES, index += 1) {
    yield Buffer.alloc(CHUNK_BYTES, `chunk ${index}\n`);
  }
}

function* generateTextChunks(bytes) {
  let produced = 0;
  let index = 0;
  while (produced < bytes) {
    let chunk = '';
    while (chunk.length < CHUNK_BYTES) {
      chunk += `${JSON.stringify(makeRow(index))}\n`;
      index += 1;
    }
    produced += chunk.length;
    yield chunk;
  }
}

// Row objects in, the text of one JSON array out, batched into chunks of about CHUNK_BYTES.
class JsonArrayStringify extends Transform {
  constructor() {
    super({ writableObjectMode: true });
    this.pending = '[';
    this.rowCount = 0;
  }

  _transform(row, _encoding, callback) {
    this.pending += (this.rowCount === 0 ? '' : ',') + JSON.stringify(row);
    this.rowCount += 1;
    if (this.pending.length >= CHUNK_BYTES) {
      this.push(this.pending);
      this.pending = '';
    }
    callback();
  }

  _flush(callback) {
    this.push(`${this.pending}]`);
    callback();
  }
}

// Ends a pipeline into `res`: a failure before the first byte becomes a 500, later ones cut the
// connection (the status line is gone).
function finishPipeline(req, res) {
  return (err) => {
    if (!err) {
      return;
    }
    console.error(`${req.method} ${req.url.split('?', 1)[0]}: ${err.message}`);
    if (res.headersSent) {
      res.destroy(err);
    } else {
      sendJson(res, 500, { error: err.message });
    }
  };
}

// A Writable that counts CSV rows and bytes, for the upload routes that respond with a summary.
function rowCounter(summary) {
  return new Writable({
    objectMode: true,
    write(_row, _encoding, callback) {
      summary.rows += 1;
      callback();
    },
  });
}

// --- 1. buffered response ---------------------------------------------------------------------

// GET /rows-buffered?rows=N builds N row objects and responds with one
// res.end(JSON.stringify(rows)): the rows, the JSON text and its UTF-8 copy are all in memory
// before the first byte leaves. Verdict: buffered-response.
function rowsBuffered(req, res) {
  requireMethod(req, 'GET');
  const count = queryInteger(req, 'rows', 200_000, 1, MAX_ROWS);
  const rows = Array.from(generateRows(count));
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(rows));
}

// GET /rows-stream?rows=N is the fix: pipeline(rows, stringifier, res) sends the same JSON while
// the rows are generated, holding a few chunks at a time. Verdict: none.
function rowsStream(req, res) {
  requireMethod(req, 'GET');
  const count = queryInteger(req, 'rows', 200_000, 1, MAX_ROWS);
  res.writeHead(200, { 'Content-Type': 'application/json' });
  pipeline(Readable.from(generateRows(count)), new JsonArrayStringify(), res, finishPipeline(req, res));
}

// --- 3. buffered upload -----------------------------------------------------------------------

// POST /upload-buffered collects every chunk of the CSV upload, joins them with one
// Buffer.concat and only then parses the rows, responding with a small summary. The whole body is
// in memory before processing begins. Verdict: buffered-upload.
function uploadBuffered(req, res) {
  requireMethod(req, 'POST');
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const summary = { rows: 0, bytes: body.length };
    const parser = csvParser();
    pipeline(Readable.from([body]), parser, rowCounter(summary), (err) => {
      if (err) {
        sendJson(res, 400, { error: `invalid CSV: ${err.message}` });
      } else {
        sendJson(res, 200, summary);
      }
    });
  });
}

// POST /upload-stream is the fix: pipeline(req, csvParser, counter) parses rows as the chunks
// arrive, so memory stays at a few chunks whatever the upload size. Verdict: none.
function uploadStream(req, res) {
  requireMethod(req, 'POST');
  const summary = { rows: 0, bytes: 0 };
  req.on('data', (chunk) => { summary.bytes += chunk.length; });
  pipeline(req, csvParser(), rowCounter(summary), (err) => {
    if (err) {
      sendJson(res, 400, { error: `invalid CSV: ${err.message}` });
    } else {
      sendJson(res, 200, summary);
    }
  });
}

// POST /upload-released-at-gc must not be called a leak: like /upload-buffered it joins the whole
// body before counting its lines, and its memory stays allocated after the response until V8's
// next garbage collection frees it. Run many times in a row, the heap after each request is
// higher than before it, but the floor after later collections does not rise.
// Verdict: buffered-upload, and never per-request-leak.
function uploadReleasedAtGc(req, res) {
  requireMethod(req, 'POST');
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    let lines = 0;
    for (let at = body.indexOf(10); at !== -1; at = body.indexOf(10, at + 1)) {
      lines += 1;
    }
    sendJson(res, 200, { lines, bytes: body.length });
  });
}

// --- 4. ignored backpressure ------------------------------------------------------------------

// GET /write-loop?mib=N writes N MiB of generated text with res.write(), one chunk per turn of
// the event loop as a database cursor or an event source would deliver them, and ignores
// res.write()'s return value. A slow client cannot take the data as fast as it is made, so it
// piles up in the response's buffer while the socket refuses writes. Verdict: ignored-backpressure.
function writeLoop(req, res) {
  requireMethod(req, 'GET');
  const mib = queryInteger(req, 'mib', 32, 1, MAX_MIB);
  const chunks = generateBufferChunks(mib * 1024 * 1024);
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.on('error', () => {});
  const writeNext = () => {
    const next = chunks.next();
    if (next.done) {
      res.end();
      return;
    }
    res.write(next.value);
    setImmediate(writeNext);
  };
  writeNext();
}

// GET /write-drain?mib=N is the fix: the same chunks, but when res.write() returns false the loop
// waits for 'drain', so at most about one chunk waits in memory. Verdict: none.
function writeDrain(req, res) {
  requireMethod(req, 'GET');
  const mib = queryInteger(req, 'mib', 32, 1, MAX_MIB);
  const chunks = generateBufferChunks(mib * 1024 * 1024);
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.on('error', () => {});
  const writeMore = () => {
    for (let next = chunks.next(); !next.done; next = chunks.next()) {
      if (!res.write(next.value)) {
        res.once('drain', writeMore);
        return;
      }
    }
    res.end();
  };
  writeMore();
}

// --- 5. per-request leak ----------------------------------------------------------------------

// Creates what the leak routes keep per request: a 1 MiB Buffer and a few thousand rows.
function makeEntry(requestNumber) {
  return {
    requestNumber,
    payload: Buffer.alloc(ENTRY_BUFFER_BYTES, requestNumber % 251),
    rows: Array.from(generateRows(ENTRY_ROWS)),
  };
}

let requestsSeen = 0;
// Module-level and never evicted: the leak of GET /leak-cache.
const unboundedCache = new Map();

// GET /leak-cache stores an entry for every request in a module-level Map that is never evicted,
// so the memory left after garbage collection rises by about an entry per request.
// Verdict: per-request-leak.
function leakCache(req, res) {
  requireMethod(req, 'GET');
  requestsSeen += 1;
  unboundedCache.set(`request-${requestsSeen}`, makeEntry(requestsSeen));
  sendJson(res, 200, { cached: unboundedCache.size });
}

// A least-recently-used cache with a fixed number of entries: a Map keeps insertion order, so
// the first key is the least recently used one.
class BoundedCache {
  constructor(capacity) {
    this.capacity = capacity;
    this.entries = new Map();
  }

  get(key) {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key, value) {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      this.entries.delete(this.entries.keys().next().value);
    }
  }
}

const boundedCache = new BoundedCache(BOUNDED_CACHE_ENTRIES);

// GET /cache-bounded is the fix of /leak-cache and the deliberate cache that must not be called
// a leak: the same entries in an LRU cache of BOUNDED_CACHE_ENTRIES entries. Memory rises while
// the cache fills, then stays flat. Verdict: none.
function cacheBounded(req, res) {
  requireMethod(req, 'GET');
  requestsSeen += 1;
  const key = `request-${requestsSeen}`;
  boundedCache.set(key, makeEntry(requestsSeen));
  sendJson(res, 200, { cached: boundedCache.entries.size, hit: boundedCache.get(key) !== undefined });
}

// A long-lived emitter, like a shared connection pool or the process object.
const events = new EventEmitter();
events.setMaxListeners(0);

// GET /leak-listener adds a listener to a long-lived emitter on every request, and the listener's
// closure keeps the request's entry alive. Verdict: per-request-leak.
function leakListener(req, res) {
  requireMethod(req, 'GET');
  requestsSeen += 1;
  const entry = makeEntry(requestsSeen);
  events.on('config-changed', () => entry.rows.length);
  sendJson(res, 200, { listeners: events.listenerCount('config-changed') });
}

// GET /listener-once is the fix: the listener is added once per process and the entry is
// dropped when the response is sent. Verdict: none.
let listenerAdded = false;
function listenerOnce(req, res) {
  requireMethod(req, 'GET');
  requestsSeen += 1;
  const entry = makeEntry(requestsSeen);
  if (!listenerAdded) {
    events.on('config-reloaded', () => requestsSeen);
    listenerAdded = true;
  }
  sendJson(res, 200, { listeners: events.listenerCount('config-reloaded'), rows: entry.rows.length });
}

// --- 6. allocation churn ----------------------------------------------------------------------

// POST /concat-churn grows the body with body = Buffer.concat([body, chunk]) for every chunk:
// each chunk copies everything read so far, so the bytes allocated grow with the square of the
// upload size. Verdict: allocation-churn.
function concatChurn(req, res) {
  requireMethod(req, 'POST');
  let body = Buffer.alloc(0);
  req.on('data', (chunk) => {
    body = Buffer.concat([body, chunk]);
  });
  req.on('end', () => {
    sendJson(res, 200, { bytes: body.length, lines: body.toString('latin1').split('\n').length - 1 });
  });
}

// POST /concat-stream is the fix: each chunk is processed as it arrives (lines and bytes are
// counted, with a line split across chunks carried over), so nothing is copied.
// Verdict: none.
function concatStream(req, res) {
  requireMethod(req, 'POST');
  let bytes = 0;
  let lines = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) {
      lines += 1;
    }
  });
  req.on('end', () => sendJson(res, 200, { bytes, lines }));
}

// --- 7. response too large for a string -------------------------------------------------------

// GET /rows-too-large?rows=N answers with JSON.stringify of N rows that each carry a 1 MiB field
// (the same row object N times, so the rows themselves cost nothing). Beyond about 512 rows the
// JSON text exceeds V8's maximum string length and JSON.stringify throws "Invalid string length"
// after building ~512 MiB, so the request fails with a 500 that names the size.
// Verdict: buffered-response on the failed request.
function rowsTooLarge(req, res) {
  requireMethod(req, 'GET');
  const count = queryInteger(req, 'rows', 600, 1, 4096);
  const row = { id: 1, note: 'x'.repeat(LARGE_FIELD_CHARS) };
  const rows = new Array(count).fill(row);
  let text;
  try {
    text = JSON.stringify(rows);
  } catch (err) {
    const estimate = count * (LARGE_FIELD_CHARS + 20);
    console.error(`GET /rows-too-large: ${err.message}`);
    sendJson(res, 500, {
      error: `${err.message}: the JSON text of ${count} rows is about ${estimate} characters, above ` +
        `V8's maximum string length of ${V8_MAX_STRING_LENGTH}; stream the rows instead`,
    });
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(text);
}

// --- must not be flagged ----------------------------------------------------------------------

// GET /stream-large?mib=N streams N MiB (default 64, far above the 4 MB at which Next.js warns
// about API responses) from a generator through pipeline(). It is large but never held.
// Verdict: none.
function streamLarge(req, res) {
  requireMethod(req, 'GET');
  const mib = queryInteger(req, 'mib', 64, 1, MAX_MIB);
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  pipeline(Readable.from(generateTextChunks(mib * 1024 * 1024), { objectMode: false }), res,
    finishPipeline(req, res));
}

// GET /stream-hwm?mib=N streams N MiB (default 32) through a Readable with a 4 MiB highWaterMark:
// it reads ahead up to 4 MiB per request, which is bounded, so even 4 concurrent downloads hold
// about 16 MiB whatever the response size. Verdict: none.
function streamHighWaterMark(req, res) {
  requireMethod(req, 'GET');
  const mib = queryInteger(req, 'mib', 32, 1, MAX_MIB);
  const chunks = generateTextChunks(mib * 1024 * 1024);
  const source = new Readable({
    highWaterMark: LARGE_HIGH_WATER_MARK,
    read() {
      for (;;) {
        const next = chunks.next();
        if (next.done) {
          this.push(null);
          return;
        }
        if (!this.push(next.value)) {
          return;
        }
      }
    },
  });
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  pipeline(source, res, finishPipeline(req, res));
}

// GET /sleep?ms=N answers after N milliseconds without allocating: an idle request that the
// tests overlap with others.
function sleepRoute(req, res) {
  requireMethod(req, 'GET');
  const ms = queryInteger(req, 'ms', 100, 0, MAX_DELAY_MS);
  setTimeout(() => sendJson(res, 200, { slept_ms: ms }), ms);
}

// Path -> handler, with the verdict each must get (null: no finding).
const CATALOG = [
  { path: '/rows-buffered', handler: rowsBuffered, verdict: 'buffered-response' },
  { path: '/rows-stream', handler: rowsStream, verdict: null },
  { path: '/upload-buffered', handler: uploadBuffered, verdict: 'buffered-upload' },
  { path: '/upload-stream', handler: uploadStream, verdict: null },
  { path: '/upload-released-at-gc', handler: uploadReleasedAtGc, verdict: 'buffered-upload' },
  { path: '/write-loop', handler: writeLoop, verdict: 'ignored-backpressure' },
  { path: '/write-drain', handler: writeDrain, verdict: null },
  { path: '/leak-cache', handler: leakCache, verdict: 'per-request-leak' },
  { path: '/cache-bounded', handler: cacheBounded, verdict: null },
  { path: '/leak-listener', handler: leakListener, verdict: 'per-request-leak' },
  { path: '/listener-once', handler: listenerOnce, verdict: null },
  { path: '/concat-churn', handler: concatChurn, verdict: 'allocation-churn' },
  { path: '/concat-stream', handler: concatStream, verdict: null },
  { path: '/rows-too-large', handler: rowsTooLarge, verdict: 'buffered-response' },
  { path: '/stream-large', handler: streamLarge, verdict: null },
  { path: '/stream-hwm', handler: streamHighWaterMark, verdict: null },
  { path: '/sleep', handler: sleepRoute, verdict: null },
];

module.exports = {
  CATALOG,
  HttpError,
  JsonArrayStringify,
  generateRows,
  generateTextChunks,
  queryInteger,
  sendJson,
  finishPipeline,
  rowCounter,
};
