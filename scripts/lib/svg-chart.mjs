// A grouped bar chart as a standalone SVG string (no dependency): enough for
// the benchmark's report and the trace timeline's legend.
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

export function barChartSvg({ title, groups, width = 900, height = 420 }) {
  const margin = { top: 50, right: 20, bottom: 70, left: 70 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const max = Math.max(1, ...groups.flatMap((g) => g.bars.map((b) => b.value ?? 0)));
  const groupW = plotW / Math.max(1, groups.length);
  const barW = (groupW * 0.8) / Math.max(1, groups[0]?.bars.length ?? 1);
  const y = (v) => margin.top + plotH - (v / max) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="25" text-anchor="middle" font-size="16">${esc(title)}</text>`,
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${width - margin.right}" y2="${margin.top + plotH}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}" stroke="black"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(`<text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v)}</text>`);
    parts.push(`<line x1="${margin.left}" y1="${y(v)}" x2="${width - margin.right}" y2="${y(v)}" stroke="#eee"/>`);
  }
  groups.forEach((g, gi) => {
    const x0 = margin.left + gi * groupW + groupW * 0.1;
    g.bars.forEach((b, bi) => {
      const v = b.value ?? 0;
      parts.push(`<rect x="${x0 + bi * barW}" y="${y(v)}" width="${barW - 2}" height="${margin.top + plotH - y(v)}" fill="${b.color}"><title>${esc(`${g.label} ${b.label}: ${v}`)}</title></rect>`);
    });
    parts.push(`<text x="${x0 + (barW * g.bars.length) / 2}" y="${margin.top + plotH + 18}" text-anchor="middle">${esc(g.label)}</text>`);
  });
  const legend = groups[0]?.bars ?? [];
  legend.forEach((b, i) => {
    const lx = margin.left + i * 150;
    parts.push(`<rect x="${lx}" y="${height - 25}" width="12" height="12" fill="${b.color}"/><text x="${lx + 16}" y="${height - 15}">${esc(b.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
