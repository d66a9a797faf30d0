#!/usr/bin/env node
// Serve traffic for the Kubernetes e2e in a process of its own (the test's
// kubectl calls block its event loop, which would show as gaps):
//   node serve-traffic.mjs URL RPS FILE
// GETs URL RPS times a second (scripts/lib/steady-http.mjs) and appends one
// line per request to FILE: `<epoch ms> <1|0> <why>` (steadyGets' why). Runs until SIGTERM or its
// parent is gone.
import { appendFileSync } from 'node:fs';
import { steadyGets } from '../lib/steady-http.mjs';

const [url, rps, file] = process.argv.slice(2);
if (!url || !(Number(rps) > 0) || !file) {
  console.error('usage: serve-traffic.mjs URL RPS FILE');
  process.exit(2);
}
const parent = process.ppid;
const stop = steadyGets(url, Number(rps), ({ at, ok, why }) => appendFileSync(file, `${at} ${ok ? 1 : 0} ${why}\n`));
const end = () => {
  stop();
  process.exit(0);
};
process.on('SIGTERM', end);
process.on('SIGINT', end);
// Re-parented: the test died without stopping it.
setInterval(() => process.ppid !== parent && end(), 1000);
