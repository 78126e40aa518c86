// Records the sample server with the agent's default stack sampling while asn-ipv4.csv is
// uploaded to /buffered and /collect. Checks the sites the report names for each finding's
// memory, that `routeheap export --format folded` writes those stacks, and that reports of
// the same session without its perf map, or with a truncated one, still come out.
//
// What the top site of both findings truly is: res.end(JSON.stringify(rows)) hands the whole
// JSON text to node::StreamBase::Writev, which mallocs 3 bytes per character for the UTF-8
// copy. That copy is the largest block live at the request's peak. The rows and the JSON string
// live on V8 heap pages, whose commits carry stacks only when the agent records them. Even then
// they name the garbage collector promoting the rows, and the flattening of the JSON string in
// res.end (Buffer.byteLength), not the row push or JSON.stringify, and they are smaller than
// the copy. The JS frame is the 'end' callback inside the handler: a perf map gives each
// function's start, not the line of the call.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
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
  await harness.drive(server.port, [data.asn], { routes: ['/buffered', '/collect'] });
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

function bufferedFinding(routePath = '/buffered') {
  const route = result.json.routes.find((r) => r.method === 'POST' && r.route === routePath);
  assert.ok(route, `no POST ${routePath} route in ${JSON.stringify(result.json.routes)}`);
  const finding = route.findings.find((f) => f.kind === 'buffered-response');
  assert.ok(finding, `no buffered-response finding on ${routePath}: ${JSON.stringify(route.findings)}`);
  return finding;
}

// The lines [first, last] of `function NAME(...) {` up to its closing brace in column 0, read
// from the server's source so the check follows edits of server.js.
function functionLines(name) {
  const lines = fs.readFileSync(harness.config().server, 'utf8').split('\n');
  const first = lines.findIndex((line) => line.startsWith(`function ${name}(`));
  assert.ok(first >= 0, `no function ${name} in server.js`);
  const last = lines.findIndex((line, index) => index > first && line === '}');
  assert.ok(last > first, `no closing brace of ${name} in server.js`);
  return { first: first + 1, last: last + 1 };
}

// The innermost JS frame of the application: not Node's own modules and not node_modules.
function firstApplicationFrame(site) {
  return site.frames.find((frame) => frame.kind === 'js' && frame.location !== null &&
    !frame.location.startsWith('node:') && !frame.location.includes('node_modules/'));
}

function expectTopSiteInHandler(routePath, handler) {
  const { sites } = bufferedFinding(routePath);
  assert.ok(sites.length > 0, `the ${routePath} finding has no allocation sites`);
  const top = sites[0];
  const request = result.json.requests.find((r) => r.pid === server.serverPid && r.path === routePath);
  assert.ok(request, `no ${routePath} request in the report`);
  assert.ok(top.bytes >= 2 * request.response_bytes,
    `the top site of ${routePath} holds ${top.bytes} bytes for a ${request.response_bytes}-byte response:\n${describeSites(sites)}`);
  assert.ok(top.frames.some((frame) => frame.function === 'node::StreamBase::Writev'),
    `the top site of ${routePath} is not the response's writev copy:\n${describeSites(sites)}`);

  const application = firstApplicationFrame(top);
  assert.ok(application, `no application JS frame in the top site of ${routePath}:\n${describeSites(sites)}`);
  const match = /server\.js:(\d+)$/.exec(application.location);
  assert.ok(match, `the first application frame ${application.label} is not in server.js`);
  const { first, last } = functionLines(handler);
  const line = Number(match[1]);
  assert.ok(line >= first, `the first application frame ${application.label} lies before ${handler} (server.js:${first})`);
  assert.ok(line <= last, `the first application frame ${application.label} lies after ${handler} (server.js:${last})`);
}

// Copies the session folder, lets `change` alter the copy, and returns its JSON report.
async function reportOfChangedCopy(name, change) {
  const copy = path.join(server.workDir, name);
  fs.cpSync(server.sessionDir, copy, { recursive: true });
  const perfMap = path.join(copy, `perf-${server.serverPid}.map`);
  assert.ok(fs.existsSync(perfMap), `record copied no perf map for pid ${server.serverPid}`);
  change(perfMap);
  const { routeheap } = harness.config();
  const reported = await harness.run(routeheap, ['report', copy, '--format', 'json', '--stacks', String(FULL_STACK_FRAMES)]);
  assert.equal(reported.code, 0, `routeheap report failed (exit ${reported.code}): ${reported.stderr}`);
  return JSON.parse(reported.stdout);
}

function topSiteOf(report, routePath) {
  const request = report.requests.find((r) => r.pid === server.serverPid && r.path === routePath);
  assert.ok(request, `no ${routePath} request in the report`);
  assert.ok(request.top_sites.length > 0, `no top_sites on the ${routePath} request`);
  return request.top_sites[0];
}

function unknownFrameWarning(report) {
  return report.warnings.find((warning) => /^[1-9]\d* of \d+ frames could not be symbolized/.test(warning));
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

test('the top site of /buffered is the response copy from handleBuffered', () => {
  expectTopSiteInHandler('/buffered', 'handleBuffered');
});

test('the top site of /collect is the response copy from handleCollect', () => {
  expectTopSiteInHandler('/collect', 'handleCollect');
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
  for (const routePath of ['/buffered', '/collect']) {
    const requests = result.json.requests.filter((r) => r.pid === server.serverPid && r.path === routePath);
    assert.equal(requests.length, 1);
    assert.ok(requests[0].allocation_peak, `no allocation_peak on the ${routePath} request`);
    assert.ok(requests[0].top_sites.length > 0, `no top_sites on the ${routePath} request`);
  }
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

test('a missing perf map leaves JS frames as addresses', async () => {
  const report = await reportOfChangedCopy('no-perf-map', (perfMap) => fs.rmSync(perfMap));
  assert.ok(report.warnings.some((warning) => warning.includes(`no perf-${server.serverPid}.map`)),
    `no warning about the missing perf map:\n${report.warnings.join('\n')}`);
  const top = topSiteOf(report, '/buffered');
  assert.ok(top.frames.every((frame) => frame.kind !== 'js'), `a JS frame without a perf map:\n${describeSites([top])}`);
  assert.ok(top.frames.some((frame) => frame.kind === 'jit' && /^\[jit 0x[0-9a-f]+\]$/.test(frame.label)),
    `no [jit 0x...] frame:\n${describeSites([top])}`);
  assert.ok(unknownFrameWarning(report), `no count of unknown frames:\n${report.warnings.join('\n')}`);
});

test('a truncated perf map keeps its whole lines', async () => {
  const report = await reportOfChangedCopy('truncated-perf-map', (perfMap) => {
    // Keep the first half of the file and end it in the middle of an address.
    const text = fs.readFileSync(perfMap, 'utf8');
    const cut = text.lastIndexOf('\n', Math.floor(text.length / 2)) + 1;
    fs.writeFileSync(perfMap, text.slice(0, cut + 5));
  });
  assert.ok(report.warnings.some((warning) => /skipped 1 line .*START SIZE NAME/.test(warning)),
    `no warning about the cut line:\n${report.warnings.join('\n')}`);
  assert.ok(unknownFrameWarning(report), `no count of unknown frames:\n${report.warnings.join('\n')}`);
  const top = topSiteOf(report, '/buffered');
  assert.ok(top.frames.length > 0 && top.frames.every((frame) => frame.label.length > 0),
    `a frame without a label:\n${describeSites([top])}`);
});
