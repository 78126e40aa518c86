// Records the sample server with the agent's default stack sampling while asn-ipv4.csv is
// uploaded to /buffered, then checks that the buffered-response finding names allocation sites
// with a JS frame in server.js, and that `routeheap export --format folded` writes those stacks.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const harness = require('./harness');

// Frames per site in the report used for the frame checks: the agent's maximum depth, so a JS
// frame below a deep native stack is still listed.
const FULL_STACK_FRAMES = 64;

let server;
let result;

before(async () => {
  const data = harness.dataFiles();
  server = await harness.startRecordedServer('stacks');
  await harness.drive(server.port, [data.asn], { routes: ['/buffered'] });
  const stopped = await server.stop();
  assert.equal(stopped.code, 0, `routeheap record did not exit 0 after SIGINT\n${server.output()}`);
  const { routeheap } = harness.config();
  result = await harness.run(routeheap,
    ['report', server.sessionDir, '--format', 'json', '--stacks', String(FULL_STACK_FRAMES)]);
  assert.equal(result.code, 0, `routeheap report failed (exit ${result.code}): ${result.stderr}`);
  result.json = JSON.parse(result.stdout);
}, { timeout: 600_000 });

after(async () => {
  if (server) {
    await server.forceStop();
    harness.removeTempDir(server.workDir);
  }
});

function bufferedFinding() {
  const route = result.json.routes.find((r) => r.method === 'POST' && r.route === '/buffered');
  assert.ok(route, `no POST /buffered route in ${JSON.stringify(result.json.routes)}`);
  const finding = route.findings.find((f) => f.kind === 'buffered-response');
  assert.ok(finding, `no buffered-response finding on /buffered: ${JSON.stringify(route.findings)}`);
  return finding;
}

function describeSites(sites) {
  return sites.map((site) => `${Math.round(site.share * 100)}% ${site.frames.map((f) => f.label).join(' < ')}`)
    .join('\n');
}

test('the server process sampled allocation stacks', () => {
  const traced = result.json.session.processes.find((p) => p.pid === server.serverPid);
  assert.ok(traced, `no process ${server.serverPid} in the report`);
  assert.ok(traced.sampled_allocations > 0, `no Allocation records: ${JSON.stringify(traced)}`);
  assert.ok(traced.sampling, 'no sampling configuration in the report');
  assert.equal(traced.sampling.mean_interval_bytes, 256 * 1024, 'the default sampling mean is 256 KiB');
});

test('the buffered-response finding names a JS frame in server.js', () => {
  const { sites } = bufferedFinding();
  assert.ok(sites.length > 0, 'the finding has no allocation sites');
  const inServer = sites.some((site) => site.frames.some((frame) => frame.kind === 'js' &&
    frame.location !== null && /server\.js:\d+$/.test(frame.location)));
  assert.ok(inServer, `no JS frame in server.js among the sites:\n${describeSites(sites)}`);
});

test('site shares add up to at most 100%', () => {
  const { sites } = bufferedFinding();
  const total = sites.reduce((sum, site) => sum + site.share, 0);
  assert.ok(total <= 1.0 + 1e-9, `shares add up to ${total}:\n${describeSites(sites)}`);
  for (const site of sites) {
    assert.ok(site.bytes > 0, `a site with ${site.bytes} bytes`);
    assert.ok(site.share > 0, `a site with share ${site.share}`);
    assert.ok(site.share <= 1, `a site with share ${site.share}`);
  }
});

test('every request has top sites in JSON', () => {
  const requests = result.json.requests.filter((r) => r.pid === server.serverPid && r.path === '/buffered');
  assert.equal(requests.length, 1);
  assert.ok(requests[0].allocation_peak, 'no allocation_peak on the /buffered request');
  assert.ok(requests[0].top_sites.length > 0, 'no top_sites on the /buffered request');
});

test('export writes folded stacks for the route', async () => {
  const { routeheap } = harness.config();
  const exported = await harness.run(routeheap,
    ['export', '--format', 'folded', '--route', '/buffered', server.sessionDir]);
  assert.equal(exported.code, 0, `routeheap export failed (exit ${exported.code}): ${exported.stderr}`);
  const lines = exported.stdout.trim().split('\n');
  assert.ok(lines.length > 0, 'export wrote nothing');
  for (const line of lines) {
    assert.match(line, /^\S.* \d+$/, `not a folded line: ${line}`);
  }
  assert.ok(lines.some((line) => /server\.js:\d+/.test(line)), `no stack through server.js:\n${lines.join('\n')}`);
});
