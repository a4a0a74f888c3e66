// The page's entry, bundled by esbuild from the installed tarball: the same checks in Chromium.
import * as workcrew from 'workcrew';
import { run } from './checks.mjs';

run(workcrew).then(
  (result) => { window.__result = result; },
  (e) => { window.__result = { passed: 0, failures: [String(e && e.stack || e)] }; },
);
