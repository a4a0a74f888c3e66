// The Node entry (package.json `exports`, condition "node"): the same API, with `init()` reading
// the WebAssembly module from disk, since Node's `fetch` does not read `file:` URLs.
import { readFile } from 'node:fs/promises';
import initBrowser from './index.js';

export * from './index.js';

export default async function init(input) {
  return initBrowser(input ?? (await readFile(new URL('./workcrew_core_bg.wasm', import.meta.url))));
}
