// Records the session the GUI tests read: the sample server under `routeheap record`, one
// CSV upload each to /buffered and /stream and two GET /health, copied to the folder given
// as the only argument. Run by CTest as the fixture of the GUI tests.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const harness = require('../integration/harness.js');

function getHealth(port, query) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: `/health${query}`, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    });
    request.setTimeout(30_000, () => request.destroy(new Error('GET /health timed out after 30 s')));
    request.on('error', reject);
  });
}

async function main() {
  const output = process.argv[2];
  if (!output) {
    throw new Error('usage: node record_session.js OUTPUT_FOLDER');
  }
  const { oui } = harness.dataFiles();
  const server = await harness.startRecordedServer('gui');
  try {
    await harness.drive(server.port, [oui], { routes: ['/buffered', '/stream'] });
    for (const query of ['', '?probe=1']) {
      const status = await getHealth(server.port, query);
      if (status !== 200) throw new Error(`GET /health${query} returned ${status}`);
    }
    const { code } = await server.stop();
    if (code !== 0) throw new Error(`routeheap record exited with ${code}\n${server.output()}`);
    fs.rmSync(output, { recursive: true, force: true });
    fs.cpSync(server.sessionDir, output, { recursive: true });
  } finally {
    await server.forceStop();
    harness.removeTempDir(server.workDir);
  }
}

main().catch((error) => {
  console.error(`record_session.js: ${error.stack || error}`);
  process.exit(1);
});
