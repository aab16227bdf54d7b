#!/usr/bin/env node
// Validates AsyncAPI documents with the official parser (@asyncapi/parser): the specification's
// JSON Schema, references, Kafka bindings, examples and the parser's own rules. Any error or
// warning fails (exit 1); each is printed with its path in the document.
//
//   node tools/asyncapi/validate.js schemas/asyncapi.yaml [...]
'use strict';

const fs = require('fs');
const path = require('path');
const { Parser, DiagnosticSeverity } = require('@asyncapi/parser');

const SEVERITY = { 0: 'error', 1: 'warning', 2: 'info', 3: 'hint' };

async function validate(parser, file) {
  const source = path.resolve(file);
  const { document, diagnostics } = await parser.parse(fs.readFileSync(source, 'utf8'), { source });
  const failing = diagnostics.filter((d) => d.severity <= DiagnosticSeverity.Warning);
  for (const d of diagnostics) {
    const where = d.path && d.path.length ? d.path.join('.') : '(root)';
    const line = d.range ? `:${d.range.start.line + 1}` : '';
    console.error(`${file}${line}: ${SEVERITY[d.severity]} ${d.code}: ${d.message} at ${where}`);
  }
  if (!document || failing.length) {
    console.error(`${file}: INVALID (${failing.length} errors or warnings)`);
    return false;
  }
  const channels = document.channels().length;
  const operations = document.operations().length;
  const messages = document.components().messages().length;
  console.log(
    `${file}: valid AsyncAPI ${document.version()} (${channels} channels, ${operations} operations, ` +
      `${messages} messages; @asyncapi/parser ${require('@asyncapi/parser/package.json').version})`,
  );
  return true;
}

async function main(files) {
  if (!files.length) {
    console.error('usage: validate.js FILE...');
    return 2;
  }
  const parser = new Parser();
  let ok = true;
  for (const file of files) ok = (await validate(parser, file)) && ok;
  return ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
