// Runs the package's checks in Node, against the installed tarball.
import * as workcrew from 'workcrew';
import { run } from './checks.mjs';

const { passed, failures } = await run(workcrew);
for (const f of failures) console.error(`FAIL ${f}`);
console.log(`node: ${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
