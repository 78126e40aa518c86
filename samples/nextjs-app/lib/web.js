// Helpers for the App Router route handlers: JSON error responses and the request body check.
import { errorBody, HttpError } from './csv';

// Runs `handle(request)` and turns a thrown error into a JSON error response.
export async function respond(route, request, handle) {
  try {
    return await handle(request);
  } catch (err) {
    const { status, body } = errorBody(err, `POST ${route}`);
    return Response.json(body, { status });
  }
}

// Throws a 400 when the request has no body to read.
export function requireBody(request, route) {
  if (!request.body) {
    throw new HttpError(400, `POST ${route} needs a request body: upload a CSV file`);
  }
}
