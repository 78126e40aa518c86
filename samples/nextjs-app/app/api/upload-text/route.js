// POST /api/upload-text: `await request.text()` reads the whole upload into one string before
// parsing starts, then the route answers with a small summary.
// Expected verdict: buffered-upload.
import { collectRows } from '../../../lib/csv';
import { requireBody, respond } from '../../../lib/web';

const ROUTE = '/api/upload-text';

export async function POST(request) {
  return respond(ROUTE, request, async () => {
    requireBody(request, ROUTE);
    const text = await request.text();
    const rows = await collectRows(text);
    return Response.json({ rows: rows.length, columns: rows.length ? Object.keys(rows[0]) : [] });
  });
}
