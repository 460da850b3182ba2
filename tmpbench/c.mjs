import { compileFunction } from '/work/main/dist/src/runtimes/wasm/prepare.js';
import { normaliseSpec } from '/work/main/dist/src/registry/spec.js';
const c = await compileFunction(normaliseSpec({ name: 'hello', runtime: 'wasm', handler: 'hello.wasm', memory: 16 }), '/work/main/examples/hello');
console.log(!!c.inline, c.inline?.resettable);
