// POST /api/processCSV: the buffered CSV processing route as most Next.js examples write it.
// Next's body parser reads the whole upload into req.body (the size limit raised to allow it),
// the route parses all of it and answers with one res.json() of every row.
// Expected verdict: buffered-response (the rows and their JSON text are in memory at once) and
// buffered-upload (the whole body is read before parsing starts).
import { collectRows, errorBody, HttpError } from '../../lib/csv';

export const config = {
  api: { bodyParser: { sizeLimit: '64mb' } },
};

export default async function processCSV(req, res) {
  try {
    if (req.method !== 'POST') {
      throw new HttpError(405, `${req.method} is not allowed on /api/processCSV: upload a CSV file with POST`);
    }
    if (typeof req.body !== 'string') {
      throw new HttpError(415, 'the upload must be sent as text/csv, not JSON or a form');
    }
    const rows = await collectRows(req.body);
    res.status(200).json(rows);
  } catch (err) {
    const { status, body } = errorBody(err, 'POST /api/processCSV');
    res.status(status).json(body);
  }
}
