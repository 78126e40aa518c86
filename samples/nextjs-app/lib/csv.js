// CSV helpers shared by the sample's routes: csv-parser with strict options, a JSON array
// stringifier for streamed responses, and the error type that turns bad input into a 400.
import { Readable, Transform, Writable, pipeline } from 'node:stream';
import csvParser from 'csv-parser';

// strict: a row whose cell count differs from the header is a 400, not a silently renamed column.
// maxRowBytes: an unclosed quote must not make one "row" swallow the whole upload.
const CSV_OPTIONS = { strict: true, maxRowBytes: 1024 * 1024 };

// Streamed JSON leaves in chunks of about this size, close to a socket's high-water mark.
const STREAM_CHUNK_BYTES = 16 * 1024;

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function createCsvParser() {
  return csvParser(CSV_OPTIONS);
}

// csv-parser reports errors without a position: add the record it was parsing, which
// csv-parser 3.2 keeps in state.lineNumber (the header is record 1).
export function csvError(parser, err) {
  const record = parser.state && parser.state.lineNumber;
  const where = Number.isInteger(record) && record > 0 ? ` in record ${record} (the header is record 1)` : '';
  return new HttpError(400, `invalid CSV${where}: ${err.message}`);
}

// Resolves with every row of `source` (a Node Readable, or a string or Buffer holding the whole
// file). Rejects with an HttpError 400 on invalid CSV.
export function collectRows(source) {
  return new Promise((resolve, reject) => {
    const parser = createCsvParser();
    const rows = [];
    parser.on('data', (row) => rows.push(row));
    parser.on('end', () => resolve(rows));
    parser.on('error', (err) => reject(csvError(parser, err)));

    if (source instanceof Readable) {
      source.on('error', reject);
      source.pipe(parser);
    } else {
      parser.end(source);
    }
  });
}

// Resolves with { rows, columns } for a streamed `source` without keeping the rows.
export function countRows(source) {
  return new Promise((resolve, reject) => {
    const parser = createCsvParser();
    let rows = 0;
    let columns = [];
    parser.on('headers', (headers) => { columns = headers; });
    parser.on('data', () => { rows += 1; });
    parser.on('error', (err) => reject(csvError(parser, err)));
    pipeline(source, parser, (err) => {
      if (err) {
        reject(err instanceof HttpError ? err : csvError(parser, err));
      } else {
        resolve({ rows, columns });
      }
    });
  });
}

// Turns row objects into the text of one JSON array, "[" row "," row ... "]", batched into
// chunks of about STREAM_CHUNK_BYTES.
export class JsonArrayStringify extends Transform {
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

// A Writable that writes into a Node response and waits for 'drain' whenever write() returns
// false. Unlike passing the response to pipeline(), a failure does not destroy the response, so
// an error found before the first byte still gets a JSON error response.
export function responseSink(res) {
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

// A JSON error body for a caught error: the message for client errors, a generic text for
// server errors (whose stack goes to the log).
export function errorBody(err, route) {
  const status = err.status || 500;
  if (status >= 500) {
    console.error(`${route}: ${err.stack || err}`);
    return { status, body: { error: 'internal error: see the server log' } };
  }
  return { status, body: { error: err.message } };
}
