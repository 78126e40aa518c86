// Checks how the routeheap CLI handles bad input: a missing or empty session folder, an unknown
// subcommand, and the help text.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, test } = require('node:test');
const harness = require('./harness');

let workDir;

before(() => {
  workDir = harness.makeTempDir('cli');
});

after(() => {
  harness.removeTempDir(workDir);
});

function assertOneLineError(result, mustContain) {
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected a one-line error, got:\n${result.stderr}`);
  assert.ok(lines[0].includes(mustContain), `the error does not name ${mustContain}: ${lines[0]}`);
}

test('report on missing folder fails', async () => {
  const missing = path.join(workDir, 'no-such-session');
  const result = await harness.run(harness.config().routeheap, ['report', missing]);
  assert.notEqual(result.code, 0, 'routeheap report exited 0 on a missing folder');
  assert.equal(result.signal, null, `routeheap report was killed by ${result.signal}`);
  assertOneLineError(result, missing);
});

test('report on empty folder fails', async () => {
  const empty = path.join(workDir, 'empty-session');
  fs.mkdirSync(empty);
  const result = await harness.run(harness.config().routeheap, ['report', empty]);
  assert.notEqual(result.code, 0, 'routeheap report exited 0 on a folder without traces');
  assert.equal(result.signal, null, `routeheap report was killed by ${result.signal}`);
  assertOneLineError(result, empty);
});

test('unknown subcommand exits 2', async () => {
  const result = await harness.run(harness.config().routeheap, ['no-such-command']);
  assert.equal(result.code, 2, `exit status ${result.code}, stderr: ${result.stderr}`);
  assert.ok(result.stderr.includes('no-such-command'), `the error does not name the subcommand: ${result.stderr}`);
});

test('help lists record and report', async () => {
  const result = await harness.run(harness.config().routeheap, ['--help']);
  assert.equal(result.code, 0, `routeheap --help exited ${result.code}: ${result.stderr}`);
  assert.match(result.stdout, /\brecord\b/);
  assert.match(result.stdout, /\breport\b/);
});
