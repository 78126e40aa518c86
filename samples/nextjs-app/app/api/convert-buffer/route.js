// POST /api/convert-buffer: parses the upload as a stream but collects every row, then builds
// the Response from one buffer holding the whole JSON text.
// Expected verdict: buffered-response.
import { Readable } from 'node:stream';
import { collectRows } from '../../../lib/csv';
import { requireBody, respond } from '../../../lib/web';

const ROUTE = '/api/convert-buffer';

export async function POST(request) {
  return respond(ROUTE, request, async () => {
    requireBody(request, ROUTE);
    const rows = await collectRows(Readable.fromWeb(request.body));
    const body = Buffer.from(JSON.stringify(rows));
    return new Response(body, { headers: { 'Content-Type': 'application/json' } });
  });
}
