#!/usr/bin/env node
// Production entry point: the bundled CLI (dist/rocketctl.cjs, `npm run build`); see bin/load.cjs.
import { createRequire } from 'node:module';

await createRequire(import.meta.url)('./load.cjs').run();
