#!/usr/bin/env node
// Renders an AsyncAPI document as an HTML page (index.html, with its css/ and js/) with the
// official generator and its HTML template (@asyncapi/generator, @asyncapi/html-template), from
// the installed copies: nothing is downloaded (the template's PDF option, which would start a
// browser, stays off). Not one single file: inlining the viewer script takes the generator half
// as long again.
//
//   node tools/asyncapi/docs.js schemas/asyncapi.yaml docs/topics
'use strict';

const path = require('path');
const Generator = require('@asyncapi/generator');

async function main([input, output]) {
  if (!input || !output) {
    console.error('usage: docs.js ASYNCAPI_FILE OUTPUT_DIR');
    return 2;
  }
  const template = path.dirname(require.resolve('@asyncapi/html-template/package.json'));
  const generator = new Generator(template, path.resolve(output), {
    forceWrite: true, // the output folder lives in a git work tree with other changes
    templateParams: { singleFile: 'false', outFilename: 'index.html', pdf: 'false' },
  });
  await generator.generateFromFile(path.resolve(input));
  console.log(`${path.join(output, 'index.html')}: rendered from ${input}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
