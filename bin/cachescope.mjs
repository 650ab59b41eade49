#!/usr/bin/env node
// Runs the CLI from source through tsx, so `npx cachescope` works in a checkout right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../electron/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
