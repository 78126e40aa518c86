// Benchmark baseline: csv-parser (the sample server's dependency) turning a CSV file into NDJSON
// on stdout, streamed with backpressure. Usage: node csv_parser_ndjson.js FILE
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');

const csvParser = require(path.join(__dirname, '../../node-routes/node_modules/csv-parser'));

const file = process.argv[2];
if (!file) {
  console.error('usage: node csv_parser_ndjson.js FILE');
  process.exit(2);
}

const toNdjson = new Transform({
  writableObjectMode: true,
  transform(row, _encoding, callback) {
    callback(null, JSON.stringify(row) + '\n');
  },
});

pipeline(fs.createReadStream(file), csvParser(), toNdjson, process.stdout).catch((error) => {
  console.error(`csv_parser_ndjson: ${error.message}`);
  process.exit(1);
});
