#!/usr/bin/env node
// A timeline of who led when, from the candidates' JSON logs.
//
//   node scripts/trace.mjs <log files or a local-cluster workdir...> [--svg out.svg] [--json]
//
// Prints one row per term (candidate, epoch, from, to, duration, the time
// without a leader before it, how it ended) and the faults local-cluster.mjs
// and chaos.mjs recorded in faults.log. --svg writes a picture: one lane per
// candidate, bars for standby / leading / stepping down, markers for head
// start and stop, a dashed line per fault. --json prints the terms as JSON.
// Lines that are not JSON (a head's own output) are skipped.
import { minimist, fs, chalk } from 'zx';
import { buildTimeline, readLogs, termsTable, timelineSvg } from './lib/timeline.mjs';

const argv = minimist(process.argv.slice(2), { string: ['svg', 'title'], boolean: ['json', 'help'] });
if (argv.help || argv._.length === 0) {
  console.error('usage: node scripts/trace.mjs <log files or a local-cluster workdir...> [--svg out.svg] [--json] [--title TEXT]');
  process.exit(argv.help ? 0 : 2);
}

let entries;
try {
  entries = readLogs(argv._.map(String));
} catch (err) {
  console.error(`trace: ${err.message}`);
  process.exit(2);
}
const tl = buildTimeline(entries);
if (argv.json) {
  const rel = (t) => Math.round(t - tl.t0);
  console.log(JSON.stringify({
    t0: new Date(tl.t0).toISOString(),
    candidates: tl.candidates,
    terms: tl.terms.map((t) => ({ ...t, startMs: rel(t.start), endMs: rel(t.end) })),
    faults: tl.faults.map((f) => ({ ...f, atMs: rel(f.t) })),
  }, null, 2));
} else {
  console.log(termsTable(tl));
}
if (argv.svg) {
  fs.writeFileSync(argv.svg, timelineSvg(tl, argv.title ? { title: argv.title } : {}));
  console.error(chalk.gray(`trace: ${tl.candidates.length} lanes, ${tl.terms.length} terms → ${argv.svg}`));
}
