// The catalog as an Express 4 app: the first four patterns written the Express way (res.json,
// multer's memoryStorage vs diskStorage) with the same paths and verdicts as server.js, and the
// other catalog routes mounted unchanged. Run it with `node express-server.js` (PORT picks the
// port, default any free one).
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pipeline, Readable } = require('node:stream');
const csvParser = require('csv-parser');
const express = require('express');
const multer = require('multer');
const {
  CATALOG, HttpError, JsonArrayStringify, generateRows, queryInteger, finishPipeline, rowCounter,
} = require('./catalog');

const HOST = '127.0.0.1';
// Largest multipart file accepted, so a runaway client cannot fill the disk or the memory.
const MAX_UPLOAD_BYTES = 256 * 1024 * 1024;
const SHUTDOWN_GRACE_MS = 5000;

// Folder of diskStorage's uploads. Each file is removed once it was parsed.
const UPLOAD_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'routeheap-express-uploads-'));

const memoryUpload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_UPLOAD_BYTES } });
const diskUpload = multer({ storage: multer.diskStorage({ destination: UPLOAD_DIR }), limits: { fileSize: MAX_UPLOAD_BYTES } });

const app = express();
app.disable('x-powered-by');

// 1. GET /rows-buffered?rows=N responds with res.json(rows): the rows, the JSON text and its UTF-8
// copy are in memory before the first byte leaves. Verdict: buffered-response.
app.get('/rows-buffered', (req, res) => {
  const count = queryInteger(req, 'rows', 200_000, 1, 2_000_000);
  res.json(Array.from(generateRows(count)));
});

// GET /rows-stream?rows=N is the fix: pipeline(rows, stringifier, res). Verdict: none.
app.get('/rows-stream', (req, res) => {
  const count = queryInteger(req, 'rows', 200_000, 1, 2_000_000);
  res.type('application/json');
  pipeline(Readable.from(generateRows(count)), new JsonArrayStringify(), res, finishPipeline(req, res));
});

// 2. POST /collect parses the CSV upload as a stream but pushes every row into an array and
// responds with res.json(rows). Verdict: buffered-response.
app.post('/collect', (req, res, next) => {
  const rows = [];
  pipeline(req, csvParser(), async function* collect(source) {
    for await (const row of source) {
      rows.push(row);
    }
  }, (err) => (err ? next(new HttpError(400, `invalid CSV: ${err.message}`)) : res.json(rows)));
});

// POST /stream is the fix: pipeline(req, csvParser, stringifier, res). Verdict: none.
app.post('/stream', (req, res) => {
  res.type('application/json');
  pipeline(req, csvParser(), new JsonArrayStringify(), res, finishPipeline(req, res));
});

// 3. POST /upload-buffered takes a multipart upload (field "file") with multer's memoryStorage,
// which joins the whole file into req.file.buffer before the handler runs. The handler then
// counts its CSV rows. Verdict: buffered-upload.
app.post('/upload-buffered', memoryUpload.single('file'), (req, res, next) => {
  if (!req.file) {
    next(new HttpError(400, 'missing multipart field "file": upload the CSV as form field "file"'));
    return;
  }
  const summary = { rows: 0, bytes: req.file.size };
  pipeline(Readable.from([req.file.buffer]), csvParser(), rowCounter(summary),
    (err) => (err ? next(new HttpError(400, `invalid CSV: ${err.message}`)) : res.json(summary)));
});

// POST /upload-stream is the fix: multer's diskStorage streams the file to disk, and the handler
// parses it from there as a stream. Verdict: none.
app.post('/upload-stream', diskUpload.single('file'), (req, res, next) => {
  if (!req.file) {
    next(new HttpError(400, 'missing multipart field "file": upload the CSV as form field "file"'));
    return;
  }
  const summary = { rows: 0, bytes: req.file.size };
  pipeline(fs.createReadStream(req.file.path), csvParser(), rowCounter(summary), (err) => {
    fs.rm(req.file.path, { force: true }, () => {});
    if (err) {
      next(new HttpError(400, `invalid CSV: ${err.message}`));
    } else {
      res.json(summary);
    }
  });
});

// 4.-7. and the routes that must not be flagged: the node:http handlers of the catalog work on
// Express's req and res unchanged. Those registered above keep their Express versions.
for (const entry of CATALOG) {
  app.all(entry.path, (req, res, next) => {
    try {
      entry.handler(req, res);
    } catch (err) {
      next(err);
    }
  });
}

app.get('/health', (req, res) => res.json({ status: 'ok', pid: process.pid }));

app.use((req, res) => {
  res.status(404).json({ error: `no route for ${req.method} ${req.path}: use a catalog route` });
});

// Express error handler: four parameters.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  const status = err.status || (err instanceof multer.MulterError ? 400 : 500);
  console.error(`${req.method} ${req.path}: ${status} ${status >= 500 ? err.stack : err.message}`);
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  res.status(status).json({ error: err.message });
});

function parsePort(text) {
  if (text === undefined || text === '') {
    return 0;
  }
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`express-server.js: invalid PORT "${text}": use an integer from 0 to 65535 (0 picks a free port)`);
    process.exit(2);
  }
  return port;
}

function main() {
  const port = parsePort(process.env.PORT);
  const server = app.listen(port, HOST, () => {
    console.log(`listening on http://${HOST}:${server.address().port} (pid ${process.pid})`);
  });
  server.on('error', (err) => {
    console.error(`express-server.js: cannot listen on ${HOST}:${port}: ${err.message}`);
    process.exit(1);
  });

  const shutdown = (signal) => {
    console.log(`${signal} received, closing the server`);
    fs.rmSync(UPLOAD_DIR, { recursive: true, force: true });
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
