// Checks that the sample server keeps query strings out of its log: they may carry tokens, and
// users copy the sample's logging.
'use strict';

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, test } = require('node:test');
const harness = require('./harness');

const SECRET = 'SECRETQ456';
let server;

after(async () => {
  if (server) {
    await server.forceStop();
    harness.removeTempDir(server.workDir);
  }
});

function request(port, method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

test('error log omits query strings', async () => {
  server = await harness.startRecordedServer('sample-logs');
  assert.equal(await request(server.port, 'GET', `/users/42?token=${SECRET}`), 404);
  assert.equal(await request(server.port, 'GET', `/buffered?user=bob&token=${SECRET}`), 405);
  await server.stop();

  const output = server.output();
  assert.ok(!output.includes(SECRET), `the server logged a query string:\n${output}`);
  assert.match(output, /GET \/users\/42: 404/);
  assert.match(output, /GET \/buffered: 405/);
});
