// A misbehaving node:http server for the gate's integration tests. Run it as
// `node fixture-server.js MODE [ARGUMENT]` where MODE is crash-on PATH (exit with status 7
// mid-request on PATH), exit-early CODE (exit before listening) or no-listen.
'use strict';

const http = require('node:http');

const HOST = '127.0.0.1';
const [mode, argument] = process.argv.slice(2);

function crashOn(crashPath) {
  const server = http.createServer((req, res) => {
    if (req.url === crashPath) {
      // Read part of the request, then exit before the response, as an out-of-memory kill would.
      req.once('data', () => {
        console.error(`fixture-server: exiting with status 7 while serving ${req.method} ${req.url}`);
        process.exit(7);
      });
      req.once('end', () => process.exit(7));
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok\n');
    });
  });
  server.listen(0, HOST, () => {
    console.log(`listening on http://${HOST}:${server.address().port} (pid ${process.pid})`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

switch (mode) {
  case 'crash-on':
    crashOn(argument || '/crash');
    break;
  case 'exit-early':
    console.error('fixture-server: configuration missing, giving up');
    process.exit(Number(argument || 3));
    break;
  case 'no-listen':
    console.log('fixture-server: starting, but never listening');
    setInterval(() => {}, 1000);
    break;
  default:
    console.error(`fixture-server: unknown mode "${mode}"; use crash-on PATH, exit-early CODE or no-listen`);
    process.exit(2);
}
