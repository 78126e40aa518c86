// POST /api/upload-formdata: `await request.formData()` reads a whole multipart upload into
// memory (the file part becomes an in-memory File) before parsing starts, then the route
// answers with a small summary. Expected verdict: buffered-upload.
import { collectRows, HttpError } from '../../../lib/csv';
import { requireBody, respond } from '../../../lib/web';

const ROUTE = '/api/upload-formdata';

export async function POST(request) {
  return respond(ROUTE, request, async () => {
    requireBody(request, ROUTE);
    let form;
    try {
      form = await request.formData();
    } catch (err) {
      throw new HttpError(400, `invalid multipart/form-data body (${err.message}): send the CSV file as the form field "file"`);
    }
    const file = form.get('file');
    if (!file || typeof file === 'string') {
      throw new HttpError(400, 'missing form field "file": send the CSV file as a file part named "file"');
    }
    const rows = await collectRows(Buffer.from(await file.arrayBuffer()));
    return Response.json({ rows: rows.length, columns: rows.length ? Object.keys(rows[0]) : [] });
  });
}
