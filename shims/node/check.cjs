// Tern's deploy-time load check: imports the handler as an instance would, then exits.
// argv: FUNCTION_DIR HANDLER
// Exit 0 when the handler loads. Otherwise exit 1 with one last line on stderr:
// "tern-check: FILE:LINE: Type: message" (FILE relative to the function folder; ":LINE" only when
// known), so the node can refuse the deploy naming where the problem is.
'use strict';
const { spawnSync } = require('node:child_process');
const { readdirSync, readFileSync } = require('node:fs');
const { join, relative } = require('node:path');
const { fileURLToPath, pathToFileURL } = require('node:url');
const { pickHandler } = require('./handler.cjs');

const [fnDir, handlerSpec] = process.argv.slice(2);
const MAX_FILES_CHECKED = 500;

function plainPath(p) {
  return p.startsWith('file://') ? fileURLToPath(p) : p;
}

/** "path:line" of the first stack frame (or the stack's header, for a CommonJS syntax error) in the function folder. */
function frameInFolder(stack) {
  for (const m of stack.matchAll(/((?:file:\/\/)?\/[^\s():]+):(\d+)/g)) {
    const path = plainPath(m[1]);
    if (path.startsWith(`${fnDir}/`) && !path.includes('/node_modules/')) return { path, line: Number(m[2]) };
  }
  return undefined;
}

/** The line of `importer` that names a module node could not find. */
function importLine(importer, wanted) {
  const name = wanted.startsWith('/')
    ? wanted
        .split('/')
        .pop()
        .replace(/\.[cm]?js$/, '')
    : wanted;
  const lines = readFileSync(importer, 'utf8').split('\n');
  const index = lines.findIndex((l) => l.includes(name) && /\b(import|require|from)\b/.test(l));
  return index === -1 ? undefined : index + 1;
}

/** An ES module's syntax error carries no location: `node --check` the handler, then the folder's other files. */
function syntaxErrorLocation(handlerFile) {
  const files = [handlerFile];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (files.length >= MAX_FILES_CHECKED || e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.[cm]?js$/.test(e.name) && p !== handlerFile) files.push(p);
    }
  };
  walk(fnDir);
  for (const file of files) {
    const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
    const m = r.status !== 0 && /^(\/[^\s:]+):(\d+)/.exec(r.stderr ?? '');
    if (m) return { path: m[1], line: Number(m[2]) };
  }
  return undefined;
}

function locate(err, handlerFile) {
  const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : '';
  const missing = /Cannot find (?:package|module) '([^']+)' imported from (\S+)/.exec(stack);
  if (missing) {
    const importer = plainPath(missing[2]);
    return { path: importer, line: importLine(importer, missing[1]) };
  }
  return frameInFolder(stack) ?? (err instanceof SyntaxError ? syntaxErrorLocation(handlerFile) : undefined);
}

async function main() {
  const [file, name] = handlerSpec.split(':');
  try {
    process.chdir(fnDir);
    pickHandler(await import(pathToFileURL(join(fnDir, file)).href), name);
    return 0;
  } catch (err) {
    const at = locate(err, join(fnDir, file));
    const where = at ? `${relative(fnDir, at.path)}${at.line ? `:${at.line}` : ''}: ` : '';
    const what = err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : `thrown: ${String(err)}`;
    process.stderr.write(`\ntern-check: ${where}${what}\n`);
    return 1;
  }
}

main().then((code) => process.exit(code));
