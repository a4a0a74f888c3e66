// Serves the bundled page on 127.0.0.1 and runs it in Debian's Chromium (playwright-core).
//   node browser-check.mjs DIR
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';

const dir = process.argv[2];
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  try {
    const path = join(dir, new URL(req.url, 'http://x').pathname.replace(/^\/$/, '/index.html'));
    const body = await readFile(path);
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
// gc() and exact heap figures, for the memory checks.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--js-flags=--expose-gc', '--enable-precise-memory-info'],
});
let code = 1;
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 300_000 });
  const { passed, failures, notes = [] } = await page.evaluate(() => window.__result);
  for (const n of notes) console.log(`note: ${n}`);
  for (const f of failures) console.error(`FAIL ${f}`);
  console.log(`chromium: ${passed} passed, ${failures.length} failed`);
  code = failures.length ? 1 : 0;
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
