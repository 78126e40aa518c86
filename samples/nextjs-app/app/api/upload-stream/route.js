// POST /api/upload-stream: the fix for both upload routes. It reads `request.body` as a stream
// and counts rows as they arrive, so memory stays at a few chunks whatever the upload size.
// Expected verdict: no finding.
import { Readable } from 'node:stream';
import { countRows } from '../../../lib/csv';
import { requireBody, respond } from '../../../lib/web';

const ROUTE = '/api/upload-stream';

export async function POST(request) {
  return respond(ROUTE, request, async () => {
    requireBody(request, ROUTE);
    const summary = await countRows(Readable.fromWeb(request.body));
    return Response.json(summary);
  });
}
