// The csv2json command: input from a file and from stdin, exit codes and messages for each error
// class, a closed stdout (EPIPE) and bounded memory on a large generated input.
'use strict';

const assert = require('node:assert');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const csv2json = process.env.CSV2JSON_BIN;

function run(args, input) {
  return spawnSync(csv2json, args, { input, encoding: 'utf8' });
}

test('reads stdin and a file the same way', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csv2json-'));
  const file = path.join(dir, 'in.csv');
  fs.writeFileSync(file, '\ufeffa,b\r\n1,"x\r\ny"\r\n');
  try {
    const fromFile = run(['--ndjson', file]);
    const fromStdin = run(['--ndjson', '-'], fs.readFileSync(file));
    assert.strictEqual(fromFile.status, 0, fromFile.stderr);
    assert.strictEqual(fromFile.stdout, '{"a":"1","b":"x\\r\\ny"}\n');
    assert.strictEqual(fromStdin.stdout, fromFile.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test('columns, no-header, delimiter and infer-types options', () => {
  assert.strictEqual(run(['--columns', 'x,y', '--ndjson'], '1,2\n').stdout, '{"x":"1","y":"2"}\n');
  assert.strictEqual(run(['--no-header'], '1,2\n').stdout, '[\n["1","2"]\n]\n');
  assert.strictEqual(run(['-d', 'tab', '--ndjson'], 'a\tb\n1\t2\n').stdout, '{"a":"1","b":"2"}\n');
  assert.strictEqual(run(['--infer-types', '--ndjson'], 'a,b\n00E009,42\n').stdout, '{"a":"00E009","b":42}\n');
});

test('invalid CSV exits 1 with line and record, output stays valid JSON', () => {
  const result = run([], 'a,b\n1,2\n3,4"\n');
  assert.strictEqual(result.status, 1);
  assert.match(result.stderr, /^csv2json: error: line 3, record 3: stray quote in unquoted field 2/);
  assert.deepStrictEqual(JSON.parse(result.stdout), [{ a: '1', b: '2' }]);

  const unterminated = run(['--ndjson'], 'a\n"open\n');
  assert.strictEqual(unterminated.status, 1);
  assert.match(unterminated.stderr, /line 2, record 2: the quoted field 1 opened on line 2 is not closed/);

  const count = run([], 'a,b\n1\n');
  assert.strictEqual(count.status, 1);
  assert.match(count.stderr, /--field-count=keep/);
});

test('invalid options exit 2 and name the value', () => {
  const cases = [
    [['--field-count', 'maybe'], /invalid --field-count 'maybe': use error, keep or pad/],
    [['-d', '"'], /invalid delimiter '"'/],
    [['-d', 'ab'], /invalid delimiter 'ab'/],
    [['--columns', 'a,a'], /duplicate column name 'a'/],
    [['--max-record-bytes', '0'], /invalid --max-record-bytes '0'/],
    [['--bogus'], /unknown option '--bogus'/],
    [['--engine', 'gpu'], /invalid --engine 'gpu'/],
  ];
  for (const [args, message] of cases) {
    const result = run(args, 'a\n1\n');
    assert.strictEqual(result.status, 2, args.join(' '));
    assert.match(result.stderr, message);
  }
});

test('missing input file exits 3', () => {
  const result = run(['/nonexistent/input.csv'], '');
  assert.strictEqual(result.status, 3);
  assert.match(result.stderr, /cannot open '\/nonexistent\/input.csv': No such file or directory/);
});

test('closed stdout ends the run with exit 4, no crash', async () => {
  const child = spawn(csv2json, ['--ndjson', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (data) => { stderr += data; });
  child.stdout.once('data', () => child.stdout.destroy());
  child.stdin.on('error', () => {});  // the child may exit before all input was written
  const rows = 'id,text\n' + '1,"some text, quoted"\n'.repeat(200000);
  child.stdin.end(rows);
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  assert.strictEqual(signal, null, 'not killed by SIGPIPE');
  assert.strictEqual(code, 4);
  assert.strictEqual(stderr, '');
});

test('input file truncated during the conversion exits 3, no crash', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csv2json-'));
  const file = path.join(dir, 'shrinks.csv');
  // 16 MiB: far more than the pipe holds, so csv2json waits on a full pipe mid-file.
  fs.writeFileSync(file, 'id,text\n' + '1,"some text, quoted"\n'.repeat(800000));
  try {
    const child = spawn(csv2json, ['--ndjson', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (data) => { stderr += data; });
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    fs.truncateSync(file, 0);
    child.stdout.resume();
    const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
    assert.strictEqual(signal, null, 'not killed by SIGBUS');
    assert.strictEqual(code, 3);
    assert.match(stderr, /shrinks\.csv' became shorter during the conversion/);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test('peak memory stays small on 100 MB of input', (t) => {
  if (!fs.existsSync('/usr/bin/time')) {
    t.skip('/usr/bin/time is missing (Debian package time)');
    return;
  }
  const row = '12345,"quoted, with ""quotes"" and\nline breaks",plain text field\r\n';
  const input = Buffer.from('a,b,c\r\n' + row.repeat(100e6 / row.length));
  const child = spawnSync('/usr/bin/time', ['-f', '%M', csv2json, '--ndjson', '-'],
    { input, maxBuffer: 1 << 30, encoding: 'utf8' });
  assert.strictEqual(child.status, 0, child.stderr);
  assert.ok(child.stdout.length > input.length, 'the whole input was converted');
  const peakKiB = Number(child.stderr.trim().split('\n').pop());
  assert.ok(peakKiB > 0, `no peak RSS in /usr/bin/time's output: ${child.stderr}`);
  assert.ok(peakKiB < 16 * 1024, `peak RSS ${peakKiB} KiB is over 16 MiB`);
});
