// POST /api/processCSV-collect: the "fix" most articles show. The body parser is off and the
// upload is parsed as a stream, but every row is pushed into an array and sent with one
// res.json(), so the rows and the whole JSON text are still in memory at once.
// Expected verdict: buffered-response.
import { collectRows, errorBody, HttpError } from '../../lib/csv';

export const config = {
  api: { bodyParser: false },
};

export default async function processCsvCollect(req, res) {
  try {
    if (req.method !== 'POST') {
      throw new HttpError(405, `${req.method} is not allowed on /api/processCSV-collect: upload a CSV file with POST`);
    }
    const rows = await collectRows(req);
    res.status(200).json(rows);
  } catch (err) {
    const { status, body } = errorBody(err, 'POST /api/processCSV-collect');
    if (!req.complete) {
      req.resume();
    }
    res.status(status).json(body);
  }
}
