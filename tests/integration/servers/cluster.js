// A node:cluster HTTP server for the integration tests: the primary forks two workers and, with
// the default round-robin policy, accepts each connection itself and passes it to a worker. It
// prints its port once both workers listen, and stops the workers on SIGINT.
'use strict';

const cluster = require('node:cluster');
const http = require('node:http');

const WORKERS = 2;
const RESPONSE_BYTES = 64 * 1024;

if (cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', (worker, address) => {
    listening += 1;
    if (listening === WORKERS) {
      console.log(`listening on http://127.0.0.1:${address.port} (pid ${process.pid})`);
    }
  });
  for (let i = 0; i < WORKERS; i += 1) cluster.fork();
  process.on('SIGINT', () => {
    cluster.disconnect(() => process.exit(0));
  });
} else {
  const body = Buffer.alloc(RESPONSE_BYTES, 'x');
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
    });
  });
  // Port 0 in a worker: the primary picks one free port and shares it with every worker.
  server.listen(0, '127.0.0.1');
  // A terminal's Ctrl-C reaches the workers too: they ignore it and end when the primary
  // disconnects them.
  process.on('SIGINT', () => {});
}
