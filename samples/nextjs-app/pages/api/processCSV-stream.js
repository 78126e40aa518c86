// POST /api/processCSV-stream: the fix. stream.pipeline() runs from the request through
// csv-parser and a JSON array stringifier into the response, and each step waits while the next
// one is full, so memory stays at a few chunks whatever the upload size.
// Expected verdict: no finding, although Next.js warns "API response ... exceeds 4 MB" for any
// response above its responseLimit, streamed or not.
import { pipeline } from 'node:stream';
import { createCsvParser, csvError, errorBody, HttpError, JsonArrayStringify, responseSink } from '../../lib/csv';

export const config = {
  api: { bodyParser: false },
};

export default function processCsvStream(req, res) {
  return new Promise((resolve) => {
    const fail = (err) => {
      const { status, body } = errorBody(err, 'POST /api/processCSV-stream');
      if (res.headersSent) {
        // The status line is gone, so the only honest signal left is an incomplete body.
        res.destroy(err);
      } else {
        if (!req.complete) {
          req.resume();
        }
        res.status(status).json(body);
      }
      resolve();
    };
    if (req.method !== 'POST') {
      fail(new HttpError(405, `${req.method} is not allowed on /api/processCSV-stream: upload a CSV file with POST`));
      return;
    }

    const parser = createCsvParser();
    let parseError = null;
    parser.on('error', (err) => {
      parseError = parseError || csvError(parser, err);
    });
    res.status(200).setHeader('Content-Type', 'application/json');
    pipeline(
      // Iterating keeps the request open when the pipeline fails, so fail() can still drain it.
      req.iterator({ destroyOnReturn: false }),
      parser,
      new JsonArrayStringify(),
      responseSink(res),
      (err) => {
        if (err) {
          fail(parseError || err);
        } else {
          resolve();
        }
      },
    );
  });
}
