// csv2json against csv-parser on the real files: asn-ipv4.csv (with the header the setup script
// adds) and oui.csv (CRLF, quoted fields). Parsed, the two outputs must be identical.
'use strict';

const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const csv2json = process.env.CSV2JSON_BIN;
const repo = process.env.ROUTEHEAP_REPO;
const csvParser = require(path.join(repo, 'samples/node-routes/node_modules/csv-parser'));

const files = [
  path.join(repo, 'samples/node-routes/data/asn-ipv4.csv'),
  '/usr/share/ieee-data/oui.csv',
];

function parseWithCsvParser(file) {
  return new Promise((resolve, reject) => {
    const rows = [];
    fs.createReadStream(file)
      .pipe(csvParser())
      .on('data', (row) => rows.push(row))
      .on('error', reject)
      .on('end', () => resolve(rows));
  });
}

function runCsv2json(args) {
  const result = spawnSync(csv2json, args, { maxBuffer: 1 << 30, encoding: 'utf8' });
  assert.strictEqual(result.status, 0, `csv2json ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

for (const file of files) {
  test(`same rows as csv-parser: ${path.basename(file)}`, async (t) => {
    if (!fs.existsSync(file)) {
      assert.fail(`missing ${file}: run scripts/setup.sh`);
    }
    const expected = JSON.stringify(await parseWithCsvParser(file));
    assert.ok(expected.length > 1000000, 'the file should hold many rows');

    for (const engine of ['scalar', 'auto']) {
      const array = JSON.parse(runCsv2json(['--engine', engine, file]));
      assert.strictEqual(JSON.stringify(array), expected, `JSON array, engine ${engine}`);
    }
    const lines = runCsv2json(['--ndjson', file]).split('\n');
    assert.strictEqual(lines.pop(), '', 'NDJSON ends with a newline');
    assert.strictEqual(JSON.stringify(lines.map((line) => JSON.parse(line))), expected, 'NDJSON');
  });
}

test('infer-types keeps oui.csv assignments that look like numbers intact', () => {
  const rows = JSON.parse(runCsv2json(['--infer-types', '/usr/share/ieee-data/oui.csv']));
  const assignments = rows.map((row) => row.Assignment);
  const mac = assignments.find((value) => value === '00E009');
  assert.strictEqual(mac, '00E009', 'the string 00E009 is kept');
  for (const value of assignments) {
    if (typeof value === 'number') {
      assert.strictEqual(String(value).padStart(6, '0').length, 6);
      assert.match(String(value), /^[1-9][0-9]{5}$/, `only plain 6-digit integers become numbers, got ${value}`);
    } else {
      assert.match(value, /^[0-9A-F]{6,9}$/, `assignment kept as text: ${value}`);
    }
  }
});
