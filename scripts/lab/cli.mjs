#!/usr/bin/env node
// The lab from a shell:
//   node scripts/lab/cli.mjs sweep         remove labs whose owner process is gone
//   node scripts/lab/cli.mjs sweep --all   remove every lab, owners alive or not
//   node scripts/lab/cli.mjs list          the labs registered on this machine
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REGISTRY, startTime, sweep } from './lab.mjs';

const [cmd, flag] = process.argv.slice(2);
if (cmd === 'sweep') {
  const swept = sweep({ all: flag === '--all' });
  console.log(swept.length ? `removed: ${swept.join(' ')}` : 'nothing to remove');
} else if (cmd === 'list') {
  for (const f of existsSync(REGISTRY) ? readdirSync(REGISTRY) : []) {
    const rec = JSON.parse(readFileSync(path.join(REGISTRY, f), 'utf8'));
    const alive = startTime(rec.ownerPid) === rec.ownerStart;
    console.log(`${rec.id} ${rec.prefix}.0/24 owner ${rec.ownerPid} ${alive ? 'alive' : 'gone'} hosts ${rec.hosts.map((h) => h.name).join(',')} ${rec.workDir}`);
  }
} else {
  console.error('usage: cli.mjs sweep [--all] | list');
  process.exit(2);
}
