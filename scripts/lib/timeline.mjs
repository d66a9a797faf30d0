// Who led when, from the candidates' JSON logs (one pino line per event):
// role changes `{"msg":"standby -> leading","from","to","reason","epoch"}`,
// 'candidate starting', 'head started' / 'head stopped', 'renew failed', and
// the fault lines local-cluster.mjs and chaos.mjs append to faults.log
// (`{"msg":"fault","fault":"kill","target":"candidate-1"}`).
//
// buildTimeline() turns them into state segments per candidate and terms
// (one per leading period); termsTable() prints the terms, timelineSvg()
// draws one lane per candidate. Used by scripts/trace.mjs and by the demo's
// --trace. No dependency.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export const STATE_COLORS = { standby: '#9ecae1', leading: '#31a354', 'stepping-down': '#fd8d3c' };

/** Files to read: a directory stands for its *.log files (a local-cluster workdir). */
export function expandLogPaths(paths) {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p).filter((f) => f.endsWith('.log')).sort().map((f) => path.join(p, f))
      : [p],
  );
}

/** JSON lines with a time; anything else (a head's own output, pretty logs) is skipped. */
export function parseLogText(text, source = '') {
  const out = [];
  let line = 0;
  for (const raw of text.split('\n')) {
    line++;
    if (!raw.startsWith('{')) continue;
    let e;
    try {
      e = JSON.parse(raw);
    } catch {
      continue;
    }
    const t = typeof e.time === 'number' ? e.time : Date.parse(e.time);
    if (!Number.isFinite(t) || typeof e.msg !== 'string') continue;
    out.push({ ...e, t, source, line });
  }
  return out;
}

export function readLogs(paths) {
  return expandLogPaths(paths).flatMap((p) => parseLogText(readFileSync(p, 'utf8'), p));
}

const isTransition = (e) => typeof e.from === 'string' && typeof e.to === 'string' && e.msg === `${e.from} -> ${e.to}`;
const natural = (a, b) => a.localeCompare(b, undefined, { numeric: true });

/**
 * entries: parsed log lines from any number of files, in any order.
 * Returns { t0, t1, candidates, segments, terms, markers, faults }, times in ms since the epoch.
 * A segment whose process died without logging its end (SIGKILL) is closed at
 * the kill recorded in faults.log when there is one, else at the best bound
 * the logs give, and marked endKnown: false.
 */
export function buildTimeline(entries) {
  const sorted = [...entries].sort((a, b) => a.t - b.t || natural(a.source, b.source) || a.line - b.line);
  if (sorted.length === 0) return { t0: 0, t1: 0, candidates: [], segments: [], terms: [], markers: [], faults: [], frozen: [] };
  const t0 = sorted[0].t;
  const t1 = sorted[sorted.length - 1].t;
  const ids = new Set();
  const segments = [];
  const markers = [];
  const faults = [];
  const open = new Map(); // id -> segment in progress
  const headStops = [];

  const close = (id, t, how) => {
    const s = open.get(id);
    if (!s) return;
    open.delete(id);
    Object.assign(s, { end: t }, how);
  };

  for (const e of sorted) {
    if (e.msg === 'fault') {
      faults.push({ t: e.t, fault: e.fault, target: e.target ?? null, detail: e.detail ?? null });
      continue;
    }
    const id = typeof e.id === 'string' ? e.id : null;
    if (!id) continue;
    ids.add(id);
    if (e.msg === 'candidate starting') {
      // A new process for this id: the old one ended without logging it.
      close(id, e.t, { endKnown: false, endReason: null, restartAt: e.t });
      markers.push({ id, t: e.t, kind: 'start' });
    } else if (isTransition(e)) {
      close(id, e.t, { endKnown: true, endReason: e.reason ?? null });
      if (e.to !== 'stopped') {
        const s = { id, state: e.to, start: e.t, end: null, epoch: e.epoch ?? null, reason: e.reason ?? null, endKnown: true, endReason: null };
        segments.push(s);
        open.set(id, s);
      }
    } else if (e.msg === 'shutting down') {
      // A standby that is told to stop exits without a transition line.
      if (open.get(id)?.state === 'standby') close(id, e.t, { endKnown: true, endReason: 'shutdown' });
    } else if (e.msg === 'head started') {
      markers.push({ id, t: e.t, kind: 'head-start', pid: e.pid, epoch: e.epoch });
    } else if (e.msg === 'head stopped') {
      const m = { id, t: e.t, kind: 'head-stop', code: e.code ?? null, signal: e.signal ?? null, reason: e.reason ?? null, epoch: e.epoch };
      markers.push(m);
      headStops.push(m);
    } else if (e.msg === 'renew failed') {
      markers.push({ id, t: e.t, kind: 'renew-failed', err: e.err ?? null });
    } else if (e.msg === 'cannot reach Redis; still trying as a standby') {
      markers.push({ id, t: e.t, kind: 'redis-unreachable' });
    }
  }
  for (const id of open.keys()) close(id, null, { endKnown: false, endReason: null, atEndOfLogs: true });

  // Bound the segments whose end was not logged.
  for (const s of segments) {
    if (s.endKnown) continue;
    const limit = s.restartAt ?? t1;
    const kill = faults.find((f) => f.fault === 'kill' && f.target === s.id && f.t >= s.start && f.t <= limit);
    if (kill) {
      Object.assign(s, { end: kill.t, endKnown: true, endReason: 'killed (SIGKILL)', killed: true });
      continue;
    }
    let end = limit;
    if (s.state === 'leading') {
      // The lease was gone at the latest when someone else acquired a later epoch.
      const next = segments.find((o) => o.state === 'leading' && o.id !== s.id && o.start > s.start && (o.epoch ?? 0) > (s.epoch ?? 0));
      if (next && next.start < end) end = next.start;
    }
    s.end = Math.max(s.start, end);
    if (s.atEndOfLogs && !s.restartAt && end === t1) s.openAtEnd = true;
  }

  // SIGSTOP .. SIGCONT (or a new process, or the end): the process was frozen, its log silent.
  const frozen = faults
    .filter((f) => f.fault === 'stop' && f.target)
    .map((f) => {
      const cont = faults.find((g) => g.fault === 'cont' && g.target === f.target && g.t >= f.t);
      const restart = markers.find((m) => m.kind === 'start' && m.id === f.target && m.t >= f.t);
      return { id: f.target, start: f.t, end: Math.min(cont?.t ?? t1, restart?.t ?? t1) };
    });

  const terms = segments
    .filter((s) => s.state === 'leading')
    .map((s) => {
      const stop = headStops.find((h) => h.id === s.id && h.epoch === s.epoch && h.t >= s.start);
      let ended;
      if (s.openAtEnd) ended = 'still leading at the end of the logs';
      else if (s.killed) ended = 'killed (SIGKILL)';
      else if (!s.endKnown) ended = 'no end logged (process killed?)';
      else ended = s.endReason ?? '?';
      if (stop) ended += ` · head ${stop.signal ?? `exit ${stop.code}`}`;
      const frozen = faults.find((f) => f.fault === 'stop' && f.target === s.id && f.t >= s.start && f.t <= s.end);
      if (frozen) ended += ` · SIGSTOPped at ${secs(frozen.t - t0)} s, so logged late`;
      return { id: s.id, epoch: s.epoch, start: s.start, end: s.end, durationMs: s.end - s.start, ended, endKnown: s.endKnown && !s.openAtEnd, openAtEnd: !!s.openAtEnd };
    })
    .sort((a, b) => a.start - b.start);
  let prev = null;
  for (const term of terms) {
    term.gapMs = prev === null ? null : term.start - prev.end;
    term.gapKnown = prev === null || prev.endKnown;
    if (prev === null || term.end >= prev.end) prev = term;
  }
  return { t0, t1, candidates: [...ids].sort(natural), segments, terms, markers, faults, frozen };
}

const secs = (ms) => `${(ms / 1000).toFixed(3)}`;
const dur = (ms) => (ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** The terms as a text table; times in seconds from the first log line. */
export function termsTable(tl) {
  const head = ['candidate', 'epoch', 'from', 'to', 'duration', 'no leader before', 'ended'];
  const rows = tl.terms.map((t) => [
    t.id,
    String(t.epoch ?? '?'),
    `${secs(t.start - tl.t0)} s`,
    t.openAtEnd ? '(running)' : `${t.endKnown ? '' : '~'}${secs(t.end - tl.t0)} s`,
    `${t.openAtEnd ? '≥' : t.endKnown ? '' : '≤'}${dur(t.durationMs)}`,
    t.gapMs === null ? '-' : t.gapMs < 0 ? `overlap ${dur(-t.gapMs)}` : t.gapKnown ? dur(t.gapMs) : `≥${dur(t.gapMs)}`,
    t.ended,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  const lines = [
    `terms from ${new Date(tl.t0).toISOString()} (times in s from then; ~ = end not logged: at the latest then)`,
    fmt(head),
    fmt(widths.map((w) => '-'.repeat(w))),
    ...rows.map(fmt),
  ];
  if (tl.faults.length > 0) {
    lines.push('', 'faults');
    for (const f of tl.faults) lines.push(`  ${secs(f.t - tl.t0).padStart(8)} s  ${f.fault}${f.target ? ` ${f.target}` : ''}${f.detail ? ` (${f.detail})` : ''}`);
  }
  if (tl.terms.length === 0) lines.push('(no leading term in these logs)');
  return lines.join('\n');
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const r1 = (x) => Math.round(x * 10) / 10;

function tickStep(spanMs, want = 10) {
  for (const s of [100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000]) {
    if (spanMs / s <= want) return s;
  }
  return 7_200_000;
}

/** One lane per candidate (`<g class="lane" data-candidate=...>`), bars per state, head and fault markers. */
export function timelineSvg(tl, { title = 'ray-head-ha: who led when', width = 1000 } = {}) {
  const laneH = 26;
  const laneGap = 14;
  const margin = { top: 60, right: 20, bottom: 70, left: 130 };
  const lanes = tl.candidates;
  const plotW = width - margin.left - margin.right;
  const plotH = Math.max(1, lanes.length) * (laneH + laneGap);
  const span = Math.max(1000, tl.t1 - tl.t0);
  const x = (t) => r1(margin.left + ((t - tl.t0) / span) * plotW);
  // Fault labels go on the first row where they fit (up to 8 rows), turning left near the right edge.
  const rowEnds = [];
  const faultLabels = tl.faults.map((f) => {
    const fx = x(f.t);
    const label = `${f.fault}${f.target ? ` ${f.target}` : ''}`;
    const w = label.length * 5.6;
    const right = fx + 3 + w > width - margin.right;
    const from = right ? fx - 3 - w : fx + 3;
    let row = rowEnds.findIndex((e) => from > e + 6);
    if (row < 0) row = rowEnds.length < 8 ? rowEnds.length : rowEnds.indexOf(Math.min(...rowEnds));
    rowEnds[row] = from + w;
    return { f, fx, label, right, row };
  });
  margin.top += rowEnds.length * 12;
  const height = margin.top + plotH + margin.bottom;
  const laneY = (i) => margin.top + i * (laneH + laneGap);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<defs><pattern id="frozen" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="white" fill-opacity="0.35"/><line x1="0" y1="0" x2="0" y2="6" stroke="#555" stroke-width="1.5"/></pattern></defs>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="25" text-anchor="middle" font-size="16">${esc(title)}</text>`,
    `<text x="${width / 2}" y="42" text-anchor="middle" fill="#555">${esc(`from ${new Date(tl.t0).toISOString()}, ${(span / 1000).toFixed(1)} s, ${tl.terms.length} terms`)}</text>`,
  ];
  // Time axis and grid.
  const step = tickStep(span);
  const axisY = margin.top + plotH;
  parts.push(`<g class="axis"><line x1="${margin.left}" y1="${axisY}" x2="${width - margin.right}" y2="${axisY}" stroke="black"/>`);
  for (let v = 0; v <= span; v += step) {
    const tx = x(tl.t0 + v);
    parts.push(`<line x1="${tx}" y1="${margin.top - 6}" x2="${tx}" y2="${axisY}" stroke="#eee"/>`);
    parts.push(`<text x="${tx}" y="${axisY + 16}" text-anchor="middle">${esc(`${v / 1000}s`)}</text>`);
  }
  parts.push('</g>');

  lanes.forEach((id, i) => {
    const y = laneY(i);
    parts.push(`<g class="lane" data-candidate="${esc(id)}">`);
    parts.push(`<text x="${margin.left - 8}" y="${y + laneH / 2 + 4}" text-anchor="end">${esc(id)}</text>`);
    parts.push(`<line x1="${margin.left}" y1="${y + laneH / 2}" x2="${width - margin.right}" y2="${y + laneH / 2}" stroke="#ddd" stroke-dasharray="2,3"/>`);
    for (const s of tl.segments.filter((s) => s.id === id)) {
      const x1 = x(s.start);
      const w = Math.max(1, r1(x(s.end) - x1));
      const style = s.endKnown || s.openAtEnd ? '' : ' fill-opacity="0.4" stroke="#333" stroke-dasharray="3,2"';
      const tip = `${id} ${s.state}${s.epoch ? ` epoch ${s.epoch}` : ''}: ${secs(s.start - tl.t0)}–${secs(s.end - tl.t0)} s (${s.reason ?? ''}${s.endKnown ? ` → ${s.endReason ?? 'end of logs'}` : ' → end not logged'})`;
      parts.push(`<rect class="state ${s.state}" x="${x1}" y="${y}" width="${w}" height="${laneH}" fill="${STATE_COLORS[s.state] ?? '#ccc'}"${style}><title>${esc(tip)}</title></rect>`);
      if (s.state === 'leading' && w > `e${s.epoch}`.length * 7.5 + 6) parts.push(`<text x="${r1(x1 + w / 2)}" y="${y + laneH / 2 + 4}" text-anchor="middle" fill="white" font-weight="bold">${esc(`e${s.epoch}`)}</text>`);
    }
    for (const f of (tl.frozen ?? []).filter((f) => f.id === id)) {
      parts.push(`<rect class="frozen" x="${x(f.start)}" y="${y - 2}" width="${Math.max(1, r1(x(f.end) - x(f.start)))}" height="${laneH + 4}" fill="url(#frozen)" stroke="#555" stroke-width="0.5"><title>${esc(`${id} frozen (SIGSTOP) ${secs(f.start - tl.t0)}–${secs(f.end - tl.t0)} s: its log is silent, its keeper still enforces the deadline`)}</title></rect>`);
    }
    for (const m of tl.markers.filter((m) => m.id === id)) {
      const mx = x(m.t);
      if (m.kind === 'head-start') {
        parts.push(`<path class="marker head-start" d="M${mx},${y + laneH - 7} l5,8 l-10,0 z" fill="#00441b"><title>${esc(`head started, pid ${m.pid}, epoch ${m.epoch}`)}</title></path>`);
      } else if (m.kind === 'head-stop') {
        const how = m.signal ?? `exit ${m.code}`;
        parts.push(`<path class="marker head-stop" d="M${mx - 4},${y - 4} l8,8 m0,-8 l-8,8" stroke="#cb181d" stroke-width="2"><title>${esc(`head stopped: ${how} (${m.reason ?? ''})`)}</title></path>`);
      } else if (m.kind === 'renew-failed' || m.kind === 'redis-unreachable') {
        parts.push(`<line class="marker ${m.kind}" x1="${mx}" y1="${y - 3}" x2="${mx}" y2="${y + 5}" stroke="#d94801" stroke-width="1.5"><title>${esc(m.kind === 'renew-failed' ? `renew failed: ${m.err ?? ''}` : 'cannot reach Redis')}</title></line>`);
      } else if (m.kind === 'start') {
        parts.push(`<circle class="marker start" cx="${mx}" cy="${y + laneH / 2}" r="3" fill="#555"><title>process started</title></circle>`);
      }
    }
    parts.push('</g>');
  });

  // Faults: a line across every lane.
  for (const { f, fx, label, right, row } of faultLabels) {
    const ly = margin.top - 10 - row * 12;
    parts.push(`<g class="fault"><line x1="${fx}" y1="${ly + 2}" x2="${fx}" y2="${axisY}" stroke="#a50f15" stroke-dasharray="4,3"/><text x="${right ? fx - 3 : fx + 3}" y="${ly}" fill="#a50f15" font-size="10"${right ? ' text-anchor="end"' : ''}>${esc(label)}</text><title>${esc(`${secs(f.t - tl.t0)} s: ${label}${f.detail ? ` (${f.detail})` : ''}`)}</title></g>`);
  }

  // Legend, in svg-chart.mjs's style.
  const legend = [
    ['rect', STATE_COLORS.standby, 'standby'],
    ['rect', STATE_COLORS.leading, 'leading'],
    ['rect', STATE_COLORS['stepping-down'], 'stepping down'],
    ['dashed', STATE_COLORS.leading, 'end not logged'],
    ['tri', '#00441b', 'head started'],
    ['x', '#cb181d', 'head stopped'],
    ['fault', '#a50f15', 'fault'],
    ['frozen', '', 'frozen (SIGSTOP)'],
  ];
  const ly = height - 25;
  let lx = margin.left - 110;
  legend.forEach(([kind, color, label]) => {
    if (kind === 'rect') parts.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color}"/>`);
    else if (kind === 'dashed') parts.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color}" fill-opacity="0.4" stroke="#333" stroke-dasharray="3,2"/>`);
    else if (kind === 'tri') parts.push(`<path d="M${lx + 6},${ly} l6,12 l-12,0 z" fill="${color}"/>`);
    else if (kind === 'x') parts.push(`<path d="M${lx + 2},${ly + 2} l8,8 m0,-8 l-8,8" stroke="${color}" stroke-width="2"/>`);
    else if (kind === 'frozen') parts.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="url(#frozen)" stroke="#555" stroke-width="0.5"/>`);
    else parts.push(`<line x1="${lx + 6}" y1="${ly - 2}" x2="${lx + 6}" y2="${ly + 14}" stroke="${color}" stroke-dasharray="4,3"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly + 10}">${esc(label)}</text>`);
    lx += 16 + label.length * 6.5 + 16;
  });
  parts.push('</svg>');
  return parts.join('\n');
}
