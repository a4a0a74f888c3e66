// Runs the package's checks in Node, against the installed tarball (with --expose-gc, for the
// memory checks).
import * as workcrew from 'workcrew';
import { run } from './checks.mjs';

const { passed, failures, notes } = await run(workcrew);
for (const n of notes) console.log(`note: ${n}`);
for (const f of failures) console.error(`FAIL ${f}`);
console.log(`node: ${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
